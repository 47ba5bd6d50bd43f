"""One run from the command line: ``trio-dag run`` and ``trio-dag replay``.

:func:`execute` runs a DAG in its own ``trio.run`` with the instruments the
options ask for (progress, event lines, trace, timeline), handles Ctrl-C
(the first one cancels the run, the second one interrupts), prints what
:mod:`trio_dag._cli_output` makes of the result and returns the exit status.
"""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import rich.console
import trio

from ._cli_load import BadInput
from ._cli_output import EventLines, print_outputs, print_summary, result_json
from ._dag import DAG
from ._exceptions import DAGError
from ._handle import RunHandle
from ._instrument import Instrument
from ._result import RunFailed, RunResult, RunStatus
from ._strategies import Strategy
from .instruments import ChromeTrace, ProgressDisplay, Timeline

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "execute"]

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


@dataclass
class _RunState:
    """What the Ctrl-C handler shares with the run: the consoles, the handle, a first press."""

    out: rich.console.Console
    err: rich.console.Console
    interrupted: bool = False
    run: RunHandle | None = None


@contextlib.contextmanager
def _ctrl_c(state: _RunState) -> Iterator[None]:
    """Inside ``trio.run``: the first Ctrl-C cancels the run, the second interrupts.

    The first one asks trio (``run_sync_soon`` is safe in a signal handler) to
    cancel the run, whose partial result is then reported. The second one goes
    to trio's own handler, which raises ``KeyboardInterrupt`` where it is safe:
    also inside node code that blocks and so never sees the cancellation.
    A SIGINT that is ignored (a background job) stays ignored.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        yield
        return
    token = trio.lowlevel.current_trio_token()

    def cancel() -> None:
        state.err.print("interrupted: cancelling the run (Ctrl-C again to stop at once)")
        if state.run is not None:
            state.run.cancel()

    def handler(signum: int, frame: Any) -> None:
        if not state.interrupted:
            state.interrupted = True
            token.run_sync_soon(cancel)
            return
        signal.signal(signal.SIGINT, previous)
        if callable(previous):
            previous(signum, frame)
        else:  # pragma: no cover - trio.run always installs its handler
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def execute(
    dag: type[DAG],
    inputs: dict[str, Any],
    *,
    strategy: Strategy | None,
    trace: str | None,
    timeline: str | None,
    as_json: bool,
    progress: bool,
    lines: bool,
    virtual: bool = False,
    outputs: bool = True,
    after: Callable[[RunResult, float, rich.console.Console], None] | None = None,
) -> int:
    """Run ``dag`` as ``trio-dag run`` does; return the exit status."""
    # No console markup: node names, values and error messages are printed as they are.
    out = rich.console.Console(soft_wrap=True, markup=False, highlight=False)
    err = rich.console.Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
    state = _RunState(out, err)
    shown = err if as_json else out  # the terminal where progress and the table go
    live = progress and shown.is_terminal and not virtual
    instruments: list[Instrument] = []
    display: ProgressDisplay | None = None
    if live:
        display = ProgressDisplay(shown)
        instruments.append(display)
    elif progress and lines:
        instruments.append(EventLines(err.print))  # err prints without markup
    finishers = _observers(trace, timeline, instruments)
    options: dict[str, Any] = {"instruments": instruments}
    if strategy is not None:
        options["strategy"] = strategy

    async def main() -> tuple[RunResult, float]:
        entered = False
        # Ctrl-C is caught from before the run starts, so no node runs without it.
        with _ctrl_c(state):
            try:
                async with dag.start(inputs, **options) as run:
                    entered = True
                    state.run = run
                    if state.interrupted:  # Ctrl-C came while the run was starting
                        run.cancel()
                    try:
                        result = await run.wait()
                    except RunFailed as exc:
                        result = exc.result
                    return result, run.progress.elapsed
            except (DAGError, TypeError, ValueError) as exc:
                if entered:
                    raise
                raise BadInput(str(exc)) from exc

    clock = None
    if virtual:
        from trio.testing import MockClock  # not at the top: it imports pytest (slow)

        clock = MockClock(autojump_threshold=0)
    stopped: KeyboardInterrupt | None = None
    try:
        result, elapsed = trio.run(main, clock=clock)
    except* KeyboardInterrupt as group:  # a second Ctrl-C, or one before the run began
        leaf: BaseException = group
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        stopped = cast(KeyboardInterrupt, leaf)
    finally:
        if display is not None:
            display.close()
    if stopped is not None:
        partial = getattr(stopped, "result", None)  # a RunInterrupted carries the result
        if isinstance(partial, RunResult):
            err.print(partial.report(), highlight=False)
        err.print("interrupted")
        return EXIT_INTERRUPTED
    for finish in finishers:
        finish(err)
    print_summary(result, elapsed, shown)
    if after is not None:
        after(result, elapsed, shown)
    if as_json:
        out.print_json(json.dumps(result_json(result), default=repr))
    elif result.ok and outputs:
        print_outputs(result, out)
    if not result.ok:
        err.print(result.report(), highlight=False)
    if result.status in (RunStatus.CANCELLED, RunStatus.INTERRUPTED):
        return EXIT_INTERRUPTED
    return 0 if result.ok else EXIT_FAILED


def _observers(
    trace: str | None, timeline: str | None, instruments: list[Instrument]
) -> list[Callable[[rich.console.Console], None]]:
    """Add the trace and timeline instruments; return what writes their files at the end."""
    finishers: list[Callable[[rich.console.Console], None]] = []
    for option, path in (("--trace", trace), ("--timeline", timeline)):
        if path is not None and not Path(path).resolve().parent.is_dir():
            raise BadInput(f"{option}: the directory of {path} does not exist")
    if trace is not None:
        instruments.append(ChromeTrace(trace))
        finishers.append(lambda console: console.print(f"trace written to {trace}"))
    if timeline is not None:
        drawing = Timeline()
        instruments.append(drawing)

        def draw(console: rich.console.Console) -> None:
            drawing.write_svg(timeline)
            console.print(f"timeline written to {timeline}")

        finishers.append(draw)
    return finishers
