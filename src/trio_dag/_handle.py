"""Run handles: a run started in the background, with live progress.

``async with Dag.start(inputs) as run:`` starts the run in a task of its own
and yields a :class:`RunHandle`. Progress is kept by an internal instrument
added to the run's instruments, so a run without a handle pays nothing for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

import trio

from ._context import _current_run
from ._instrument import Instrument
from ._result import MISSING, NodeStatus, RunFailed, RunResult, RunStatus

if TYPE_CHECKING:
    from ._state import RunState


_Runnable = Any
"""A DAG class (``graph``, ``run``); the facade sits above this module, so no import."""


__all__ = ["Progress", "RunHandle", "start_run"]


@final
@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of a run's progress, counted in nodes.

    Every node is in at most one of :attr:`done`, :attr:`running`,
    :attr:`retrying`, :attr:`failed` and :attr:`skipped`; the rest are
    waiting (:attr:`pending`). A map node counts as one node.

    Attributes:
        total: Nodes of the DAG.
        done: Nodes that completed.
        running: Nodes with an attempt in progress.
        failed: Nodes that failed for good (their retry policy gave up).
        retrying: Nodes waiting for their next attempt after a failed one.
        skipped: Nodes that cannot run because a dependency failed.
        elapsed: Seconds since the run started (until it ended, once it has).
        running_names: The nodes running now, in the order they started.
        finished: Whether the run has ended (then nothing is running or retrying).

    Read it from a run's handle, :attr:`RunHandle.progress
    <trio_dag.RunHandle.progress>`, or get each new one from
    :meth:`RunHandle.watch <trio_dag.RunHandle.watch>`:

    >>> import trio, trio.testing, trio_dag as td
    >>> class Pair(td.DAG):
    ...     @td.node
    ...     async def quick():
    ...         return 1
    ...
    ...     @td.node
    ...     async def slow():
    ...         await trio.sleep(2)
    ...         return 2
    >>> async def main():
    ...     async with Pair.start() as run:
    ...         await trio.sleep(1)
    ...         p = run.progress
    ...         print(type(p).__name__, p.done, p.running, p.pending, p.running_names)
    ...         await run.wait()
    ...         print(run.progress.finished, run.progress.elapsed)
    >>> trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    Progress 1 1 0 ('slow',)
    True 2.0
    """

    total: int
    done: int
    running: int
    failed: int
    retrying: int
    skipped: int
    elapsed: float
    running_names: tuple[str, ...]
    finished: bool = False

    @property
    def pending(self) -> int:
        """Nodes that have not started yet (or were cancelled before finishing)."""
        return self.total - self.done - self.running - self.failed - self.retrying - self.skipped


# Node states kept by the tracker.
_PENDING, _RUNNING, _RETRYING, _DONE, _FAILED, _SKIPPED = range(6)
_FINAL_STATE = {
    NodeStatus.COMPLETED: _DONE,
    NodeStatus.RESTORED: _DONE,
    NodeStatus.CACHED: _DONE,
    NodeStatus.FAILED: _FAILED,
    NodeStatus.SKIPPED: _SKIPPED,
}


class _Tracker(Instrument):
    """Keeps a run's counts up to date as events arrive, and wakes watchers."""

    def __init__(self, handle: RunHandle) -> None:
        self.handle = handle
        self.run: RunState | None = None
        self.index: Mapping[str, int] = {}
        self.state: list[int] = []
        self.counts = [0] * 6
        self.running: dict[str, None] = {}  # insertion-ordered set
        self.t0 = self.t1 = 0.0
        self.version = 0
        self.lot = trio.lowlevel.ParkingLot()
        self.result: RunResult | None = None

    def changed(self) -> None:
        self.version += 1
        if self.lot:
            self.lot.unpark_all()

    def move(self, name: str, new: int) -> int:
        """Put node ``name`` in state ``new``; return its index (-1: not a node of the run).

        Events of the nodes of an inner run (``DAG.as_node``, named by path,
        ``"etl/rows"``) are not counted: progress is counted in this run's nodes.
        """
        i = self.index.get(name, -1)
        if i < 0:
            return i
        old = self.state[i]
        self.state[i] = new
        self.counts[old] -= 1
        self.counts[new] += 1
        if old == _RUNNING:
            del self.running[name]
        if new == _RUNNING:
            self.running[name] = None
        self.changed()
        return i

    # -- hooks
    def run_started(self, dag: str, run_id: str) -> None:
        run = _current_run.get()
        self.run = run
        g = run.graph
        self.index = g._index
        n = len(g.nodes)
        self.state = [_PENDING] * n
        self.counts[_PENDING] = n
        self.t0 = trio.current_time()
        self.handle._started(self, run_id)

    def node_started(self, node: str, attempt: int) -> None:
        self.move(node, _RUNNING)

    def node_finished(self, node: str, elapsed: float) -> None:
        self.move(node, _DONE)

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        if will_retry:
            self.move(node, _RETRYING)
            return
        i = self.move(node, _FAILED)
        if i < 0:
            return
        # Whatever depends on it cannot run: count it as skipped now.
        assert self.run is not None
        dependents = self.run.graph._dependents
        state, counts = self.state, self.counts
        stack = list(dependents[i])
        while stack:
            j = stack.pop()
            if state[j] == _PENDING:
                state[j] = _SKIPPED
                counts[_PENDING] -= 1
                counts[_SKIPPED] += 1
                stack.extend(dependents[j])

    def node_cancelled(self, node: str, attempt: int) -> None:
        self.move(node, _PENDING)

    def run_finished(self, result: RunResult) -> None:
        self.finish(result)

    def finish(self, result: RunResult) -> None:
        """Recount everything from the final ``result`` and wake every watcher."""
        if self.result is not None:
            return
        self.result = result
        self.t1 = trio.current_time()
        self.running.clear()
        counts = [0] * 6
        state = self.state
        for i, st in enumerate(result._node_statuses()):
            s = state[i] = _FINAL_STATE.get(st, _PENDING)
            counts[s] += 1
        self.counts = counts
        self.run = None  # drop the run's internals: the result is all that is needed now
        self.changed()

    def snapshot(self) -> RunResult:
        """A copy of the run's state now, as a result with status ``RUNNING``."""
        if self.result is not None:
            return self.result
        run = self.run
        assert run is not None
        values = list(run.values)
        start, end = run._times()
        return RunResult(
            run.graph,
            values,
            start,
            end,
            dict(run.errors),
            dict(run.attempts),
            RunStatus.RUNNING,
            run.run_id,
            {i: e for i, e in run.last.items() if values[i] is MISSING},
            dict(run.restored) or None,
        )

    def progress(self) -> Progress:
        c = self.counts
        done = self.result is not None
        return Progress(
            total=len(self.state),
            done=c[_DONE],
            running=c[_RUNNING],
            failed=c[_FAILED],
            retrying=c[_RETRYING],
            skipped=c[_SKIPPED],
            elapsed=(self.t1 if done else trio.current_time()) - self.t0,
            running_names=tuple(self.running),
            finished=done,
        )


@final
class _Watch:
    """The iterator of :meth:`RunHandle.watch` (a class, not an async generator:
    leaving a ``for`` loop early leaves nothing to finalize)."""

    __slots__ = ("_seen", "_tracker")

    def __init__(self, tracker: _Tracker) -> None:
        self._tracker = tracker
        self._seen = -1

    def __aiter__(self) -> _Watch:
        return self

    async def __anext__(self) -> Progress:
        t = self._tracker
        if self._seen == t.version:
            if t.result is not None:
                await trio.lowlevel.checkpoint()
                raise StopAsyncIteration
            await t.lot.park()
        else:
            await trio.lowlevel.checkpoint()
        self._seen = t.version
        return t.progress()


@final
class RunHandle:
    """A run going on in the background; made by :meth:`DAG.start <trio_dag.DAG.start>`.

    >>> import trio, trio.testing, trio_dag as td
    >>> class Two(td.DAG):
    ...     @td.node
    ...     async def a():
    ...         await trio.sleep(1)
    ...         return 1
    ...     @td.node
    ...     async def b(a):
    ...         await trio.sleep(1)
    ...         return a + 1
    >>> async def main():
    ...     async with Two.start() as run:
    ...         await trio.sleep(1.5)
    ...         p = run.progress
    ...         print(f"{p.done}/{p.total} done, running {p.running_names}")
    ...         result = await run.wait()
    ...     return result["b"]
    >>> trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    1/2 done, running ('b',)
    2
    """

    __slots__ = ("_dag", "_failure", "_run_id", "_scope", "_tracker", "_wait_ended")

    def __init__(self, dag: _Runnable) -> None:
        self._dag = dag
        self._tracker: _Tracker | None = None
        self._run_id = ""
        self._scope = trio.CancelScope()
        self._wait_ended = trio.Event()
        self._failure: RunFailed | None = None

    def _started(self, tracker: _Tracker, run_id: str) -> None:
        self._tracker = tracker
        self._run_id = run_id

    @property
    def _t(self) -> _Tracker:
        t = self._tracker
        assert t is not None  # start_run returns the handle only once the run started
        return t

    @property
    def run_id(self) -> str:
        """The run's id (as in :attr:`RunResult.run_id <trio_dag.RunResult.run_id>`)."""
        return self._run_id

    @property
    def progress(self) -> Progress:
        """The current :class:`Progress` (cheap: counts are kept as events arrive)."""
        return self._t.progress()

    @property
    def finished(self) -> bool:
        """Whether the run has ended (:meth:`wait` then returns at once)."""
        return self._wait_ended.is_set()

    def watch(self) -> AsyncIterator[Progress]:
        """Iterate over progress snapshots as they change.

        The first snapshot comes at once; then a new one each time the
        progress changes. A reader that is slower than the run skips the
        snapshots it missed and gets the latest: nothing queues up. The
        iteration ends after the snapshot of the finished run (its
        :attr:`~Progress.finished` is true). Any number of tasks can watch
        one run.
        """
        return _Watch(self._t)

    def cancel(self) -> None:
        """Cancel the run, if it is still going; returns at once.

        The run ends with status :attr:`RunStatus.CANCELLED
        <trio_dag.RunStatus.CANCELLED>`; what completed is kept in
        :meth:`result`, and ``resume`` continues from it.
        """
        self._scope.cancel()

    async def wait(self) -> RunResult:
        """Wait for the run to end and return its complete result.

        Raises:
            RunFailed: the run did not complete (a node failed, the deadline
                passed, it was halted or cancelled); ``.result`` is the
                partial result, whose ``status`` says which.
        """
        await self._wait_ended.wait()
        failure = self._failure
        if failure is not None:
            raise RunFailed(failure.result) from failure.__cause__
        result = self._t.result
        assert result is not None
        return result

    def result(self) -> RunResult:
        """The run's result now: final once the run has ended, else a snapshot.

        While the run is going, the snapshot's status is :attr:`RunStatus.RUNNING
        <trio_dag.RunStatus.RUNNING>` and its nodes in progress have status
        :attr:`NodeStatus.RUNNING <trio_dag.NodeStatus.RUNNING>`; it is a copy,
        so later progress does not change it, and it can be passed to
        ``resume`` like any partial result.
        """
        return self._t.snapshot()

    def __repr__(self) -> str:
        t = self._tracker
        if t is None:
            return f"<RunHandle of DAG {self._dag.graph.name!r}, not started>"
        p = t.progress()
        state = t.result.status.value if t.result is not None else "running"
        return (
            f"<RunHandle of DAG {self._dag.graph.name!r}, run {self._run_id} {state}: "
            f"{p.done}/{p.total} done>"
        )

    async def _main(
        self,
        inputs: Mapping[str, Any] | None,
        options: dict[str, Any],
        *,
        task_status: trio.TaskStatus[None],
    ) -> None:
        """The run's own task: runs the DAG; ``task_status`` is told when the run starts."""
        tracker = _Tracker(self)
        started = tracker.run_started

        def run_started(dag: str, run_id: str) -> None:
            started(dag, run_id)
            task_status.started()

        tracker.run_started = run_started  # type: ignore[method-assign]
        instruments = [tracker, *options.pop("instruments", ())]
        try:
            with self._scope:
                await self._dag.run(inputs, instruments=instruments, **options)
        except RunFailed as exc:
            self._failure = exc
        finally:
            # run_finished came on every exit (also a cancelled or interrupted run)
            result = tracker.result
            if self._failure is None and result is not None and not result.ok:
                self._failure = RunFailed(result)  # cancelled or interrupted
            self._wait_ended.set()


@asynccontextmanager
async def start_run(
    dag: _Runnable, inputs: Mapping[str, Any] | None = None, **run_options: Any
) -> AsyncIterator[RunHandle]:
    """The implementation of :meth:`trio_dag.DAG.start` (see there)."""
    handle = RunHandle(dag)
    startup_error: Exception | None = None
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                await nursery.start(handle._main, inputs, dict(run_options))
            except Exception as exc:  # bad inputs or options: nothing else runs in this nursery
                startup_error = exc
            else:
                try:
                    yield handle
                except BaseException as exc:  # re-raised as is below, not wrapped in a group
                    body_error = exc
                finally:
                    handle.cancel()
    except BaseExceptionGroup as group:
        # Only the run's own task runs in this nursery (the block's exception never
        # reaches it), so the group holds exactly that task's one exception: trio's
        # Cancelled from a scope outside, or RunInterrupted (a KeyboardInterrupt).
        (only,) = group.exceptions
        raise only from only.__cause__
    if startup_error is not None:
        raise startup_error
    if body_error is not None:
        raise body_error
