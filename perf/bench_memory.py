"""Peak memory per in-flight node: N nodes all waiting at once, trio_dag beside raw trio.

What it measures: a ``td.DAG.from_nodes`` DAG of N independent nodes, each of
which waits on one shared ``trio.Event`` that the N-th node to start sets (so at
the peak all N are in flight at once), run under ``Parallel(schedule="eager")``
(``eager``) and ``Parallel(schedule="levels")`` (``levels``: one level of N
nodes); the same N waiters under the hand-written trio scheduler
``_rawtrio.run`` (``raw``: its wrapper coroutine holds seven closure cells);
and ``bare``: N bare trio tasks running the same body, ``nursery.start_soon(gate)``
(the floor of issue 16: a waiting node at most 1.15x a bare task).

For N = 10,000 / 100,000 / 1,000,000 each (kind, N) runs in a fresh
subprocess, twice:

* ``tracemalloc`` (N <= 100,000 only: tracing 1,000,000 tasks takes minutes):
  peak traced memory during the run minus the traced memory just before it
  (everything built, ``trio.run`` already running: the empty-run baseline);
* RSS: the kernel's peak RSS (``VmHWM``, reset through ``/proc/self/clear_refs``
  just before the run; without it, ``ru_maxrss``) minus the RSS just before
  the run.

Both are divided by N. Target (the "Performance proof" issue): the
1,000,000-node run completes, at most 2.5 KB per in-flight node above baseline.

How to run::

    python perf/bench_memory.py                 # all N, writes perf/results/memory.json
    python perf/bench_memory.py --sizes 10000,100000 -o out.json
    python perf/bench_memory.py --sizes 100000 --no-rss -o perf/results/memory_waiting.json
    python perf/bench_memory.py --smoke         # tiny N in-process, values checked
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import _common
import _rawtrio
import trio
from peers import harness

import trio_dag as td

SIZES = (10_000, 100_000, 1_000_000)
KINDS = ("bare", "raw", "eager", "levels")
TRACE_MAX = 100_000
"""Largest N measured with tracemalloc."""


class Gate:
    """The node body: wait until ``n`` nodes have started (the ``n``-th opens the gate)."""

    __slots__ = ("event", "n", "peak", "started")

    def __init__(self, n: int) -> None:
        self.n = n
        self.started = 0
        self.peak = 0
        self.event: trio.Event | None = None

    def reset(self) -> None:
        """Arm the gate for a new run (call inside ``trio.run``)."""
        self.started = 0
        self.event = trio.Event()

    async def __call__(self, *deps: Any) -> int:
        assert self.event is not None
        self.started += 1
        if self.started == self.n:
            self.peak = self.started
            self.event.set()
        else:
            await self.event.wait()
        return 1


def workload(kind: str, n: int) -> tuple[Gate, Callable[[], Awaitable[Any]]]:
    """The gate and the awaitable factory of one run of ``kind`` with ``n`` waiters."""
    gate = Gate(n)
    if kind == "bare":

        async def bare() -> None:
            async with trio.open_nursery() as nursery:
                for _ in range(n):
                    nursery.start_soon(gate)

        return gate, bare
    if kind == "raw":
        g = _rawtrio.compile_graph([()] * n)
        return gate, lambda: _rawtrio.run(g, gate)
    dag = td.DAG.from_nodes(f"inflight{n}", [td.Node(f"w{i}", gate) for i in range(n)])
    strategy = td.Parallel(schedule="eager" if kind == "eager" else "levels")
    return gate, lambda: dag.run(strategy=strategy)


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")  # pragma: no cover


def _hwm_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")  # pragma: no cover


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def measure(kind: str, n: int, how: str) -> dict[str, Any]:
    """One run of ``kind`` with ``n`` waiters in this process; bytes above baseline."""
    gate, make = workload(kind, n)
    gc.collect()

    async def main() -> dict[str, Any]:
        gate.reset()
        # A tiny run first, so lazily created runtime state is in the baseline.
        warm, warm_make = workload(kind, 2)
        warm.reset()
        await warm_make()
        gc.collect()
        gate.reset()
        if how == "tracemalloc":
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            t0 = time.perf_counter()
            await make()
            dt = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1]
            return {"bytes_above_baseline": peak - base, "seconds": dt}
        reset = _reset_hwm()
        base_rss = _rss_kb()
        base_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        await make()
        dt = time.perf_counter() - t0
        peak = _hwm_kb() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "bytes_above_baseline": (peak - base_rss) * 1024,
            "seconds": dt,
            "hwm_reset": reset,
            "baseline_rss_kb": base_rss,
            "ru_maxrss_kb_before": base_max,
            "ru_maxrss_kb_after": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }

    if how == "tracemalloc":
        tracemalloc.start()
    try:
        out = trio.run(main)
    finally:
        if how == "tracemalloc":
            tracemalloc.stop()
    if gate.peak != n:
        raise AssertionError(f"{kind}: {gate.peak} of {n} nodes in flight at once")
    out["in_flight"] = gate.peak
    out["bytes_per_node"] = out["bytes_above_baseline"] / n
    return out


def child(kind: str, n: int, how: str, timeout: float = 1200.0) -> dict[str, Any]:
    """``measure`` in a fresh subprocess."""
    cmd = [sys.executable, __file__, "--child", kind, str(n), how]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def run_all(
    sizes: tuple[int, ...],
    hows: tuple[str, ...] = ("tracemalloc", "rss"),
    label: str = "memory",
) -> dict[str, Any]:
    """Every (kind, N, method) in its own subprocess; the JSON summary."""
    out: dict[str, Any] = {
        "bench": label,
        "unit": "bytes per in-flight node above the empty-run baseline",
        "machine": harness.machine(),
        "sizes": {},
    }
    for n in sizes:
        row: dict[str, Any] = {}
        for kind in KINDS:
            row[kind] = {}
            for how in hows:
                if how == "tracemalloc" and n > TRACE_MAX:
                    continue
                r = child(kind, n, how)
                row[kind][how] = r
                per = r.get("bytes_per_node")
                shown = f"{per:,.0f} B/node" if per is not None else r["error"]
                bare = row["bare"].get(how, {}).get("bytes_per_node")
                if per is not None and bare:
                    shown += f" ({per / bare:.2f}x bare)"
                print(f"n={n:,} {kind:6} {how:11} {shown}", flush=True)
        for how in hows:
            bare = row["bare"].get(how, {}).get("bytes_per_node")
            if bare:
                row.setdefault("ratio_to_bare", {})[how] = {
                    k: row[k][how]["bytes_per_node"] / bare
                    for k in KINDS
                    if "bytes_per_node" in row[k].get(how, {})
                }
        out["sizes"][str(n)] = row
    return out


def smoke(n: int = 500) -> dict[str, int]:
    """Every kind once with ``n`` waiters, in-process; in-flight peak by kind."""
    peaks = {}
    for kind in KINDS:
        gate, make = workload(kind, n)

        async def main(gate: Gate = gate, make: Callable[[], Awaitable[Any]] = make) -> None:
            with trio.fail_after(30):
                gate.reset()
                await make()

        trio.run(main)
        peaks[kind] = gate.peak
    return peaks


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["--child"]:
        print(json.dumps(measure(argv[1], int(argv[2]), argv[3])))
        return
    if _common.smoke_requested():
        peaks = smoke()
        assert all(p == 500 for p in peaks.values()), peaks
        m = measure("eager", 500, "tracemalloc")
        assert m["bytes_per_node"] > 0, m
        print("bench_memory smoke OK:", peaks)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=_common.parse_sizes, default=SIZES)
    ap.add_argument("--rss", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("-o", "--output", default=str(harness.RESULTS / "memory.json"))
    # memory_waiting: the performance page's waiting-node figure (100,000, tracemalloc)
    ap.add_argument("--label", default="memory", help="the result's 'bench' field")
    args = ap.parse_args(argv)
    hows = ("tracemalloc", "rss") if args.rss else ("tracemalloc",)
    harness.write_json(run_all(args.sizes, hows, args.label), Path(args.output))


if __name__ == "__main__":
    main()
