"""Real workflow shapes (WfCommons instances): engine cost per node and virtual-time makespan.

What it measures, for every WfFormat instance in ``data/workflows/`` (a copy
of the project's ``shared/workflows``; or ``--dir``):

* engine cost: the instance loaded with ``trio_dag.interop.wfformat.load(path,
  speed=0)`` (every task returns at once: pure engine cost), run under
  ``Parallel(schedule="eager")`` and ``Parallel(schedule="levels")``, beside
  the raw trio floor (``_rawtrio``) on the same graph, round-robin in one
  process; per-node µs and ratios to raw;
* virtual time: the instance loaded at ``speed=1`` (each task sleeps its
  recorded runtime) and run under a ``trio.testing.MockClock`` with
  autojump, under eager and levels: the makespan beside ``wfformat.info``'s
  critical path (what eager must reach) and level-barrier figure (what
  levels must reach). Both are printed and written to the JSON.

How to run::

    python perf/bench_workflows.py               # writes perf/results/workflows.json
    python perf/bench_workflows.py --fast --dir ../shared/workflows
    python perf/bench_workflows.py --smoke       # smallest instance, once, checked
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

import _common
import _rawtrio
import peers
import trio
import trio.testing
from peers import harness

import trio_dag as td
from trio_dag.interop import wfformat

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "data" / "workflows"
KINDS = ("raw", "eager", "levels")
STRATEGIES = {"eager": td.Parallel(schedule="eager"), "levels": td.Parallel(schedule="levels")}


def instances(folder: Path) -> list[Path]:
    """The WfFormat JSON files of ``folder``, smallest first."""
    return sorted(folder.glob("*.json"), key=lambda p: p.stat().st_size)


def parents_of(dag: type[td.DAG]) -> list[tuple[int, ...]]:
    """The DAG's graph as a parents list indexed by ``graph.nodes`` order."""
    g = dag.graph
    index = {x: i for i, x in enumerate(g.nodes)}
    return [tuple(index[d] for d in g.dependencies(x)) for x in g.nodes]


@functools.cache
def runners(path: Path) -> dict[str, peers.Runner]:
    """The runner of every kind on one instance at speed 0."""
    dag = wfformat.load(path, speed=0)
    n = len(dag.graph.nodes)

    async def none(*deps: Any) -> None:
        return None

    out: dict[str, peers.Runner] = {
        "raw": harness.trio_runner(
            functools.partial(_rawtrio.run, _rawtrio.compile_graph(parents_of(dag)), none)
        )
    }

    def values(r: td.RunResult) -> list[Any]:
        return [r[x] for x in r][:n]

    for k, s in STRATEGIES.items():
        out[k] = harness.trio_runner(functools.partial(dag.run, strategy=s), values)
    return out


def virtual(path: Path) -> dict[str, Any]:
    """Makespans under a MockClock, beside ``wfformat.info``'s figures."""
    dag = wfformat.load(path, speed=1.0)
    info = wfformat.info(path, speed=1.0)
    out: dict[str, Any] = {
        "tasks": info.tasks,
        "edges": info.edges,
        "levels": info.levels,
        "critical_path_s": info.critical_path,
        "level_barrier_s": info.level_barrier,
        "work_s": info.work,
        "recorded_makespan_s": info.recorded_makespan,
    }
    for k, s in STRATEGIES.items():

        async def main(s: td.Parallel = s) -> float:
            t0 = trio.current_time()
            await dag.run(strategy=s)
            return trio.current_time() - t0

        out[f"{k}_makespan_s"] = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return out


def measure(path: Path, rounds: int) -> dict[str, Any]:
    """Engine cost (interleaved) and virtual-time makespans of one instance."""
    rs = runners(path)
    sizes: dict[str, int] = {}

    def check(kind: str, values: list[Any]) -> None:
        sizes[kind] = len(values)
        if any(v is not None for v in values):
            raise AssertionError(f"{kind}: a node returned a value")

    times = harness.interleave(rs, rounds, check)
    n = sizes["raw"]
    if set(sizes.values()) != {n}:
        raise AssertionError(f"kinds ran different node counts: {sizes}")
    s = harness.summarize(times, n, "raw")
    s["nodes"] = n
    s["virtual"] = v = virtual(path)
    if abs(v["eager_makespan_s"] - v["critical_path_s"]) > 1e-6 * max(1.0, v["critical_path_s"]):
        raise AssertionError(f"{path.name}: eager makespan is not the critical path: {v}")
    if abs(v["levels_makespan_s"] - v["level_barrier_s"]) > 1e-6 * max(1.0, v["level_barrier_s"]):
        raise AssertionError(f"{path.name}: levels makespan is not the level barrier: {v}")
    return s


def run_all(folder: Path, rounds: int, effort: str) -> dict[str, Any]:
    """Every instance of ``folder``; the JSON summary."""
    out: dict[str, Any] = {
        "bench": "workflows",
        "unit": "us per node; makespans in virtual seconds",
        "effort": effort,
        "machine": harness.machine(),
        "workflows": {},
    }
    for path in instances(folder):
        s = measure(path, rounds)
        out["workflows"][path.stem] = s
        med, v = s["median_us"], s["virtual"]
        print(
            f"{path.stem} ({s['nodes']} nodes): "
            + ", ".join(f"{k} {med[k]:.2f} us/node ({med[k] / med['raw']:.2f}x)" for k in KINDS)
            + f"; virtual makespan eager {v['eager_makespan_s']:.3f} s "
            f"(critical path {v['critical_path_s']:.3f}), levels {v['levels_makespan_s']:.3f} s "
            f"(level barrier {v['level_barrier_s']:.3f})",
            flush=True,
        )
    return out


def main() -> None:
    argv = sys.argv[1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--rigorous", action="store_true")
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("-o", "--output", default=str(harness.RESULTS / "workflows.json"))
    args = ap.parse_args(argv)
    found = instances(args.dir)
    if not found:
        raise SystemExit(f"no WfFormat instance (*.json) in {args.dir}")
    if _common.smoke_requested():
        s = measure(found[0], 1)
        print(f"bench_workflows smoke OK: {found[0].stem}, {s['nodes']} nodes, {', '.join(KINDS)}")
        return
    effort = "fast" if args.fast else "rigorous" if args.rigorous else "default"
    rounds = {"fast": 10, "rigorous": 100}.get(effort, 30)
    harness.write_json(run_all(args.dir, rounds, effort), args.output)


if __name__ == "__main__":
    main()
