"""Per-call cost of a placement, beside the same call written by hand.

What it measures: ``N`` sequential calls of a trivial function
(``ident(x) -> x``) from one trio task, per backend, two ways:

* ``raw``: the idiom a user would write by hand on that backend;
* ``td``: the trio_dag placement's ``call(fn, args)``, as the runtime calls it.

Backends (``<backend>_raw`` / ``<backend>_td``):

* ``thread``: ``trio.to_thread.run_sync(ident, x)`` / ``td.InThread().call``;
* ``process``: ``trio_parallel.run_sync(ident, x, kill_on_cancel=True)`` /
  ``td.InProcess().call`` (which pickles the call itself into one payload);
* ``pool``: a ``ThreadPoolExecutor(1)``: ``submit`` then wait on a
  ``trio.Event`` set from a done-callback through the trio token (the
  maintainers' idiom) / ``td.InExecutor(pool).call``;
* ``ppool``: the same with a ``ProcessPoolExecutor(1)`` (spawn) /
  ``td.InExecutor(ppool).call`` (pickled payload);
* ``dask`` (only with ``--dask``): a ``LocalCluster(n_workers=1,
  threads_per_worker=1)``: ``client.get_executor().submit(ident, x,
  pure=False)`` and the same Event idiom / ``td.InExecutor(executor).call``.

Target from issue 11: ``td`` at most 1.1x ``raw`` on every backend.

The machine may be shared and noisy, so ``raw`` and ``td`` calls alternate one
by one in one process (the order of each pair alternating), every call timed
on its own; the script reports the per-call median and minimum of each way
with ``td/raw`` ratios: medians of single calls shrug off load spikes.
``--pyperf`` instead hands each kind to pyperf (``placement_<kind>``, per-call
times via ``inner_loops``); each pyperf worker warms its backend first.

How to run::

    python perf/bench_placement.py -o placement.json          # interleaved
    python perf/bench_placement.py --fast | --rigorous [--dask]
    python perf/bench_placement.py --pyperf --fast -o placement_pyperf.json
    python perf/bench_placement.py --smoke        # each kind a few calls, no pyperf
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import gc
import json
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import trio
import trio_parallel

import trio_dag as td

BACKENDS = ("thread", "process", "pool", "ppool")
CALLS = {"thread": 200, "process": 100, "pool": 200, "ppool": 100, "dask": 20}
"""Calls per timed batch, by backend."""
ROUNDS = {"smoke": 1, "fast": 10, "default": 30, "rigorous": 100}
TARGET = 1.1

Call = Callable[[int], Awaitable[Any]]


def ident(x: int) -> int:
    """The placed function: as cheap as a call can be, so only overhead is left."""
    return x


async def wait_by_hand(future: cf.Future[Any]) -> Any:
    """The hand-written idiom: a done-callback sets an Event through the trio token."""
    done = trio.Event()
    token = trio.lowlevel.current_trio_token()
    future.add_done_callback(lambda _: token.run_sync_soon(done.set))
    await done.wait()
    return future.result()


@contextlib.contextmanager
def backends(dask: bool) -> Iterator[dict[str, tuple[Call, Call]]]:
    """``{backend: (raw_call, td_call)}``, each awaiting one call of ``ident(x)``."""
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(cf.ThreadPoolExecutor(1))
        ppool = stack.enter_context(
            cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        )
        thread, process = td.InThread(), td.InProcess()
        in_pool, in_ppool = td.InExecutor(pool), td.InExecutor(ppool)
        to_thread, tp_run = trio.to_thread.run_sync, trio_parallel.run_sync
        out: dict[str, tuple[Call, Call]] = {
            "thread": (lambda x: to_thread(ident, x), lambda x: thread.call(ident, (x,))),
            "process": (
                lambda x: tp_run(ident, x, kill_on_cancel=True),
                lambda x: process.call(ident, (x,)),
            ),
            "pool": (
                lambda x: wait_by_hand(pool.submit(ident, x)),
                lambda x: in_pool.call(ident, (x,)),
            ),
            "ppool": (
                lambda x: wait_by_hand(ppool.submit(ident, x)),
                lambda x: in_ppool.call(ident, (x,)),
            ),
        }
        if dask:
            import distributed

            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=1,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0",  # a free port: another cluster may hold 8787
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
            ex = client.get_executor()
            in_dask = td.InExecutor(ex)
            out["dask"] = (
                lambda x: wait_by_hand(ex.submit(ident, x, pure=False)),
                lambda x: in_dask.call(ident, (x,), node="ident"),
            )
        yield out


async def batch(call: Call, n: int) -> float:
    """Seconds for ``n`` sequential calls."""
    t0 = time.perf_counter()
    for x in range(n):
        await call(x)
    return time.perf_counter() - t0


async def _interleave(
    calls: dict[str, tuple[Call, Call]], rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Per-call seconds of every kind; raw and td calls alternate one by one."""
    times: dict[str, dict[str, list[float]]] = {b: {"raw": [], "td": []} for b in calls}
    clock = time.perf_counter
    for raw, placed in calls.values():  # warm-up: start workers, import modules in them
        for call in (raw, placed):
            assert await call(7) == 7
            await batch(call, 3)
    for r in range(rounds):
        for b, (raw, placed) in calls.items():
            gc.collect()
            t_raw, t_td = times[b]["raw"], times[b]["td"]
            for x in range(CALLS[b]):
                # pairs, the order alternating: load drift hits both ways alike
                first, second = (raw, placed) if (x + r) % 2 else (placed, raw)
                t0 = clock()
                await first(x)
                t1 = clock()
                await second(x)
                t2 = clock()
                if first is raw:
                    t_raw.append(t1 - t0)
                    t_td.append(t2 - t1)
                else:
                    t_td.append(t1 - t0)
                    t_raw.append(t2 - t1)
    return times


def interleaved(effort: str, dask: bool) -> dict[str, Any]:
    """Every kind round-robin in one process; per-call µs and td/raw ratios."""
    rounds = ROUNDS[effort]
    load_before = os.getloadavg()
    with backends(dask) as calls:
        times = trio.run(_interleave, calls, rounds)
    out: dict[str, Any] = {
        "bench": "placement",
        "loadavg": [load_before, os.getloadavg()],
        "effort": effort,
        "rounds": rounds,
        "target": TARGET,
        "backends": {},
    }
    for b, t in times.items():
        med = {w: statistics.median(v) * 1e6 for w, v in t.items()}
        low = {w: min(v) * 1e6 for w, v in t.items()}
        ratio = med["td"] / med["raw"]
        out["backends"][b] = {
            "calls_per_batch": CALLS[b],
            "median_us_per_call": med,
            "min_us_per_call": low,
            "median_ratio": ratio,
            "min_ratio": low["td"] / low["raw"],
        }
        mark = "ok" if ratio <= TARGET else "MISS"
        print(
            f"{b:<8} raw {med['raw']:9.1f} us  td {med['td']:9.1f} us  "
            f"ratio {ratio:.3f}x [min {low['td'] / low['raw']:.3f}x]  "
            f"(target <= {TARGET}x) {mark}",
            flush=True,
        )
    return out


def main_pyperf(effort_args: list[str], dask: bool) -> None:
    import pyperf

    runner = pyperf.Runner()
    runner.parse_args(effort_args)
    names = [*BACKENDS, "dask"] if dask else list(BACKENDS)
    for b in names:
        for i, way in enumerate(("raw", "td")):

            def time_func(loops: int, b: str = b, i: int = i) -> float:
                async def main() -> float:
                    with backends(b == "dask") as calls:
                        call = calls[b][i]
                        await batch(call, 3)  # warm-up: a worker for this trio.run
                        return await batch(call, loops * CALLS[b])

                return trio.run(main)

            runner.bench_time_func(f"placement_{b}_{way}", time_func, inner_loops=CALLS[b])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group()
    for flag in ("--fast", "--rigorous", "--smoke"):
        group.add_argument(flag, action="store_true")
    parser.add_argument("--dask", action="store_true", help="also a Dask LocalCluster")
    parser.add_argument("--pyperf", action="store_true", help="measure with pyperf instead")
    parser.add_argument("-o", "--output", help="write the JSON summary to this file")
    if "--pyperf" in argv:
        rest = [a for a in argv if a not in ("--pyperf", "--dask")]
        sys.argv[1:] = rest
        main_pyperf(rest, "--dask" in argv)
        return
    args = parser.parse_args(argv)
    effort = (
        "smoke"
        if args.smoke
        else "fast"
        if args.fast
        else "rigorous"
        if args.rigorous
        else "default"
    )
    if args.smoke:
        CALLS.update(dict.fromkeys(CALLS, 2))
    out = interleaved(effort, args.dask)
    if args.smoke:
        print("bench_placement smoke OK:", ", ".join(out["backends"]))
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(out, fh, indent=2)
            fh.write("\n")


if __name__ == "__main__":
    main()
