"""Per-node engine cost of trio_dag, beside a hand-written trio scheduler.

What it measures: one run of a layered random DAG (``_graphs``: width 100, two
random parents per node, every node the same trivial ``async def f(*deps):
return 1``) of 1,000 / 10,000 / 100,000 nodes, under

* ``raw``: the floor, ``_rawtrio.run`` (one nursery, one task per node started
  by its last dependency) on the same graph;
* ``sequential``: ``td.Sequential()``;
* ``levels``: ``td.Parallel(schedule="levels")``;
* ``eager``: ``td.Parallel(schedule="eager")`` (the default);
* ``eager_limit100``: ``td.Parallel(max_concurrency=100)``;
* ``eager_retry3``: ``td.Parallel()`` with the run option ``retry=3`` (every
  node gets ``RetryPolicy(max_attempts=3)``; nothing fails).

Benchmarks are named ``overhead_<kind>_<n>`` and use pyperf's
``inner_loops=n``, so every reported time is **per node**. ``run_all.py``
divides each by ``raw`` at the same size. Graphs are built (and the DAG class
compiled) once per worker process, outside the timed region; each timed loop is
one whole ``await Dag.run(...)`` inside an already running ``trio.run``.

Targets from the issue, at 10,000 nodes, as a ratio to ``raw``: eager and
levels <= 1.2x, eager_limit100 <= 1.3x, eager_retry3 <= 1.3x, sequential <= 0.5x.

The machine this runs on may be shared and noisy: pyperf measures each
benchmark in its own time window, so load drift between windows skews ratios.
``--interleaved`` (no pyperf) therefore also measures every kind round-robin in
one process, one run of each kind per round, and reports per-node median and
minimum with their ratios to ``raw`` (``run_all.py`` runs both modes).

How to run::

    python perf/bench_overhead.py --fast -o overhead.json             # pyperf
    python perf/bench_overhead.py --sizes 10000 --rigorous
    python perf/bench_overhead.py --interleaved [--fast] -o inter.json
    python perf/bench_overhead.py --smoke        # each workload once, tiny, no pyperf
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import _common
import _graphs
import _rawtrio
import trio

import trio_dag as td

SIZES = (1_000, 10_000, 100_000)


class RunOnly(td.Instrument):
    """Overrides only a per-run hook: its unused per-node hooks must cost nothing."""

    def run_finished(self, result: td.RunResult) -> None:
        pass


class PerNode(td.Instrument):
    """Overrides a per-node hook, for contrast: what a used hook costs."""

    def node_finished(self, node: str, elapsed: float) -> None:
        pass


OPTIONS: dict[str, dict[str, Any]] = {
    "sequential": {"strategy": td.Sequential()},
    "levels": {"strategy": td.Parallel(schedule="levels")},
    "eager": {"strategy": td.Parallel(schedule="eager")},
    "eager_limit100": {"strategy": td.Parallel(max_concurrency=100)},
    "eager_retry3": {"strategy": td.Parallel(), "retry": 3},
    # issue 12: a hook nobody overrides costs nothing (compare with "eager")
    "eager_run_hook": {"strategy": td.Parallel(), "instruments": (RunOnly(),)},
    "eager_node_hook": {"strategy": td.Parallel(), "instruments": (PerNode(),)},
}
"""Run options of every trio_dag variant, by benchmark kind."""

KINDS = ("raw", *OPTIONS)


def workload(
    kind: str, parents: Sequence[Sequence[int]], dag: type[td.DAG], fn: Callable[..., Any]
) -> _common.Workload:
    """The async callable one timed loop awaits: one whole run of the graph.

    ``dag`` must be ``parents`` built with ``fn`` (``_graphs.dag_of(parents, fn)``).
    """
    if kind == "raw":
        return functools.partial(_rawtrio.run, _rawtrio.compile_graph(parents), fn)
    return functools.partial(dag.run, **OPTIONS[kind])


def values(kind: str, out: Any, n: int) -> list[Any]:
    """Node values, by index, from what a ``workload`` returned."""
    if kind == "raw":
        return list(out)
    return [out[_graphs.name(i)] for i in range(n)]


@functools.cache
def _prepared(kind: str, n: int) -> _common.Workload:
    parents, dag = _graphs.layered(n)
    return workload(kind, parents, dag, _graphs.f)


def smoke(
    parents: Sequence[Sequence[int]] | None = None, fn: Callable[..., Any] = _graphs.f
) -> dict[str, list[Any]]:
    """Every kind once on one graph (default: 300 nodes); its values, by kind."""
    if parents is None:
        parents = _graphs.layered_parents(300)
    dag = _graphs.dag_of(parents, fn)
    n = len(parents)

    async def main() -> dict[str, list[Any]]:
        return {k: values(k, await workload(k, parents, dag, fn)(), n) for k in KINDS}

    return trio.run(main)


def rounds_for(n: int, effort: str) -> int:
    """Rounds of the interleaved mode for ``n`` nodes (about 200,000 node runs per kind)."""
    base = min(100, max(5, 200_000 // n))
    return {"fast": max(3, base // 2), "rigorous": base * 3}.get(effort, base)


async def _interleave(n: int, rounds: int) -> dict[str, list[float]]:
    works = {k: _prepared(k, n) for k in KINDS}
    times: dict[str, list[float]] = {k: [] for k in KINDS}
    for k in KINDS:  # warm-up
        await works[k]()
    for r in range(rounds):
        order = KINDS[r % len(KINDS) :] + KINDS[: r % len(KINDS)]
        for k in order:
            gc.collect()
            t0 = time.perf_counter()
            await works[k]()
            times[k].append(time.perf_counter() - t0)
    return times


def interleaved(sizes: Sequence[int], effort: str = "default") -> dict[str, Any]:
    """Every kind round-robin in one process; per-node µs and ratios to ``raw``."""
    out: dict[str, Any] = {"effort": effort, "sizes": {}}
    for n in sizes:
        rounds = rounds_for(n, effort)
        times = trio.run(_interleave, n, rounds)
        med = {k: statistics.median(v) / n * 1e6 for k, v in times.items()}
        low = {k: min(v) / n * 1e6 for k, v in times.items()}
        out["sizes"][str(n)] = {
            "rounds": rounds,
            "median_us_per_node": med,
            "min_us_per_node": low,
            "median_ratio_to_raw": {k: v / med["raw"] for k, v in med.items()},
            "min_ratio_to_raw": {k: v / low["raw"] for k, v in low.items()},
        }
        print(
            f"n={n} ({rounds} rounds): "
            + ", ".join(f"{k} {med[k]:.2f} us ({med[k] / med['raw']:.2f}x)" for k in KINDS),
            flush=True,
        )
    return out


def main_interleaved(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="bench_overhead, interleaved mode")
    parser.add_argument("--interleaved", action="store_true", required=True)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--fast", action="store_true")
    group.add_argument("--rigorous", action="store_true")
    parser.add_argument("--sizes", type=_common.parse_sizes, default=SIZES)
    parser.add_argument("-o", "--output", help="write the JSON summary to this file")
    args = parser.parse_args(argv)
    effort = "fast" if args.fast else "rigorous" if args.rigorous else "default"
    out = interleaved(args.sizes, effort)
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(out, fh, indent=2)
            fh.write("\n")


def main() -> None:
    if "--interleaved" in sys.argv[1:]:
        main_interleaved(sys.argv[1:])
        return
    if _common.smoke_requested():
        out = smoke()
        assert all(v == out["raw"] for v in out.values()), "kinds disagree"
        print("bench_overhead smoke OK:", ", ".join(out))
        return
    runner, sizes = _common.make_runner(SIZES)
    for n in sizes:
        for kind in KINDS:
            get = functools.partial(_prepared, kind, n)
            runner.bench_time_func(f"overhead_{kind}_{n}", _common.timer(get), inner_loops=n)


if __name__ == "__main__":
    main()
