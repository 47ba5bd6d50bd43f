"""What a ``trio-dag`` run shows: event lines, the summary table, the final values, JSON.

Everything is printed with markup off, so node names, values and error
messages appear as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rich.console
import rich.table
import rich.text
import trio

from ._instrument import Instrument
from ._result import NodeStatus, RunResult

__all__ = ["TABLE_ROWS", "EventLines", "print_outputs", "print_summary", "result_json"]

TABLE_ROWS = 30  # the summary table shows at most this many nodes


class EventLines(Instrument):
    """One line per node event, with the time since the run began.

    ``trio-dag run`` writes them to stderr when the output is not a terminal
    (for logs); ``trio-dag demo`` writes them to stdout.

    Args:
        say: Prints one line.
    """

    def __init__(self, say: Callable[[str], object]) -> None:
        self.say = say
        self.t0 = 0.0

    def _say(self, text: str) -> None:
        self.say(f"[{trio.current_time() - self.t0:8.3f}s] {text}")

    def run_started(self, dag: str, run_id: str) -> None:
        self.t0 = trio.current_time()
        self._say(f"run {run_id} of DAG {dag} started")

    def node_started(self, node: str, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._say(f"started  {node}{again}")

    def node_finished(self, node: str, elapsed: float) -> None:
        self._say(f"done     {node} in {elapsed:.3f}s")

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        then = "will retry" if will_retry else "gave up"
        self._say(f"FAILED   {node} attempt {attempt}: {type(error).__name__}: {error}; {then}")


def print_summary(result: RunResult, took: float, console: rich.console.Console) -> None:
    """A table of the nodes in the order they started: status, attempts, start, duration.

    At most :data:`TABLE_ROWS` rows; a last line counts the nodes left out.
    """
    g = result.graph
    t0 = min((t for n in g.nodes if (t := result.started_at(n)) is not None), default=0.0)
    table = rich.table.Table(
        title=f"run {result.run_id} of DAG {g.name}: {result.status.value} ({took:.3f}s)",
        title_justify="left",
    )
    for col in ("node", "status", "attempts", "started", "took"):
        table.add_column(
            col, justify="right" if col in ("attempts", "started", "took") else "left"
        )
    statuses = result.statuses
    order = sorted(
        g.nodes, key=lambda n: (result.started_at(n) is None, result.started_at(n) or 0.0)
    )
    style = {NodeStatus.COMPLETED: "green", NodeStatus.FAILED: "red"}
    for name in order[:TABLE_ROWS]:
        st = statuses[name]
        start = result.started_at(name)
        dur = result.duration(name)
        table.add_row(
            name,
            rich.text.Text(st.value.replace("_", " "), style=style.get(st, "yellow")),
            str(result.attempts(name)),
            "" if start is None else f"{start - t0:.3f}s",
            "" if dur is None else f"{dur:.3f}s",
        )
    console.print(table)
    if len(order) > TABLE_ROWS:
        console.print(f"... and {len(order) - TABLE_ROWS} more nodes (--json shows every one)")


def print_outputs(result: RunResult, console: rich.console.Console) -> None:
    """The values of the final nodes (those nothing depends on)."""
    g = result.graph
    finals = [n for n in g.nodes if not g.dependents(n)]
    console.print("results:")
    for name in finals[:TABLE_ROWS]:
        console.print(f"  {name} = {_short(repr(result[name]))}", highlight=False, markup=False)
    if len(finals) > TABLE_ROWS:
        console.print(f"  ... and {len(finals) - TABLE_ROWS} more (--json shows every one)")


def _short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def result_json(result: RunResult) -> dict[str, Any]:
    """What ``--json`` prints: the run's status, every value, error and node status."""
    return {
        "dag": result.graph.name,
        "run_id": result.run_id,
        "status": result.status.value,
        "results": dict(result),
        "errors": {
            n: f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            for n, e in result.errors.items()
        },
        "statuses": {n: s.value for n, s in result.statuses.items()},
    }
