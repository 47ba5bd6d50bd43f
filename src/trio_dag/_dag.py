"""The facade: the ``DAG`` base class and its metaclass.

A DAG class is declared with the markers of ``_declare.py``; ``DAGMeta``
turns its body into specs (``_specs.py``) and compiles them into a frozen
:class:`~trio_dag.Graph` when the ``class`` statement runs. The class then
offers the ways to run it (``run``, ``run_sync``, ``resume``, ``stream``),
each of which builds one :class:`~trio_dag._options.RunOptions` and hands it
to the runtime.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import AsyncIterable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Literal, Self

import trio

from ._compose import Expansion, check_wiring, expand_include, resource_spec
from ._declare import Include, Input, Node, NodeFunction, Resource
from ._exceptions import DAGDefinitionError, DuplicateNodeError, InvalidNodeError
from ._graph import NO_DEFAULT, Graph
from ._handle import RunHandle, start_run
from ._instrument import Instrument
from ._options import RunOptions
from ._placement import Placement
from ._result import RunResult
from ._retry import RetryPolicy
from ._run import _Run, execute
from ._specs import check_name, spec_from_function, specs_from_nodes
from ._store import SQLiteStore
from ._strategies import Strategy
from ._stream import StreamResults, open_stream, open_stream_holding
from ._subrun import opaque_node
from ._supervise import Supervisor
from ._typecheck import check_types
from ._validate import reject

__all__ = ["DAG", "DAGMeta"]


class _Namespace(dict[str, Any]):
    """Class-body namespace that refuses to redefine a node or input silently."""

    def __init__(self, dag: str) -> None:
        super().__init__()
        self.dag = dag

    def __setitem__(self, key: str, value: Any) -> None:
        old = self.get(key)
        if isinstance(old, _MEMBERS):
            # also a node redefined without @node: it would vanish without a word
            then = "" if isinstance(value, _MEMBERS) else f" (then as {value!r})"
            raise DuplicateNodeError(
                f"DAG {self.dag!r} defines {key!r} twice{then}; "
                f"node and input names must be unique",
                dag=self.dag,
                node=key,
            )
        super().__setitem__(key, value)


_MEMBERS = (NodeFunction, Input, Include, Resource)


class DAGMeta(type):
    """Metaclass of :class:`DAG`: validates and compiles the class body."""

    @classmethod
    def __prepare__(mcs, name: str, bases: tuple[type, ...], /, **kw: Any) -> _Namespace:
        return _Namespace(name)

    def __new__(
        mcs,
        name: str,
        bases: tuple[type, ...],
        ns: dict[str, Any],
        /,
        *,
        compiled: Graph | None = None,
        **kw: Any,
    ) -> Any:
        cls = super().__new__(mcs, name, bases, dict(ns), **kw)
        if compiled is not None:  # from_nodes(): the graph is compiled already
            cls.graph = compiled  # type: ignore[attr-defined]
            cls._dsl_nodes = None  # type: ignore[attr-defined]  # marks it: see below
            compiled._owner = (cls.__module__, cls.__qualname__)
            return cls
        nodes: dict[str, NodeFunction[Any, Any]] = {}
        inputs: dict[str, Input] = {}
        includes: dict[str, Include] = {}
        resources: dict[str, Resource] = {}
        members: list[dict[str, Any]] = [nodes, inputs, includes, resources]
        for base in reversed(cls.__mro__[1:]):
            if getattr(base, "_dsl_nodes", {}) is None:
                raise DAGDefinitionError(
                    f"DAG {name!r} subclasses {base.__name__!r}, which was built by "
                    f"DAG.from_nodes() or extend(); its nodes are not class attributes, so "
                    f"a class body cannot extend them: add nodes with "
                    f"{base.__name__}.extend(name, nodes) instead",
                    dag=name,
                )
            nodes.update(getattr(base, "_dsl_nodes", {}))
            inputs.update(getattr(base, "_dsl_inputs", {}))
            includes.update(getattr(base, "_dsl_includes", {}))
            resources.update(getattr(base, "_dsl_resources", {}))
        seen: dict[int, str] = {id(v): k for k, v in nodes.items()}
        for key, value in ns.items():
            if isinstance(value, NodeFunction):
                if id(value) in seen and seen[id(value)] != key:
                    raise DuplicateNodeError(
                        f"DAG {name!r} registers the same node function under two names, "
                        f"{seen[id(value)]!r} and {key!r}; define each node once",
                        dag=name,
                        node=key,
                    )
                seen[id(value)] = key
                check_name(name, key, "node", identifier=True, reserved=RESERVED)
                _own(members, nodes, key, value)
            elif isinstance(value, Input):
                check_name(name, key, "input", identifier=True, reserved=RESERVED)
                _own(members, inputs, key, value)
            elif isinstance(value, Include):
                check_name(name, key, "inclusion", identifier=True, reserved=RESERVED)
                _own(members, includes, key, value)
            elif isinstance(value, Resource):
                check_name(name, key, "resource", identifier=True, reserved=RESERVED)
                _own(members, resources, key, value)
        sup = ns.get("supervisor", getattr(cls, "supervisor", None))
        if not isinstance(sup, Supervisor):
            raise DAGDefinitionError(
                f"DAG {name!r}: supervisor must be a trio_dag.Supervisor, got {sup!r}", dag=name
            )
        known = set(nodes) | set(inputs) | set(resources)
        specs = [spec_from_function(name, k, v, known) for k, v in nodes.items()]
        res_specs = [resource_spec(name, k, v, inputs, nodes) for k, v in resources.items()]
        if includes:
            _include(name, specs, res_specs, nodes, inputs, resources, includes)
        cls._dsl_nodes = nodes  # type: ignore[attr-defined]
        cls._dsl_inputs = inputs  # type: ignore[attr-defined]
        cls._dsl_includes = includes  # type: ignore[attr-defined]
        cls._dsl_resources = resources  # type: ignore[attr-defined]
        graph = Graph(name, specs, {k: v.default for k, v in inputs.items()}, res_specs)
        check_types(name, graph._specs)
        graph._owner = (cls.__module__, cls.__qualname__)  # results pickle by this reference
        cls.graph = graph  # type: ignore[attr-defined]
        return cls

    def __init__(
        cls, name: str, bases: tuple[type, ...], ns: dict[str, Any], /, **kw: Any
    ) -> None:
        kw.pop("compiled", None)
        super().__init__(name, bases, ns, **kw)


def _own(members: list[dict[str, Any]], kind: dict[str, Any], key: str, value: Any) -> None:
    """A class-body member ``key`` replaces whatever a base declared under that name
    (keeping its place when it is of the same kind)."""
    for m in members:
        if m is not kind:
            m.pop(key, None)
    kind[key] = value


def _include(
    dag: str,
    specs: list[Any],
    res_specs: list[Any],
    nodes: dict[str, NodeFunction[Any, Any]],
    inputs: dict[str, Input],
    resources: dict[str, Resource],
    includes: dict[str, Include],
) -> None:
    """Append the inclusions' nodes and resources to ``specs`` and ``res_specs``."""
    taken = {k: "node" for k in nodes} | {k: "input" for k in inputs}
    taken |= {k: "resource" for k in resources}
    expansions: list[Expansion] = [
        expand_include(dag, attr, inc, taken) for attr, inc in includes.items()
    ]
    values = set(nodes) | set(inputs)
    res_names = set(resources)
    for ex in expansions:
        values.update(s.name for s in ex.specs)
        res_names.update(r.name for r in ex.resources)
    check_wiring(dag, expansions, values, res_names, taken)
    for ex in expansions:
        specs.extend(ex.specs)
        res_specs.extend(ex.resources)


class DAG(metaclass=DAGMeta):
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
    def from_nodes(
        cls,
        name: str,
        nodes: Iterable[Node],
        inputs: Iterable[str] | Mapping[str, Input] = (),
        *,
        supervisor: Supervisor | None = None,
        resources: Mapping[str, Any] | None = None,
    ) -> type[DAG]:
        """Build a DAG from :class:`Node` specs (generated or loaded graphs).

        Args:
            name: the DAG's name.
            nodes: the nodes, in definition order.
            inputs: input names (all required), or a mapping of names to
                :func:`trio_dag.input` declarations.
            supervisor: the DAG's default supervisor.
            resources: resource names to :func:`trio_dag.resource`
                declarations; a node lists a resource in ``deps`` to receive
                its entered value.

        Returns:
            A new :class:`DAG` subclass, validated and compiled.

        Raises:
            DAGDefinitionError: (a subclass of it) the graph is invalid.
        """
        if not isinstance(name, str) or not name:
            raise InvalidNodeError(
                f"from_nodes(): the DAG name must be a non-empty string, got {name!r}",
                dag=str(name),
            )
        declared = _declared_inputs(name, inputs)
        if supervisor is not None and not isinstance(supervisor, Supervisor):
            raise DAGDefinitionError(
                f"DAG {name!r}: supervisor must be a trio_dag.Supervisor, got {supervisor!r}",
                dag=name,
            )
        res_specs = []
        for k, v in (resources or {}).items():
            if not isinstance(v, Resource):
                raise DAGDefinitionError(
                    f"DAG {name!r}: resource {k!r} must be declared with trio_dag.resource(), "
                    f"got {v!r}",
                    dag=name,
                )
            check_name(name, k, "resource", identifier=False, reserved=RESERVED)
            res_specs.append(resource_spec(name, k, v, declared))
        graph = Graph(name, specs_from_nodes(name, nodes, RESERVED), declared, res_specs)
        check_types(name, graph._specs)
        # Like namedtuple and Enum's functional API: the class belongs to the caller's
        # module, so `Name = DAG.from_nodes("Name", ...)` at module level pickles.
        module = sys._getframe(1).f_globals.get("__name__", "__main__")
        ns: dict[str, Any] = {"__qualname__": name, "__module__": module}
        if supervisor is not None:
            ns["supervisor"] = supervisor
        return DAGMeta(name, (DAG,), ns, compiled=graph)  # type: ignore[return-value]

    @classmethod
    def extend(
        cls,
        name: str,
        nodes: Iterable[Node],
        inputs: Iterable[str] | Mapping[str, Input] = (),
    ) -> type[Self]:
        """A new DAG class: this DAG's nodes and inputs, plus generated ones.

        The new nodes are :class:`Node` specs, as for :meth:`from_nodes`; they
        may depend on this DAG's nodes and inputs (and on each other), and
        the whole graph is validated like any other: unknown names with a
        "did you mean", cycles, duplicates, options, types. The new class is
        a subclass of this one, so this DAG's typed handles
        (``result[Report.summary]``) and supervisor work on it too; this DAG
        is unchanged.

        Args:
            name: the new DAG's name.
            nodes: the nodes to add.
            inputs: inputs to add, as for :meth:`from_nodes`.

        Returns:
            A new subclass of this DAG, validated and compiled.

        Raises:
            DAGDefinitionError: (a subclass of it) the extended graph is invalid.
        """
        if not isinstance(name, str) or not name:
            raise InvalidNodeError(
                f"{cls.__name__}.extend(): the DAG name must be a non-empty string, got {name!r}",
                dag=str(name),
            )
        base = cls.graph
        declared = dict(zip(base.inputs, base._defaults, strict=True))
        for k, v in _declared_inputs(name, inputs).items():
            if k in declared:
                raise DuplicateNodeError(
                    f"DAG {name!r}: input {k!r} is declared by {cls.__name__!r} already",
                    dag=name,
                    node=k,
                )
            declared[k] = v
        specs = [*base._specs, *specs_from_nodes(name, nodes, RESERVED)]
        graph = Graph(name, specs, declared, base._resources)
        check_types(name, graph._specs)
        module = sys._getframe(1).f_globals.get("__name__", "__main__")  # as from_nodes
        ns: dict[str, Any] = {"__qualname__": name, "__doc__": cls.__doc__, "__module__": module}
        return DAGMeta(name, (cls,), ns, compiled=graph)  # type: ignore[return-value]

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
    def as_node(
        cls,
        inputs: Mapping[str, str] | None = None,
        *,
        output: str | None = None,
        node_options: Mapping[str, Any] | None = None,
        strategy: Strategy | None = None,
        supervisor: Supervisor | None = None,
        on_failure: Literal["fail_fast", "continue"] = "fail_fast",
        retry: RetryPolicy | int | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        instruments: Iterable[Instrument] = (),
    ) -> NodeFunction[..., Any]:
        """This DAG as one node of another: a node that runs it whole (opaque composition).

        ``summary = Etl.as_node(inputs={"day": "day"}, output="summary")`` in
        a class body is a node whose dependencies are the outer names wired to
        Etl's inputs, and whose value is the inner run's value of ``output``
        (the whole :class:`~trio_dag.RunResult` when ``output`` is ``None``).
        Each call is one run of this DAG, in the node's own task, with its
        own options:

        - the outer run's cancellation (fail-fast, deadline, a timeout of the
          node) cancels the inner run;
        - the outer run's instruments see the inner node events, the node
          names given as a path, ``"<outer node>/<inner node>"``;
        - an inner failure is the node's failure: its error is the inner
          :class:`~trio_dag.RunFailed`, whose report is its message and whose
          ``result`` is the inner partial result;
        - when the node is retried (``node_options={"retry": ...}``, also
          after its ``timeout``), the next attempt resumes the inner partial
          result: completed inner nodes are not run again; so does ``resume``
          of the outer run (not for a node with ``map_over``: its elements
          start over);
        - the node takes no ``max_concurrency`` slot of the outer run: unless
          ``strategy`` is given, the inner run uses the outer run's strategy
          and shares its slots, so the bound holds for inner and outer nodes
          together and cannot deadlock on a slot its own node holds.

        Args:
            inputs: wiring, inner input name to the name (an input or node of
                the outer DAG) that feeds it; inner inputs with a default may
                be left out.
            output: the inner node whose value is the node's value, or
                ``None`` for the whole result.
            node_options: options of the outer node, as for
                :func:`trio_dag.node`: ``retry``, ``timeout`` (for the whole
                inner run), ``map_over`` (an inner input name: one inner run
                per element).
            strategy, supervisor, on_failure, retry, deadline, seed, instruments:
                options of the inner run, as for :meth:`run` (``retry`` is the
                default policy of inner nodes).

        Returns:
            A :class:`~trio_dag.NodeFunction` to assign in a class body.

        Raises:
            InvalidOptionError: an option is invalid, ``inputs`` wires a name
                that is not an input of this DAG or leaves a required one
                unwired, or ``output`` is not a node (with a "did you mean").
        """
        return opaque_node(
            cls,
            inputs,
            output,
            node_options,
            {
                "strategy": strategy,
                "supervisor": supervisor,
                "on_failure": on_failure,
                "retry": retry,
                "deadline": deadline,
                "seed": seed,
                "instruments": instruments,
            },
        )

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


def _declared_inputs(name: str, inputs: Iterable[str] | Mapping[str, Input]) -> dict[str, Any]:
    """Input names (all required) or declarations, checked: name -> default."""
    declared: dict[str, Any] = {}
    if isinstance(inputs, Mapping):
        for k, v in inputs.items():
            if not isinstance(v, Input):
                raise DAGDefinitionError(
                    f"DAG {name!r}: input {k!r} must be declared with trio_dag.input(), got {v!r}",
                    dag=name,
                )
            declared[check_name(name, k, "input", identifier=False, reserved=RESERVED)] = v.default
        return declared
    if isinstance(inputs, str):
        inputs = (inputs,)
    for k in inputs:
        check_name(name, k, "input", identifier=False, reserved=RESERVED)
        if k in declared:
            raise DuplicateNodeError(f"DAG {name!r} declares input {k!r} twice", dag=name, node=k)
        declared[k] = NO_DEFAULT
    return declared


RESERVED = frozenset(n for n in dir(DAG) if not n.startswith("__")) | {"graph"}
"""Names a node or input may not take: they would shadow the DAG's own API
(public names, and private ones such as ``_dsl_nodes`` that the class uses)."""
