"""The ``trio-dag`` commands, on click and rich (the ``cli`` extra).

Exit status of every command: 0 done, 1 the run failed (the report is
printed), 2 bad usage, a DAG that cannot be loaded or defined, bad inputs or
options, 130 interrupted (Ctrl-C; the partial report is printed).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import click
import rich.console
import rich.table
import rich.text
import trio

from ._dag import DAG
from ._demo import SalesReport
from ._exceptions import DAGDefinitionError, DAGError
from ._graph import NO_DEFAULT
from ._handle import RunHandle
from ._instrument import Instrument
from ._result import NodeStatus, RunFailed, RunResult, RunStatus
from ._strategies import Parallel, Sequential, Strategy
from .instruments import ChromeTrace, ProgressDisplay, Timeline
from .interop import wfformat

__all__ = ["cli", "run_cli"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
TABLE_ROWS = 30  # the summary table shows at most this many nodes


class BadInput(click.ClickException):
    """A DAG that cannot be loaded, a definition error, bad inputs or options: exit 2."""

    exit_code = EXIT_USAGE


# ---------------------------------------------------------------- loading


def load_dag(target: str) -> type[DAG]:
    """The DAG class named by ``MODULE:NAME`` (see ``trio-dag run --help``).

    Raises:
        BadInput: the module cannot be imported, defines an invalid DAG, or
            has no (single) DAG of that name.
    """
    where, _, attr = target.partition(":")
    if not where:
        raise BadInput(f"{target!r}: expected MODULE:DAG, e.g. my_pipeline:Nightly")
    module = _import(where)
    if not attr:
        found = _dags_in(module)
        if len(found) == 1:
            return found[0][1]
        if not found:
            raise BadInput(f"{where} defines no trio_dag.DAG class")
        names = ", ".join(f"{where}:{name}" for name, _ in found)
        raise BadInput(f"{where} defines several DAGs; name one: {names}")
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            found = _dags_in(module)
            hint = (
                f"; its DAGs: {', '.join(name for name, _ in found)}"
                if found
                else "; it defines no DAG"
            )
            raise BadInput(f"{where} has no attribute {attr!r}{hint}")
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, DAG)) or obj is DAG:
        raise BadInput(f"{target} is {obj!r}, not a trio_dag.DAG subclass")
    return obj


def _is_path(where: str) -> bool:
    return where.endswith(".py") or "/" in where or os.sep in where


def _import(where: str) -> Any:
    """Import a dotted module (the current directory first on the path) or a .py file."""
    try:
        if _is_path(where):
            path = Path(where)
            if not path.is_file():
                raise BadInput(f"no such file: {where}")
            name = path.stem if path.stem.isidentifier() else "_trio_dag_cli_module"
            sys.path.insert(0, str(path.resolve().parent))  # so it can import its neighbours
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses, pickling and typing look it up there
            spec.loader.exec_module(module)
            return module
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        return importlib.import_module(where)
    except BadInput:
        raise
    except DAGDefinitionError as exc:
        raise BadInput(f"{where}: invalid DAG definition: {exc}") from exc
    except ModuleNotFoundError as exc:
        if exc.name is not None and (where == exc.name or where.startswith(exc.name + ".")):
            raise BadInput(f"no module named {where!r} (a dotted module or a .py file)") from exc
        raise BadInput(_import_failure(where, exc)) from exc
    except Exception as exc:
        raise BadInput(_import_failure(where, exc)) from exc


def _import_failure(where: str, exc: Exception) -> str:
    tb = "".join(traceback.format_exception(exc)).rstrip()
    return f"cannot import {where}:\n{tb}"


def _dags_in(module: Any) -> list[tuple[str, type[DAG]]]:
    seen: dict[int, tuple[str, type[DAG]]] = {}
    for name, obj in vars(module).items():
        if isinstance(obj, type) and issubclass(obj, DAG) and obj is not DAG:
            seen.setdefault(id(obj), (name, obj))
    return list(seen.values())


# ---------------------------------------------------------------- inputs


def parse_inputs(pairs: Sequence[str], file: str | None) -> dict[str, Any]:
    """Inputs from ``--inputs FILE.json`` then ``-i NAME=VALUE`` (later ones win).

    A VALUE that is valid JSON is parsed (``3``, ``true``, ``[1, 2]``,
    ``"quoted"``); anything else is taken as a string.
    """
    inputs: dict[str, Any] = {}
    if file is not None:
        try:
            with open(file, encoding="utf-8") as f:
                data = json.load(f)
        except OSError as exc:
            raise BadInput(f"--inputs: cannot read {file}: {exc.strerror}") from exc
        except ValueError as exc:
            raise BadInput(f"--inputs: {file} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BadInput(
                f"--inputs: {file} must hold a JSON object of input names to values, "
                f"not a {type(data).__name__}"
            )
        inputs.update(data)
    for pair in pairs:
        name, eq, raw = pair.partition("=")
        if not eq or not name:
            raise BadInput(f"-i: expected NAME=VALUE, got {pair!r}")
        try:
            inputs[name] = json.loads(raw)
        except ValueError:
            inputs[name] = raw
    return inputs


def make_strategy(
    dag: type[DAG], name: str | None, max_concurrency: int | None
) -> Strategy | None:
    """The strategy for ``--strategy``/``--max-concurrency`` (``None``: the DAG's default)."""
    if name == "sequential":
        if max_concurrency is not None:
            raise BadInput("--max-concurrency does not apply to --strategy sequential")
        return Sequential()
    if name is None and max_concurrency is None:
        return None
    if name is None:
        name = "levels" if dag.supervisor.needs_levels else "eager"
    return Parallel(max_concurrency=max_concurrency, schedule=name)  # type: ignore[arg-type]


# ---------------------------------------------------------------- running


class _Lines(Instrument):
    """One line per node event, for logs (when the output is not a terminal)."""

    def __init__(self, console: rich.console.Console) -> None:
        self.console = console
        self.t0 = 0.0

    def _say(self, text: str) -> None:
        self.console.print(f"[{trio.current_time() - self.t0:8.3f}s] {text}", highlight=False)

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


@dataclass
class _RunState:
    out: rich.console.Console
    err: rich.console.Console
    interrupted: bool = False
    run: RunHandle | None = None


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
        instruments.append(_Lines(err))
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
    _summary(result, elapsed, shown)
    if after is not None:
        after(result, elapsed, shown)
    if as_json:
        out.print_json(json.dumps(_as_json(result), default=repr))
    elif result.ok and outputs:
        _print_outputs(result, out)
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


def _summary(result: RunResult, took: float, console: rich.console.Console) -> None:
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


def _print_outputs(result: RunResult, console: rich.console.Console) -> None:
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


def _as_json(result: RunResult) -> dict[str, Any]:
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


# ---------------------------------------------------------------- commands

_STRATEGY = click.option(
    "--strategy",
    type=click.Choice(["eager", "levels", "sequential"]),
    default=None,
    help="How to schedule the nodes. Default: the DAG's own (eager, or levels when "
    "its supervisor restarts levels).",
)
_MAX = click.option(
    "--max-concurrency",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Run at most N node bodies at once.",
)
_TRACE = click.option(
    "--trace",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    metavar="FILE.json",
    help="Write a Chrome/Perfetto trace of the run (open it in ui.perfetto.dev).",
)
_TIMELINE = click.option(
    "--timeline",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    metavar="FILE.svg",
    help="Write an SVG Gantt chart of the run: a lane per concurrent slot, one bar per attempt.",
)
_JSON = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the results as JSON on stdout (the table and progress go to stderr).",
)
_NO_PROGRESS = click.option(
    "--no-progress",
    is_flag=True,
    help="Show nothing while the run goes (no progress bar, no event lines).",
)

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=_CONTEXT)
def cli() -> None:
    """Run, inspect and check trio_dag DAGs.

    A DAG is named MODULE:NAME. MODULE is a dotted module name, imported with
    the current directory first on the path (my_pipeline, pkg.flows), or the
    path of a .py file (flows/nightly.py). NAME is the DAG class in it; it
    may be left out (MODULE alone) when the module defines exactly one DAG.

    \b
    Exit status: 0 done, 1 the run failed (the report is printed),
    2 bad usage, a DAG that cannot be loaded or defined, bad inputs or
    options, 130 interrupted (Ctrl-C; the partial report is printed).
    """


@cli.command(context_settings=_CONTEXT)
@click.argument("target", metavar="MODULE:DAG")
@click.option(
    "-i",
    "--input",
    "pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="An input value (repeatable). VALUE is parsed as JSON when it is valid JSON "
    '(3, true, [1, 2], "text"), else taken as a string.',
)
@click.option(
    "--inputs",
    "inputs_file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE.json",
    help="Input values from a JSON object; -i values override them.",
)
@_STRATEGY
@_MAX
@_TRACE
@_TIMELINE
@_JSON
@_NO_PROGRESS
def run(
    target: str,
    pairs: tuple[str, ...],
    inputs_file: str | None,
    strategy: str | None,
    max_concurrency: int | None,
    trace: str | None,
    timeline: str | None,
    as_json: bool,
    no_progress: bool,
) -> int:
    """Run a DAG and report what happened.

    While the run goes, a progress bar shows when the output is a terminal;
    otherwise one line per node event goes to stderr. At the end a summary
    table shows each node's status, attempts and times, then the values of
    the final nodes (or, with --json, every result as JSON). Values JSON
    cannot represent are written as their repr().

    The first Ctrl-C cancels the run and prints the partial report (what
    completed is kept); exit status 130.
    """
    dag = load_dag(target)
    inputs = parse_inputs(pairs, inputs_file)
    return execute(
        dag,
        inputs,
        strategy=make_strategy(dag, strategy, max_concurrency),
        trace=trace,
        timeline=timeline,
        as_json=as_json,
        progress=not no_progress,
        lines=True,
    )


@cli.command(context_settings=_CONTEXT)
@click.argument("target", metavar="MODULE:DAG")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
    help="Mermaid flowchart or Graphviz DOT.",
)
def graph(target: str, fmt: str) -> int:
    """Print a DAG's graph (inputs and nodes, an edge from each dependency)."""
    g = load_dag(target).graph
    click.echo(g.to_mermaid() if fmt == "mermaid" else g.to_dot(), nl=False)
    return 0


@cli.command(context_settings=_CONTEXT)
@click.argument("target", metavar="MODULE:DAG")
def validate(target: str) -> int:
    """Check that a DAG loads and is valid; print its shape.

    A DAG is checked when its class is defined, so this imports the module:
    an invalid definition (a cycle, an unknown dependency, a bad option) is
    printed and the exit status is 2.
    """
    g = load_dag(target).graph
    edges = sum(len(g.dependencies(n)) for n in g.nodes)
    defaults = dict(zip(g.inputs, g._defaults, strict=True))
    inputs = ", ".join(
        f"{k} (required)" if d is NO_DEFAULT else f"{k}={d!r}" for k, d in defaults.items()
    )
    click.echo(
        f"DAG {g.name} is valid: {len(g.nodes)} nodes, {edges} edges, "
        f"{len(g.levels)} levels; inputs: {inputs or 'none'}"
    )
    return 0


@cli.command(context_settings=_CONTEXT)
@click.argument("workflow", type=click.Path(exists=True, dir_okay=False), metavar="WORKFLOW.json")
@click.option(
    "--virtual",
    is_flag=True,
    help="Run in virtual time: sleeps take no real time, so the whole workflow replays "
    "at once and reports the makespan it would have had.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Multiply every task's recorded runtime by this (0: measure the engine alone).",
)
@_STRATEGY
@_MAX
@_TRACE
@_TIMELINE
@_JSON
@_NO_PROGRESS
def replay(
    workflow: str,
    virtual: bool,
    speed: float,
    strategy: str | None,
    max_concurrency: int | None,
    trace: str | None,
    timeline: str | None,
    as_json: bool,
    no_progress: bool,
) -> int:
    """Replay a recorded WfCommons workflow (WfFormat 1.5 JSON).

    Each task becomes a node that sleeps for its recorded runtime. The
    summary compares the makespan with the workflow's critical path (the
    best any schedule can do), its level-barrier makespan and the original
    system's. Six workflows ship in data/workflows of the source tree.
    """

    try:
        dag = wfformat.load(workflow, speed=speed)
        figures = wfformat.info(workflow, speed=speed)
    except (ValueError, DAGError) as exc:
        raise BadInput(str(exc)) from exc

    def compare(result: RunResult, made: float, console: rich.console.Console) -> None:
        recorded = figures.recorded_makespan
        console.print(
            f"{figures.tasks} tasks, {figures.edges} edges, {figures.levels} levels; "
            f"makespan {made:.3f}s{' (virtual)' if virtual else ''}; "
            f"critical path {figures.critical_path:.3f}s, "
            f"level barrier {figures.level_barrier:.3f}s, work {figures.work:.3f}s"
            + (f", recorded {recorded:.3f}s" if recorded is not None else ""),
            highlight=False,
        )

    return execute(
        dag,
        {},
        strategy=make_strategy(dag, strategy, max_concurrency),
        trace=trace,
        timeline=timeline,
        as_json=as_json,
        progress=not no_progress,
        lines=False,
        virtual=virtual,
        outputs=False,
        after=compare,
    )


@cli.command(context_settings=_CONTEXT)
@click.option(
    "--strategy",
    type=click.Choice(["eager", "levels", "sequential"]),
    default="eager",
    show_default=True,
    help="How to schedule the nodes.",
)
def demo(strategy: str) -> int:
    """Run the demo workflow (a nightly sales report) and show what happened."""

    strat = (
        Sequential()
        if strategy == "sequential"
        else Parallel(schedule="levels" if strategy == "levels" else "eager")
    )
    g = SalesReport.graph
    click.echo(f"DAG {g.name}: {len(g.nodes)} nodes, inputs {', '.join(g.inputs)}")
    for k, level in enumerate(g.levels):
        click.echo(f"  level {k}: {', '.join(level)}")
    click.echo(f"strategy: {strat!r}\n")
    result: RunResult = SalesReport.run_sync(strategy=strat, instruments=[_Printer()], seed=0)
    click.echo("\nnode           started  took     attempts")
    t0 = min(t for n in g.nodes if (t := result.started_at(n)) is not None)
    for n in sorted(g.nodes, key=lambda n: result.started_at(n) or 0.0):
        start, took = result.started_at(n), result.duration(n)
        assert start is not None
        assert took is not None
        click.echo(f"  {n:<12} {start - t0:6.3f}s {took * 1000:6.0f} ms  {result.attempts(n)}")
    click.echo("\nresults:")
    for n in g.order:
        click.echo(f"  {n} = {result[n]!r:.100}")
    return 0


class _Printer(Instrument):
    """Prints each event of the demo as it happens, with the time since the run began."""

    def __init__(self) -> None:
        self.t0 = 0.0

    def _t(self) -> str:
        return f"[{trio.current_time() - self.t0:6.3f}s]"

    def run_started(self, dag: str, run_id: str) -> None:
        self.t0 = trio.current_time()
        click.echo(f"{self._t()} run {run_id} of {dag} started")

    def node_started(self, node: str, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        click.echo(f"{self._t()}   start  {node}{again}")

    def node_finished(self, node: str, elapsed: float) -> None:
        click.echo(f"{self._t()}   done   {node}  ({elapsed * 1000:.0f} ms)")

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        then = "will retry" if will_retry else "gave up"
        click.echo(f"{self._t()}   FAILED {node} attempt {attempt}: {error!r}; {then}")


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv``; return the exit status (never exits)."""
    try:
        rv = cli.main(
            args=list(sys.argv[1:] if argv is None else argv),
            prog_name="trio-dag",
            standalone_mode=False,
        )
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # outside a run (while loading, or printing the report)
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    return rv if isinstance(rv, int) else 0
