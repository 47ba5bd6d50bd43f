"""A live progress display in the terminal, drawn with ``rich`` (``trio-dag[cli]``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sized
from typing import TYPE_CHECKING, Any, final

import trio
import trio.testing
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .._context import _current_run
from .._instrument import Instrument
from .._status import MISSING, NodeStatus, RunStatus
from ._recorder import run_id_here

if TYPE_CHECKING:
    from .._result import RunResult
    from .._state import RunState

__all__ = ["ProgressDisplay"]

_STATUS_STYLE = {
    RunStatus.COMPLETED.value: "bold green",
    RunStatus.FAILED.value: "bold red",
}


def _seconds(t: float) -> str:
    if t >= 60:
        m, s = divmod(int(t), 60)
        return f"{m}:{s:02d} min"
    return f"{t:.2f} s"


@final
class ProgressDisplay(Instrument):
    """A live view of a run in the terminal: a bar, the nodes running, the counts.

    It counts only the nodes that will actually run (a resumed run's
    completed nodes are not counted), shows which are running (with their
    attempt when it is not the first, and ``[done/total]`` elements for a
    map node), how many are done, failed
    and being retried (a node that failed an attempt and has another one
    waiting or running), and the elapsed time (under a virtual clock,
    ``trio.testing.MockClock``, the run's time at its latest event). When
    the run ends, the display stays: a head line with the run's status and
    duration, the failed nodes named, and a final line of counts such as
    ``12 done, 0 failed, 0 skipped, 1 retry``.

    The screen is redrawn by rich's refresh thread ``refresh_per_second``
    times a second; the hooks only update counters (under a lock), so a
    large run is not slowed down by drawing. On a console that is not a
    terminal (a pipe, a CI log) only the final state is printed.

    One display follows one run at a time: the first run that starts while
    it shows none; events of other runs (e.g. other items of a stream) are
    ignored.

    Needs ``rich``: ``pip install 'trio-dag[cli]'``.

    Args:
        console: the ``rich.console.Console`` to draw on (default: one on
            standard error, so standard output stays clean for results).
        refresh_per_second: how often the live display is redrawn.
        max_names: how many running nodes to name (the rest are counted).

    Raises:
        ValueError: ``refresh_per_second`` or ``max_names`` is not positive.

    Example::

        from trio_dag.instruments import ProgressDisplay
        result = await Report.run(inputs, instruments=[ProgressDisplay()])
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        refresh_per_second: float = 8.0,
        max_names: int = 6,
    ) -> None:
        if (
            isinstance(refresh_per_second, bool)
            or not isinstance(refresh_per_second, int | float)
            or not 0 < refresh_per_second < float("inf")
        ):
            raise ValueError(
                "ProgressDisplay: refresh_per_second must be a positive, finite number, "
                f"got {refresh_per_second!r}"
            )
        if isinstance(max_names, bool) or not isinstance(max_names, int) or max_names < 1:
            raise ValueError(f"ProgressDisplay: max_names must be an int >= 1, got {max_names!r}")
        self.console = console if console is not None else Console(stderr=True)
        self.refresh_per_second = float(refresh_per_second)
        self.max_names = max_names
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._reset(None, "", None)

    def _reset(self, run_id: str | None, dag: str, run: RunState | None) -> None:
        self.run_id = run_id
        self.dag = dag
        self._run = run
        self.total: int | None = None
        self.done = self.failed = self.cancelled = self.skipped = self.retries = 0
        self.overran = 0  # attempts whose body a cancellation could not interrupt
        self.running: dict[str, int] = {}
        self.retrying: set[str] = set()
        self.failed_names: list[str] = []
        self.map_sizes: dict[str, int | None] = {}
        self.elements: dict[str, list[int]] = {}  # node -> [done, failed]
        self.elements_done = self.elements_failed = 0
        self.t0 = 0.0
        self.wall0 = time.monotonic()
        self.status: str | None = None  # set when the run has finished
        self.elapsed = 0.0  # on the run's clock: at the end, or at the latest event
        self.virtual = False  # does the run use a MockClock?

    def __repr__(self) -> str:
        return f"<ProgressDisplay run={self.run_id} {self.status or 'idle'}>"

    def _mine(self) -> bool:
        run_id = run_id_here()  # None: a hook called directly, outside any run
        if self.status is None and (run_id is None or run_id == self.run_id):
            if self.virtual:
                self.elapsed = trio.current_time() - self.t0
            return True
        return False

    # -- what a person sees
    def counts_line(self) -> str:
        """The counts as one line of text (the final line once the run has ended)."""
        if self.status is None:
            text = (
                f"{self.done} done, {self.failed} failed, {len(self.retrying)} retrying, "
                f"{len(self.running)} running"
            )
        else:
            text = f"{self.done} done, {self.failed} failed, {self.skipped} skipped"
            if self.cancelled:
                text += f", {self.cancelled} cancelled"
            text += f", {self.retries} retr{'y' if self.retries == 1 else 'ies'}"
        if self.overran:
            text += f", {self.overran} overran"
        if self.elements_done or self.elements_failed:
            text += f"; elements: {self.elements_done} done, {self.elements_failed} failed"
        return text

    def _names(self, names: list[str]) -> str:
        more = len(names) - self.max_names
        return ", ".join(names[: self.max_names]) + (f", +{more} more" if more > 0 else "")

    def _running_line(self) -> str:
        names = []
        for node, attempt in list(self.running.items())[: self.max_names]:
            label = node
            size = self.map_sizes.get(node)
            if node in self.map_sizes:
                got = self.elements.get(node, [0, 0])
                label += f" [{got[0] + got[1]}/{'?' if size is None else size}]"
            if attempt > 1:
                label += f" (attempt {attempt})"
            names.append(label)
        more = len(self.running) - len(names)
        return "running: " + (", ".join(names) or "-") + (f", +{more} more" if more > 0 else "")

    def _render(self) -> RenderableType:
        with self._lock:
            settled = self.done + self.failed + self.cancelled + self.skipped
            total = self.total
            finished = self.status is not None
            # under a virtual clock, the run's time at the latest event
            live = not finished and not self.virtual
            elapsed = time.monotonic() - self.wall0 if live else self.elapsed
            head = Table.grid(padding=(0, 1))
            title = Text(self.dag or "trio_dag", style="bold")
            if self.status is not None:
                style = _STATUS_STYLE.get(self.status, "bold yellow")
                title.append(f" {self.status}", style=style)
            bar = ProgressBar(
                total=float(total) if total else None,
                completed=float(settled if not finished or total is None else total),
                width=30,
                pulse=total is None and not finished,
                complete_style="cyan",
                finished_style="green" if self.status != RunStatus.FAILED.value else "red",
            )
            count = f"{settled}/{total} nodes" if total is not None else f"{settled} nodes"
            head.add_row(title, bar, Text(count), Text(_seconds(elapsed), style="dim"))
            lines: list[RenderableType] = [head]
            if not finished:
                lines.append(Text("  " + self._running_line(), style="cyan", overflow="ellipsis"))
            elif self.failed_names:
                lines.append(Text("  failed: " + self._names(self.failed_names), style="red"))
            lines.append(Text("  " + self.counts_line()))
            return Group(*lines)

    def __rich__(self) -> RenderableType:
        """The current view, for ``rich`` (``console.print(display)``)."""
        return self._render()

    # -- hooks
    def run_started(self, dag: str, run_id: str) -> None:
        """Start following this run (unless one is shown already) and start drawing."""
        if self._live is not None:
            return  # following another run
        # The run itself (not only its id): the nodes left to run and the map sizes.
        run = _current_run.get(None)
        with self._lock:
            self._reset(run_id, dag, run)
            self.t0 = trio.current_time()
            self.virtual = isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)
            if run is not None:
                n = len(run.graph.nodes)
                self.total = sum(1 for v in run.values[:n] if v is MISSING)
        self._live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=self.refresh_per_second,
            transient=False,
            redirect_stdout=not self.console.stderr,
            redirect_stderr=self.console.stderr,
        )
        self._live.start()

    def node_started(self, node: str, attempt: int) -> None:
        """Count the node as running; learn a map node's size."""
        if not self._mine():
            return
        learn = node not in self.map_sizes and self._is_map(node)
        size = self._map_size(node) if learn else None
        with self._lock:
            self.running[node] = attempt
            if learn:
                self.map_sizes[node] = size

    def node_finished(self, node: str, elapsed: float) -> None:
        """Count the node as done."""
        if self._mine():
            with self._lock:
                self.running.pop(node, None)
                self.retrying.discard(node)
                self.done += 1

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        """Count a retry, or the node as failed."""
        if self._mine():
            with self._lock:
                self.running.pop(node, None)
                if will_retry:
                    self.retrying.add(node)
                    self.retries += 1
                else:
                    self.retrying.discard(node)
                    self.failed += 1
                    self.failed_names.append(node)

    def node_cancelled(self, node: str, attempt: int) -> None:
        """Count the node as cancelled."""
        if self._mine():
            with self._lock:
                if self.running.pop(node, None) is not None:
                    self.retrying.discard(node)
                    self.cancelled += 1

    def node_overran(self, node: str, attempt: int, action: str) -> None:
        """Count an attempt whose placed body a cancellation could not interrupt."""
        if self._mine():
            with self._lock:
                self.overran += 1

    def element_finished(self, node: str, index: int, elapsed: float) -> None:
        """Count a map element as done."""
        if self._mine():
            with self._lock:
                self.elements.setdefault(node, [0, 0])[0] += 1
                self.elements_done += 1

    def element_failed(
        self, node: str, index: int, error: BaseException, attempt: int, will_retry: bool
    ) -> None:
        """Count a map element as failed (a retried one is not counted yet)."""
        if self._mine() and not will_retry:
            with self._lock:
                self.elements.setdefault(node, [0, 0])[1] += 1
                self.elements_failed += 1

    def run_finished(self, result: RunResult) -> None:
        """Settle the counts, draw the final state and stop drawing."""
        if result.run_id != self.run_id or self.status is not None:
            return
        statuses = result._node_statuses()
        with self._lock:
            self.elapsed = trio.current_time() - self.t0
            self.status = result.status.value
            # attempts that got no end event were cancelled
            self.cancelled += len(self.running)
            self.running.clear()
            self.retrying.clear()
            self.skipped = sum(
                1 for s in statuses if s is NodeStatus.SKIPPED or s is NodeStatus.NOT_STARTED
            )
            self._run = None
        self.close()

    def close(self) -> None:
        """Stop drawing (the last state stays on the screen); idempotent."""
        live, self._live = self._live, None
        if live is not None:
            live.refresh()
            live.stop()

    # -- map sizes, from the run's state
    def _is_map(self, node: str) -> bool:
        run = self._run
        if run is None:
            return False
        i = run.graph._index.get(node)
        return i is not None and run.maps[i] is not None

    def _map_size(self, node: str) -> int | None:
        """How many elements map node ``node`` has (its mapped input's length), if known."""
        run: Any = self._run
        i = run.graph._index[node]
        items = run.values[run.slot_deps[i][run.maps[i]]]
        return len(items) if isinstance(items, Sized) else None
