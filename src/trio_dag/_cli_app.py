"""The ``trio-dag`` commands, on click and rich (the ``cli`` extra).

Exit status of every command: 0 done, 1 the run failed (the report is
printed), 2 bad usage, a DAG that cannot be loaded or defined, bad inputs or
options, 130 interrupted (Ctrl-C; the partial report is printed).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
import rich.console

from ._cli_load import BadInput, load_dag, make_strategy, parse_inputs
from ._cli_output import EventLines
from ._cli_run import EXIT_INTERRUPTED, execute
from ._demo import SalesReport
from ._exceptions import DAGError
from ._nodespec import NO_DEFAULT
from ._result import RunResult
from .interop import wfformat

__all__ = ["cli", "run_cli"]

_F = TypeVar("_F", bound=Callable[..., Any])

_SCHEDULES = ["eager", "levels", "sequential"]  # the choices of --strategy

_STRATEGY = click.option(
    "--strategy",
    type=click.Choice(_SCHEDULES),
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


def _output_file(flag: str, metavar: str, text: str) -> Callable[[_F], _F]:
    """An option naming a file the run writes (created or replaced)."""
    path = click.Path(dir_okay=False, writable=True)
    return click.option(flag, type=path, default=None, metavar=metavar, help=text)


_TRACE = _output_file(
    "--trace",
    "FILE.json",
    "Write a Chrome/Perfetto trace of the run (open it in ui.perfetto.dev).",
)
_TIMELINE = _output_file(
    "--timeline",
    "FILE.svg",
    "Write an SVG Gantt chart of the run: a lane per concurrent slot, one bar per attempt.",
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


def _run_options(command: _F) -> _F:
    """Add the options ``run`` and ``replay`` share, in this order in their help."""
    for option in reversed((_STRATEGY, _MAX, _TRACE, _TIMELINE, _JSON, _NO_PROGRESS)):
        command = option(command)
    return command


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
@_run_options
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
@_run_options
def replay(  # the _run_options parameters as in run(): click passes each by name, typed
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
    type=click.Choice(_SCHEDULES),
    default="eager",
    show_default=True,
    help="How to schedule the nodes.",
)
def demo(strategy: str) -> int:
    """Run the demo workflow (a nightly sales report) and show what happened."""

    strat = make_strategy(SalesReport, strategy, None)
    g = SalesReport.graph
    click.echo(f"DAG {g.name}: {len(g.nodes)} nodes, inputs {', '.join(g.inputs)}")
    for k, level in enumerate(g.levels):
        click.echo(f"  level {k}: {', '.join(level)}")
    click.echo(f"strategy: {strat!r}\n")
    result: RunResult = SalesReport.run_sync(
        strategy=strat, instruments=[EventLines(click.echo)], seed=0
    )
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
