"""The state of one run, and the small operations on it (internal).

See :class:`RunState`; the runtime builds on it in ``_supervision.py``,
``_maps.py``, ``_run_durable.py`` and ``_run.py``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import add
from typing import TYPE_CHECKING, Any

import trio

from ._exceptions import NodeCancelled
from ._instrument import ELEMENT_HOOKS, NODE_HOOKS, Emitter
from ._options import RunOptions
from ._resources import Resources
from ._result import MISSING, MapElements, NodeStatus, RunId, RunResult
from ._strategies import Parallel
from ._supervise import RestartIntensity

if TYPE_CHECKING:
    from ._durable import Journal
    from ._graph import Graph

__all__ = ["INLINE_CHECKPOINT", "RunState"]

# trio's default clock class, not public: if trio moves it, runs read the clock
# through current_time(), only slower (see RunState.__init__, node times).
_SYSTEM_CLOCK: type | None
try:
    from trio._core._run import SystemClock

    _SYSTEM_CLOCK = SystemClock
except ImportError:  # pragma: no cover
    _SYSTEM_CLOCK = None

INLINE_CHECKPOINT = 256
"""Eager, work-first: a task running ready dependents itself checkpoints every this many."""

_NONE: list[Any] = []  # never added to: the runs without level restarts share it


class RunState:
    """The state of one run. Per-node data lives in flat lists indexed by node.

    The runtime is one class cut along its concepts, each in a module of its
    own, stacked one way: ``RunState`` (this: per-run state and the small
    operations on it) <- ``Supervision`` (attempts, retries, timeouts, restart
    intensity, level restarts) <- ``MapPool`` (the map worker pool) <- ``Durable``
    (runs with a store) <- ``_Run`` (scheduling a run: sequential, levels, eager;
    its result).
    """

    # No __slots__: an inline stream item copies a template run's __dict__
    # (_stream_item.ItemRunner), which costs a third of filling ~60 slots one by one.

    spawn: Callable[..., Any]  # an eager run's nursery's start_soon (set when it opens)

    def __init__(
        self,
        graph: Graph,
        input_values: list[Any],
        partial: RunResult | None,
        options: RunOptions,
        slots: trio.Semaphore | None = None,
        resources: Resources | None = None,
    ) -> None:
        """One run; ``slots`` shares one ``max_concurrency`` bound between runs (a stream),
        ``resources`` one resource table (a stream enters each resource once).

        Every line here runs once per run: a small run pays for all of it, so
        nothing is built that the run did not ask for (no cancel scope: see
        ``_Run.go``; no run id until one is read: see :class:`RunId`).
        """
        strategy = options.strategy
        supervisor = options.supervisor
        default_policy = options.retry
        instruments = options.instruments
        n = len(graph.nodes)
        self.graph = graph
        self.options = options
        self.partial = partial  # what DAG.as_node's inner runs resume from, on resume
        self.resources = resources  # a run of its own makes its table in go()
        self.needs = graph._needs
        self.takes_slot = graph._takes_slot
        self.names = graph.nodes
        self._id = RunId()  # shared with the run's results; drawn when first read
        self.fns = graph._fns
        self.slot_deps = graph._slot_deps
        self.dependents = graph._dependents
        self.timeouts = graph._timeouts
        self.maps = graph._maps
        self.plain: Sequence[bool]
        if default_policy is None:
            self.policies = graph._policies
            self.plain = graph._plain
        else:
            self.policies = tuple(p or default_policy for p in graph._policies)
            self.plain = (False,) * n
        levels = self.level_restarts = supervisor.strategy != "one_for_one"  # needs_levels
        if levels:  # _clear takes a restarted node off the plain path
            self.plain = list(self.plain)
        k: int | None = None
        if type(strategy) is Parallel:
            self.eager = strategy.schedule == "eager"
            self.sequential = False
            k = strategy.max_concurrency
        else:
            self.eager = False
            self.sequential = True
        # max_concurrency: a Semaphore bounds running attempts exactly as a
        # CapacityLimiter would, without tracking borrowers (about 1.2x raw trio
        # per node against 1.4x, measured with perf/bench_overhead.py).
        if slots is None and k is not None:
            slots = trio.Semaphore(k)
        self.slots = slots
        self.max_concurrency = k or 0
        # Node times. SystemClock.current_time() is offset + perf_counter() in a
        # Python method: about 0.3 us a read on the benchmark machines, 2 reads a
        # node. A fresh run reads perf_counter() itself and adds the offset as the
        # times leave the run (_times); a resumed one keeps trio's clock, so the
        # kept times stay exactly as they were.
        clock = trio.lowlevel.current_clock()
        self.offset = 0.0
        self.now = clock.current_time
        if type(clock) is _SYSTEM_CLOCK and partial is None:
            self.now, self.offset = time.perf_counter, clock.offset  # type: ignore[attr-defined]
        emit = self.emit = Emitter.build(instruments, graph.name) if instruments else None
        if emit is None:
            self.node_emit = self.element_emit = None
            self.watch_overrun = False
        else:  # per-node and per-element events only when some instrument overrides one
            self.node_emit = emit if emit.wants(NODE_HOOKS) else None
            self.element_emit = emit if emit.wants(ELEMENT_HOOKS) else None
            self.watch_overrun = emit.wants(("node_overran",))
        # plain nodes of a run without max_concurrency nor node hooks: the leanest path
        self.fast = self.plain if slots is None and self.node_emit is None else (False,) * n
        # placement (run_in=) and named limits: None unless a node asked for one
        self.placed = graph._placed
        self.placements = options.placements
        self.limiters = options.limiters
        self.chunks = graph._chunks
        self.fail_fast = options.fail_fast
        self.supervisor = supervisor
        self.seed = options.seed
        self._rng: random.Random | None = None  # made on first retry: seeding costs
        self.intensity = (
            RestartIntensity(supervisor) if supervisor.max_restarts is not None else None
        )

        self.values: list[Any]
        self.start: list[float | None]
        self.end: list[float | None]
        if partial is None:
            self.values = values = [MISSING] * n
            if input_values:
                values += input_values
            self.start = [None] * n
            self.end = [None] * n
            self.remaining = list(graph._indegree)
            self.roots: Sequence[int] = graph._roots
            self.resumed_elements: dict[int, MapElements] = {}  # what a map node resumes from
            self.restored: dict[int, NodeStatus] = {}
        else:
            self.values = list(partial._values)
            done = [v is not MISSING for v in self.values[:n]]
            self.start = [s if d else None for s, d in zip(partial._start, done, strict=True)]
            self.end = [e if d else None for e, d in zip(partial._end, done, strict=True)]
            self.remaining = [sum(not done[j] for j in deps) for deps in graph._node_deps]
            self.roots = [i for i in range(n) if not done[i] and not self.remaining[i]]
            self.resumed_elements = {}
            self.restored = dict(partial._restored or {})
        self.check_blocked = partial is not None  # may a node's dependency be missing?
        # Map nodes' element outcomes: kept for a map node that failed, was
        # cancelled part-way, or collected failed elements (see MapElements).
        self.elements: dict[int, MapElements] = {}
        if partial is not None and partial._elements:
            for q, st in partial._elements.items():
                (self.elements if self.values[q] is not MISSING else self.resumed_elements)[q] = st
        # durability (``_run_durable.Durable._use_journal``): nodes whose value came
        # from a store (restored, cached) have their status in ``restored``
        self.journal: Journal | None = None
        # what _node starts when a node finishes: eager, its dependents; else nothing
        self.next_of: Sequence[tuple[int, ...]] = graph._dependents if self.eager else ((),) * n
        self.errors: dict[int, BaseException] = {}
        self.last: dict[int, BaseException] = {}  # an attempt's error while a retry is pending
        self.attempts: dict[int, int] = {}
        self.stopped = False
        self.halted = False
        # The run's cancel scope, cancelled to stop the run (fail-fast, escalation, a
        # store failure) or by its deadline: an eager run's is its nursery's; other
        # runs open one in go() only when something may have to cancel running work.
        self.scope: trio.CancelScope | None = None
        self.deadline: float | None = None  # an eager run's, for its nursery's scope
        self.nurseries: set[trio.Nursery] = set()
        self.level_nursery: trio.Nursery | None = None
        # per node under a level-restarting supervisor; else one shared empty list
        self.node_scopes: list[trio.CancelScope | None] = [None] * n if levels else _NONE
        self.generation: list[int] = [0] * n if levels else _NONE  # restarts spawned
        self.seq_task: trio.lowlevel.Task | None = None  # Sequential: the task running nodes
        self.seq_outer = 0  # ... and how many nurseries it had open when the run began
        self.seq_current = 0  # ... and the node it runs
        self.level_members: Sequence[int] = ()

    @property
    def run_id(self) -> str:
        """The run's id, drawn when first read (see :class:`~trio_dag._result.RunId`)."""
        return self._id.get()

    @property
    def rng(self) -> random.Random:
        """The run's random generator for retry jitter (seeded with the run's seed)."""
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    async def _node(self, i: int) -> None:
        """Run node ``i`` to a value or a final failure (the scheduler's, in ``_run.py``)."""
        raise NotImplementedError

    def _stray(self, i: int, exc: BaseException) -> bool:
        """Whether a trio.Cancelled that ended node ``i`` was stray (in ``_run.py``)."""
        raise NotImplementedError

    def _group_ended(self, i: int, group: BaseExceptionGroup[BaseException]) -> bool:
        """Whether a non-Exception group that ended node ``i`` is handled (in ``_run.py``)."""
        raise NotImplementedError

    def _times(self) -> tuple[list[float | None], list[float | None]]:
        """Copies of the nodes' start and end times, as ``trio.current_time()`` values."""
        off = self.offset
        if not off:
            return list(self.start), list(self.end)
        try:  # every node has its times (a complete run): add in C
            return list(map(add, self.start, repeat(off))), list(map(add, self.end, repeat(off)))
        except TypeError:  # some are None
            return (
                [None if x is None else x + off for x in self.start],
                [None if x is None else x + off for x in self.end],
            )

    def _task_node(self, task: trio.lowlevel.Task) -> str:
        """The name of the node that node task ``task`` runs now.

        Eager runs are work-first: a task runs the node it was spawned for, then
        ready dependents, one after another, in the same coroutine (``_node``,
        or ``_journaled_node`` with a store), whose local ``i`` is the node it
        runs. Read it from the frame, so the hot path pays nothing for it; a
        task whose coroutine has no such ``i`` is named after its node.
        """
        frame = task.coro.cr_frame
        i = None if frame is None else frame.f_locals.get("i")
        if type(i) is int and 0 <= i < len(self.names):
            return self.names[i]
        return task.name

    def _members(self, level: tuple[int, ...]) -> Sequence[int]:
        """The nodes of ``level`` this run executes (not done, no missing dependency)."""
        if self.check_blocked:
            self.level_members = [i for i in level if not self._blocked(i)]
        else:
            self.level_members = level
        return self.level_members

    def _blocked(self, i: int) -> bool:
        """Whether node ``i`` is done already or cannot run (a dependency is missing)."""
        values = self.values
        return values[i] is not MISSING or any(
            values[j] is MISSING for j in self.graph._node_deps[i]
        )

    def _stray_error(self, i: int, exc: BaseException, index: int | None = None) -> NodeCancelled:
        """The failure of node ``i`` (or of its map element ``index``) for a stray Cancelled."""
        name = self.names[i]
        what = f"node {name!r}" if index is None else f"element {index} of map node {name!r}"
        err = NodeCancelled(
            f"{what} of DAG {self.graph.name!r} raised trio.Cancelled although its run "
            f"was not being cancelled (a Cancelled leaked from another cancel scope or task); "
            f"it ended without a value, so it failed",
            node=name,
        )
        err.__cause__ = exc
        return err

    def _told_attempt(self, i: int) -> int:
        """The attempt number of node ``i``'s current attempt, as instruments are told it.

        A map node makes one attempt (its elements are retried in place), so its
        ``node_started`` says 1; its ``attempts`` count element calls instead.
        """
        return 1 if self.maps[i] is not None else self.attempts.get(i, 1)

    def _cancelled_event(self, i: int, attempt: int) -> None:
        """Tell that attempt ``attempt`` of node ``i`` was cancelled (unless stray).

        Called where the node's body is awaited, so an attempt still waiting
        for a ``max_concurrency`` slot (never started) gets no end event. A
        stray Cancelled (the run not being cancelled) becomes the node's
        failure in ``_stray`` instead.
        """
        if self.node_emit and trio.current_effective_deadline() == -math.inf:
            self.node_emit("node_cancelled", self.names[i], attempt)

    def _failed_event(self, i: int, exc: BaseException) -> None:
        """Node ``i`` finally failed with ``exc`` outside ``_attempts``: record and tell."""
        if self.node_emit:
            self.node_emit("node_failed", self.names[i], exc, self._told_attempt(i), False)
        self._failed(i, exc)

    def _failed(self, i: int, exc: BaseException) -> None:
        if self._cancelled_by_restart(i):
            return  # node i failed as a level restart cancelled it: the restart reruns it
        self.errors[i] = exc
        self.end[i] = self.now()
        self.check_blocked = True
        if self.fail_fast or self.halted:
            self.stopped = True
            if self.scope is not None:  # else nothing else runs: Sequential stops on `stopped`
                self.scope.cancel()

    def _cancelled_by_restart(self, i: int) -> bool:
        """Whether a level restart cancelled node ``i``'s running task (and reruns it)."""
        return self.level_restarts and not self.sequential and self.node_scopes[i] is None

    async def _wait_slot(self, slots: trio.Semaphore) -> None:
        """Wait for a slot of ``max_concurrency``; raise Cancelled if the wait was cancelled.

        A Semaphore hands a released slot to its first waiter at once, before a
        cancel that follows the release (the run stopping, a level restart) can
        land: so check for one before the caller's body begins, and if the run
        is stopping, give the slot back and wait for the cancel. Only a wait
        pays for the check.
        """
        await slots.acquire()
        try:
            if self.stopped:  # a failed map node's elements unwind before the cancel lands
                await trio.sleep_forever()
            await trio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            slots.release()
            raise

    def _clear(self, q: int) -> None:
        """Forget node ``q``'s outcome before a supervisor restarts it.

        Its attempts are not touched: they count body calls, as each begins; its
        rerun takes the path that counts them (a first run costs no bookkeeping).
        """
        self.plain[q] = False  # type: ignore[index]  # a list in level-restarting runs
        self.values[q] = MISSING
        self.restored.pop(q, None)
        self.end[q] = None  # start kept: if the run stops before the restart, q was cancelled
        self.errors.pop(q, None)
        if self.elements:
            self.elements.pop(q, None)  # a restarted map node runs every element again


def _only_cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is trio.Cancelled or a group of nothing else."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)[1] is None
    return isinstance(exc, trio.Cancelled)
