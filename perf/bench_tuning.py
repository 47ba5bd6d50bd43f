"""What the tuning guide's per-node options cost: a timeout, a restarting supervisor.

The figures behind docs/performance-tuning.rst's rows for ``timeout=`` and
``Supervisor("one_for_all")``. One run of the layered random DAG of
``_graphs`` (width 100, two random parents per node, every node the trivial
``async def f(*deps): return 1``) of ``--sizes`` nodes (default 10,000) under

* ``raw``: the floor, ``_rawtrio.run`` (one task per node, started by its
  last dependency), as in ``bench_overhead.py``;
* ``eager``: ``td.Parallel()`` (the default schedule), no option;
* ``eager_timeout``: the same with ``timeout=60`` on every node (a
  ``trio.fail_after`` cancel scope around every attempt; nothing times out);
* ``levels``: ``td.Parallel(schedule="levels")``, no option;
* ``levels_one_for_all``: the same with ``supervisor=td.Supervisor("one_for_all")``
  (a cancel scope per node so that a level can be restarted; nothing fails).

Every kind is measured round-robin in one process, one run of each per round
(the order rotating), so load drift on a shared machine hits them alike; the
result is the per-node median and minimum of each kind, its ratio to ``raw``
and to its own baseline (``eager`` for the timeout, ``levels`` for the
supervisor), and the load average when the measurement ended.

How to run::

    python perf/bench_tuning.py -o perf/results/tuning.json
    python perf/bench_tuning.py --sizes 1000,10000 --rounds 30
    python perf/bench_tuning.py --smoke     # each kind once, tiny: values only
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common
import _graphs
import _rawtrio

import trio_dag as td

SIZES = (10_000,)
KINDS = ("raw", "eager", "eager_timeout", "levels", "levels_one_for_all")
BASELINE = {"eager_timeout": "eager", "levels_one_for_all": "levels"}
"""The kind each option is compared with: the same schedule without the option."""


def dags(parents: Sequence[Sequence[int]]) -> tuple[type[td.DAG], type[td.DAG]]:
    """The graph without options, and with ``timeout=60`` on every node."""
    plain = _graphs.dag_of(parents, dag_name="tuning")
    timed = td.DAG.from_nodes(
        "tuning_timeout",
        [
            td.Node(_graphs.name(i), _graphs.f, deps=[_graphs.name(p) for p in ps], timeout=60)
            for i, ps in enumerate(parents)
        ],
    )
    return plain, timed


def workloads(parents: Sequence[Sequence[int]]) -> dict[str, _common.Workload]:
    """The async callable of each kind: one whole run of the graph."""
    plain, timed = dags(parents)
    return {
        "raw": functools.partial(_rawtrio.run, _rawtrio.compile_graph(parents), _graphs.f),
        "eager": functools.partial(plain.run, strategy=td.Parallel()),
        "eager_timeout": functools.partial(timed.run, strategy=td.Parallel()),
        "levels": functools.partial(plain.run, strategy=td.Parallel(schedule="levels")),
        "levels_one_for_all": functools.partial(
            plain.run,
            strategy=td.Parallel(schedule="levels"),
            supervisor=td.Supervisor("one_for_all"),
        ),
    }


def values(kind: str, out: Any, n: int) -> list[Any]:
    """Node values by index, from what a workload returned."""
    if kind == "raw":
        return list(out)
    return [out[_graphs.name(i)] for i in range(n)]


def smoke(n: int = 300) -> dict[str, list[Any]]:
    """Every kind once on an ``n``-node graph; its values, by kind."""
    parents = _graphs.layered_parents(n)
    works = workloads(parents)

    async def main() -> dict[str, list[Any]]:
        return {k: values(k, await works[k](), n) for k in KINDS}

    return trio.run(main)


def rounds_for(n: int) -> int:
    """Rounds per size: about 200,000 node runs per kind, 5 to 100 rounds."""
    return min(100, max(5, 200_000 // n))


async def _interleave(n: int, rounds: int) -> dict[str, list[float]]:
    works = workloads(_graphs.layered_parents(n))
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


def measure(sizes: Sequence[int], rounds: int | None = None) -> dict[str, Any]:
    """Every kind round-robin in one process, at each size; the JSON summary."""
    out: dict[str, Any] = {"command": " ".join(["python", "perf/bench_tuning.py", *sys.argv[1:]])}
    out["sizes"] = {}
    for n in sizes:
        k_rounds = rounds or rounds_for(n)
        times = trio.run(_interleave, n, k_rounds)
        med = {k: statistics.median(v) / n * 1e6 for k, v in times.items()}
        low = {k: min(v) / n * 1e6 for k, v in times.items()}
        out["sizes"][str(n)] = {
            "rounds": k_rounds,
            "median_us_per_node": med,
            "min_us_per_node": low,
            "median_ratio_to_raw": {k: v / med["raw"] for k, v in med.items()},
            "min_ratio_to_raw": {k: v / low["raw"] for k, v in low.items()},
            "median_ratio_to_baseline": {k: med[k] / med[b] for k, b in BASELINE.items()},
            "min_ratio_to_baseline": {k: low[k] / low[b] for k, b in BASELINE.items()},
        }
        print(
            f"n={n} ({k_rounds} rounds): "
            + ", ".join(f"{k} {med[k]:.2f} us ({med[k] / med['raw']:.2f}x)" for k in KINDS),
            flush=True,
        )
    out["loadavg_after"] = list(os.getloadavg())
    out["python"] = sys.version.split()[0]
    out["trio"] = trio.__version__
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_common.parse_sizes, default=SIZES)
    parser.add_argument("--rounds", type=int, help="rounds per size (default: by size)")
    parser.add_argument("--smoke", action="store_true", help="each kind once, tiny")
    parser.add_argument("-o", "--output", help="write the JSON summary to this file")
    args = parser.parse_args(argv)
    if args.smoke:
        out = smoke()
        assert all(v == out["raw"] for v in out.values()), "kinds disagree"
        print("bench_tuning smoke OK:", ", ".join(out))
        return
    result = measure(args.sizes, args.rounds)
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(result, fh, indent=2)
            fh.write("\n")


if __name__ == "__main__":
    main()
