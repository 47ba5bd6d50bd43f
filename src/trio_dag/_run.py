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
import random
import secrets
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

import trio

from ._exceptions import MapError
from ._instrument import Emitter, Instrument
from ._options import RunOptions
from ._result import MISSING, RunFailed, RunResult, RunStatus
from ._strategies import Parallel, Sequential

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["Attempt", "current_attempt", "execute"]

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
    """The attempt number, from 1 (for a map node: the element's attempt)."""
    run_id: str
    """An id unique to the run (a resumed run gets a new one)."""


def current_attempt() -> Attempt:
    """The :class:`Attempt` of the node whose code calls this.

    Works in a node's own task and in tasks it spawns.

    Raises:
        RuntimeError: called outside a node of a trio_dag run.
    """
    run = _current_run.get(None)
    if run is None:
        raise RuntimeError("trio_dag.current_attempt() must be called from inside a node")
    names = run.graph.nodes
    att = _current_attempt.get(None)
    if att is not None and att[0] is run:
        return Attempt(names[att[1]], att[2], run.run_id)
    task: Any = trio.lowlevel.current_task()
    while task is not None:  # find the node task: its parent nursery is the run's
        parent = task.parent_nursery
        if parent is None:
            break
        if parent in run.nurseries:
            return Attempt(task.name, 1, run.run_id)
        task = parent.parent_task
    if run.seq_current is None:  # pragma: no cover - called by the run itself
        raise RuntimeError("trio_dag.current_attempt() must be called from inside a node")
    return Attempt(names[run.seq_current], 1, run.run_id)


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
    ) -> None:
        """One run; ``slots`` shares one ``max_concurrency`` bound between runs (a stream)."""
        strategy = options.strategy
        supervisor = options.supervisor
        default_policy = options.retry
        instruments = options.instruments
        n = len(graph.nodes)
        self.graph = graph
        self.names = graph.nodes
        self.run_id = secrets.token_hex(6)
        self.fns = graph._fns
        self.slot_deps = graph._slot_deps
        self.dependents = graph._dependents
        self.timeouts = graph._timeouts
        self.maps = graph._maps
        if default_policy is None:
            self.policies = graph._policies
            self.plain = graph._plain
        else:
            self.policies = tuple(p or default_policy for p in graph._policies)
            self.plain = (False,) * n
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
        self.emit = Emitter(instruments) if instruments else None
        # placement (run_in=) and named limits: None unless a node asked for them
        self.placements = options.placements
        self.limiters = options.limiters
        self.chunks = graph._chunks
        self.placed = graph._placed
        self.watch_overrun = self.emit is not None and any(
            type(ins).node_overran is not Instrument.node_overran for ins in instruments
        )
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
        self.attempts: dict[int, int] = {}
        self.stopped = False
        self.halted = False
        self.scope = trio.CancelScope()
        self.nurseries: set[trio.Nursery] = set()
        self.level_nursery: trio.Nursery | None = None
        self.node_scopes: list[trio.CancelScope | None] = [None] * n if self.level_restarts else []
        self.generation: list[int] = [0] * n if self.level_restarts else []  # restarts spawned
        self.seq_current: int | None = None
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
                        await slots.acquire()
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
        self.errors[i] = exc
        self.end[i] = trio.current_time()
        self.check_blocked = True
        if self.fail_fast or self.halted:
            self.stopped = True
            self.scope.cancel()

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

    async def _attempts(
        self,
        i: int,
        args: list[Any],
        level_restart: bool,
        chunk: tuple[int, list[Any]] | None = None,
    ) -> Any:
        """Attempts of node ``i`` (or of one map element, or chunk) as its policy allows."""
        policy = self.policies[i]
        timeout = self.timeouts[i]
        slots = self.slots
        placed = self.placed is not None and self.placed[i]  # run_in= or limiter=
        own = self.maps[i] is None  # not a map element
        emit = self.emit if own else None  # map elements: see _node
        name = self.names[i]
        attempt = 0
        while True:
            attempt += 1
            # A first attempt costs no bookkeeping: RunResult counts a started node
            # as one attempt, and current_attempt() finds attempt 1 from the task.
            # Map elements count every call.
            if not own:
                self.attempts[i] = self.attempts.get(i, 0) + 1
            elif attempt > 1:
                self.attempts[i] = self.attempts.get(i, 1) + 1
            token = _current_attempt.set((self, i, attempt)) if attempt > 1 else None
            try:
                if slots is not None:
                    try:
                        slots.acquire_nowait()
                    except trio.WouldBlock:
                        await slots.acquire()
                if own:  # a node's times are those of its last attempt, without slot waits
                    self.start[i] = self.now()
                if emit:
                    emit("node_started", name, attempt)
                try:
                    if placed:
                        return await self._placed_call(i, attempt, args, timeout, chunk)
                    if timeout is None:
                        return await self.fns[i](*args)
                    with trio.fail_after(timeout):
                        return await self.fns[i](*args)
                finally:
                    if slots is not None:
                        slots.release()
            except Exception as exc:
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

    async def _placed_call(
        self,
        i: int,
        attempt: int,
        args: list[Any],
        timeout: float | None,
        chunk: tuple[int, list[Any]] | None,
    ) -> Any:
        """One attempt of a node with ``run_in=`` or ``limiter=``.

        The named limiter is held around the call, outside its timeout (a wait
        for a token is not the attempt's time); the placement runs the body.
        """
        limiters = self.limiters
        limiter = None if limiters is None else limiters[i]
        if limiter is not None:
            try:
                limiter.acquire_nowait()
            except trio.WouldBlock:
                await limiter.acquire()
        try:
            if timeout is None:
                return await self._placed_body(i, attempt, args, chunk)
            with trio.fail_after(timeout):
                return await self._placed_body(i, attempt, args, chunk)
        finally:
            if limiter is not None:
                limiter.release()

    async def _placed_body(
        self, i: int, attempt: int, args: list[Any], chunk: tuple[int, list[Any]] | None
    ) -> Any:
        placement = self.placements[i]  # type: ignore[index]
        if placement is None:  # an async node with a named limiter only
            return await self.fns[i](*args)
        on_overrun = functools.partial(self._overran, i, attempt) if self.watch_overrun else None
        if chunk is None:
            return await placement.call(
                self.fns[i], args, node=self.names[i], on_overrun=on_overrun
            )
        m = self.maps[i]
        assert m is not None
        return await placement.call_chunk(
            self.fns[i],
            args,
            m,
            chunk[1],
            first=chunk[0],
            node=self.names[i],
            on_overrun=on_overrun,
        )

    def _overran(self, i: int, attempt: int, action: str) -> None:
        """A placed attempt's cancellation could not interrupt its body: tell the instruments."""
        if self.emit:
            self.emit("node_overran", self.names[i], attempt, action)

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
        """Restart node ``i``'s level-mates as the supervisor says, after ``delay``.

        ``i`` itself is retried by its caller. ``one_for_all`` restarts every
        other node of the level; ``rest_for_one`` those after ``i``.
        """
        members = self.level_members
        pos = members.index(i)
        if self.sequential:
            # Nodes after i have not run yet; one_for_all reruns those before it.
            await trio.sleep(delay)
            if self.supervisor.strategy == "one_for_all":
                for q in members[:pos]:
                    if self.stopped:
                        break
                    self._clear(q)
                    self.seq_current = q
                    await self._node(q)
                self.seq_current = i
                await trio.lowlevel.checkpoint_if_cancelled()  # a rerun may have stopped the run
            return
        others = (
            [q for q in members if q != i]
            if self.supervisor.strategy == "one_for_all"
            else members[pos + 1 :]
        )
        for q in others:
            cs = self.node_scopes[q]
            if cs is not None:
                cs.cancel()
                self.node_scopes[q] = None
            self._clear(q)
            self.generation[q] += 1
        await trio.sleep(delay)
        nursery = self.level_nursery
        assert nursery is not None
        for q in others:
            nursery.start_soon(self._scoped_node, q, self.generation[q], name=self.names[q])

    def _clear(self, q: int) -> None:
        """Forget node ``q``'s outcome before a supervisor restarts it."""
        if self.start[q] is not None:  # it ran: its rerun is one more attempt
            self.attempts[q] = self.attempts.get(q, 1) + 1
        self.values[q] = MISSING
        self.end[q] = None  # start kept: if the run stops before the restart, q was cancelled
        self.errors.pop(q, None)

    # -------------------------------------------------------------- maps

    async def _map(self, i: int, args: list[Any]) -> list[Any]:
        m = self.maps[i]
        assert m is not None
        name = self.names[i]
        try:
            items = list(args[m])
        except TypeError as exc:
            raise MapError(
                f"map node {name!r} of DAG {self.graph.name!r} maps over "
                f"{self.graph._specs[i].deps[m]!r}, whose value is not iterable: "
                f"{_short_repr(args[m])}"
            ) from exc
        if self.emit:
            self.emit("node_started", name, 1)
        n = len(items)
        results: list[Any] = [None] * n
        errors: list[Exception] = []
        slots = self.slots
        supervised = (
            self.policies[i] is not None
            or self.timeouts[i] is not None
            or (self.placed is not None and self.placed[i])  # every placed call: _attempts
        )
        fn = self.fns[i]
        step = (self.chunks[i] if self.chunks is not None else None) or 1
        units = -(-n // step)  # calls: elements, or chunks of ``step`` elements
        width = units if slots is None else min(units, self.max_concurrency)
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
                next_k += step
                calls += 1
                if step > 1:  # a chunk: one placed call for items[k:k+step]
                    try:
                        part = items[k : k + step]
                        results[k : k + step] = await self._attempts(i, a, False, (k, part))
                    except Exception as exc:
                        errors.append(exc)
                        nursery.cancel_scope.cancel()
                        return
                    continue
                a[m] = items[k]
                try:
                    if supervised:
                        results[k] = await self._attempts(i, list(a), False)
                        continue
                    if slots is not None:
                        try:
                            slots.acquire_nowait()
                        except trio.WouldBlock:
                            await slots.acquire()
                    try:
                        results[k] = await fn(*a)
                    finally:
                        if slots is not None:
                            slots.release()
                except Exception as exc:
                    errors.append(exc)
                    nursery.cancel_scope.cancel()
                    return

        try:
            async with trio.open_nursery() as nursery:
                if n:
                    nursery.start_soon(worker, name=name)
        finally:
            if not supervised:  # supervised elements count their own attempts
                self.attempts[i] = self.attempts.get(i, 0) + calls
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup(f"{len(errors)} elements of map node {name!r} failed", errors)
        return results


def _short_repr(v: object, limit: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."
