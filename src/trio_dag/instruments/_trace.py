"""Chrome/Perfetto trace files: one complete event per attempt."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, final

from ._recorder import Recorder, Recording

__all__ = ["ChromeTrace"]


@final
class ChromeTrace(Recorder):
    """Writes each run as a Chrome/Perfetto trace file (open it in ui.perfetto.dev).

    The file is ``{"traceEvents": [...], "displayTimeUnit": "ms"}`` with one
    complete (``"ph": "X"``) event per attempt: ``name`` is the node (or
    ``node[index]`` for a map element), ``ts``/``dur`` are microseconds since
    the run started on the run's clock, and ``args`` holds ``attempt``,
    ``status`` (an :class:`AttemptStatus` value) and ``error``
    (``"Type: message"`` or ``None``). An attempt takes the lowest lane
    (``tid``) free when it starts, so no two events overlap on a lane;
    lanes are named ``slot 1``, ``slot 2``, ... by ``thread_name`` metadata
    events. Lane 0, ``run``, holds one event spanning the whole run, whose
    ``args`` give the run's id, status, and any map elements left out.

    Map elements become events too (``cat`` ``"element"``, on lanes beside
    their map node's event, which spans them all), up to
    ``max_elements`` per run (default 10,000: a trace of that size still
    opens quickly); further elements are counted, per map node, in the run
    event's ``args["elements_not_traced"]``, not drawn.

    The file is written when the run finishes (also when it fails), through
    a temporary file in the same directory renamed over ``path``, so a
    reader never sees half a trace. ``path`` may contain ``{run_id}`` and
    ``{dag}``, replaced by the run's id and the DAG's name: use them when
    one instrument watches several runs (a stream), which would otherwise
    overwrite one file.

    Args:
        path: where to write the trace (a ``str`` or ``os.PathLike``).
        max_elements: how many map-element attempts to trace per run.

    Raises:
        ValueError: ``max_elements`` is not an int >= 0.

    Example::

        trace = ChromeTrace("run.json")
        await Report.run(inputs, instruments=[trace])
    """

    def __init__(self, path: str | os.PathLike[str], *, max_elements: int = 10_000) -> None:
        super().__init__(max_elements=max_elements)
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return f"ChromeTrace({self.path!r})"

    def path_for(self, rec: Recording) -> Path:
        """Where the trace of ``rec`` goes: ``path`` with ``{run_id}``/``{dag}`` filled in."""
        return Path(self.path.replace("{run_id}", rec.run_id).replace("{dag}", rec.dag))

    def to_dict(self, rec: Recording | None = None) -> dict[str, Any]:
        """The trace of ``rec`` (default: :attr:`recording`) as a JSON-ready dict.

        Raises:
            RuntimeError: there is no recording yet.
        """
        return to_trace(self._recording_or_last(rec))

    def _finished(self, rec: Recording) -> None:
        write_atomically(self.path_for(rec), json.dumps(to_trace(rec), separators=(",", ":")))


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def to_trace(rec: Recording) -> dict[str, Any]:
    """Render ``rec`` as a Chrome trace dict (see :class:`ChromeTrace`)."""
    pid = 1
    events: list[dict[str, Any]] = [
        {
            "ph": "M",
            "name": "process_name",
            "pid": pid,
            "tid": 0,
            "args": {"name": f"{rec.dag} (run {rec.run_id})"},
        },
        {"ph": "M", "name": "thread_name", "pid": pid, "tid": 0, "args": {"name": "run"}},
        {"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": 0}},
    ]
    for lane in range(1, rec.lanes + 1):
        events.append(
            {
                "ph": "M",
                "name": "thread_name",
                "pid": pid,
                "tid": lane,
                "args": {"name": f"slot {lane}"},
            }
        )
        events.append(
            {
                "ph": "M",
                "name": "thread_sort_index",
                "pid": pid,
                "tid": lane,
                "args": {"sort_index": lane},
            }
        )
    run_args: dict[str, Any] = {"run_id": rec.run_id, "status": rec.status}
    if rec.elements_not_recorded:
        run_args["elements_not_traced"] = dict(rec.elements_not_recorded)
    events.append(
        {
            "ph": "X",
            "name": rec.dag,
            "cat": "run",
            "ts": 0.0,
            "dur": _us(rec.duration),
            "pid": pid,
            "tid": 0,
            "args": run_args,
        }
    )
    for r in rec.records:
        end = rec.duration if r.end is None else r.end
        ts = _us(r.start)
        args: dict[str, Any] = {"attempt": r.attempt, "status": r.status.value, "error": r.error}
        if r.index is not None:
            args["index"] = r.index
        if r.overran is not None:
            args["overran"] = r.overran[1]
        events.append(
            {
                "ph": "X",
                "name": r.label,
                "cat": "node" if r.index is None else "element",
                "ts": ts,
                "dur": round(_us(end) - ts, 3),
                "pid": pid,
                "tid": r.lane + 1,
                "args": args,
            }
        )
        if r.overran is not None:  # an instant mark where the cancellation was not obeyed
            at, action = r.overran
            mark = {"ph": "i", "s": "t", "name": f"{r.label} overran ({action})", "cat": "overrun"}
            events.append({**mark, "ts": _us(at), "pid": pid, "tid": r.lane + 1, "args": args})
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it.

    The temporary file is created like any new file (so the umask applies,
    unlike ``tempfile.mkstemp``'s 0600) in ``path``'s directory.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
