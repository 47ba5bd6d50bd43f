"""Streaming throughput and memory: items through a 3-node DAG.

Three parts:

* ``--floor``: ``Three.stream(...)`` against the hand-written streaming floor
  (:func:`floor`: one task per item awaiting the three node coroutines, a
  semaphore bounding the items in flight, released when the consumer takes a
  result, and a reorder buffer for ordered delivery), measured in the same
  process in interleaved rounds, ordered and unordered, at ``max_in_flight``
  1, 64 and 1,024. Prints and writes (``-o``) the ratios: the minimum of each
  side's times and the median of the per-round ratios (robust on a busy
  machine), with CPU time (``time.process_time``) as the clock.
* pyperf (``bench_time_func`` + ``trio.run``): seconds per item for
  ``Three.stream(...)``, the floor, and calling ``Three.run`` once per item,
  over ``--items`` items (default 10,000).
* ``--memory``: for each size in ``--sizes`` (default 100,000 and 1,000,000),
  a fresh subprocess streams that many items and reports items/s and its peak
  RSS; memory must not grow with the number of items (the 1,000,000-item peak
  within 10% of the 100,000-item peak).

Run::

    python perf/bench_stream.py --floor -o perf/results/stream_floor.json
    python perf/bench_stream.py --fast -o perf/results/stream.json
    python perf/bench_stream.py --memory
    python perf/bench_stream.py --smoke      # CI: every workload once, tiny
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
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


async def stream_items(n: int, max_in_flight: int = 64, ordered: bool = True) -> int:
    """Stream ``n`` items; return the sum of ``c``."""
    total = 0
    source = ({"x": i} for i in range(n))
    async with Three.stream(source, max_in_flight=max_in_flight, ordered=ordered) as rs:
        async for r in rs:
            total += r["c"]
    return total


async def _a(x: int) -> int:
    return x + 1


async def _b(a: int) -> int:
    return a * 2


async def _c(a: int, b: int) -> int:
    return a + b


async def floor(n: int, max_in_flight: int = 64, ordered: bool = True) -> int:
    """The streaming floor, as lean as possible: the same items and node bodies.

    One task per item runs its three coroutines; a semaphore bounds the items
    between the source and the consumer (released when the consumer takes a
    result); ordered delivery goes through a reorder buffer. Returns the sum of
    ``c``.
    """
    slots = trio.Semaphore(max_in_flight)
    send, receive = trio.open_memory_channel[int](math.inf)
    pending: dict[int, int] = {}
    next_out = 0

    async def item(seq: int, x: int) -> None:
        nonlocal next_out
        a = await _a(x)
        c = await _c(a, await _b(a))
        if not ordered:
            send.send_nowait(c)
            return
        pending[seq] = c
        while next_out in pending:
            send.send_nowait(pending.pop(next_out))
            next_out += 1

    async def produce() -> None:
        async with trio.open_nursery() as items:
            for seq, row in enumerate({"x": i} for i in range(n)):
                await slots.acquire()
                items.start_soon(item, seq, row["x"])
        send.close()

    total = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        async for c in receive:
            slots.release()
            total += c
    return total


FLOOR_CASES = [  # (ordered, max_in_flight); the target is ordered at 64
    (True, 64),
    (False, 64),
    (True, 1),
    (True, 1024),
    (False, 1024),
]


def compare_to_floor(n: int, rounds: int) -> dict[str, Any]:
    """Interleaved rounds of the floor and the stream, per case; ratios and times."""
    cases = []
    for ordered, width in FLOOR_CASES:
        times: dict[str, list[float]] = {"floor": [], "stream": []}
        for _ in range(rounds):
            for name, fn in (("floor", floor), ("stream", stream_items)):
                t0 = time.process_time()
                total = trio.run(fn, n, width, ordered)
                times[name].append(time.process_time() - t0)
                assert total == expected(n), (name, total)
        ratios = [s / f for s, f in zip(times["stream"], times["floor"], strict=True)]
        case = {
            "ordered": ordered,
            "max_in_flight": width,
            "floor_us_per_item": min(times["floor"]) / n * 1e6,
            "stream_us_per_item": min(times["stream"]) / n * 1e6,
            "ratio_of_minima": min(times["stream"]) / min(times["floor"]),
            "median_ratio": statistics.median(ratios),
        }
        cases.append(case)
        print(
            f"{'ordered' if ordered else 'unordered':>9} max_in_flight={width:<5} "
            f"floor {case['floor_us_per_item']:6.2f} us/item, "
            f"stream {case['stream_us_per_item']:6.2f} us/item: "
            f"{case['ratio_of_minima']:.2f}x (median of rounds {case['median_ratio']:.2f}x)",
            flush=True,
        )
    return {
        "bench": "stream",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "trio": trio.__version__,
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
        "items": n,
        "rounds": rounds,
        "clock": "time.process_time",
        "load_average": os.getloadavg(),
        "cases": cases,
    }


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
    for ordered, width in FLOOR_CASES:
        assert trio.run(stream_items, n, width, ordered) == expected(n)
        assert trio.run(floor, n, width, ordered) == expected(n)
    assert compare_to_floor(20, 1)["cases"]
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
    if "--floor" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--floor", action="store_true")
        parser.add_argument("--items", type=int, default=2_000)
        parser.add_argument("--rounds", type=int, default=30)
        parser.add_argument("-o", "--output")
        args = parser.parse_args()
        result = compare_to_floor(args.items, args.rounds)
        if args.output:
            with open(args.output, "w") as f:
                json.dump(result, f, indent=2)
                f.write("\n")
        return
    if "--memory" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--memory", action="store_true")
        parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
        parser.add_argument("-o", "--output", help="write the rows as JSON to this file")
        args = parser.parse_args()
        rows = memory(args.sizes)
        if args.output:
            with open(args.output, "w") as f:
                json.dump(
                    {"bench": "stream_memory", "sizes": args.sizes, "rows": rows}, f, indent=2
                )
                f.write("\n")
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
    runner.bench_time_func(f"floor_{n}_items", _timed(floor, n), inner_loops=n)
    runner.bench_time_func(f"run_per_item_{n}_items", _timed(run_per_item, n), inner_loops=n)


if __name__ == "__main__":
    main()
