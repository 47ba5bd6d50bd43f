"""The fixed cost of a run, and Sequential per node, beside hand-written trio.

Two questions (issue 16): what does one small ``await Dag.run()`` cost inside
a running trio loop, and what does ``Sequential()`` cost per node? Each is
answered as a ratio to hand-written trio doing the same job, measured in one
process in interleaved rounds.

Per run, the 3-node DAG ``a -> b, a -> c`` (every body the trivial ``_graphs.f``):

* ``raw_nursery``: the floor of a parallel run, a nursery with one task per
  node, each started by its last dependency: ``_rawtrio.run``, the scheduler
  every ``bench_overhead`` figure is divided by;
* ``raw_nursery_by_hand``: a stricter reference, the same nursery written for
  this one graph (node ``a``'s task starts ``b`` and ``c``; no counters);
* ``eager``: ``await Three.run()`` (the default strategy, eager);
* ``by_hand``: the floor of a sequential run, the three coroutines awaited by
  hand with one ``trio.lowlevel.checkpoint()`` (a schedule point) after each;
* ``by_hand_check``: the same with ``checkpoint_if_cancelled()`` (a
  cancellation check only) instead, for reference;
* ``sequential``: ``await Three.run(strategy=td.Sequential())``.

Per node, the 10,000-node layered random DAG of ``_graphs.py``:

* ``plain_loop``: a plain loop awaiting each node in order, with one
  ``checkpoint_if_cancelled()`` per node (what Sequential does per node);
* ``plain_loop_bare``: the same loop without any checkpoint, for reference;
* ``sequential_n``: ``await Layered.run(strategy=td.Sequential())``.

Every round times each workload with the wall clock (``perf_counter``) and
with the thread's CPU time (``thread_time``): on a shared machine the CPU
time leaves out the time other processes held the core, so its ratios are
the steadier ones; both are reported.

Targets (issue 16): ``eager`` at most 1.1x ``raw_nursery``; ``sequential`` at
most 2x ``by_hand``; ``sequential_n`` at most 1.5x ``plain_loop``.

How to run::

    python perf/bench_small_runs.py                   # interleaved -> results/small_runs.json
    python perf/bench_small_runs.py --fast            # fewer rounds
    python perf/bench_small_runs.py --pyperf -o small_pyperf.json [--fast]
    python perf/bench_small_runs.py --smoke           # every workload once, no timing
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

import trio_dag as td

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common  # noqa: E402 - perf/ is not a package
import _graphs  # noqa: E402
import _rawtrio  # noqa: E402

N = 10_000
"""Nodes of the per-node workload."""

TARGETS = {"eager": 1.1, "sequential": 2.0, "sequential_n": 1.5}
FLOOR = {"eager": "raw_nursery", "sequential": "by_hand", "sequential_n": "plain_loop"}
SMALL = ("raw_nursery", "raw_nursery_by_hand", "eager", "by_hand", "by_hand_check", "sequential")
PER_NODE = ("plain_loop", "plain_loop_bare", "sequential_n")
SEQ = td.Sequential()


f = _graphs.f
THREE = [(), (0,), (0,)]
Three = _graphs.dag_of(THREE, f, "Three")
"""The 3-node DAG ``a -> b, a -> c`` (named ``n0``, ``n1``, ``n2``)."""
RAW3 = _rawtrio.compile_graph(THREE)
NAMES3 = [_graphs.name(i) for i in range(3)]


async def raw_nursery() -> list[Any]:
    """``_rawtrio.run`` on the 3-node graph."""
    return await _rawtrio.run(RAW3, f)


async def raw_nursery_by_hand() -> list[Any]:
    """A nursery, one task per node, written for this one graph."""
    values: list[Any] = [None, None, None]

    async def node_a() -> None:
        values[0] = await f()
        spawn(node_b, name="node")
        spawn(node_c, name="node")

    async def node_b() -> None:
        values[1] = await f(values[0])

    async def node_c() -> None:
        values[2] = await f(values[0])

    async with trio.open_nursery() as nursery:
        spawn = nursery.start_soon
        spawn(node_a, name="node")
    return values


async def by_hand() -> list[Any]:
    """The three coroutines awaited in order, a schedule point after each."""
    checkpoint = trio.lowlevel.checkpoint
    va = await f()
    await checkpoint()
    vb = await f(va)
    await checkpoint()
    vc = await f(va)
    await checkpoint()
    return [va, vb, vc]


async def by_hand_check() -> list[Any]:
    """As :func:`by_hand` with a cancellation check instead of a schedule point."""
    check = trio.lowlevel.checkpoint_if_cancelled
    va = await f()
    await check()
    vb = await f(va)
    await check()
    vc = await f(va)
    await check()
    return [va, vb, vc]


async def eager() -> list[Any]:
    r = await Three.run()
    return [r[k] for k in NAMES3]


async def sequential() -> list[Any]:
    r = await Three.run(strategy=SEQ)
    return [r[k] for k in NAMES3]


def per_node_workloads(n: int) -> dict[str, _common.Workload]:
    """The per-node workloads on the ``n``-node layered DAG."""
    parents, dag = _graphs.layered(n)
    order = tuple(tuple(ps) for ps in parents)  # parents come first: an evaluation order

    async def plain_loop() -> list[Any]:
        check = trio.lowlevel.checkpoint_if_cancelled
        values: list[Any] = [None] * n
        for i, ps in enumerate(order):
            values[i] = await f(*[values[p] for p in ps])
            await check()
        return values

    async def plain_loop_bare() -> list[Any]:
        values: list[Any] = [None] * n
        for i, ps in enumerate(order):
            values[i] = await f(*[values[p] for p in ps])
        return values

    async def sequential_n() -> list[Any]:
        r = await dag.run(strategy=SEQ)
        return [r[_graphs.name(i)] for i in range(n)]

    return {
        "plain_loop": plain_loop,
        "plain_loop_bare": plain_loop_bare,
        "sequential_n": functools.partial(dag.run, strategy=SEQ),
        "sequential_n_values": sequential_n,
    }


SMALL_WORK: dict[str, Callable[[], Any]] = {
    "raw_nursery": raw_nursery,
    "raw_nursery_by_hand": raw_nursery_by_hand,
    "eager": functools.partial(Three.run),
    "by_hand": by_hand,
    "by_hand_check": by_hand_check,
    "sequential": functools.partial(Three.run, strategy=SEQ),
}


def smoke(n: int = 300) -> dict[str, list[Any]]:
    """Every workload once (per node: an ``n``-node graph); their values, by kind."""
    big = per_node_workloads(n)

    async def main() -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {
            "raw_nursery": await raw_nursery(),
            "raw_nursery_by_hand": await raw_nursery_by_hand(),
            "eager": await eager(),
            "by_hand": await by_hand(),
            "by_hand_check": await by_hand_check(),
            "sequential": await sequential(),
        }
        for k in ("plain_loop", "plain_loop_bare"):
            out[k] = await big[k]()
        out["sequential_n"] = await big["sequential_n_values"]()
        return out

    return trio.run(main)


async def _interleave(
    rounds: int, batch: int, n: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    big = per_node_workloads(n)
    works: dict[str, tuple[Callable[[], Any], int, int]] = {
        k: (w, batch, batch) for k, w in SMALL_WORK.items()
    }
    works.update({k: (big[k], 1, n) for k in PER_NODE})
    times: dict[str, list[float]] = {k: [] for k in works}
    cpu: dict[str, list[float]] = {k: [] for k in works}
    kinds = list(works)
    for w, _, _ in works.values():  # warm-up
        await w()
    for r in range(rounds):
        order = kinds[r % len(kinds) :] + kinds[: r % len(kinds)]
        for k in order:
            w, loops, per = works[k]
            gc.collect()
            c0 = time.thread_time()
            t0 = time.perf_counter()
            for _ in range(loops):
                await w()
            times[k].append((time.perf_counter() - t0) / per * 1e6)
            cpu[k].append((time.thread_time() - c0) / per * 1e6)
    return times, cpu


def _ratios(med: dict[str, float], low: dict[str, float]) -> dict[str, Any]:
    ratios: dict[str, Any] = {
        k: {
            "floor": FLOOR[k],
            "median_ratio": med[k] / med[FLOOR[k]],
            "min_ratio": low[k] / low[FLOOR[k]],
            "target": TARGETS[k],
        }
        for k in TARGETS
    }
    for k, floor in (
        ("eager", "raw_nursery_by_hand"),
        ("sequential", "by_hand_check"),
        ("sequential_n", "plain_loop_bare"),
    ):
        ratios[f"{k} vs {floor}"] = {
            "floor": floor,
            "median_ratio": med[k] / med[floor],
            "min_ratio": low[k] / low[floor],
        }
    return ratios


def interleaved(rounds: int, batch: int, n: int = N) -> dict[str, Any]:
    """Every workload round-robin in one process: medians, minimums, ratios."""
    load_before = os.getloadavg()
    times, cpu = trio.run(_interleave, rounds, batch, n)
    out: dict[str, Any] = {
        "bench": "small_runs",
        "rounds": rounds,
        "batch": batch,
        "nodes": n,
        "loadavg_before": list(load_before),
        "loadavg_after": list(os.getloadavg()),
    }
    for clock, data in (("wall", times), ("cpu", cpu)):
        med = {k: statistics.median(v) for k, v in data.items()}
        low = {k: min(v) for k, v in data.items()}
        out[clock] = {
            "median_us": {
                **{f"{k} (per run)": med[k] for k in SMALL},
                **{f"{k} (per node)": med[k] for k in PER_NODE},
            },
            "min_us": {
                **{f"{k} (per run)": low[k] for k in SMALL},
                **{f"{k} (per node)": low[k] for k in PER_NODE},
            },
            "ratios": _ratios(med, low),
        }
    return out


def report(out: dict[str, Any]) -> str:
    lines = [
        f"{out['rounds']} interleaved rounds ({out['batch']} small runs per round; "
        f"{out['nodes']:,} nodes per node run); load {out['loadavg_before'][0]:.2f} -> "
        f"{out['loadavg_after'][0]:.2f}",
    ]
    for clock in ("wall", "cpu"):
        c = out[clock]
        lines.append(
            f"{clock}, medians (us): "
            + ", ".join(f"{k} {v:.2f}" for k, v in c["median_us"].items())
        )
        for k, r in c["ratios"].items():
            target = r.get("target")
            mark = "" if target is None else (" ok" if r["median_ratio"] <= target else " MISS")
            lines.append(
                f"  {k} / {r['floor']}: {r['median_ratio']:.2f}x (minimums {r['min_ratio']:.2f}x)"
                + ("" if target is None else f", target <= {target}x{mark}")
            )
    return "\n".join(lines)


def main_pyperf() -> None:
    """pyperf mode: each workload in its own benchmark (per run, or per node)."""
    import pyperf

    def keep_mode(cmd: list[str], args: argparse.Namespace) -> None:
        cmd.append("--pyperf")  # the worker processes run this mode too

    runner = pyperf.Runner(add_cmdline_args=keep_mode)
    runner.argparser.add_argument("--pyperf", action="store_true")
    for k, w in SMALL_WORK.items():
        runner.bench_time_func(f"small_{k}", _common.timer(lambda w=w: w))
    for k in PER_NODE:
        get = functools.partial(lambda k: per_node_workloads(N)[k], k)
        runner.bench_time_func(f"per_node_{k}_{N}", _common.timer(get), inner_loops=N)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--pyperf" in argv:
        main_pyperf()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("-o", "--output", default=str(HERE / "results" / "small_runs.json"))
    args = parser.parse_args(argv)
    if args.smoke:
        out = smoke()
        small = [out[k] for k in SMALL]
        assert all(v == [1, 1, 1] for v in small), "small kinds disagree"
        assert out["plain_loop"] == out["plain_loop_bare"] == out["sequential_n"]
        print("bench_small_runs smoke OK:", ", ".join(out))
        return
    rounds = args.rounds or (11 if args.fast else 31)
    out = interleaved(rounds, batch=500)
    out["command"] = " ".join(["python", "perf/bench_small_runs.py", *argv])
    print(report(out))
    Path(args.output).parent.mkdir(exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
