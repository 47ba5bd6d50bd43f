"""Streaming throughput and memory: items through a 3-node DAG.

Two parts:

* pyperf (``bench_time_func`` + ``trio.run``): seconds per item for
  ``Three.stream(...)`` against calling ``Three.run`` once per item, over
  ``--items`` items (default 10,000).
* ``--memory``: for each size in ``--sizes`` (default 100,000 and 1,000,000),
  a fresh subprocess streams that many items and reports items/s and its peak
  RSS; memory must not grow with the number of items (the 1,000,000-item peak
  within 10% of the 100,000-item peak).

Run::

    python perf/bench_stream.py --fast -o perf/results/stream.json
    python perf/bench_stream.py --memory
    python perf/bench_stream.py --smoke      # CI: every workload once, tiny
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import trio

import trio_dag as td


class Three(td.DAG):
    """x -> a -> b, and c reads both: the 3-node DAG of the streaming benchmark."""

    x = td.input()

    @td.node
    async def a(x: int) -> int:
        return x + 1

    @td.node
    async def b(a: int) -> int:
        return a * 2

    @td.node
    async def c(a: int, b: int) -> int:
        return a + b


def expected(n: int) -> int:
    """Sum of ``c`` over items 0..n-1 (c = 3 * (x + 1))."""
    return 3 * n * (n + 1) // 2


async def stream_items(n: int, max_in_flight: int = 64) -> int:
    """Stream ``n`` items; return the sum of ``c``."""
    total = 0
    async with Three.stream(({"x": i} for i in range(n)), max_in_flight=max_in_flight) as rs:
        async for r in rs:
            total += r["c"]
    return total


async def run_per_item(n: int) -> int:
    """Call ``Three.run`` once per item, one after another; return the sum of ``c``."""
    total = 0
    for i in range(n):
        total += (await Three.run({"x": i}))["c"]
    return total


def _timed(fn: Any, n: int) -> Any:
    def bench(loops: int) -> float:
        t0 = time.perf_counter()
        for _ in range(loops):
            trio.run(fn, n)
        return time.perf_counter() - t0

    return bench


def memory_child(n: int) -> dict[str, float]:
    """Stream ``n`` items in this process; items/s and peak RSS (KiB)."""
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    total = trio.run(stream_items, n)
    dt = time.perf_counter() - t0
    assert total == expected(n), total
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"items": n, "seconds": dt, "items_per_s": n / dt, "rss_kib": peak, "base_kib": base}


def memory(sizes: list[int]) -> list[dict[str, float]]:
    """Each size in a fresh subprocess, so peaks do not mix."""
    rows = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows.append(json.loads(out))
        r = rows[-1]
        print(
            f"stream {n:>9,} items: {r['items_per_s']:>9,.0f} items/s, "
            f"peak RSS {r['rss_kib'] / 1024:.1f} MiB",
            flush=True,
        )
    if len(rows) >= 2:
        growth = rows[-1]["rss_kib"] / rows[0]["rss_kib"] - 1
        print(f"peak RSS growth from {sizes[0]:,} to {sizes[-1]:,} items: {growth:+.1%}")
    return rows


def smoke() -> None:
    """Run every workload once at a tiny size and check the results."""
    n = 200
    assert trio.run(stream_items, n) == expected(n)
    assert trio.run(run_per_item, n) == expected(n)
    assert memory_child(n)["items"] == n
    print("bench_stream smoke: ok")


def main() -> None:
    if "--child" in sys.argv:
        print(json.dumps(memory_child(int(sys.argv[sys.argv.index("--child") + 1]))))
        return
    if "--smoke" in sys.argv:
        smoke()
        return
    if "--memory" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--memory", action="store_true")
        parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
        args = parser.parse_args()
        memory(args.sizes)
        return
    import pyperf

    def add_args(cmd: list[str], args: argparse.Namespace) -> None:
        cmd.extend(["--items", str(args.items)])

    runner = pyperf.Runner(add_cmdline_args=add_args)
    runner.argparser.add_argument("--items", type=int, default=10_000)
    args = runner.parse_args()
    n = args.items
    runner.metadata["items"] = str(n)
    runner.bench_time_func(f"stream_{n}_items", _timed(stream_items, n), inner_loops=n)
    runner.bench_time_func(f"run_per_item_{n}_items", _timed(run_per_item, n), inner_loops=n)


if __name__ == "__main__":
    main()
