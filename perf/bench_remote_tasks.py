"""1,000 tiny remote tasks on a Dask LocalCluster: through trio_dag vs Dask's own API.

What it measures: the wall time of ``--tasks`` (default 1,000) calls of
:func:`_cpu_work.tiny` (``x + 1``: only the round trip counts) on a
``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``:

* ``dask``: ``client.gather(client.map(tiny, xs, pure=False))``, Dask's
  own batch API (one message for all the tasks);
* ``trio_dag``: :class:`_cpu_work.Remote`, a map node with
  ``run_in="cluster"`` bound to ``td.InExecutor(client.get_executor())``:
  one task per element, each awaited by its own trio task, so retries,
  timeouts and cancellation stay per element.

Both run against the same warm cluster; rounds alternate the two (the order
rotating), and the report gives medians and the ratio. Target from issue 11:
``trio_dag`` at most 1.2x ``dask``.

How to run::

    python perf/bench_remote_tasks.py -o results/remote_tasks.json
    python perf/bench_remote_tasks.py --rounds 9 --tasks 1000
    python perf/bench_remote_tasks.py --smoke     # 20 tasks, once each
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _cpu_work as cw

import trio_dag as td

TARGET = 1.2


def measure(n: int, rounds: int) -> dict[str, Any]:
    """Interleaved rounds of both ways on ``n`` tasks; medians and the ratio."""
    import distributed

    xs = list(range(n))
    expected = [x + 1 for x in xs]
    times: dict[str, list[float]] = {"dask": [], "trio_dag": []}
    load_before = os.getloadavg()
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        placements = {"cluster": td.InExecutor(client.get_executor())}

        def dask_way() -> float:
            t0 = time.perf_counter()
            out = client.gather(client.map(cw.tiny, xs, pure=False))
            elapsed = time.perf_counter() - t0
            assert out == expected
            return elapsed

        def trio_dag_way() -> float:
            async def main() -> float:
                t0 = time.perf_counter()
                r = await cw.Remote.run({"xs": xs}, placements=placements)
                elapsed = time.perf_counter() - t0
                assert r["plus"] == expected
                return elapsed

            return trio.run(main)

        ways = {"dask": dask_way, "trio_dag": trio_dag_way}
        for way in ways.values():  # warm-up: workers import _cpu_work, connections open
            way()
        for r in range(rounds):
            for name in ("dask", "trio_dag") if r % 2 == 0 else ("trio_dag", "dask"):
                times[name].append(ways[name]())
                print(f"  round {r + 1}: {name:<9} {times[name][-1]:.3f} s", flush=True)
    load_after = os.getloadavg()
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["trio_dag"] / med["dask"]
    out = {
        "bench": "remote_tasks",
        "tasks": n,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "median_s": med,
        "min_s": {k: min(v) for k, v in times.items()},
        "ratio": ratio,
        "min_ratio": min(times["trio_dag"]) / min(times["dask"]),
        "target": TARGET,
    }
    print(
        f"{n:,} tasks, {rounds} rounds, load average {load_before[0]:.1f} -> "
        f"{load_after[0]:.1f}: dask {med['dask']:.3f} s, trio_dag {med['trio_dag']:.3f} s, "
        f"ratio {ratio:.2f}x [min {out['min_ratio']:.2f}x] (target <= {TARGET}x) "
        f"{'ok' if ratio <= TARGET else 'MISS'}"
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--fast", action="store_true", help="three rounds")
    parser.add_argument("--smoke", action="store_true", help="20 tasks, once each")
    parser.add_argument("-o", "--output", help="write the JSON summary to this file")
    args = parser.parse_args(argv)
    if args.smoke:
        args.tasks, args.rounds = 20, 1
    elif args.fast:
        args.rounds = 3
    out = measure(args.tasks, args.rounds)
    if args.smoke:
        print("bench_remote_tasks smoke OK")
    if args.output:
        Path(args.output).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
