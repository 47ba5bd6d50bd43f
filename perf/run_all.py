"""Run every benchmark in ``perf/`` and print one summary table.

What it runs (each as its own process, from the repository root or anywhere):

* ``bench_build.py`` (pyperf) -> ``perf/results/build.json``
* ``bench_overhead.py`` (pyperf) -> ``perf/results/overhead.json``
* ``bench_overhead.py --interleaved`` -> ``perf/results/overhead_interleaved.json``
* ``bench_recovery.py`` -> ``perf/results/recovery.json``
* ``bench_stream.py``, ``bench_peers.py``, ``bench_heavy_peers.py`` (Prefect
  and Ray, when the ``peers`` group is installed), ``bench_memory.py``,
  ``bench_fanout.py``, ``bench_levels.py``, ``bench_workflows.py``,
  ``bench_placement.py``, ``bench_cpu_pipeline.py``, ``bench_remote_tasks.py``,
  ``bench_store.py``, ``bench_tuning.py``, ``bench_small_runs.py`` -> their own
  ``perf/results/*.json``, then ``report.py`` -> ``docs/performance.md``

then prints (and writes to ``perf/results/summary.txt``): per-node µs of every
strategy at every size with its ratio to the raw trio scheduler (pyperf means,
and the interleaved medians, which resist load drift on a shared machine), the
build ratio trio_dag / graphlib, the retry latency p50/p99 and the one_for_all
restart cost, each beside the issue's target.

How to run::

    python perf/run_all.py --fast              # quicker pyperf settings
    python perf/run_all.py --rigorous
    python perf/run_all.py --sizes 1000,10000  # fewer sizes
    python perf/run_all.py --smoke             # every benchmark once, tiny: CI check
    python perf/run_all.py --summary-only      # re-print the table from results/
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyperf

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
STRATEGIES = ("sequential", "levels", "eager", "eager_limit100", "eager_retry3")
# ratio-to-raw targets at 10,000 nodes (from the issue)
TARGETS = {
    "sequential": 0.5,
    "levels": 1.2,
    "eager": 1.2,
    "eager_limit100": 1.3,
    "eager_retry3": 1.3,
}
BUILD_TARGET = 5.0


CORE = ("bench_build.py", "bench_overhead.py", "bench_recovery.py")
EXTRA = (
    "bench_stream.py",
    "bench_peers.py",
    "bench_heavy_peers.py",
    "bench_memory.py",
    "bench_fanout.py",
    "bench_levels.py",
    "bench_workflows.py",
    "bench_placement.py",
    "bench_cpu_pipeline.py",
    "bench_remote_tasks.py",
    "bench_store.py",
    "bench_tuning.py",
    "bench_small_runs.py",
)


def run(script: str, *args: str) -> None:
    """Run ``perf/<script>`` with this interpreter; stop on failure."""
    cmd = [sys.executable, str(HERE / script), *args]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=HERE)


def pyperf_means(path: Path) -> dict[str, float]:
    """Benchmark name -> mean (seconds) from a pyperf JSON file."""
    suite = pyperf.BenchmarkSuite.load(str(path))
    return {b.get_name(): b.mean() for b in suite.get_benchmarks()}


def _sizes_of(names: Any, prefix: str) -> list[int]:
    return sorted({int(k.rsplit("_", 1)[1]) for k in names if k.startswith(prefix)})


def _mark(ratio: float, target: float | None) -> str:
    if target is None:
        return ""
    return " ok" if ratio <= target else " MISS"


def summary() -> str:
    """The summary table from whatever is in ``perf/results/``."""
    lines: list[str] = []
    add = lines.append
    over = RESULTS / "overhead.json"
    if over.exists():
        m = pyperf_means(over)
        sizes = _sizes_of(m, "overhead_raw_")
        add("Per-node engine cost, pyperf means (us/node, ratio to raw trio in the same run)")
        add(f"{'strategy':<16}" + "".join(f"{n:>22,}" for n in sizes) + "   target@10k")
        for kind in ("raw", *STRATEGIES):
            row = f"{kind:<16}"
            for n in sizes:
                us = m[f"overhead_{kind}_{n}"] * 1e6
                ratio = us / (m[f"overhead_raw_{n}"] * 1e6)
                mark = _mark(ratio, TARGETS.get(kind)) if n == 10_000 else ""
                row += f"{f'{us:.2f} ({ratio:.2f}x){mark}':>22}"
            add(row + (f"   <= {TARGETS[kind]}x" if kind in TARGETS else ""))
        add("")
    inter = RESULTS / "overhead_interleaved.json"
    if inter.exists():
        data = json.loads(inter.read_text())["sizes"]
        sizes = sorted(int(n) for n in data)
        add("Per-node engine cost, interleaved medians (us/node, ratio; [ratio of minimums])")
        add(f"{'strategy':<16}" + "".join(f"{n:>30,}" for n in sizes))
        for kind in ("raw", *STRATEGIES):
            row = f"{kind:<16}"
            for n in sizes:
                d = data[str(n)]
                us = d["median_us_per_node"][kind]
                ratio = d["median_ratio_to_raw"][kind]
                mark = _mark(ratio, TARGETS.get(kind)) if n == 10_000 else ""
                cell = f"{us:.2f} ({ratio:.2f}x) [{d['min_ratio_to_raw'][kind]:.2f}x]{mark}"
                row += f"{cell:>30}"
            add(row)
        add("")
    build = RESULTS / "build.json"
    if build.exists():
        m = pyperf_means(build)
        add("Build + validate (ms), trio_dag vs graphlib")
        for n in _sizes_of(m, "build_graphlib_"):
            t, g = m[f"build_trio_dag_{n}"] * 1e3, m[f"build_graphlib_{n}"] * 1e3
            target = BUILD_TARGET if n == 100_000 else None
            add(
                f"  {n:>8,} nodes: trio_dag {t:9.2f}  graphlib {g:8.2f}  ratio {t / g:5.2f}x"
                + (f"  (target <= {BUILD_TARGET}x){_mark(t / g, target)}" if target else "")
            )
        add("")
    rec = RESULTS / "recovery.json"
    if rec.exists():
        r = json.loads(rec.read_text())
        a, b = r["retry_latency"], r["one_for_all_restart"]
        add(
            f"Retry latency, exception -> next attempt ({a['samples']} samples): "
            f"p50 {a['p50_us']:.1f} us, p99 {a['p99_us']:.1f} us, max {a['max_us']:.0f} us "
            f"(target p99 <= {a['target_p99_us']} us){_mark(a['p99_us'], a['target_p99_us'])}"
        )
        add(
            f"one_for_all restart of a {b['level_nodes']:,}-node level: "
            f"{b['cost_ms']:.1f} ms (median {b['median_failing_ms']:.1f} - "
            f"{b['median_baseline_ms']:.1f} ms; minimums: {b['cost_min_ms']:.1f} ms) "
            f"(target <= {b['target_ms']} ms){_mark(b['cost_ms'], b['target_ms'])}"
        )
    store = RESULTS / "store.json"
    if store.exists():
        s = json.loads(store.read_text())
        r, k = s["rounds"], s["kill_to_resumed"]
        t = r["targets"]
        add(
            f"Store ({r['nodes']:,} nodes, medians): journaling {r['journal_ratio']:.2f}x a run "
            f"without a store (target <= {t['journal']}x){_mark(r['journal_ratio'], t['journal'])}"
            f"; cache hit {r['cache_hit_ratio']:.2f}x a plain node (target <= "
            f"{t['cache_hit']}x){_mark(r['cache_hit_ratio'], t['cache_hit'])}; kill -9 -> "
            f"resumed: {k['kill_to_first_body_ms']:.0f} ms (restore {k['restore_ms']:.0f} ms)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run every trio_dag benchmark.")
    group = parser.add_mutually_exclusive_group()
    for flag in ("--fast", "--rigorous", "--smoke", "--summary-only"):
        group.add_argument(flag, action="store_true")
    parser.add_argument("--sizes", help="comma-separated node counts (build and overhead)")
    args = parser.parse_args(argv)
    if args.smoke:
        for script in (*CORE, *EXTRA):
            run(script, "--smoke")
        print("smoke: every benchmark ran")
        return
    if not args.summary_only:
        RESULTS.mkdir(exist_ok=True)
        effort = ["--fast"] if args.fast else ["--rigorous"] if args.rigorous else []
        sizes = ["--sizes", args.sizes] if args.sizes else []
        for script, out, extra in (
            ("bench_build.py", "build.json", []),
            ("bench_overhead.py", "overhead.json", []),
        ):
            (RESULTS / out).unlink(missing_ok=True)  # pyperf refuses to overwrite
            run(script, *effort, *sizes, *extra, "--quiet", "-o", str(RESULTS / out))
        out = str(RESULTS / "overhead_interleaved.json")
        run("bench_overhead.py", "--interleaved", *effort, *sizes, "-o", out)
        run("bench_recovery.py", *effort, "-o", str(RESULTS / "recovery.json"))
        # each schedule against its own hand-written floor (work-first, per level, bounded)
        kinds = "eager,levels,eager_limit100,eager_retry3,sequential"
        out = str(RESULTS / "workfirst.json")
        run(
            "bench_overhead.py",
            "--interleaved",
            *effort,
            "--sizes",
            "10000",
            "--kinds",
            kinds,
            "-o",
            out,
        )
        out = str(RESULTS / "memory_waiting.json")
        run(
            "bench_memory.py",
            "--sizes",
            "100000",
            "--no-rss",
            "--label",
            "memory_waiting",
            "-o",
            out,
        )
        fast = ["--fast"] if args.fast else []
        (RESULTS / "stream.json").unlink(missing_ok=True)
        run("bench_stream.py", "--fast", "--quiet", "-o", str(RESULTS / "stream.json"))
        out = str(RESULTS / "stream_memory.json")
        run("bench_stream.py", "--memory", "-o", out)  # 100,000 and 1,000,000 items
        out = str(RESULTS / "stream_floor.json")
        run("bench_stream.py", "--floor", "--items", "2000", "--rounds", "20", "-o", out)
        run("bench_peers.py", "--interleaved", "--sizes", "1000,10000", *fast)
        run("bench_heavy_peers.py", *fast)  # Prefect, Ray (the `peers` group) beside the rest
        run("bench_memory.py")  # up to 1,000,000 nodes in flight, a subprocess each
        run("bench_fanout.py", *fast)
        run("bench_levels.py", *fast)
        run("bench_workflows.py", *fast)
        run("bench_placement.py", *fast, "--dask", "-o", str(RESULTS / "placement.json"))
        run("bench_cpu_pipeline.py", *fast, "--dask", "-o", str(RESULTS / "cpu_pipeline.json"))
        run("bench_remote_tasks.py", *fast, "-o", str(RESULTS / "remote_tasks.json"))
        run("bench_store.py", *fast, "-o", str(RESULTS / "store.json"))
        run("bench_tuning.py", "-o", str(RESULTS / "tuning.json"))
        run("bench_small_runs.py", *fast, "-o", str(RESULTS / "small_runs.json"))
        run("report.py")  # docs/performance.md and docs/_static/perf_scaling.svg
    text = summary()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "summary.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
