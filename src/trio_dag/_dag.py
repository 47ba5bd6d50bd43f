"""The facade: the ``DAG`` base class.

A DAG class is declared with the markers of ``_declare.py``; its metaclass
(``DAGMeta``, in ``_dag_build.py``) turns the body into a frozen
:class:`~trio_dag.Graph` when the ``class`` statement runs. The class then
offers the ways to run it (``run``, ``run_sync``, ``resume``, ``start``,
``stream``), each of which builds one :class:`~trio_dag._options.RunOptions`
and hands it to the runtime. The ways to make more DAGs of it
(``from_nodes``, ``extend``, ``as_node``) it inherits from its base class,
``DAGMaking`` (``_dag_make.py``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Literal

import trio

from ._dag_build import DAGMeta
from ._dag_make import DAGMaking
from ._graph import Graph
from ._handle import RunHandle, start_run
from ._instrument import Instrument
from ._options import RunOptions
from ._placement import Placement
from ._result import RunResult
from ._retry import RetryPolicy
from ._run import _Run, execute
from ._store import SQLiteStore
from ._strategies import Strategy
from ._stream import StreamResults, open_stream, open_stream_holding
from ._supervise import Supervisor
from ._validate import reject

__all__ = ["DAG", "DAGMeta"]


class DAG(DAGMaking["DAG"], metaclass=DAGMeta):
    """Base class of a DAG defined in a class body.

    >>> import trio, trio_dag
    >>> class Greeting(trio_dag.DAG):
    ...     who = trio_dag.input(default="world")
    ...
    ...     @trio_dag.node
    ...     async def text(who):
    ...         return f"hello, {who}"
    ...
    ...     @trio_dag.node
    ...     async def shout(text):
    ...         return text.upper() + "!"
    >>> Greeting.graph.order
    ('text', 'shout')
    >>> Greeting.run_sync()["shout"]
    'HELLO, WORLD!'

    Attributes:
        graph: The compiled, frozen graph of this DAG.
        supervisor: The default supervisor of this DAG's runs; set it in the class body.
            Default: ``Supervisor()`` (``one_for_one``, no intensity bound).
    """

    graph: ClassVar[Graph]

    supervisor: ClassVar[Supervisor] = Supervisor()

    # run()'s options without keywords: (class, its supervisor then, options). A
    # subclass inherits its base's entry, so the class is part of the key.
    _run_defaults: ClassVar[tuple[type[DAG], Supervisor, RunOptions] | None] = None

    @classmethod
    async def run(
        cls,
        inputs: Mapping[str, Any] | None = None,
        *,
        strategy: Strategy | None = None,
        supervisor: Supervisor | None = None,
        on_failure: Literal["fail_fast", "continue"] = "fail_fast",
        retry: RetryPolicy | int | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        instruments: Iterable[Instrument] = (),
        placements: Mapping[str, Placement] | None = None,
        limiters: Mapping[str, trio.CapacityLimiter | int] | None = None,
        store: SQLiteStore | None = None,
        run_key: str | None = None,
        on_change: Literal["error", "rerun"] = "error",
    ) -> RunResult:
        """Run the DAG and return its :class:`~trio_dag.RunResult`.

        ``retry=`` gives every node without a policy of its own a default one;
        ``seed=`` makes the retry delays' jitter the same on every run (here
        in virtual time, so the delays take no real time):

        >>> import functools, trio, trio.testing, trio_dag as td
        >>> class Flaky(td.DAG):
        ...     @td.node
        ...     async def fetch():
        ...         if td.current_attempt().attempt < 3:
        ...             raise ConnectionError("reset")
        ...         return "rows"
        >>> def run(seed):
        ...     go = functools.partial(Flaky.run, retry=td.RetryPolicy(max_attempts=3), seed=seed)
        ...     return trio.run(go, clock=trio.testing.MockClock(autojump_threshold=0))
        >>> result = run(seed=7)
        >>> result["fetch"], result.attempts("fetch")
        ('rows', 3)
        >>> result.finished_at("fetch") == run(seed=7).finished_at("fetch")
        True

        Args:
            inputs: values of the declared inputs.
            strategy: :class:`~trio_dag.Sequential` or :class:`~trio_dag.Parallel`;
                by default ``Parallel()`` (eager), or ``Parallel(schedule="levels")``
                when the supervisor restarts levels.
            supervisor: overrides the DAG's ``supervisor`` for this run.
            on_failure: ``"fail_fast"`` cancels everything when a node has
                finally failed; ``"continue"`` runs every node that does not
                depend on a failure first. Either way ``RunFailed`` is raised.
            retry: the retry policy of nodes that have none of their own.
            deadline: seconds the whole run may take; when it passes, the run is
                cancelled and ``RunFailed`` is raised with status ``"timed_out"``.
            seed: seeds the random generator of retry jitter, for reproducible delays.
            instruments: :class:`~trio_dag.Instrument` objects told of every event.
            placements: placements by name, for the nodes declared with
                ``run_in="name"`` (extra names are allowed), e.g.
                ``{"cluster": trio_dag.InExecutor(client.get_executor())}``.
            limiters: capacity limits by name, for the nodes declared with
                ``limiter="name"``: an int (a new ``trio.CapacityLimiter`` for
                this run) or a ``trio.CapacityLimiter`` (shared with whoever
                else holds it).
            store: a :class:`~trio_dag.SQLiteStore`: nodes with ``cache=True``
                reuse stored values, and with ``run_key`` the run is durable.
                See :doc:`durability`.
            run_key: names a durable run: every node's value is committed to
                ``store`` before any dependent starts, and running the same
                DAG with the same ``run_key`` again continues where it
                stopped (committed nodes are ``"restored"``, not run); a
                ``run_key`` that completed returns its stored result.
            on_change: what a ``run_key`` run again with other inputs, or
                with node code changed since, does: ``"error"`` raises
                :class:`~trio_dag.StoreError`; ``"rerun"`` runs the changed
                nodes and everything downstream of them, and restores the rest.

        Raises:
            InputError: inputs are missing or unknown, or a node's ``run_in``
                or ``limiter`` name is not bound (before any node runs).
            RunFailed: the run did not complete; ``.result`` keeps what did.
            StoreError: the ``run_key`` is being run elsewhere, changed under
                ``on_change="error"``, or the store failed.
        """
        graph = cls.graph
        if (
            strategy is None
            and supervisor is None
            and on_failure == "fail_fast"
            and retry is None
            and deadline is None
            and seed is None
            and instruments == ()
            and placements is None
            and limiters is None
            and store is None
            and run_key is None
            and on_change == "error"
        ):  # the default call: its options were checked once (see _default_options)
            cached = cls._run_defaults
            if cached is not None and cached[0] is cls and cached[1] is cls.supervisor:
                options = cached[2]
            else:
                options = cls._default_options()
        else:
            # run, resume and stream repeat this keyword forwarding on purpose: each
            # keeps its explicit, typed public signature, and RunOptions.build is the
            # one place that checks the options.
            options = RunOptions.build(
                f"DAG {graph.name!r}: run",
                cls.supervisor,
                strategy=strategy,
                supervisor=supervisor,
                on_failure=on_failure,
                retry=retry,
                deadline=deadline,
                seed=seed,
                instruments=instruments,
                graph=graph,
                placements=placements,
                limiters=limiters,
                store=store,
                run_key=run_key,
                on_change=on_change,
            )
            if store is not None:
                return await execute(graph, graph.bind_inputs(inputs), None, options)
        values = graph.bind_inputs(inputs) if inputs is not None or graph.inputs else []
        return await _Run(graph, values, None, options).go(options.deadline)

    @classmethod
    def _default_options(cls) -> RunOptions:
        """The checked options of ``run()`` without options, built once per class.

        Rebuilt when the class's ``supervisor`` was replaced since; a graph
        with placements or limits is resolved on every call (a named one may
        be missing, which is an error each time).
        """
        graph = cls.graph
        options = RunOptions.build(f"DAG {graph.name!r}: run", cls.supervisor, graph=graph)
        if graph._placements is None:
            cls._run_defaults = (cls, cls.supervisor, options)
        return options

    @classmethod
    async def resume(
        cls,
        partial: RunResult,
        *,
        strategy: Strategy | None = None,
        supervisor: Supervisor | None = None,
        on_failure: Literal["fail_fast", "continue"] = "fail_fast",
        retry: RetryPolicy | int | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        instruments: Iterable[Instrument] = (),
        placements: Mapping[str, Placement] | None = None,
        limiters: Mapping[str, trio.CapacityLimiter | int] | None = None,
    ) -> RunResult:
        """Run only what ``partial`` is missing; return the full :class:`~trio_dag.RunResult`.

        Completed values are passed on as the same objects and never
        recomputed; the inputs are those of the partial run. Resuming a
        complete result runs nothing. Options are as for :meth:`run`; named
        ``placements`` and ``limiters`` are given again (a result does not
        keep them).

        Raises:
            InputError: a node's ``run_in`` or ``limiter`` name is not bound.
            InvalidOptionError: ``partial`` is not a result of this DAG, or an
                option is invalid.
            RunFailed: the resumed run did not complete either.
        """
        graph = cls.graph
        where = f"DAG {graph.name!r}: resume"
        if not isinstance(partial, RunResult) or partial.graph is not graph:
            reject(where, "partial", partial, "a RunResult of this DAG", wrong_type=True)
        options = RunOptions.build(
            where,
            cls.supervisor,
            strategy=strategy,
            supervisor=supervisor,
            on_failure=on_failure,
            retry=retry,
            deadline=deadline,
            seed=seed,
            instruments=instruments,
            graph=graph,
            placements=placements,
            limiters=limiters,
        )
        return await execute(graph, list(partial._values[len(graph.nodes) :]), partial, options)

    @classmethod
    def start(
        cls, inputs: Mapping[str, Any] | None = None, **run_options: Any
    ) -> AbstractAsyncContextManager[RunHandle]:
        """Start a run in the background: ``async with Report.start(inputs) as run:``.

        The block gets a :class:`~trio_dag.RunHandle` once the run has started
        (bad inputs or options raise on entry, before any node runs). Leaving
        the block cancels the run if it is still going; the handle stays
        usable after it (``run.result()``, ``await run.wait()``). Options are
        as for :meth:`run`.
        """
        return start_run(cls, inputs, **run_options)

    @classmethod
    def run_sync(cls, inputs: Mapping[str, Any] | None = None, **options: Any) -> RunResult:
        """Run the DAG with :func:`trio.run`, for scripts; options as for :meth:`run`."""
        return trio.run(functools.partial(cls.run, inputs, **options))

    @classmethod
    def stream(
        cls,
        source: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]],
        *,
        max_in_flight: int = 64,
        batch_size: int | None = None,
        ordered: bool = True,
        on_item_failure: str = "continue",
        strategy: Strategy | None = None,
        supervisor: Supervisor | None = None,
        retry: RetryPolicy | int | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        instruments: Iterable[Instrument] = (),
        placements: Mapping[str, Placement] | None = None,
        limiters: Mapping[str, trio.CapacityLimiter | int] | None = None,
    ) -> AbstractAsyncContextManager[StreamResults]:
        r"""Run the DAG once per input mapping of ``source``, pipelined.

        ``async with Pipeline.stream(source) as results: async for r in results:
        ...``. Each item flows through the whole DAG; different items are at
        different nodes at the same time, all under one ``max_concurrency``
        limiter. The source is read lazily: never more than ``max_in_flight``
        items are between the source and the consumer (items waiting to be
        delivered in order count), so memory stays flat however long the
        stream. Leaving the ``async with`` early cancels the work in flight and
        closes the source (``aclose()`` or ``close()``).

        Args:
            source: an iterable or async iterable of input mappings.
            max_in_flight: most items read from the source and not yet
                received by the consumer.
            batch_size: when set, items are read and admitted in batches of this
                size (the last may be smaller), and each result is a ``list``
                with one entry per item, in source order: its
                :class:`~trio_dag.RunResult`, or for an item with invalid
                inputs its :class:`~trio_dag.InputError` instance.
            ordered: deliver in input order (``True``) or in completion order.
            on_item_failure: ``"continue"`` delivers a failed item's partial
                result (``result.ok`` is false) and goes on; ``"stop"`` ends the
                stream at the first failure (a failed run's
                :class:`~trio_dag.RunFailed`, an invalid item's
                :class:`~trio_dag.InputError`, the source's error): nothing more
                is read or started, the work in flight that comes after it is
                cancelled, what comes before it is delivered, then the
                iteration raises it and ends (see
                :class:`~trio_dag.StreamResults`).
            strategy, supervisor, retry, deadline, seed, instruments: as for
                :meth:`run`, applied to each item's run (``deadline`` per item).
            placements, limiters: as for :meth:`run`; bound once for the
                whole stream (a limit given as an int is shared by every item).

        Each item's mapping is read when the item is read from the source, so a
        source may refill one mapping for every row. Exceptions leave the
        ``async with`` block as themselves, never wrapped in an exception
        group: what the block raises (``except td.RunFailed:`` around it
        works), or a ``KeyboardInterrupt`` from a node.

        Raises:
            InvalidOptionError: an option is invalid (before anything runs).
            InputError: a node's ``run_in`` or ``limiter`` name is not bound
                (before anything runs); from the iteration, at an item's place in
                the delivery order, when the item is not a mapping or its inputs
                are missing or unknown; the next iteration goes on (``"continue"``).
        """
        graph = cls.graph
        # the keyword forwarding of run() on purpose (see there): typed signature, one check
        options = RunOptions.build(
            f"DAG {graph.name!r}: stream",
            cls.supervisor,
            strategy=strategy,
            supervisor=supervisor,
            retry=retry,
            deadline=deadline,
            seed=seed,
            instruments=instruments,
            graph=graph,
            placements=placements,
            limiters=limiters,
        )
        return (open_stream_holding if graph.resources else open_stream)(
            graph,
            source,
            options,
            max_in_flight=max_in_flight,
            batch_size=batch_size,
            ordered=ordered,
            on_item_failure=on_item_failure,
        )
