"""The attempt recorder shared by :class:`ChromeTrace` and :class:`Timeline`.

One recorder, two renderers: the recorder turns hook calls into
:class:`AttemptRecord` intervals on lanes; the trace writer and the SVG
timeline only read a finished :class:`Recording`.
"""

from __future__ import annotations

import enum
import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, final

import trio

from .._context import current_run_id
from .._instrument import Instrument

if TYPE_CHECKING:
    from .._result import RunResult

__all__ = ["AttemptRecord", "AttemptStatus", "Recorder", "Recording", "run_id_here", "state_here"]

S = TypeVar("S")


def run_id_here() -> str | None:
    """The id of the run whose hook is calling, or ``None`` outside any run.

    Hooks run in their run's context, so this tells which run an event
    belongs to when one instrument watches several runs at once; ``None``
    means a hook was called directly (as tests do).
    """
    try:
        return current_run_id()
    except RuntimeError:
        return None


def state_here(runs: dict[str, S]) -> S | None:
    """The state, among ``runs`` (run id -> an instrument's state of that run), of
    the run whose hook is calling; outside any run, the only one, if there is one
    (a hook called directly, as tests do)."""
    run_id = run_id_here()
    if run_id is not None:
        return runs.get(run_id)
    if len(runs) == 1:
        return next(iter(runs.values()))
    return None


class AttemptStatus(enum.StrEnum):
    """What became of one attempt (of a node, or of one map element).

    Attributes:
        RUNNING: Still running when the recording was drawn.
        COMPLETED: It returned a value.
        FAILED: It raised and no attempt follows: the node (or element) failed.
        RETRIED: It raised and the retry policy tries again: another attempt follows.
        CANCELLED: It was cancelled (fail-fast, a level restart, a deadline, the run
            stopping).
    """

    # an attempt's states, not a node's (NodeStatus) nor a run's (RunStatus): alike in shape only
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    RETRIED = "retried"
    CANCELLED = "cancelled"


@final
@dataclass(slots=True, eq=False)
class AttemptRecord:
    """One attempt of a node or of a map element: an interval on a lane.

    Times are seconds since the run started, on the run's clock (virtual
    under a ``MockClock``).

    Attributes:
        node: The node's name.
        attempt: The attempt number, from 1.
        start: When the attempt started (seconds since the run started).
        lane: The lane (0-based): the lowest one free when the attempt started.
        index: The element's index for a map element, else ``None``.
        end: When the attempt ended, or ``None`` while it runs.
        status: What became of it.
        error: ``"ExceptionType: message"`` of a failed attempt.
        overran: ``(time, action)`` when a cancellation could not interrupt the
            attempt's placed body (see :meth:`~trio_dag.Instrument.node_overran`).
    """

    node: str
    attempt: int
    start: float
    lane: int
    index: int | None = None
    end: float | None = None
    status: AttemptStatus = AttemptStatus.RUNNING
    error: str | None = None
    overran: tuple[float, str] | None = None

    @property
    def label(self) -> str:
        """``node``, or ``node[index]`` for a map element."""
        return self.node if self.index is None else f"{self.node}[{self.index}]"


@final
class Recording:
    """Every attempt of one run, laid out on lanes (read-only for its users).

    Attributes:
        dag: the DAG's name.
        run_id: the run's id.
        start_time: ``trio.current_time()`` when the run started.
        records: the attempts, in the order they started.
        lanes: how many lanes the attempts use (the most that ran at once).
        status: ``"running"``, or the run's :class:`~trio_dag.RunStatus` value.
        duration: seconds from the run's start to its end (to the last event
            while it runs).
        elements_not_recorded: per map node, how many element attempts were
            counted but not recorded because the recorder's ``max_elements``
            was reached.
    """

    __slots__ = (
        "_free",
        "_open",
        "dag",
        "duration",
        "elements",
        "elements_not_recorded",
        "lanes",
        "records",
        "run_id",
        "start_time",
        "status",
    )

    def __init__(self, dag: str, run_id: str, start_time: float) -> None:
        self.dag = dag
        self.run_id = run_id
        self.start_time = start_time
        self.records: list[AttemptRecord] = []
        self.lanes = 0
        self.status = "running"
        self.duration = 0.0
        self.elements = 0
        self.elements_not_recorded: dict[str, int] = {}
        self._open: dict[tuple[str, int | None], AttemptRecord] = {}
        self._free: list[int] = []  # a heap of free lanes below ``lanes``

    def __repr__(self) -> str:
        return (
            f"<Recording {self.dag!r} run {self.run_id} {self.status}: "
            f"{len(self.records)} attempts on {self.lanes} lanes>"
        )

    def _now(self) -> float:
        t = trio.current_time() - self.start_time
        if t > self.duration:
            self.duration = t
        return t

    def _begin(self, node: str, attempt: int, index: int | None) -> None:
        key = (node, index)
        now = self._now()
        if key in self._open:  # restarted without an end event (e.g. a level restart)
            self._end(key, AttemptStatus.CANCELLED, None, now)
        if self._free:
            lane = heapq.heappop(self._free)
        else:
            lane = self.lanes
            self.lanes += 1
        rec = AttemptRecord(node, attempt, now, lane, index)
        self.records.append(rec)
        self._open[key] = rec

    def _end(
        self,
        key: tuple[str, int | None],
        status: AttemptStatus,
        error: BaseException | None,
        now: float | None = None,
    ) -> None:
        rec = self._open.pop(key, None)
        if rec is None:  # an element past max_elements, or an event without a start
            return
        if now is None:
            now = self._now()
        if key[1] is None and self.elements:  # a map node ends: its open elements too
            node = key[0]
            for k in [k for k in self._open if k[0] == node and k[1] is not None]:
                self._end(k, AttemptStatus.CANCELLED, None, now)
        rec.end = now
        rec.status = status
        if error is not None:
            rec.error = _describe(error)
        heapq.heappush(self._free, rec.lane)

    def _close(self, status: str) -> None:
        now = self._now()
        for key in list(self._open):
            self._end(key, AttemptStatus.CANCELLED, None, now)
        self.status = status


def _describe(error: BaseException, limit: int = 300) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Recorder(Instrument):
    """An instrument that records every attempt of a run as a lane interval.

    Each run gets its own :class:`Recording` (one instrument may watch
    several runs at once, e.g. the items of a stream); the last finished one
    is :attr:`recording`. Subclasses render it in :meth:`_finished`.

    An attempt takes the lowest lane free when it starts and gives it back
    when it ends, so no two attempts overlap on a lane and the number of
    lanes is the most attempts that ran at once. Map elements are recorded
    as attempts too (a map node's own attempt spans its elements, which run
    on lanes beside it), up to ``max_elements`` per run; later ones are
    only counted, per node.

    Args:
        max_elements: how many map-element attempts to record per run.

    Raises:
        ValueError: ``max_elements`` is not an int >= 0.
    """

    def __init__(self, *, max_elements: int) -> None:
        if isinstance(max_elements, bool) or not isinstance(max_elements, int) or max_elements < 0:
            raise ValueError(
                f"{type(self).__name__}: max_elements must be an int >= 0, got {max_elements!r}"
            )
        self.max_elements = max_elements
        self._active: dict[str, Recording] = {}
        self._last: Recording | None = None

    @property
    def recording(self) -> Recording | None:
        """The last finished run's recording, else the running one, else ``None``."""
        if self._last is not None:
            return self._last
        return next(reversed(self._active.values()), None)

    def _rec(self) -> Recording | None:
        return state_here(self._active)

    def _recording_or_last(self, rec: Recording | None) -> Recording:
        """``rec``, or by default :attr:`recording`.

        Raises:
            RuntimeError: there is no recording yet.
        """
        if rec is None:
            rec = self.recording
            if rec is None:
                raise RuntimeError(f"{type(self).__name__}: no run has been recorded yet")
        return rec

    def _finished(self, rec: Recording) -> None:
        """Called with each run's recording when the run has finished."""

    # -- hooks
    def run_started(self, dag: str, run_id: str) -> None:
        """Start a recording for this run."""
        self._active[run_id] = Recording(dag, run_id, trio.current_time())

    def node_started(self, node: str, attempt: int) -> None:
        """Open an attempt on the lowest free lane."""
        rec = self._rec()
        if rec is not None:
            rec._begin(node, attempt, None)

    def node_finished(self, node: str, elapsed: float) -> None:
        """Close the node's attempt as completed."""
        rec = self._rec()
        if rec is not None:
            rec._end((node, None), AttemptStatus.COMPLETED, None)

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        """Close the node's attempt as retried or failed."""
        rec = self._rec()
        if rec is not None:
            status = AttemptStatus.RETRIED if will_retry else AttemptStatus.FAILED
            rec._end((node, None), status, error)

    def node_cancelled(self, node: str, attempt: int) -> None:
        """Close the node's attempt as cancelled."""
        rec = self._rec()
        if rec is not None:
            rec._end((node, None), AttemptStatus.CANCELLED, None)

    def node_overran(self, node: str, attempt: int, action: str) -> None:
        """Mark the node's open attempt: its placed body could not be interrupted."""
        rec = self._rec()
        r = None if rec is None else rec._open.get((node, None))
        if rec is not None and r is not None:
            r.overran = (rec._now(), action)

    def element_started(self, node: str, index: int, attempt: int) -> None:
        """Open a map element's attempt (or only count it, past ``max_elements``)."""
        rec = self._rec()
        if rec is None:
            return
        if rec.elements >= self.max_elements:
            rec.elements_not_recorded[node] = rec.elements_not_recorded.get(node, 0) + 1
            return
        rec.elements += 1
        rec._begin(node, attempt, index)

    def element_finished(self, node: str, index: int, elapsed: float) -> None:
        """Close a map element's attempt as completed."""
        rec = self._rec()
        if rec is not None:
            rec._end((node, index), AttemptStatus.COMPLETED, None)

    def element_failed(
        self, node: str, index: int, error: BaseException, attempt: int, will_retry: bool
    ) -> None:
        """Close a map element's attempt as retried or failed."""
        rec = self._rec()
        if rec is not None:
            status = AttemptStatus.RETRIED if will_retry else AttemptStatus.FAILED
            rec._end((node, index), status, error)

    def run_finished(self, result: RunResult) -> None:
        """Close what is still open as cancelled, and hand the recording over."""
        rec = self._active.pop(result.run_id, None)
        if rec is None:
            return
        rec._close(result.status.value)
        self._last = rec
        self._finished(rec)
