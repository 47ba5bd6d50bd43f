"""Replay a real workflow under the eager and the level schedules; draw both.

Loads a WfCommons WfFormat instance (default: the 1000Genome trace in
``data/workflows``) with :func:`trio_dag.interop.wfformat.load`, runs it
in virtual time (``trio.testing.MockClock(autojump_threshold=0)``, so the
replay of hours of recorded runtimes takes well under a second) under
``Parallel(schedule="eager")`` and ``Parallel(schedule="levels")``, prints the
two makespans next to the critical path and level-barrier figures, and writes
an SVG (by hand, no plotting library) with:

- one Gantt chart per schedule: a row per task, grouped by level, coloured by
  level, with the makespan marked;
- the number of tasks running over time under both schedules.

Usage::

    python perf/plot_strategies.py [--workflow NAME_OR_PATH] [--out FILE.svg]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import trio
import trio.testing

import trio_dag as td
from trio_dag.interop import wfformat

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / "data" / "workflows"
DEFAULT = "1000genome-chameleon-22ch-100k-001"
OUT = ROOT / "docs" / "_static" / "eager_vs_levels.svg"

# Tableau 10: distinguishable, and readable by most colour-blind viewers
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
EAGER_COLOUR, LEVELS_COLOUR = "#4e79a7", "#e15759"


@dataclass(frozen=True)
class Trace:
    """When each task ran in one replay (virtual seconds from the run's start)."""

    label: str
    makespan: float
    spans: dict[str, tuple[float, float]]


async def _replay(dag: type[td.DAG], strategy: td.Parallel, label: str) -> Trace:
    t0 = trio.current_time()
    result = await dag.run(strategy=strategy)
    makespan = trio.current_time() - t0
    spans = {}
    for name in dag.graph.nodes:
        start, end = result.started_at(name), result.finished_at(name)
        if start is None or end is None:  # pragma: no cover - the run completed
            raise RuntimeError(f"node {name!r} has no start or end time")
        spans[name] = (start - t0, end - t0)
    return Trace(label, makespan, spans)


def replay(dag: type[td.DAG], strategy: td.Parallel, label: str) -> Trace:
    """Run ``dag`` once under ``strategy`` in virtual time."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(_replay, dag, strategy, label, clock=clock)


def concurrency(trace: Trace) -> list[tuple[float, int]]:
    """Steps ``(time, tasks running from then on)``; ends count before starts."""
    events = sorted(
        [(s, 1) for s, _ in trace.spans.values()] + [(e, -1) for _, e in trace.spans.values()]
    )
    steps: list[tuple[float, int]] = [(0.0, 0)]
    running = 0
    for t, d in events:
        running += d
        if steps[-1][0] == t:
            steps[-1] = (t, running)
        else:
            steps.append((t, running))
    return steps


# ---------------------------------------------------------------- drawing


class Svg:
    """A minimal SVG writer: elements appended as strings."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.parts: list[str] = []

    def add(self, tag: str, text: str | None = None, **attrs: object) -> None:
        a = " ".join(f'{k.rstrip("_").replace("_", "-")}="{v}"' for k, v in attrs.items())
        if text is None:
            self.parts.append(f"<{tag} {a}/>")
        else:
            self.parts.append(f"<{tag} {a}>{escape(text)}</{tag}>")

    def render(self) -> str:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" '
            f'font-family="Helvetica, Arial, sans-serif" font-size="12">'
        )
        bg = f'<rect x="0" y="0" width="{self.width}" height="{self.height}" fill="white"/>'
        return "\n".join([head, bg, *self.parts, "</svg>"]) + "\n"


def _ticks(limit: float, target: int = 8) -> list[float]:
    raw = limit / target
    step = min(
        (m * 10**e for e in range(-3, 7) for m in (1, 2, 5) if m * 10**e >= raw),
        default=raw,
    )
    n = int(limit / step) + 1
    return [k * step for k in range(n) if k * step <= limit + 1e-9]


def _fmt(t: float) -> str:
    return f"{t:g}"


def _time_axis(svg: Svg, x0: float, y: float, w: float, horizon: float, label: bool) -> None:
    svg.add("line", x1=x0, y1=y, x2=x0 + w, y2=y, stroke="#333")
    for t in _ticks(horizon):
        x = x0 + w * t / horizon
        svg.add("line", x1=f"{x:.1f}", y1=y, x2=f"{x:.1f}", y2=y + 4, stroke="#333")
        svg.add("text", _fmt(t), x=f"{x:.1f}", y=y + 16, text_anchor="middle", fill="#333")
    if label:
        svg.add("text", "virtual time (s)", x=x0 + w, y=y + 30, text_anchor="end", fill="#333")


def _gantt(
    svg: Svg,
    trace: Trace,
    level_of: dict[str, int],
    x0: float,
    y0: float,
    w: float,
    h: float,
    horizon: float,
    colour: str,
) -> None:
    rows = sorted(trace.spans, key=lambda n: (level_of[n], trace.spans[n][0], n))
    rh = h / len(rows)
    svg.add("rect", x=x0, y=y0, width=w, height=h, fill="#fafafa", stroke="#ccc")
    scale = w / horizon
    for r, name in enumerate(rows):
        s, e = trace.spans[name]
        svg.add(
            "rect",
            x=f"{x0 + s * scale:.2f}",
            y=f"{y0 + r * rh:.2f}",
            width=f"{max((e - s) * scale, 0.6):.2f}",
            height=f"{max(rh, 0.6):.2f}",
            fill=PALETTE[level_of[name] % len(PALETTE)],
        )
    xm = x0 + trace.makespan * scale
    svg.add("line", x1=f"{xm:.1f}", y1=y0 - 4, x2=f"{xm:.1f}", y2=y0 + h, stroke=colour,
            stroke_width=2, stroke_dasharray="5,3")  # fmt: skip
    svg.add(
        "text",
        f"{trace.label}: makespan {trace.makespan:.3f} s",
        x=x0,
        y=y0 - 8,
        font_weight="bold",
        fill=colour,
    )


def _steps_path(steps: Sequence[tuple[float, int]], x0: float, y0: float, sx: float,
                sy: float, horizon: float) -> str:  # fmt: skip
    d = [f"M{x0:.2f},{y0:.2f}"]
    prev = 0
    for t, c in steps:
        x = x0 + t * sx
        d.append(f"L{x:.2f},{y0 - prev * sy:.2f}L{x:.2f},{y0 - c * sy:.2f}")
        prev = c
    d.append(f"L{x0 + horizon * sx:.2f},{y0 - prev * sy:.2f}")
    return "".join(d)


def draw(
    info: wfformat.WorkflowInfo, level_of: dict[str, int], eager: Trace, levels: Trace
) -> str:
    """The whole figure as SVG text."""
    width, left, right = 960, 70, 30
    gantt_h, conc_h, gap = 250, 170, 70
    top = 64
    height = top + 2 * (gantt_h + gap) + conc_h + 70
    w = width - left - right
    horizon = max(eager.makespan, levels.makespan) * 1.02
    svg = Svg(width, height)
    svg.add(
        "text",
        f"{info.name}: {info.tasks} tasks, {info.edges} edges, {info.levels} levels, "
        f"replayed in virtual time",
        x=left,
        y=22,
        font_size=15,
        font_weight="bold",
    )
    svg.add(
        "text",
        f"critical path {info.critical_path:.3f} s, level barrier {info.level_barrier:.3f} s, "
        f"work {info.work:.1f} s. Rows: one task each, grouped by level; colour: level.",
        x=left,
        y=40,
        fill="#555",
    )
    # level legend
    lx = left
    for lv in range(info.levels):
        svg.add("rect", x=lx, y=48, width=10, height=10, fill=PALETTE[lv % len(PALETTE)])
        svg.add("text", f"level {lv}", x=lx + 14, y=57, fill="#333", font_size=11)
        lx += 66

    y = top + 20
    for trace, colour in ((eager, EAGER_COLOUR), (levels, LEVELS_COLOUR)):
        _gantt(svg, trace, level_of, left, y, w, gantt_h, horizon, colour)
        svg.add("text", "tasks", x=left - 8, y=y + gantt_h / 2, text_anchor="end", fill="#555")
        _time_axis(svg, left, y + gantt_h, w, horizon, label=False)
        y += gantt_h + gap

    # concurrency over time
    se, sl = concurrency(eager), concurrency(levels)
    peak = max(c for _, c in [*se, *sl])
    sx, sy = w / horizon, conc_h / (peak * 1.05)
    base = y + conc_h
    svg.add("text", "tasks running at once", x=left, y=y - 8, font_weight="bold", fill="#333")
    svg.add("rect", x=left, y=y, width=w, height=conc_h, fill="#fafafa", stroke="#ccc")
    for c in _ticks(peak, 4):
        yy = base - c * sy
        svg.add("line", x1=left - 4, y1=f"{yy:.1f}", x2=left, y2=f"{yy:.1f}", stroke="#333")
        svg.add("text", _fmt(c), x=left - 7, y=f"{yy + 4:.1f}", text_anchor="end", fill="#333")
    for steps, colour, label, dy in (
        (se, EAGER_COLOUR, f"eager ({eager.makespan:.1f} s)", 0),
        (sl, LEVELS_COLOUR, f"levels ({levels.makespan:.1f} s)", 16),
    ):
        svg.add("path", d=_steps_path(steps, left, base, sx, sy, horizon), fill="none",
                stroke=colour, stroke_width=1.5, stroke_opacity=0.85)  # fmt: skip
        svg.add("text", label, x=left + w - 8, y=y + 16 + dy, text_anchor="end", fill=colour,
                font_weight="bold")  # fmt: skip
    _time_axis(svg, left, base, w, horizon, label=True)
    return svg.render()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--workflow",
        default=DEFAULT,
        help=f"a WfFormat JSON file, or the name of one in {WORKFLOWS} (default: {DEFAULT})",
    )
    ap.add_argument("--out", type=Path, default=OUT, help=f"SVG to write (default: {OUT})")
    args = ap.parse_args(argv)
    path = Path(args.workflow)
    if not path.exists():
        path = WORKFLOWS / (args.workflow.removesuffix(".json") + ".json")

    dag = wfformat.load(path)
    info = wfformat.info(path)
    level_of = {name: dag.graph.level_of(name) for name in dag.graph.nodes}
    eager = replay(dag, td.Parallel(), "eager")
    levels = replay(dag, td.Parallel(schedule="levels"), "levels")

    print(f"{info.name}: {info.tasks} tasks, {info.edges} edges, {info.levels} levels")
    print(f"  eager  makespan {eager.makespan:10.3f} s  (critical path {info.critical_path:.3f})")
    print(f"  levels makespan {levels.makespan:10.3f} s  (level barrier {info.level_barrier:.3f})")
    print(f"  levels / eager  {levels.makespan / eager.makespan:10.3f}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(draw(info, level_of, eager, levels))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
