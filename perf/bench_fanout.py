"""Map-node throughput: one ``map_over`` node over N trivial elements, elements per second.

What it measures: a two-node DAG (``td.DAG.from_nodes``): ``src`` returns a
prebuilt list of N ints; ``m`` is ``td.Node("m", fn, deps=("src",),
map_over="src")``, whose trivial body returns its element, so one run maps
N elements. N = 1,000 / 10,000 / 100,000, under

* ``map``: ``td.Parallel()`` (every element a task at once);
* ``map_limit100``: ``td.Parallel(max_concurrency=100)`` (at most 100 elements
  running at once);
* ``raw``: the floor, a hand-written trio fan-out (one nursery, one task per
  element writing its result into a list);
* ``raw_sem100``: the same, every task holding a ``trio.Semaphore(100)`` around
  its element (what a bound costs when every element is a task from the start);
* ``raw_pool100``: 100 worker tasks pulling elements from a shared iterator (what
  a bound costs when no element ever waits in a semaphore);
* ``raw_cp`` / ``map_cp`` / ``map_limit100_cp``: ``raw``, ``map`` and
  ``map_limit100`` with an element body that yields once
  (``await trio.lowlevel.checkpoint()``) before returning, so elements really
  overlap and the bound of 100 is actually reached (a body that never yields
  finishes before the next element starts, and never waits for a slot).

Figures are per element (µs) and elements per second, round-robin in one
process (``--interleaved``, the default) or with pyperf. Target (the
"Performance proof" issue): >= 100,000 elements/s.

How to run::

    python perf/bench_fanout.py                # interleaved, writes perf/results/fanout.json
    python perf/bench_fanout.py --fast         # fewer rounds
    python perf/bench_fanout.py --pyperf --fast -o perf/results/fanout_pyperf.json
    python perf/bench_fanout.py --smoke        # tiny N, values checked, no timing
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from typing import Any

import _common
import peers
import trio
from peers import harness

import trio_dag as td

SIZES = (1_000, 10_000, 100_000)
KINDS = (
    "raw",
    "raw_sem100",
    "raw_pool100",
    "map",
    "map_limit100",
    "raw_cp",
    "map_cp",
    "map_limit100_cp",
)
STRATEGIES = {
    "map": td.Parallel(),
    "map_limit100": td.Parallel(max_concurrency=100),
    "map_cp": td.Parallel(),
    "map_limit100_cp": td.Parallel(max_concurrency=100),
}


async def element(x: int) -> int:
    """The trivial element body: returns its element."""
    return x


async def element_cp(x: int) -> int:
    """The element body that yields once to the scheduler, then returns its element."""
    await trio.lowlevel.checkpoint()
    return x


def map_dag(items: list[int], body: Any = element) -> type[td.DAG]:
    """The two-node DAG mapping ``body`` over ``items``."""

    async def src() -> list[int]:
        return items

    return td.DAG.from_nodes(
        f"fanout{len(items)}",
        [td.Node("src", src), td.Node("m", body, deps=("src",), map_over="src")],
    )


async def raw_fanout(items: Sequence[int], body: Any = element) -> list[int]:
    """The floor: one task per element in one nursery."""
    results: list[Any] = [None] * len(items)

    async def one(k: int, x: int) -> None:
        results[k] = await body(x)

    async with trio.open_nursery() as nursery:
        for k, x in enumerate(items):
            nursery.start_soon(one, k, x)
    return results


async def raw_sem(items: Sequence[int], k: int = 100) -> list[int]:
    """One task per element, each holding a ``trio.Semaphore(k)`` around its element."""
    results: list[Any] = [None] * len(items)
    sem = trio.Semaphore(k)

    async def one(i: int, x: int) -> None:
        async with sem:
            results[i] = await element(x)

    async with trio.open_nursery() as nursery:
        for i, x in enumerate(items):
            nursery.start_soon(one, i, x)
    return results


async def raw_pool(items: Sequence[int], k: int = 100) -> list[int]:
    """``k`` worker tasks pulling ``(index, element)`` pairs from one shared iterator."""
    results: list[Any] = [None] * len(items)
    work = iter(enumerate(items))

    async def worker() -> None:
        for i, x in work:
            results[i] = await element(x)
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for _ in range(min(k, len(items))):
            nursery.start_soon(worker)
    return results


RAW = {
    "raw": raw_fanout,
    "raw_sem100": raw_sem,
    "raw_pool100": raw_pool,
    "raw_cp": functools.partial(raw_fanout, body=element_cp),
}


def runner(kind: str, n: int) -> peers.Runner:
    """The runner of one kind over ``n`` elements (values: the mapped list)."""
    items = list(range(n))
    if kind in RAW:
        return harness.trio_runner(functools.partial(RAW[kind], items))
    dag = map_dag(items, element_cp if kind.endswith("_cp") else element)
    return harness.trio_runner(
        functools.partial(dag.run, strategy=STRATEGIES[kind]), lambda r: list(r["m"])
    )


def check(kind: str, values: list[Any], n: int) -> None:
    """The map returned every element, in order."""
    if values != list(range(n)):
        raise AssertionError(f"{kind}: wrong map result at n={n}")


def _check_at(n: int, kind: str, values: list[Any]) -> None:
    check(kind, values, n)


@functools.cache
def _prepared(kind: str, n: int) -> peers.Runner:
    return runner(kind, n)


def rounds_for(n: int, effort: str) -> int:
    """Interleaved rounds at ``n`` elements."""
    base = min(50, max(5, 500_000 // n))
    return {"fast": max(3, base // 3), "rigorous": base * 3}.get(effort, base)


def interleaved(sizes: Sequence[int], effort: str) -> dict[str, Any]:
    """Every kind round-robin in this process; per-element µs, elements/s, ratios."""
    out: dict[str, Any] = {
        "bench": "fanout",
        "unit": "us per element",
        "effort": effort,
        "machine": harness.machine(),
        "sizes": {},
    }
    for n in sizes:
        runners = {k: _prepared(k, n) for k in KINDS}
        rounds = rounds_for(n, effort)
        times = harness.interleave(runners, rounds, functools.partial(_check_at, n))
        s = harness.summarize(times, n, "raw")
        s["elements_per_second"] = {k: 1e6 / v for k, v in s["median_us"].items()}
        out["sizes"][str(n)] = s
        eps = s["elements_per_second"]
        print(
            f"n={n:,} ({rounds} rounds): "
            + ", ".join(f"{k} {eps[k]:,.0f}/s ({s['median_us'][k]:.2f} us)" for k in KINDS),
            flush=True,
        )
    return out


def smoke(n: int = 200) -> list[str]:
    """Every kind once over ``n`` elements, values checked."""
    for k in KINDS:
        check(k, runner(k, n)(1)[1], n)
    return list(KINDS)


def main() -> None:
    argv = sys.argv[1:]
    if _common.smoke_requested():
        print("bench_fanout smoke OK:", ", ".join(smoke()))
        return
    if "--pyperf" in argv or "--worker" in argv:  # pyperf workers get --worker
        if "--pyperf" in sys.argv:
            sys.argv.remove("--pyperf")
        r, sizes = _common.make_runner(SIZES)
        for n in sizes:
            for kind in KINDS:

                def time_func(loops: int, kind: str = kind, n: int = n) -> float:
                    return _prepared(kind, n)(loops)[0]

                r.bench_time_func(f"fanout_{kind}_{n}", time_func, inner_loops=n)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--rigorous", action="store_true")
    ap.add_argument("--sizes", type=_common.parse_sizes, default=SIZES)
    ap.add_argument("-o", "--output", default=str(harness.RESULTS / "fanout.json"))
    args = ap.parse_args(argv)
    effort = "fast" if args.fast else "rigorous" if args.rigorous else "default"
    harness.write_json(interleaved(args.sizes, effort), args.output)


if __name__ == "__main__":
    main()
