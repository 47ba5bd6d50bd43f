"""The runtime: one run of a compiled graph under a strategy and a supervisor.

Hot-path rules (see DESIGN.md, "Performance model"): one task per running
node, started by whichever dependency finishes last; only the dependency
counters are copied per run; a node's failure is caught in its own task and
cancels the run's scope, so exception groups stay off the hot path; cancel
scopes, ``fail_after``, context variables and retry loops exist only for the
nodes that asked for retries, timeouts or mapping.
"""

from __future__ import annotations

import collections
import math
import random
import secrets
import types
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

import trio

from ._exceptions import MapError, RunFailed
from ._instrument import Emitter, Instrument
from ._result import MISSING, RunResult, RunStatus
from ._retry import RetryPolicy
from ._strategies import Parallel, Sequential, Strategy
from ._supervise import Supervisor

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["Attempt", "current_attempt", "execute"]

_current_run: ContextVar[_Run] = ContextVar("trio_dag.run")
_current_attempt: ContextVar[tuple[_Run, int, int]] = ContextVar("trio_dag.attempt")
_DEFAULT = Parallel()


@final
@dataclass(frozen=True, slots=True)
class Attempt:
    """Where the calling code runs: which node, which attempt, which run.

    Use it to make side effects idempotent: a key such as
    ``f"{a.run_id}/{a.node}"`` is the same for every attempt of a run (a
    resumed run gets a new ``run_id``, so a key that must also survive
    ``resume`` should be built from the work itself, e.g. the node's inputs).
    """

    node: str
    """The node's name."""
    attempt: int
    """The attempt number, from 1 (for a map node: the element's attempt). A node
    restarted with its level continues its count: a restart is an attempt."""
    run_id: str
    """An id unique to the run (a resumed run gets a new one)."""


def current_attempt() -> Attempt:
    """The :class:`Attempt` of the node whose code calls this.

    Works in a node's own task, in tasks it spawns while it runs, and in
    threads it starts with :func:`trio.to_thread.run_sync`.

    Raises:
        RuntimeError: called outside a node of a trio_dag run, or from a task
            or thread that cannot be traced to a node (a task still running in
            a nursery outside the run after its node finished, a thread that
            trio did not start).
    """
    run = _current_run.get(None)
    if run is None:
        raise RuntimeError("trio_dag.current_attempt() must be called from inside a node")
    att = _current_attempt.get(None)
    if att is not None and att[0] is run:
        return Attempt(run.graph.nodes[att[1]], att[2], run.run_id)
    try:
        task: Any = trio.lowlevel.current_task()
    except RuntimeError:  # not trio's thread: a worker thread of a node, perhaps
        task = _thread_host_task()
    seq_task = run.seq_task
    via: Any = None  # the nursery through which the walk reached ``task``
    while task is not None:  # find the node task: its parent nursery is the run's
        if seq_task is not None and task is seq_task:  # Sequential: nodes run in one task
            # A nursery opened since the run began is the running node's; one opened
            # before holds tasks of any earlier node, which cannot be told apart.
            if via is None or via in seq_task.child_nurseries[run.seq_outer :]:
                return Attempt(run.graph.nodes[run.seq_current], 1, run.run_id)
            break
        parent = task.parent_nursery
        if parent is None:
            break
        if parent in run.nurseries:
            return Attempt(task.name, 1, run.run_id)
        via = parent
        task = parent.parent_task
    raise RuntimeError(
        "trio_dag.current_attempt() must be called from inside a node: this task is "
        "neither a node's task nor one started by a node that is still running "
        "(call it in the node and pass the Attempt on)"
    )


def _thread_host_task() -> Any:
    """The task whose ``trio.to_thread.run_sync`` call runs this thread.

    A thread's context is a copy of its task's, which names the run but, on a
    node's first attempt, not the node (the plain path sets no ContextVar).
    ``trio.from_thread.run_sync`` would run in a system task when the thread was
    started with ``abandon_on_cancel=True``, so read trio's record of the
    waiting task instead (a private name of trio 0.35; the tests of
    current_attempt() in threads fail if it changes); ``None`` once the task
    abandoned the thread.
    """
    try:
        return trio._threads.PARENT_TASK_DATA.task_register[0]
    except AttributeError:
        raise RuntimeError(
            "trio_dag.current_attempt() was called from a thread that "
            "trio.to_thread.run_sync did not start, so it cannot tell which node the "
            "thread works for: call current_attempt() in the node and pass the Attempt "
            "to the thread"
        ) from None


def _check_options(
    graph: Graph,
    strategy: Strategy | None,
    supervisor: Supervisor,
    on_failure: str,
    deadline: float | None,
    seed: int | None,
) -> Strategy:
    where = f"DAG {graph.name!r}: run"
    if not isinstance(supervisor, Supervisor):
        raise TypeError(f"{where}: supervisor must be a trio_dag.Supervisor, got {supervisor!r}")
    if on_failure not in ("fail_fast", "continue"):
        raise ValueError(
            f"{where}: on_failure must be 'fail_fast' or 'continue', got {on_failure!r}"
        )
    if deadline is not None and (
        isinstance(deadline, bool)
        or not isinstance(deadline, int | float)
        or not (math.isfinite(deadline) and deadline > 0)
    ):
        raise ValueError(f"{where}: deadline must be a positive, finite number, got {deadline!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"{where}: seed must be an int or None, got {seed!r}")
    if strategy is None:
        return Parallel(schedule="levels") if supervisor.needs_levels else _DEFAULT
    if not isinstance(strategy, Sequential | Parallel):
        raise TypeError(
            f"{where}: strategy must be trio_dag.Sequential() or trio_dag.Parallel(...), "
            f"got {strategy!r}"
        )
    if isinstance(strategy, Parallel) and strategy.schedule == "eager" and supervisor.needs_levels:
        raise ValueError(
            f"{where}: supervisor strategy {supervisor.strategy!r} restarts levels, so it "
            f"needs level scheduling; use Parallel(schedule='levels') (the default for such "
            f"a supervisor) or Sequential(), not schedule='eager'"
        )
    return strategy


async def execute(
    graph: Graph,
    input_values: list[Any],
    partial: RunResult | None,
    *,
    strategy: Strategy | None,
    supervisor: Supervisor,
    on_failure: str,
    retry: RetryPolicy | int | None,
    deadline: float | None,
    seed: int | None,
    instruments: Sequence[Instrument],
) -> RunResult:
    """Run ``graph`` (resuming ``partial`` if given) and return its result."""
    strategy = _check_options(graph, strategy, supervisor, on_failure, deadline, seed)
    default_policy = RetryPolicy.coerce(retry, f"DAG {graph.name!r}: run")
    run = _Run(
        graph,
        input_values,
        partial,
        strategy,
        supervisor,
        on_failure,
        default_policy,
        seed,
        instruments,
    )
    return await run.go(deadline)


class _Run:
    """The state of one run. Per-node data lives in flat lists indexed by node."""

    def __init__(
        self,
        graph: Graph,
        input_values: list[Any],
        partial: RunResult | None,
        strategy: Strategy,
        supervisor: Supervisor,
        on_failure: str,
        default_policy: RetryPolicy | None,
        seed: int | None,
        instruments: Sequence[Instrument],
    ) -> None:
        n = len(graph.nodes)
        self.graph = graph
        self.names = graph.nodes
        self.run_id = secrets.token_hex(6)
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
        if supervisor.needs_levels:  # _clear takes a restarted node off the plain path
            self.plain = list(self.plain)
        self.eager = isinstance(strategy, Parallel) and strategy.schedule == "eager"
        self.sequential = isinstance(strategy, Sequential)
        k = strategy.max_concurrency if isinstance(strategy, Parallel) else None
        # max_concurrency: a Semaphore bounds running attempts exactly as a
        # CapacityLimiter would, without tracking borrowers (about 1.2x raw trio
        # per node against 1.4x, measured with perf/bench_overhead.py).
        self.slots = trio.Semaphore(k) if k is not None else None
        self.max_concurrency = k or 0
        self.now = trio.lowlevel.current_clock().current_time
        self.emit = Emitter(instruments) if instruments else None
        self.fail_fast = on_failure == "fail_fast"
        self.supervisor = supervisor
        self.level_restarts = supervisor.needs_levels
        self.seed = seed
        self._rng: random.Random | None = None  # made on first retry: seeding costs
        self.restart_times: collections.deque[float] = collections.deque()

        self.values: list[Any]
        self.start: list[float | None]
        self.end: list[float | None]
        if partial is None:
            self.values = [MISSING] * n + input_values
            self.start = [None] * n
            self.end = [None] * n
            self.remaining = list(graph._indegree)
            self.roots: Sequence[int] = graph._roots
        else:
            self.values = list(partial._values)
            done = [v is not MISSING for v in self.values[:n]]
            self.start = [s if d else None for s, d in zip(partial._start, done, strict=True)]
            self.end = [e if d else None for e, d in zip(partial._end, done, strict=True)]
            self.remaining = [sum(not done[j] for j in deps) for deps in graph._node_deps]
            self.roots = [i for i in range(n) if not done[i] and not self.remaining[i]]
        self.check_blocked = partial is not None  # may a node's dependency be missing?
        self.errors: dict[int, BaseException] = {}
        self.attempts: dict[int, int] = {}
        self.stopped = False
        self.halted = False
        self.scope = trio.CancelScope()
        self.nurseries: set[trio.Nursery] = set()
        self.level_nursery: trio.Nursery | None = None
        self.node_scopes: list[trio.CancelScope | None] = [None] * n if self.level_restarts else []
        self.generation: list[int] = [0] * n if self.level_restarts else []  # restarts spawned
        self.seq_task: trio.lowlevel.Task | None = None  # Sequential: the task running nodes
        self.seq_outer = 0  # ... and how many nurseries it had open when the run began
        self.seq_current = 0  # ... and the node it runs
        self.level_members: Sequence[int] = ()

    @property
    def rng(self) -> random.Random:
        """The run's random generator for retry jitter (seeded with the run's seed)."""
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    # ------------------------------------------------------------ the run

    async def go(self, deadline: float | None) -> RunResult:
        token = _current_run.set(self)
        try:
            if self.emit:
                self.emit("run_started", self.graph.name, self.run_id)
            with self.scope:
                if deadline is not None:
                    self.scope.deadline = trio.current_time() + deadline
                if self.sequential:
                    await self._sequential()
                elif self.eager:
                    await self._eager()
                else:
                    await self._levels()
        finally:
            _current_run.reset(token)
        timed_out = self.scope.cancelled_caught and not self.stopped
        status = (
            RunStatus.HALTED
            if self.halted
            else RunStatus.FAILED
            if self.errors
            else RunStatus.TIMED_OUT
            if timed_out
            else RunStatus.COMPLETED
        )
        result = RunResult(
            self.graph,
            self.values,
            self.start,
            self.end,
            self.errors,
            self.attempts,
            status,
            self.run_id,
        )
        if self.emit:
            self.emit("run_finished", result)
        if status is RunStatus.COMPLETED:
            return result
        errs = [e for _, e in sorted(self.errors.items())]
        cause: BaseException
        if not errs:
            cause = trio.TooSlowError(f"the run's deadline of {deadline} s passed")
        elif len(errs) == 1:
            cause = errs[0]
        else:
            cause = ExceptionGroup(f"{len(errs)} nodes failed", errs)  # type: ignore[type-var]
        raise RunFailed(result) from cause

    async def _eager(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nurseries.add(nursery)
            self.spawn = nursery.start_soon
            node, names = self._node, self.names
            for i in self.roots:
                nursery.start_soon(node, i, name=names[i])

    async def _levels(self) -> None:
        names, emit = self.names, self.emit
        node = self._scoped_node if self.level_restarts else self._node
        for li, level in enumerate(self.graph._level_ix):
            if self.stopped:
                break
            if emit:
                emit("level_started", li, tuple(names[i] for i in level))
            members = self._members(level)
            try:
                async with trio.open_nursery() as nursery:
                    self.nurseries.add(nursery)
                    self.level_nursery = nursery
                    for i in members:
                        nursery.start_soon(node, i, name=names[i])
            finally:  # also when the run stops: every level_started gets its level_finished
                if emit:
                    emit("level_finished", li)
            self.nurseries.discard(nursery)

    async def _sequential(self) -> None:
        checkpoint = trio.lowlevel.checkpoint_if_cancelled
        node = self._node
        # current_attempt() finds the node from this task (no ContextVar set per node)
        self.seq_task = task = trio.lowlevel.current_task()
        self.seq_outer = len(task.child_nurseries)
        for level in self.graph._level_ix:
            for i in self._members(level):
                await checkpoint()
                self.seq_current = i
                await node(i)

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

    # ------------------------------------------------------- one node

    async def _node(self, i: int) -> None:
        """Run node ``i`` to a value or a final failure; if eager, start ready dependents."""
        if self.stopped:
            return
        values = self.values
        args = [values[d] for d in self.slot_deps[i]]
        emit = self.emit
        try:
            if self.plain[i]:
                slots = self.slots
                if slots is not None:
                    try:
                        slots.acquire_nowait()
                    except trio.WouldBlock:
                        await self._wait_slot(slots)
                try:
                    self.start[i] = self.now()
                    if emit:
                        emit("node_started", self.names[i], 1)
                    v = await self.fns[i](*args)
                finally:
                    if slots is not None:
                        slots.release()
            elif self.maps[i] is not None:
                self.start[i] = self.now()
                v = await self._map(i, args)
            else:
                v = await self._attempts(i, args, self.level_restarts)
        except Exception as exc:
            if emit and (self.plain[i] or self.maps[i] is not None):
                emit("node_failed", self.names[i], exc, self.attempts.get(i, 1), False)
            self._failed(i, exc)
            return
        self.end[i] = t = self.now()
        values[i] = v
        if emit:
            emit("node_finished", self.names[i], t - self.start[i])  # type: ignore[operator]
        if self.eager and not self.stopped:
            remaining, spawn, node, names = self.remaining, self.spawn, self._node, self.names
            for j in self.dependents[i]:
                r = remaining[j] - 1
                remaining[j] = r
                if not r:
                    spawn(node, j, name=names[j])

    def _failed(self, i: int, exc: BaseException) -> None:
        if self._cancelled_by_restart(i):
            return  # node i failed as a level restart cancelled it: the restart reruns it
        self.errors[i] = exc
        self.end[i] = trio.current_time()
        self.check_blocked = True
        if self.fail_fast or self.halted:
            self.stopped = True
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

    async def _scoped_node(self, i: int, generation: int = 0) -> None:
        """``_node`` in a cancel scope of its own, for level-restarting supervisors."""
        if generation != self.generation[i]:
            return  # a restart superseded this task before it began: the restart runs it
        with trio.CancelScope() as cs:
            self.node_scopes[i] = cs
            try:
                await self._node(i)
            finally:
                if self.node_scopes[i] is cs:
                    self.node_scopes[i] = None

    # ------------------------------------------------------- supervision

    async def _attempts(self, i: int, args: list[Any], level_restart: bool) -> Any:
        """Attempts of node ``i`` (or of one map element) as its policy allows."""
        policy = self.policies[i]
        timeout = self.timeouts[i]
        slots = self.slots
        own = self.maps[i] is None  # not a map element
        emit = self.emit if own else None  # map elements: see _node
        name = self.names[i]
        attempt = gen = 0
        if level_restart:
            # A node restarted with its level makes a new attempt, as a restarted child
            # does in OTP: its count goes on, and its policy bounds its own retries
            # whatever restarts its level-mates cause.
            gen = self.generation[i]
            attempt = self.attempts.get(i, 0 if self.start[i] is None else 1)
        while True:
            attempt += 1
            token = _current_attempt.set((self, i, attempt)) if attempt > 1 else None
            try:
                if slots is not None:
                    try:
                        slots.acquire_nowait()
                    except trio.WouldBlock:
                        await self._wait_slot(slots)
                # Counted as the body begins: attempts are body calls. A first attempt
                # costs no bookkeeping: RunResult counts a started node as one attempt,
                # and current_attempt() finds attempt 1 from the task. Map elements
                # count every call.
                if own:  # a node's times are those of its last attempt, without slot waits
                    if attempt > 1:
                        self.attempts[i] = attempt
                    self.start[i] = self.now()
                else:
                    self.attempts[i] = self.attempts.get(i, 0) + 1
                if emit:
                    emit("node_started", name, attempt)
                try:
                    if timeout is None:
                        return await self.fns[i](*args)
                    with trio.fail_after(timeout):
                        return await self.fns[i](*args)
                finally:
                    if slots is not None:
                        slots.release()
            except Exception as exc:
                if level_restart and self.generation[i] != gen:
                    # A level restart cancelled this attempt as it failed (its scope is
                    # cancelled): the restart runs the node again; end as cancelled.
                    await trio.lowlevel.checkpoint()
                again = policy is not None and policy.should_retry(exc, attempt)
                if again and self._escalates():
                    again = False
                if emit:
                    emit("node_failed", name, exc, attempt, again)
                if not again:
                    raise
                delay = policy.delay(attempt, self.rng)  # type: ignore[union-attr]
            finally:
                if token is not None:
                    _current_attempt.reset(token)
            if level_restart:
                await self._restart_level(i, delay)
            else:
                await trio.sleep(delay)

    def _escalates(self) -> bool:
        """Count one restart; whether the supervisor's intensity is now exceeded."""
        sup = self.supervisor
        if sup.max_restarts is None:
            return False
        now = trio.current_time()
        q = self.restart_times
        q.append(now)
        while q[0] <= now - sup.period:
            q.popleft()
        if len(q) > sup.max_restarts:
            self.halted = True
            return True
        return False

    async def _restart_level(self, i: int, delay: float) -> None:
        """Restart failed node ``i`` and level-mates as the supervisor says, after ``delay``.

        ``one_for_all`` restarts the whole level, ``rest_for_one`` ``i`` and the
        nodes after it. Under ``Sequential`` the caller retries ``i`` when this
        returns (nodes after ``i`` have not run yet; ``one_for_all`` reruns those
        before it). Otherwise every restarted node, ``i`` included, is cancelled
        and a new task runs it after ``delay``, and this task ends cancelled. The
        delay is a task of the level's own, so a later restart of the same nodes
        (which cancels the node tasks) supersedes it instead of losing it.
        """
        members = self.level_members
        pos = members.index(i)
        one_for_all = self.supervisor.strategy == "one_for_all"
        if self.sequential:
            await trio.sleep(delay)
            if one_for_all:
                for q in members[:pos]:
                    if self.stopped:
                        break
                    self._clear(q)
                    self.seq_current = q
                    await self._node(q)
                self.seq_current = i
                await trio.lowlevel.checkpoint_if_cancelled()  # a rerun may have stopped the run
            return
        if self.stopped:  # a failed map node is unwinding: the run stops, nothing restarts
            await trio.sleep_forever()
        restart = members if one_for_all else members[pos:]
        generation, scopes = self.generation, self.node_scopes
        for q in restart:
            cs = scopes[q]
            if cs is not None:
                cs.cancel()
                scopes[q] = None
            self._clear(q)
            generation[q] += 1
        nursery = self.level_nursery
        assert nursery is not None
        nursery.start_soon(
            self._respawn, restart, [generation[q] for q in restart], delay, name="level restart"
        )
        await trio.lowlevel.checkpoint()  # i's own scope is cancelled: this task ends here

    async def _respawn(self, restart: Sequence[int], generations: list[int], delay: float) -> None:
        """After ``delay``, start the nodes of one level restart that no later one took over."""
        await trio.sleep(delay)
        nursery = self.level_nursery
        assert nursery is not None
        for q, g in zip(restart, generations, strict=True):
            if self.generation[q] == g:
                nursery.start_soon(self._scoped_node, q, g, name=self.names[q])

    def _clear(self, q: int) -> None:
        """Forget node ``q``'s outcome before a supervisor restarts it.

        Its attempts are not touched: they count body calls, as each begins; its
        rerun takes the path that counts them (a first run costs no bookkeeping).
        """
        self.plain[q] = False  # type: ignore[index]  # a list in level-restarting runs
        self.values[q] = MISSING
        self.end[q] = None  # start kept: if the run stops before the restart, q was cancelled
        self.errors.pop(q, None)

    # -------------------------------------------------------------- maps

    async def _map(self, i: int, args: list[Any]) -> list[Any]:
        m = self.maps[i]
        assert m is not None
        name = self.names[i]
        source = args[m]
        try:
            it = iter(source)
        except TypeError as exc:
            raise MapError(
                f"map node {name!r} of DAG {self.graph.name!r} maps over "
                f"{self.graph._specs[i].deps[m]!r}, whose value is not iterable: "
                f"{_short_repr(source)}"
            ) from exc
        if it is not source:
            items = list(it)
        else:  # a one-shot iterator (a generator, a file): read it once, keep the list
            if isinstance(source, types.GeneratorType) and source.gi_frame is None:
                raise MapError(
                    f"map node {name!r} of DAG {self.graph.name!r} maps over "
                    f"{self.graph._specs[i].deps[m]!r}, whose value is a generator that "
                    f"was already consumed (by another node, or by an earlier attempt "
                    f"that failed while reading it); give it a list instead"
                )
            items = list(it)
            # A rerun of this node (level restart, resume) then sees the same elements.
            self.values[self.slot_deps[i][m]] = items
        if self.emit:
            self.emit("node_started", name, 1)
        n = len(items)
        results: list[Any] = [None] * n
        errors: list[Exception] = []
        slots = self.slots
        supervised = self.policies[i] is not None or self.timeouts[i] is not None
        fn = self.fns[i]
        width = n if slots is None else min(n, self.max_concurrency)
        next_k = calls = 0
        workers = 1

        async def worker() -> None:
            # Workers take elements in turn. Each new worker first starts the
            # next one (up to ``width``), so a worker exists for every element
            # that is waiting, never more than max_concurrency (none parked on
            # the bound), and elements that never wait run back to back in one task.
            nonlocal calls, next_k, workers
            if workers < width and next_k < n:
                workers += 1
                nursery.start_soon(worker, name=name)
            a = list(args)
            while next_k < n:
                k = next_k
                next_k += 1
                a[m] = items[k]
                try:
                    if supervised:
                        results[k] = await self._attempts(i, list(a), False)
                        continue
                    if slots is not None:
                        try:
                            slots.acquire_nowait()
                        except trio.WouldBlock:
                            await self._wait_slot(slots)
                    calls += 1
                    try:
                        results[k] = await fn(*a)
                    finally:
                        if slots is not None:
                            slots.release()
                except Exception as exc:
                    errors.append(exc)
                    nursery.cancel_scope.cancel()
                    if (self.fail_fast or self.halted) and not self._cancelled_by_restart(i):
                        # The node has failed, and so the run stops: say so now, as this
                        # element's slot goes to a waiter, not once the elements unwound
                        # (_wait_slot and _restart_level then wait for the cancel).
                        self.stopped = True
                    return

        try:
            async with trio.open_nursery() as nursery:
                if n:
                    nursery.start_soon(worker, name=name)
        finally:
            if not supervised:  # supervised elements count their own attempts
                self.attempts[i] = self.attempts.get(i, 0) + calls
            if n and not self.attempts.get(i):  # no element began (the run stopped first)
                self.start[i] = None
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup(f"{len(errors)} elements of map node {name!r} failed", errors)
        return results


def _short_repr(v: object, limit: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."
