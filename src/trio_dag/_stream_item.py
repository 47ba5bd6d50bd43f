"""One stream item's run: in the item's own task when that keeps the run's meaning.

A stream starts one task per item. Today's general path then runs the item as
any run does (:meth:`_Run.go` under the call's strategy: a nursery and a task
per node under ``Parallel``). When the item's nodes would run one after
another anyway, the *inline* path runs them in the item's own task, in
topological order, through the very same per-node code (``_Run._node``:
retries, timeouts, ``max_concurrency`` slots, resources, placement, map
nodes, instruments, ``current_attempt()``), so per item only the task, the
run's bookkeeping and its :class:`~trio_dag.RunResult` are paid.

The rule (:func:`runs_inline`): an item runs inline when the strategy is
``Sequential()`` (a run does exactly that), or when it is
``Parallel(schedule="eager")`` and the DAG is a chain: its topological order
is unique (every level has one node), so no two of an item's nodes are ever
ready at the same time and eager scheduling would run them one after the
other too. Everything else takes the general path: a DAG with two nodes that
may run at once under ``Parallel`` (they must overlap), and
``Parallel(schedule="levels")`` (its ``level_started``/``level_finished``
events and level restarts, which cancel level-mates, need a task per node).

Per item, the run's state is copied from a template built once per stream
(only what a run changes is made fresh), the run id is the stream's id and a
counter, and the run's cancel scope is entered only when something can use it
(a ``deadline``, map nodes, level restarts): without them, a failing node
stops the item's run by ``stopped`` alone, as nothing else of the item runs.
"""

from __future__ import annotations

import operator
import reprlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from ._exceptions import InputError
from ._graph import Graph
from ._instrument import Emitter
from ._options import RunOptions
from ._resources import Resources
from ._result import MISSING, RunId
from ._run import _Run
from ._strategies import Parallel, Sequential
from ._supervise import RestartIntensity

__all__ = ["ItemRunner", "runs_inline"]

# The attributes of a run's state (RunState.__init__), split by what an item's
# run does with them. A new attribute must be added to one of the two sets
# (tests/test_stream_inline.py fails otherwise): a mutable one that a run
# changes belongs in PER_RUN and gets a fresh value in ItemRunner._fresh.
PER_RUN = frozenset(
    {
        "_id",
        "values",
        "start",
        "end",
        "errors",
        "last",
        "attempts",
        "elements",
        "resumed_elements",
        "restored",
        "nurseries",
        "scope",
        "plain",
        "node_scopes",
        "generation",
        "intensity",
        "emit",
        "node_emit",
        "element_emit",
    }
)
SHARED = frozenset(
    {
        # read-only for a run: the graph's tables, the options, the shared bounds
        "graph",
        "options",
        "partial",
        "resources",
        "needs",
        "takes_slot",
        "names",
        "fns",
        "slot_deps",
        "dependents",
        "timeouts",
        "maps",
        "policies",
        "roots",
        "remaining",  # read and counted down by eager scheduling only, never inline
        "slots",
        "max_concurrency",
        "now",
        "placed",
        "placements",
        "limiters",
        "chunks",
        "watch_overrun",
        "fail_fast",
        "supervisor",
        "level_restarts",
        "seed",
        "journal",
        # immutable initial values a run replaces (never mutates) as it goes
        "eager",
        "sequential",
        "next_of",
        "fast",
        "offset",
        "_rng",
        "check_blocked",
        "stopped",
        "halted",
        "deadline",
        "level_nursery",
        "seq_task",
        "seq_outer",
        "seq_current",
        "level_members",
        # the inline run's own
        "inline_order",
        "inline_bare",
        "inline_calls",
        "inline_pause",
    }
)


def runs_inline(graph: Graph, options: RunOptions) -> bool:
    """Whether a stream's items run their nodes in the item's own task (see the module doc)."""
    strategy = options.strategy
    if isinstance(strategy, Sequential):
        return True
    return (
        isinstance(strategy, Parallel)
        and strategy.schedule == "eager"
        and all(len(level) == 1 for level in graph._level_ix)
    )


def _fast_binder(names: tuple[str, ...]) -> Callable[[dict[str, Any]], list[Any] | None]:
    """``fast_bind(item)``: a ``dict`` item's input values when it holds exactly the
    declared inputs (the common case, with no check per input), else ``None``
    (then :meth:`ItemRunner.bind` reads it, defaults and errors included)."""
    k = len(names)
    if k == 0:
        return lambda item: [] if not item else None
    get = operator.itemgetter(*names)
    single = k == 1

    def fast_bind(item: dict[str, Any]) -> list[Any] | None:
        if len(item) != k:
            return None
        try:
            return [get(item)] if single else list(get(item))
        except KeyError:
            return None

    return fast_bind


class _NoScope:
    """The run's cancel scope when nothing of an inline item's run can use one.

    ``_Run.go`` enters the run's scope, and a failing node cancels it; in an
    inline run without a deadline, map nodes or level restarts, the failing
    node was the only thing running and ``stopped`` skips the rest, so the
    scope has nothing to do.
    """

    __slots__ = ()
    cancelled_caught = False
    cancel_called = False

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    def cancel(self) -> None:
        return None


_NO_SCOPE = _NoScope()

_FAIR = 256  # an inline eager run lets other tasks run at least every this many nodes


class _InlineRun(_Run):
    """An inline item's run: ``go`` runs its nodes here, in the item's task.

    As ``_Run._sequential``, with ``_Run._node``'s plain path written out for
    a node that asks for nothing (plain, no ``max_concurrency`` slot, no node
    events): its outcome goes through the same ``_failed``, ``_stray`` and
    ``_group_ended``. Any other node goes through ``_Run._node`` itself.

    Under ``Sequential()`` a cancellation is checked before each node, as
    ``_Run._sequential`` does. Under ``Parallel`` nothing is checked between
    nodes, as nothing is when an eager run starts a node's task (a task runs
    until its first checkpoint); a real checkpoint every ``_FAIR`` nodes lets
    other tasks run during a long chain of nodes that never wait.
    """

    # per node: the node's function, a getter of its arguments (None: none),
    # whether the getter gives a tuple of several; and whether the node is bare
    # (nothing to do but call it); and (checkpoint, every how many nodes)
    inline_calls: tuple[tuple[Callable[..., Any], Callable[[list[Any]], Any] | None, bool], ...]
    inline_bare: tuple[bool, ...]
    inline_order: tuple[int, ...]
    inline_pause: tuple[Callable[[], Awaitable[None]], int]

    async def _sequential(self) -> None:
        if self.level_restarts:  # a restart reruns the level's members: the run's own loop
            return await _Run._sequential(self)
        # current_attempt() finds the nodes in this task; the stream made the task
        # for this run, so no nursery of an earlier node's is open in it: seq_outer 0
        self.seq_task = trio.lowlevel.current_task()
        values, start, end, now = self.values, self.start, self.end, self.now
        calls, bare = self.inline_calls, self.inline_bare
        pause, every = self.inline_pause
        k = every if every == 1 else 0
        for i in self.inline_order:
            if k == every:
                k = 0
                await pause()
            k += 1
            if self.check_blocked and self._blocked(i):  # as _members: not after a failure
                continue
            self.seq_current = i
            if not bare[i] or self.stopped:
                await self._node(i)
                continue
            fn, get, several = calls[i]
            start[i] = now()
            try:
                if get is None:
                    v = await fn()
                elif several:
                    v = await fn(*get(values))
                else:
                    v = await fn(get(values))
            except Exception as exc:
                self._failed(i, exc)
                continue
            except trio.Cancelled as exc:  # costs nothing unless raised
                if self._stray(i, exc):
                    continue
                raise
            except BaseExceptionGroup as group:
                if self._group_ended(i, group):
                    continue
                raise
            end[i] = now()
            values[i] = v
        return None


class ItemRunner:
    """Makes a stream's item runs: ``await runner.make(values).go(deadline)``.

    That returns the item's :class:`~trio_dag.RunResult`, or raises
    :class:`~trio_dag.RunFailed` as :meth:`DAG.run <trio_dag.DAG.run>` does.
    Build it inside the stream's task (a run reads trio's clock).
    """

    __slots__ = (
        "_blank",
        "_count",
        "_general",
        "_id",
        "_input_values",
        "_n",
        "_scoped",
        "_special",
        "_state",
        "_template",
        "_where",
        "fast_bind",
    )

    def __init__(
        self,
        graph: Graph,
        options: RunOptions,
        slots: trio.Semaphore | None,
        resources: Resources | None,
    ) -> None:
        self._n = n = len(graph.nodes)
        self._blank = [MISSING] * n
        self._id = secrets.token_hex(6) + "-"
        self._count = 0
        self._where = f"DAG {graph.name!r}: stream"
        self._input_values = graph.bind_inputs
        self.fast_bind = _fast_binder(graph.inputs)
        self._general: tuple[Any, ...] | None = None
        if not runs_inline(graph, options):
            self._general = (graph, options, slots, resources)
            return
        template = _InlineRun(graph, [], None, options, slots, resources)
        template.sequential = True  # the item's task runs the nodes in topological order
        template.eager = False
        template.next_of = ((),) * len(graph.nodes)  # _node starts no dependents
        template.inline_order = tuple(i for level in graph._level_ix for i in level)
        template.inline_calls = tuple(
            (fn, operator.itemgetter(*deps) if deps else None, len(deps) > 1)
            for fn, deps in zip(template.fns, template.slot_deps, strict=True)
        )
        template.inline_pause = (
            (trio.lowlevel.checkpoint_if_cancelled, 1)
            if isinstance(options.strategy, Sequential)
            else (trio.lowlevel.checkpoint, _FAIR)
        )
        bare = template.slots is None and template.node_emit is None
        bare = bare and not template.level_restarts  # a restart takes a node off the plain path
        template.inline_bare = tuple(bare and p for p in template.plain)
        self._template = template
        self._scoped = (
            options.deadline is not None
            or template.level_restarts
            or any(m is not None for m in graph._maps)
        )
        self._special = (
            self._scoped
            or template.level_restarts
            or template.intensity is not None
            or template.emit is not None
        )
        self._state = dict(template.__dict__)
        self._state["scope"] = _NO_SCOPE  # (a fresh CancelScope per run when _scoped)

    def bind(self, index: int, item: Any) -> Any:
        """Item ``index``'s input values, read now; or the item's error (not raised).

        Reading the mapping when the item is read, not when its run starts,
        keeps a source that refills one mapping for every row correct.
        """
        # `type(...) is dict` first: an ABC isinstance per item costs ~5% of a stream.
        if type(item) is not dict and not isinstance(item, Mapping):
            return InputError(
                f"{self._where}: item {index} must be a mapping of input names to values, "
                f"got {reprlib.repr(item)}"
            )
        try:
            return self._input_values(item)
        except Exception as exc:  # an InputError, or a mapping that fails when read
            exc.add_note(f"in item {index} of the stream (counting from 0)")
            return exc

    def _fresh(self, values: list[Any]) -> _Run:
        """A new run on ``values``: the template's state, with fresh copies of what a
        run changes (PER_RUN)."""
        n = self._n
        self._count += 1
        state = self._state.copy()
        state["_id"] = RunId.of(f"{self._id}{self._count}")
        state["values"] = self._blank + values
        state["start"] = [None] * n
        state["end"] = [None] * n
        state["errors"] = {}
        state["last"] = {}
        state["attempts"] = {}
        state["elements"] = {}
        state["resumed_elements"] = {}
        state["restored"] = {}
        state["nurseries"] = set()
        if self._special:
            template = self._template
            if template.level_restarts:
                state["plain"] = list(template.plain)
                state["node_scopes"] = [None] * n
                state["generation"] = [0] * n
            if template.intensity is not None:
                state["intensity"] = RestartIntensity(template.supervisor)
            if self._scoped:
                state["scope"] = trio.CancelScope()
            emit = template.emit
            if emit is not None:  # an instrument that raises is dropped for this run only
                own = Emitter.__new__(Emitter)
                own.hooks = emit.hooks  # replaced, never changed, when one is dropped
                state["emit"] = own
                if template.node_emit is not None:
                    state["node_emit"] = own
                if template.element_emit is not None:
                    state["element_emit"] = own
        run = _InlineRun.__new__(_InlineRun)
        run.__dict__ = state
        return run

    def make(self, values: list[Any]) -> _Run:
        """The run of an item whose inputs have ``values``: ``await run.go(deadline)``
        runs it (``deadline``: the options'), in the calling task."""
        general = self._general
        if general is None:
            return self._fresh(values)
        graph, options, slots, resources = general
        return _Run(graph, values, None, options, slots, resources)
