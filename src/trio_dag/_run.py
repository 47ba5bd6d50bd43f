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
import functools
import math
import random
import secrets
import types
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

import trio

from ._exceptions import MapError, NodeCancelled, ResourceError
from ._instrument import ELEMENT_HOOKS, NODE_HOOKS, Emitter
from ._options import RunOptions
from ._resources import Resources, hold
from ._result import MISSING, RunFailed, RunInterrupted, RunResult, RunStatus
from ._strategies import Parallel, Sequential

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["Attempt", "current_attempt", "current_run_id", "execute"]

_current_run: ContextVar[_Run] = ContextVar("trio_dag.run")
_current_attempt: ContextVar[tuple[_Run, int, int]] = ContextVar("trio_dag.attempt")


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
    waiting task instead (a private name, checked by the tests on every trio
    release); ``None`` once the task abandoned the thread.
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


def current_run_id() -> str:
    """The ``run_id`` of the trio_dag run whose code calls this.

    Works in a node, in tasks it spawns, and in every
    :class:`~trio_dag.Instrument` hook (hooks run in the run's context); in a
    run started from inside a node, it is the inner run's id.

    Raises:
        RuntimeError: called outside a trio_dag run.
    """
    run = _current_run.get(None)
    if run is None:
        raise RuntimeError(
            "trio_dag.current_run_id() must be called from inside a run "
            "(a node, a task it spawns, or an instrument hook)"
        )
    return run.run_id


async def execute(
    graph: Graph, input_values: list[Any], partial: RunResult | None, options: RunOptions
) -> RunResult:
    """Run ``graph`` (resuming ``partial`` if given) and return its result."""
    return await _Run(graph, input_values, partial, options).go(options.deadline)


class _Run:
    """The state of one run. Per-node data lives in flat lists indexed by node."""

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
        ``resources`` one resource table (a stream enters each resource once)."""
        strategy = options.strategy
        supervisor = options.supervisor
        default_policy = options.retry
        instruments = options.instruments
        n = len(graph.nodes)
        self.graph = graph
        self.options = options
        self.partial = partial
        self.resources = resources
        self.needs = graph._needs
        self.takes_slot = graph._takes_slot
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
        k = options.max_concurrency
        # max_concurrency: a Semaphore bounds running attempts exactly as a
        # CapacityLimiter would, without tracking borrowers (about 1.2x raw trio
        # per node against 1.4x, measured with perf/bench_overhead.py).
        if slots is None and k is not None:
            slots = trio.Semaphore(k)
        self.slots = slots
        self.max_concurrency = k or 0
        self.now = trio.lowlevel.current_clock().current_time
        emit = self.emit = Emitter.build(instruments, graph.name) if instruments else None
        # Per-node and per-element events only when some instrument overrides one.
        self.node_emit = emit if emit and emit.wants(NODE_HOOKS) else None
        self.element_emit = emit if emit and emit.wants(ELEMENT_HOOKS) else None
        self.fail_fast = options.fail_fast
        self.supervisor = supervisor
        self.level_restarts = supervisor.needs_levels
        self.seed = options.seed
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
        self.last: dict[int, BaseException] = {}  # an attempt's error while a retry is pending
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
        if self.resources is None and self.graph.resources:  # a run of its own: hold them
            return await hold(self.graph, functools.partial(self._go_holding, deadline))
        token = _current_run.set(self)
        escaped: BaseException | None = None
        try:
            if self.emit:
                self.emit("run_started", self.graph.name, self.run_id)
            try:
                with self.scope:
                    if deadline is not None:
                        self.scope.deadline = trio.current_time() + deadline
                    if self.sequential:
                        await self._sequential()
                    elif self.eager:
                        await self._eager()
                    else:
                        await self._levels()
            except BaseException as exc:  # cancelled from outside, KeyboardInterrupt, SystemExit
                escaped = exc  # node failures never get here: they end in the node's task
            result = self._result(escaped)
            if self.emit:  # on every exit, in the run's context
                self.emit("run_finished", result)
        finally:
            _current_run.reset(token)
        # Break the cycles exception -> traceback -> frames -> run -> errors, so a
        # finished run leaves nothing for the cycle collector (values stay in result).
        if self.errors or self.last:
            self.errors, self.last = {}, {}
        self.nurseries.clear()
        self.level_nursery = None
        status = result.status
        if escaped is not None:
            interrupt = _interrupt(escaped)
            try:
                if interrupt is not None:
                    raise RunInterrupted._wrap(interrupt, result) from escaped
                raise escaped  # trio's Cancelled (never swallowed), or whatever else escaped
            finally:
                escaped = interrupt = None
        if status is RunStatus.COMPLETED:
            return result
        errs = [e for _, e in sorted(result._errors.items())]
        cause: BaseException
        if not errs:
            cause = trio.TooSlowError(f"the run's deadline of {deadline} s passed")
        elif len(errs) == 1:
            cause = errs[0]
        else:
            cause = ExceptionGroup(f"{len(errs)} nodes failed", errs)  # type: ignore[type-var]
        try:
            raise RunFailed(result) from cause
        finally:
            del cause, errs

    async def _go_holding(self, deadline: float | None, table: Resources) -> RunResult:
        self.resources = table
        return await self.go(deadline)

    def _result(self, escaped: BaseException | None) -> RunResult:
        """The run's result (complete or partial), however the run ended."""
        if escaped is not None:
            status = RunStatus.CANCELLED if _only_cancelled(escaped) else RunStatus.INTERRUPTED
        elif self.halted:
            status = RunStatus.HALTED
        elif self.errors:
            status = RunStatus.FAILED
        elif self.scope.cancelled_caught and not self.stopped:
            status = RunStatus.TIMED_OUT
        else:
            status = RunStatus.COMPLETED
        values = self.values
        last = {i: e for i, e in self.last.items() if values[i] is MISSING} if self.last else None
        return RunResult(
            self.graph,
            values,
            self.start,
            self.end,
            self.errors,
            self.attempts,
            status,
            self.run_id,
            last,
        )

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
        emit = self.node_emit
        plain = self.plain[i]  # read once: a level restart may clear it meanwhile
        try:
            if plain:
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
            else:
                if self.needs[i] is not None:
                    try:
                        args = await self.resources.fill(i, args, values)  # type: ignore[union-attr]
                    except ResourceError as exc:
                        self.start[i] = self.now()
                        if emit:
                            emit("node_started", self.names[i], 1)
                            emit("node_failed", self.names[i], exc, 1, False)
                        self._failed(i, exc)
                        return
                if self.maps[i] is not None:
                    self.start[i] = self.now()
                    v = await self._map(i, args)
                else:
                    v = await self._attempts(i, args, self.level_restarts)
        except Exception as exc:
            if emit and (plain or self.maps[i] is not None):
                emit("node_failed", self.names[i], exc, self.attempts.get(i, 1), False)
            self._failed(i, exc)
            return
        except trio.Cancelled as exc:  # costs nothing unless raised
            if self._stray(i, exc, plain):
                return
            raise
        except BaseExceptionGroup as group:  # trio.Cancelled mixed with real errors
            if self._group_ended(i, group, plain):
                return
            raise
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

    def _stray(self, i: int, exc: BaseException, plain: bool) -> bool:
        """trio.Cancelled (alone or in a group) ended node ``i``: whether it was stray.

        Cancelled while the node's task is being cancelled (run stop, deadline,
        level restart, outside cancel) is the node's cancellation: the caller
        re-raises it. Otherwise it leaked from somewhere else: it becomes the
        node's failure, a :class:`NodeCancelled`, so a run never completes
        without a node's value.
        """
        if trio.current_effective_deadline() == -math.inf:
            emit = self.node_emit
            if emit and (plain or self.maps[i] is not None):  # _attempts tells its own
                emit("node_cancelled", self.names[i], self.attempts.get(i, 1))
            return False
        self._failed_event(i, self._stray_error(i, exc))
        return True

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

    def _group_ended(self, i: int, group: BaseExceptionGroup[BaseException], plain: bool) -> bool:
        """A group that is not an Exception ended node ``i``: whether it is handled here.

        A group holding KeyboardInterrupt, SystemExit or another non-Exception
        stops the run (the caller re-raises it to ``go``). Only trio.Cancelled:
        as :meth:`_stray`. Cancelled with real errors (the node's nursery failed
        while being cancelled): the real errors are the node's failure, not
        retried; if a level restart cancelled the node, it reruns, so they are
        kept as its last error only.
        """
        errors, rest = group.split(Exception)
        if rest is not None and rest.split(trio.Cancelled)[1] is not None:
            return False
        if errors is None:
            return self._stray(i, group, plain)
        if (
            self.level_restarts
            and not self.scope.cancel_called
            and trio.current_effective_deadline() == -math.inf
        ):
            self.last[i] = errors  # superseded by a restart (or cancelled from outside)
            if self.node_emit:
                self.node_emit("node_cancelled", self.names[i], self.attempts.get(i, 1))
            return True
        self._failed_event(i, errors)
        return True

    def _failed_event(self, i: int, exc: BaseException) -> None:
        """Node ``i`` finally failed with ``exc`` outside ``_attempts``: record and tell."""
        if self.node_emit:
            self.node_emit("node_failed", self.names[i], exc, self.attempts.get(i, 1), False)
        self._failed(i, exc)

    def _failed(self, i: int, exc: BaseException) -> None:
        if self.level_restarts and not self.sequential and self.node_scopes[i] is None:
            return  # a level restart cancelled node i as it failed: the restart reruns it
        self.errors[i] = exc
        self.end[i] = trio.current_time()
        self.check_blocked = True
        if self.fail_fast or self.halted:
            self.stopped = True
            self.scope.cancel()

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

    async def _attempts(self, i: int, args: list[Any], level_restart: bool, index: int = 0) -> Any:
        """Attempts of node ``i`` (or of its map element ``index``) as its policy allows."""
        policy = self.policies[i]
        timeout = self.timeouts[i]
        slots = self.slots if self.takes_slot[i] else None  # as_node: its inner nodes take them
        own = self.maps[i] is None  # not a map element
        emit = self.node_emit if own else self.element_emit
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
                    if own:
                        emit("node_started", name, attempt)
                    else:
                        emit("element_started", name, index, attempt)
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
                    if own:
                        emit("node_failed", name, exc, attempt, again)
                    else:
                        emit("element_failed", name, index, exc, attempt, again)
                if not again:
                    raise
                self.last[i] = exc  # kept if the run stops before the retry ends
                delay = policy.delay(attempt, self.rng)  # type: ignore[union-attr]
            except trio.Cancelled:
                if emit and own and trio.current_effective_deadline() == -math.inf:
                    emit("node_cancelled", name, attempt)  # not stray: see _node
                raise
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
        slots = self.slots if self.takes_slot[i] else None
        supervised = self.policies[i] is not None or self.timeouts[i] is not None
        fn = self.fns[i]
        emit, now = self.element_emit, self.now
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
                        t0 = now() if emit else 0.0
                        results[k] = await self._attempts(i, list(a), False, k)
                        if emit:
                            emit("element_finished", name, k, now() - t0)
                        continue
                    if slots is not None:
                        try:
                            slots.acquire_nowait()
                        except trio.WouldBlock:
                            await self._wait_slot(slots)
                    calls += 1
                    try:
                        if emit:
                            emit("element_started", name, k, 1)
                            t0 = now()
                        results[k] = await fn(*a)
                        if emit:
                            emit("element_finished", name, k, now() - t0)
                    finally:
                        if slots is not None:
                            slots.release()
                except Exception as exc:
                    if emit and not supervised:
                        emit("element_failed", name, k, exc, 1, False)
                    errors.append(exc)
                    nursery.cancel_scope.cancel()
                    if self.fail_fast or self.halted:
                        # The node has failed, and so the run stops: say so now, as this
                        # element's slot goes to a waiter, not once the elements unwound.
                        self.stopped = True
                    return
                except trio.Cancelled as exc:  # costs nothing unless raised
                    if trio.current_effective_deadline() == -math.inf:
                        raise
                    # Stray: the nursery would swallow it as its own, leaving no value.
                    errors.append(self._stray_error(i, exc, k))
                    nursery.cancel_scope.cancel()
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


def _only_cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is trio.Cancelled or a group of nothing else."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)[1] is None
    return isinstance(exc, trio.Cancelled)


def _interrupt(exc: BaseException) -> BaseException | None:
    """The first KeyboardInterrupt or SystemExit in ``exc`` (or in its nested groups)."""
    stack = [exc]
    while stack:
        e = stack.pop()
        if isinstance(e, KeyboardInterrupt | SystemExit):
            return e
        if isinstance(e, BaseExceptionGroup):
            stack.extend(reversed(e.exceptions))
    return None


def _short_repr(v: object, limit: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."
