"""Cost of a level barrier: ``Parallel(schedule="levels")`` minus ``schedule="eager"``.

What it measures: a layered random DAG (``_graphs.layered_parents``) of 500
levels of width 10 (5,000 trivial nodes, two random parents each), run under
``td.Parallel(schedule="eager")`` and ``td.Parallel(schedule="levels")``, with
the raw trio floors (``_rawtrio``: ``raw``, one task per node; ``raw_workfirst``,
eager's floor; ``raw_levels``, a nursery per level, the levels schedule's
floor) beside them, round-robin in one process. The
barrier cost is ``(levels - eager) / 500``: what waiting for a whole level
(one nursery per level) adds per level. Target (the "Performance proof"
issue): <= 50 µs per barrier.

How to run::

    python perf/bench_levels.py                 # writes perf/results/levels.json
    python perf/bench_levels.py --fast --levels 500 --width 10
    python perf/bench_levels.py --pyperf --fast -o perf/results/levels_pyperf.json
    python perf/bench_levels.py --smoke         # tiny graph, values checked, no timing
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from typing import Any

import _common
import _graphs
import _rawtrio
import peers
import pyperf
from peers import harness

import trio_dag as td

LEVELS = 500
WIDTH = 10
KINDS = ("raw", "raw_workfirst", "raw_levels", "eager", "levels")
RAW = {
    "raw": _rawtrio.run,
    "raw_workfirst": _rawtrio.run_workfirst,
    "raw_levels": _rawtrio.run_levels,
}
FLOORS = {"eager": "raw_workfirst", "levels": "raw_levels"}
"""The floor each trio_dag kind is judged against (issue 16: at most 1.15x)."""
STRATEGIES = {"eager": td.Parallel(schedule="eager"), "levels": td.Parallel(schedule="levels")}


@functools.cache
def runners(levels: int, width: int) -> dict[str, peers.Runner]:
    """The runner of every kind on the ``levels`` x ``width`` layered DAG."""
    parents = _graphs.layered_parents(levels * width, width=width)
    dag = _graphs.dag_of(parents, dag_name=f"levels{levels}x{width}")
    assert len(dag.graph.levels) == levels
    names = [_graphs.name(i) for i in range(len(parents))]
    g = _rawtrio.compile_graph(parents)
    out: dict[str, peers.Runner] = {
        k: harness.trio_runner(functools.partial(run, g)) for k, run in RAW.items()
    }
    for k, s in STRATEGIES.items():
        out[k] = harness.trio_runner(
            functools.partial(dag.run, strategy=s), lambda r: [r[x] for x in names]
        )
    return out


def measure(levels: int, width: int, rounds: int) -> dict[str, Any]:
    """Interleaved rounds; per-node µs of every kind and the per-barrier cost."""
    n = levels * width

    def check(kind: str, values: list[Any]) -> None:
        if values != [1] * n:
            raise AssertionError(f"{kind}: wrong values")

    times = harness.interleave(runners(levels, width), rounds, check)
    s = harness.summarize(times, n, "raw")
    diffs = [
        (lv - eg) / levels * 1e6 for lv, eg in zip(times["levels"], times["eager"], strict=True)
    ]
    med, low = s["median_us"], s["min_us"]
    s["median_ratio_to_floor"] = {k: med[k] / med[f] for k, f in FLOORS.items()}
    s["min_ratio_to_floor"] = {k: low[k] / low[f] for k, f in FLOORS.items()}
    s["barrier_us"] = {
        "median_of_paired_differences": statistics.median(diffs),
        "difference_of_medians": (
            statistics.median(times["levels"]) - statistics.median(times["eager"])
        )
        / levels
        * 1e6,
        "difference_of_minimums": (min(times["levels"]) - min(times["eager"])) / levels * 1e6,
    }
    return s


def main() -> None:
    argv = sys.argv[1:]
    if _common.smoke_requested():
        s = measure(20, 5, 1)
        print("bench_levels smoke OK:", ", ".join(KINDS), "(untimed)", sorted(s))
        return
    if "--pyperf" in argv or "--worker" in argv:  # pyperf workers get --worker
        if "--pyperf" in sys.argv:
            sys.argv.remove("--pyperf")
        r = pyperf.Runner()
        for kind in KINDS:

            def time_func(loops: int, kind: str = kind) -> float:
                return runners(LEVELS, WIDTH)[kind](loops)[0]

            r.bench_time_func(f"levels_{kind}_{LEVELS}x{WIDTH}", time_func, inner_loops=LEVELS)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--rigorous", action="store_true")
    ap.add_argument("--levels", type=int, default=LEVELS)
    ap.add_argument("--width", type=int, default=WIDTH)
    ap.add_argument("-o", "--output", default=str(harness.RESULTS / "levels.json"))
    args = ap.parse_args(argv)
    effort = "fast" if args.fast else "rigorous" if args.rigorous else "default"
    rounds = {"fast": 15, "rigorous": 150}.get(effort, 50)
    s = measure(args.levels, args.width, rounds)
    b = s["barrier_us"]
    med = s["median_us"]
    print(
        f"{args.levels} levels x {args.width} ({rounds} rounds): "
        + ", ".join(f"{k} {med[k]:.2f} us/node" for k in KINDS)
        + f"; barrier {b['median_of_paired_differences']:.1f} us per level "
        f"(difference of medians {b['difference_of_medians']:.1f}, "
        f"of minimums {b['difference_of_minimums']:.1f}); to its floor: "
        + ", ".join(f"{k} {v:.2f}x" for k, v in s["median_ratio_to_floor"].items())
    )
    out = {
        "bench": "levels",
        "unit": "us per node; barrier_us per level",
        "effort": effort,
        "machine": harness.machine(),
        "levels": args.levels,
        "width": args.width,
        "result": s,
    }
    harness.write_json(out, args.output)


if __name__ == "__main__":
    main()
