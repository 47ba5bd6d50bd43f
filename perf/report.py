"""Write docs/performance.md and docs/_static/perf_scaling.svg from perf/results/*.json.

What it reads: every JSON file in ``perf/results/`` (or ``--results``):

* the side-by-side summaries written by ``bench_peers.py --interleaved``
  (``peers_interleaved.json``), ``bench_heavy_peers.py`` (``peers_anchors.json``:
  Prefect and Ray beside the rest), ``bench_memory.py`` (``memory.json``),
  ``bench_fanout.py`` (``fanout.json``), ``bench_levels.py`` (``levels.json``)
  and ``bench_workflows.py`` (``workflows.json``); ``workfirst.json``
  (``bench_overhead.py --interleaved --kinds ...``, labelled ``"bench":
  "workfirst"``) and ``memory_waiting.json`` (``bench_memory.py --no-rss``,
  labelled ``"memory_waiting"``) for the work-first section;
* any pyperf JSON file (``python perf/bench_*.py -o perf/results/NAME.json``,
  e.g. the other ``bench_*`` scripts'): one table per file, per inner loop
  (per node where the script says so), with the ratio to the ``raw`` benchmark
  of the same size where there is one;
* any other summary with ``sizes -> {median_us_per_node: ...}`` (e.g.
  ``bench_overhead.py --interleaved -o ...``).

It measures nothing. Regenerate both outputs with::

    python perf/report.py [--results perf/results] [--out docs/performance.md]
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "perf" / "results"
OUT = ROOT / "docs" / "performance.md"
SVG = ROOT / "docs" / "_static" / "perf_scaling.svg"

TARGETS = {
    "dask": 10.0,  # td_eager at least 10x faster per node than dask_sync at 10,000 nodes
    "memory_bytes": 2500.0,  # per in-flight node at 1,000,000
    "fanout_eps": 100_000.0,  # elements per second
    "barrier_us": 50.0,  # per level barrier
    "placement_call": 1.1,  # a placed call vs the same call written by hand
    "cpu_process_inline": 0.65,  # InProcess chunked vs inline, 10,000-record pipeline
    "remote_tasks": 1.2,  # 1,000 tiny tasks through trio_dag vs client.map + gather
    "own_floor": 1.15,  # issue 16: eager, levels, eager_limit100 vs their own floor
    "waiting_node": 1.15,  # issue 16: a waiting node's memory vs a bare trio task
}

PLACEMENT = ("placement", "cpu_pipeline", "remote_tasks")
"""The ``bench`` kinds of the placement benchmarks' summaries."""

COLORS = {
    "raw": "#000000",
    "td_sequential": "#1f77b4",
    "td_eager": "#2ca02c",
    "asyncio": "#9467bd",
    "dask_sync": "#d62728",
    "dask_threaded": "#ff7f0e",
    "pipefunc": "#8c564b",
    "hamilton": "#e377c2",
}


def us(x: float | None) -> str:
    """A time in µs, three significant figures."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.3g}" if x < 1000 else f"{x:,.0f}"


def ratio(x: float | None) -> str:
    """A ratio like ``1.12x``."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.2f}x" if x < 100 else f"{x:,.0f}x"


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table."""
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]


def load(folder: Path) -> dict[str, Any]:
    """Every JSON file of ``folder``, by file stem."""
    out: dict[str, Any] = {}
    for p in sorted(folder.glob("*.json")):
        try:
            out[p.stem] = json.loads(p.read_text())
        except ValueError:
            continue
    return out


def verdict(ok: bool | None) -> str:
    """Met / missed."""
    return "-" if ok is None else ("**met**" if ok else "**missed**")


# ------------------------------------------------------------ sections


def peers_section(d: Mapping[str, Any], lines: list[str], targets: list[list[str]]) -> None:
    lines += [
        "## Engine cost per node, beside peers",
        "",
        "Layered random DAG (width 100, two random parents per node, every node returns",
        "a constant), one whole run per measurement, all contenders round-robin in one",
        "process (`bench_peers.py --interleaved`). Median µs per node over the rounds;",
        "*vs raw* is the ratio to the hand-written trio scheduler measured in the same",
        "rounds; *vs td_eager* / *vs td_sequential* is how many times the contender's",
        "cost is trio_dag's (above 1: trio_dag is faster). Dask, pipefunc and Hamilton",
        "run plain functions (no event loop); Hamilton and pipefunc's `run` and Dask's",
        "synchronous scheduler run one node at a time, so `td_sequential` is their",
        "like-for-like. `asyncio` is a TaskGroup driven by `graphlib.TopologicalSorter`",
        "(the sorter, single-use, is built in each run). Graph building is never timed.",
        "",
    ]
    for n, s in d["sizes"].items():
        med, low, iqr = s["median_us"], s["min_us"], s.get("iqr_us", {})
        eager = med.get("td_eager")
        seq = med.get("td_sequential")
        rows = [
            [
                f"`{k}`",
                us(med[k]),
                us(low[k]),
                us(iqr.get(k)),
                ratio(med[k] / med["raw"]),
                ratio(med[k] / eager) if eager else "-",
                ratio(med[k] / seq) if seq else "-",
            ]
            for k in sorted(med, key=lambda k: med[k])
        ]
        lines += [f"### {int(n):,} nodes ({s['rounds']} rounds)", ""]
        lines += table(
            [
                "contender",
                "median µs/node",
                "min µs/node",
                "IQR µs",
                "vs raw",
                "vs td_eager",
                "vs td_sequential",
            ],
            rows,
        )
        for k, why in s.get("skipped", {}).items():
            lines.append(f"- `{k}` not run: {why}")
        if s.get("skipped"):
            lines.append("")
        if n == "10000" and "dask_sync" in med and eager:
            r = med["dask_sync"] / eager
            targets.append(
                [
                    "td_eager vs dask_sync per node, 10,000 nodes",
                    ">= 10x faster",
                    f"{r:.1f}x",
                    f"raw {us(med['raw'])}, td_eager {us(eager)}, "
                    f"dask_sync {us(med['dask_sync'])} µs/node",
                    verdict(r >= TARGETS["dask"]),
                ]
            )
    if "versions" in d:
        vs = ", ".join(f"{k} {v}" for k, v in d["versions"].items())
        lines += [f"Versions: {vs}.", ""]
    lines += ["![per-node cost vs graph size](_static/perf_scaling.svg)", ""]


ANCHOR_NAMES = {
    "raw": "hand-written trio scheduler, one task per node (the floor)",
    "td_sequential": "trio_dag, `Sequential()`",
    "td_eager": "trio_dag, `Parallel()` (eager)",
    "asyncio": "hand-written asyncio: `TaskGroup` + `graphlib.TopologicalSorter`",
    "hamilton": "Hamilton, driver `execute`",
    "dask_sync": "Dask, synchronous scheduler (`dask.get`)",
    "dask_threaded": "Dask, threaded scheduler (`dask.threaded.get`)",
    "pipefunc": "pipefunc, `Pipeline.run`",
    "ray": "Ray, one remote task per node, local one-node cluster (`num_cpus=2`)",
    "prefect": "Prefect 3, a flow submitting one task per node, ephemeral local server",
}
"""What each contender of ``peers_anchors.json`` is, for the comparison table."""


def anchors_section(d: Mapping[str, Any], lines: list[str]) -> None:
    """Every engine a user would pick instead, heavy peers included (``bench_heavy_peers.py``)."""
    sizes = list(d["sizes"])
    base = d.get("base", "td_eager")
    lines += [
        "## Every engine side by side, Prefect and Ray included",
        "",
        "The engines a user would pick instead of trio_dag, on the same layered graph",
        "as above but small, because Prefect and Ray cost milliseconds per node: one",
        "whole run per measurement, all contenders round-robin in one process. Each",
        "heavy peer runs at one size, where a run takes seconds (Prefect at 200 nodes,",
        "Ray at 1,000), with only its own server or cluster up; the others at every size",
        "they fit, so each ratio to `td_eager` is taken at the same size in the same",
        "rounds. A fast contender repeats its run within one measurement (at least",
        "50 ms) and its figure is per run. Start-up (importing the package, starting",
        "Ray's local cluster or Prefect's ephemeral server) is timed once, apart, and",
        "is not in the per-node figures; a Prefect run is one flow run, so its fixed",
        "cost (an empty flow run, in the start-up column) is. Median (and minimum) µs",
        f"per node over the rounds; *x* is the ratio of the medians to `{base}` (above",
        "1: trio_dag is faster).",
        "",
        f"Command: `{d.get('command', 'python perf/bench_heavy_peers.py')}`.",
        "Load average (1, 5, 15 min) on the shared 2-core machine:",
        f"{_load(d.get('load_before'))} before, {_load(d.get('load_after'))} after. Above 2,",
        "every figure is inflated and the rounds spread (compare medians and minimums):",
        "read orders of magnitude, or re-run on a quiet machine.",
        "",
    ]
    kinds: list[str] = []
    for s in d["sizes"].values():
        kinds += [k for k in s["median_us"] if k not in kinds]
    last = {
        k: [s["median_us"][k] for s in d["sizes"].values() if k in s["median_us"]][-1]
        for k in kinds
    }
    rows = []
    for k in sorted(kinds, key=lambda k: last[k]):
        row = [f"`{k}`", ANCHOR_NAMES.get(k, "")]
        for n in sizes:
            s = d["sizes"][n]
            med, low = s["median_us"], s.get("min_us", {})
            if k in med:
                x = med[k] / med[base] if base in med else None
                row.append(f"{us(med[k])} ({us(low.get(k))}), {ratio(x)}")
            else:
                row.append("-")
        start = d.get("startup_s", {}).get(k)
        row.append(
            ", ".join(f"{p.replace('_', ' ')} {v:.1f} s" for p, v in start.items())
            if start
            else "-"
        )
        rows.append(row)
    head = [
        "contender",
        "what",
        *(f"{int(n):,} nodes: median (min) µs/node, x" for n in sizes),
        "start-up",
    ]
    lines += table(head, rows)
    for n in sizes:
        for k, why in d["sizes"][n].get("skipped", {}).items():
            lines.append(f"- {int(n):,} nodes, `{k}` not run: {why}")
    if any(s.get("skipped") for s in d["sizes"].values()):
        lines.append("")
    if "versions" in d:
        vs = ", ".join(f"{k} {v}" for k, v in d["versions"].items())
        lines += [f"Versions: {vs}.", ""]


def _load(avg: Any) -> str:
    return "/".join(f"{x:.1f}" for x in avg) if avg else "-"


def memory_section(d: Mapping[str, Any], lines: list[str], targets: list[list[str]]) -> None:
    lines += [
        "## Memory per in-flight node",
        "",
        "N independent nodes all waiting on one shared `trio.Event` (set by the N-th to",
        "start), so all N are in flight at once; bytes above the baseline (everything",
        "built, `trio.run` running) divided by N, each (kind, N) in a fresh subprocess",
        "(`bench_memory.py`). *tracemalloc*: peak traced memory; *RSS*: peak RSS",
        "(VmHWM reset before the run). `raw` is the floor with the same node body.",
        "The floor with this body (a coroutine parked in `Event.wait`: task, context,",
        "three coroutine frames, a parking-lot entry) is itself about 2.5 KB, above the",
        "~1.9 KB of a bare waiting task; *RSS above raw* is what trio_dag adds per node.",
        "It is negative in the latest run: trio_dag's traced memory (tracemalloc) equals",
        "the floor's within 1%, and its peak RSS is lower, an allocator effect not traced",
        "further. `bare` is a bare task waiting on the same event: the floor",
        "of the per-node memory target; *RSS vs bare* is each kind's ratio to it.",
        "",
    ]
    rows = []
    for n, row in d["sizes"].items():
        raw_rss = row.get("raw", {}).get("rss", {}).get("bytes_per_node")
        to_bare = row.get("ratio_to_bare", {}).get("rss", {})
        for kind, ms in row.items():
            if kind == "ratio_to_bare":  # a summary of the kinds, not a kind
                continue
            t = ms.get("tracemalloc", {})
            r = ms.get("rss", {})
            err = t.get("error") or r.get("error")
            rows.append(
                [
                    f"{int(n):,}",
                    f"`{kind}`",
                    f"{t['bytes_per_node']:,.0f}" if "bytes_per_node" in t else "-",
                    f"{r['bytes_per_node']:,.0f}" if "bytes_per_node" in r else "-",
                    ratio(r["bytes_per_node"] / raw_rss)
                    if raw_rss and "bytes_per_node" in r
                    else "-",
                    f"{r['bytes_per_node'] - raw_rss:+,.0f}"
                    if raw_rss and "bytes_per_node" in r
                    else "-",
                    ratio(to_bare[kind]) if kind in to_bare else "-",
                    f"{r['seconds']:.2f}" if "seconds" in r else (str(err) if err else "-"),
                ]
            )
        eager = row.get("eager", {}).get("rss", {})
        if n == "1000000":
            per = eager.get("bytes_per_node")
            targets.append(
                [
                    "1,000,000 nodes in flight: completes, bytes per node above baseline (RSS)",
                    "completes, <= 2,500 B",
                    f"{per:,.0f} B" if per is not None else "did not complete",
                    f"{raw_rss:,.0f} B" if raw_rss else "-",
                    verdict(per is not None and per <= TARGETS["memory_bytes"]),
                ]
            )
    lines += table(
        [
            "N",
            "kind",
            "tracemalloc B/node",
            "RSS B/node",
            "RSS vs raw",
            "RSS above raw (B)",
            "RSS vs bare",
            "run time (s)",
        ],
        rows,
    )


def fanout_section(d: Mapping[str, Any], lines: list[str], targets: list[list[str]]) -> None:
    lines += [
        "## Map fan-out throughput",
        "",
        "One `map_over` node over N trivial elements (`bench_fanout.py`), round-robin",
        "in one process; `raw` is a hand-written trio fan-out (one task per element),",
        "`raw_sem100` the same with each task holding a `trio.Semaphore(100)`, and",
        "`raw_pool100` 100 worker tasks pulling elements from a shared iterator.",
        "`*_cp` kinds use an element body that yields once, so elements overlap and",
        "a bound of 100 is really reached. The raw floor itself slows down as N grows",
        "(more live tasks, more garbage-collector work), and a bound that parks every",
        "waiting element in a semaphore costs 2-4x, while a pool of workers is faster",
        "than one task per element.",
        "",
    ]
    rows = []
    for n, s in d["sizes"].items():
        eps = s["elements_per_second"]
        for k, v in eps.items():
            rows.append(
                [
                    f"{int(n):,}",
                    f"`{k}`",
                    f"{v:,.0f}",
                    us(s["median_us"][k]),
                    ratio(s["median_us"][k] / s["median_us"]["raw"]),
                ]
            )
            if k in ("map", "map_limit100"):
                targets.append(
                    [
                        f"map fan-out `{k}`, {int(n):,} trivial elements",
                        ">= 100,000 elements/s",
                        f"{v:,.0f}/s",
                        f"{eps['raw']:,.0f}/s",
                        verdict(v >= TARGETS["fanout_eps"]),
                    ]
                )
    lines += table(["N", "kind", "elements/s", "µs/element", "vs raw"], rows)


def levels_section(d: Mapping[str, Any], lines: list[str], targets: list[list[str]]) -> None:
    s = d["result"]
    b = s["barrier_us"]
    med = s["median_us"]
    lines += [
        "## Cost of a level barrier",
        "",
        f"Layered random DAG of {d['levels']} levels of width {d['width']}"
        f" (`bench_levels.py`, {s['rounds']} rounds round-robin): per-node cost",
        "and the barrier cost, `(levels - eager) / number of levels`.",
        "",
    ]
    lines += table(
        ["kind", "median µs/node", "vs raw"],
        [[f"`{k}`", us(v), ratio(v / med["raw"])] for k, v in med.items()],
    )
    lines += table(
        ["barrier cost per level", "µs"],
        [[k.replace("_", " "), f"{v:.1f}"] for k, v in b.items()],
    )
    v = b["median_of_paired_differences"]
    targets.append(
        [
            "level barrier (levels - eager) per level",
            "<= 50 µs",
            f"{v:.1f} µs",
            "-",
            verdict(v <= TARGETS["barrier_us"]),
        ]
    )


WORKFIRST_TEXT = """\
## Work-first scheduling

Under `Parallel(schedule="eager")` (the default) the task that finishes a
node does not end: of the dependents the node made ready, it runs the first
itself, right away, in the same task, and spawns a new task for each of the
others, as Cilk's work-first scheduler does. A chain of nodes therefore runs
in one task, and a DAG needs a task only where it really branches: on the
layered benchmark graph about 44% of the nodes get a task of their own. The
hand-written work-first scheduler costs about 0.55x the one-task-per-node
one, and that (`raw_workfirst`) is eager's floor below.

What it means for you:

* **Which task a node runs in.** A node runs either in a task of its own or
  in the task of the dependency that finished last (its predecessor there).
  Everything a node can see behaves as before: `td.current_attempt()` names
  the node (in the node, in tasks it starts, in its threads), per-attempt
  timeouts, retries, `max_concurrency` slots, `fail_fast` and cancellation
  are the node's own, and instruments get `node_started` / `node_finished`
  for it in order. A context variable a node sets in its own task is seen by
  the dependents that run after it in that task, as it was seen by the
  dependents it spawned before.
* **trio task names.** A task is named after the node it began with and keeps
  that name while it runs the nodes after it (renaming it would cost a
  `current_task()` call per node); a debugger or a trio instrument shows the
  first node's name.
* **Fairness.** A node whose body never suspends does not yield to other
  trio tasks; a task running nodes one after another checkpoints (yields,
  and lets a cancellation land) after every 256 nodes it ran so, so a
  10,000-node chain of such nodes cannot starve the rest of the program.
* **Times.** A node run in its predecessor's task starts when the
  predecessor ended: one clock read serves both (`result.started_at`,
  `result.duration`).

The other schedules are judged against their own hand-written equivalents:
`schedule="levels"` against a nursery per level (`raw_levels`), and eager
with `max_concurrency=100` against the work-first scheduler under a
`trio.Semaphore(100)` (`raw_limit100`). A waiting node's memory is judged
against a bare trio task running the same body (`bare`).
"""


def workfirst_section(
    d: Mapping[str, Any],
    memory: Mapping[str, Any] | None,
    lines: list[str],
    targets: list[list[str]],
) -> None:
    lines += [*WORKFIRST_TEXT.splitlines(), ""]
    for n, s in d["sizes"].items():
        med = s["median_us_per_node"]
        rows = []
        for k, f in s["floors"].items():
            rows.append(
                [
                    f"`{k}`",
                    us(med[k]),
                    f"`{f}`",
                    us(med[f]),
                    ratio(s["median_ratio_to_floor"][k]),
                    ratio(s["min_ratio_to_floor"][k]),
                ]
            )
        lines += [
            f"Layered random DAG, {int(n):,} nodes, {s['rounds']} rounds round-robin"
            f" (`{d.get('command', 'bench_overhead.py --interleaved')}`;"
            f" load average {d.get('load', '?')}):",
            "",
        ]
        lines += table(
            ["kind", "median µs/node", "floor", "floor µs/node", "vs floor", "min vs floor"],
            rows,
        )
        for k in ("eager", "levels", "eager_limit100"):
            if k in s["median_ratio_to_floor"]:
                v = s["median_ratio_to_floor"][k]
                targets.append(
                    [
                        f"`{k}` vs `{s['floors'][k]}`, {int(n):,} nodes",
                        "<= 1.15x",
                        ratio(v),
                        us(med[s["floors"][k]]) + " µs/node",
                        verdict(v <= TARGETS["own_floor"]),
                    ]
                )
    if memory:
        for n, row in memory["sizes"].items():
            r = row.get("ratio_to_bare", {}).get("tracemalloc")
            if not r:
                continue
            lines += [
                f"A waiting node's memory, {int(n):,} nodes waiting on one event"
                f" (`{memory.get('command', 'bench_memory.py')}`, tracemalloc):",
                "",
            ]
            lines += table(
                ["kind", "bytes per waiting node", "vs bare task"],
                [
                    [f"`{k}`", f"{row[k]['tracemalloc']['bytes_per_node']:,.0f}", ratio(v)]
                    for k, v in r.items()
                ],
            )
            for k in ("eager", "levels"):
                if k in r:
                    targets.append(
                        [
                            f"`{k}` waiting node vs a bare task, {int(n):,} nodes",
                            "<= 1.15x",
                            ratio(r[k]),
                            f"{row['bare']['tracemalloc']['bytes_per_node']:,.0f} B",
                            verdict(r[k] <= TARGETS["waiting_node"]),
                        ]
                    )


def placement_section(
    by_kind: Mapping[str, Any], lines: list[str], targets: list[list[str]]
) -> None:
    """Placed node bodies (issue 11): per-call cost, the CPU pipeline, remote tasks."""
    lines += [
        "## Placement: threads, processes, executors, Dask",
        "",
        "Node bodies placed with `run_in=` (see the guide, *Running work outside the",
        "event loop*). These runs use real threads, worker processes and a Dask",
        "`LocalCluster` on the 2-core machine, which is shared: a process's share of",
        "the CPU grows with its number of runnable threads and processes, so under",
        "load the wall times favour engines with more of them (the load average is",
        "given with each table).",
        "",
    ]
    d = by_kind.get("placement")
    if d:
        lines += [
            "### Per-call cost beside the hand-written call",
            "",
            "`bench_placement.py`: sequential calls of `ident(x)`, the hand-written idiom",
            f"and the placement alternating call by call ({d['rounds']} rounds); medians."
            + (
                f" Load average {d['loadavg'][0][0]:.1f} before, {d['loadavg'][1][0]:.1f} after."
                if "loadavg" in d
                else ""
            ),
            "",
        ]
        rows = []
        for b, r in d["backends"].items():
            med = r["median_us_per_call"]
            rows.append(
                [
                    f"`{b}`",
                    us(med["raw"]),
                    us(med["td"]),
                    ratio(r["median_ratio"]),
                    ratio(r["min_ratio"]),
                ]
            )
            targets.append(
                [
                    f"placed call `{b}` vs the hand-written call",
                    f"<= {TARGETS['placement_call']}x",
                    ratio(r["median_ratio"]),
                    f"raw {med['raw']:.0f} µs/call",
                    verdict(r["median_ratio"] <= TARGETS["placement_call"]),
                ]
            )
        lines += table(
            ["backend", "raw µs/call", "td µs/call", "td/raw", "ratio of minimums"], rows
        )
    d = by_kind.get("cpu_pipeline")
    if d:
        med = d["median_s"]
        lines += [
            "### The CPU pipeline: 10,000 records of hash + JSON work",
            "",
            f"`bench_cpu_pipeline.py`: {d['records']:,} records, chunks of {d['chunk']},"
            f" {d['rounds']} interleaved rounds, warm workers; inline work measured at"
            f" {d['ms_per_record_inline']:.2f} ms/record (about 0.5 on an idle core). Load"
            f" average {d['loadavg_before'][0]:.1f} before, {d['loadavg_after'][0]:.1f} after.",
            "",
        ]
        lines += table(
            ["engine", "median s", "min s", "vs inline"],
            [
                [f"`{k}`", f"{v:.2f}", f"{d['min_s'][k]:.2f}", ratio(d["ratio_to_inline"][k])]
                for k, v in med.items()
            ],
        )
        r = d["ratio_to_inline"]["process"]
        targets.append(
            [
                "CPU pipeline, `InProcess` chunked vs inline",
                f"<= {TARGETS['cpu_process_inline']}x",
                ratio(r),
                f"inline {med['inline']:.1f} s",
                verdict(r <= TARGETS["cpu_process_inline"]),
            ]
        )
        b = d["process_vs_best_peer"]
        targets.append(
            [
                "CPU pipeline, `InProcess` chunked vs the best peer",
                "<= 1.0x",
                ratio(b),
                "-",
                verdict(b <= 1.0),
            ]
        )
    d = by_kind.get("remote_tasks")
    if d:
        med = d["median_s"]
        lines += [
            "### 1,000 tiny remote tasks on a Dask LocalCluster",
            "",
            f"`bench_remote_tasks.py`: {d['tasks']:,} calls of `x + 1`, one task each, on two"
            f" single-threaded workers; {d['rounds']} alternating rounds. Load average"
            f" {d['loadavg_before'][0]:.1f} before, {d['loadavg_after'][0]:.1f} after.",
            "",
        ]
        lines += table(
            ["way", "median s", "min s"],
            [[f"`{k}`", f"{v:.2f}", f"{d['min_s'][k]:.2f}"] for k, v in med.items()],
        )
        targets.append(
            [
                "1,000 tiny remote tasks, trio_dag vs `client.map` + `gather`",
                f"<= {TARGETS['remote_tasks']}x",
                f"{ratio(d['ratio'])} (minimums {ratio(d['min_ratio'])})",
                f"dask {med['dask']:.1f} s",
                verdict(d["ratio"] <= TARGETS["remote_tasks"]),
            ]
        )


_SMALL_ROWS = (
    (
        "eager",
        "3-node `await Dag.run()` (eager), per run",
        "`_rawtrio.run`: a nursery, one task per node",
    ),
    (
        "sequential",
        "3-node run, `Sequential()`, per run",
        "the 3 coroutines by hand, a `checkpoint()` after each",
    ),
    (
        "sequential_n",
        "`Sequential()`, 10,000 nodes, per node",
        "a plain loop, a `checkpoint_if_cancelled()` per node",
    ),
)


def small_runs_section(d: Mapping[str, Any], lines: list[str], targets: list[list[str]]) -> None:
    load = d.get("loadavg_before", [None])[0]
    lines += [
        "## Small runs and Sequential",
        "",
        "What one run costs besides its nodes (`bench_small_runs.py`), round-robin in",
        "one process beside hand-written trio. A run pays, once: a `RunState` (flat",
        "per-node lists), a `RunResult`, a context variable so",
        "`current_attempt()` finds the run, and, for an eager run, the nursery its",
        "nodes run in. It pays nothing for what it did not ask for: a call without",
        "options reuses the options checked at its first call (per class and",
        "supervisor), the run id is drawn when first read, and no cancel scope is",
        "opened besides an eager run's nursery (its scope is the run's: fail-fast,",
        "deadline) unless a deadline, a store or a level-restarting supervisor needs",
        "one. `Sequential()` runs a plain node inline, in the run's own task (no",
        "coroutine of its own), with one cancellation check and one clock read: a",
        "node starts when the one before it ended. Ratios are medians of the",
        "thread's CPU time (steadier on a shared machine), with wall-clock medians",
        f"beside them (load average {load:.1f} at the start).",
        "",
    ]
    cpu, wall = d["cpu"]["ratios"], d["wall"]["ratios"]
    med = d["cpu"]["median_us"]
    unit = {"eager": "per run", "sequential": "per run", "sequential_n": "per node"}
    rows = []
    for k, what, floor in _SMALL_ROWS:
        r = cpu[k]
        ok = r["median_ratio"] <= r["target"]
        rows.append(
            [
                what,
                floor,
                us(med[f"{k} ({unit[k]})"]),
                us(med[f"{r['floor']} ({unit[k]})"]),
                ratio(r["median_ratio"]),
                ratio(wall[k]["median_ratio"]),
                f"<= {r['target']}x",
            ]
        )
        targets.append([what, f"<= {r['target']}x", ratio(r["median_ratio"]), floor, verdict(ok)])
    lines += table(
        ["run", "floor", "CPU µs", "floor CPU µs", "ratio (CPU)", "ratio (wall)", "target"], rows
    )


def stream_section(d: Mapping[str, Any], lines: list[str], targets: list[list[str]]) -> None:
    """``bench_stream.py --floor``: a 3-node DAG streamed against the hand-written floor."""
    lines += [
        "## Streaming",
        "",
        "`Three.stream(...)` (x -> a -> b, c reads a and b; trivial nodes) against the",
        "hand-written streaming floor: one task per item awaiting the three coroutines,",
        "a semaphore bounding the items in flight (released when the consumer takes a",
        "result) and a reorder buffer for ordered delivery. Interleaved rounds in one",
        f"process, {d['items']:,} items per round, {d['rounds']} rounds, CPU time",
        f"(load average {', '.join(f'{x:.1f}' for x in d['load_average'])} while measured).",
        "",
    ]
    rows = []
    for c in d["cases"]:
        rows.append(
            [
                "ordered" if c["ordered"] else "unordered",
                f"{c['max_in_flight']:,}",
                us(c["floor_us_per_item"]),
                us(c["stream_us_per_item"]),
                ratio(c["ratio_of_minima"]),
                ratio(c["median_ratio"]),
            ]
        )
        if c["ordered"] and c["max_in_flight"] == 64:
            targets.append(
                [
                    "stream, 3-node DAG, ordered, max_in_flight=64, vs the floor",
                    "<= 1.5x",
                    f"{ratio(c['median_ratio'])} (minimums {ratio(c['ratio_of_minima'])})",
                    f"floor {us(c['floor_us_per_item'])} µs/item",
                    verdict(c["median_ratio"] <= 1.5),
                ]
            )
    lines += table(
        [
            "delivery",
            "max_in_flight",
            "floor µs/item",
            "stream µs/item",
            "ratio of minima",
            "median ratio",
        ],
        rows,
    )
    lines += [
        "Which path an item takes: an item runs its nodes in its own task, in",
        "topological order (the *inline* path), when the strategy is `Sequential()`,",
        'or when it is `Parallel(schedule="eager")` (the default) and the DAG is a',
        "chain: one topological order, so no two of an item's nodes could run at once",
        "anyway. Per-node retries, timeouts, `max_concurrency` slots, resources,",
        "placement, map nodes, instruments and `current_attempt()` work as in any",
        "run. Otherwise (two nodes that may overlap under `Parallel`, the `levels`",
        "schedule, a supervisor that restarts levels under `Parallel`) an item is a",
        "full run with a task per node. What an inline item still pays beyond the",
        "floor: its run's state, `go()` and the `RunResult` (the fixed cost of a",
        "run), a timestamp pair per node, and reading its `RunResult`.",
        "",
    ]


def workflows_section(d: Mapping[str, Any], lines: list[str]) -> None:
    lines += [
        "## Real workflows (WfCommons)",
        "",
        "Each instance of `data/workflows/` (`bench_workflows.py`): engine cost per",
        "node with zero-length tasks (`wfformat.load(path, speed=0)`), round-robin",
        "beside raw trio on the same graph; and the virtual-time makespan",
        "(MockClock, recorded runtimes) beside the critical path and the",
        "level-barrier figure.",
        "",
    ]
    rows = []
    for name, s in d["workflows"].items():
        med, v = s["median_us"], s["virtual"]
        rows.append(
            [
                name,
                str(s["nodes"]),
                us(med["raw"]),
                f"{us(med['eager'])} ({ratio(med['eager'] / med['raw'])})",
                f"{us(med['levels'])} ({ratio(med['levels'] / med['raw'])})",
                f"{v['eager_makespan_s']:.3f} / {v['critical_path_s']:.3f}",
                f"{v['levels_makespan_s']:.3f} / {v['level_barrier_s']:.3f}",
            ]
        )
    lines += table(
        [
            "instance",
            "nodes",
            "raw µs/node",
            "eager µs/node",
            "levels µs/node",
            "eager makespan / critical path (s)",
            "levels makespan / level barrier (s)",
        ],
        rows,
    )


_NAME = re.compile(r"^(?P<prefix>.+?)_(?P<kind>.+)_(?P<n>\d+(?:x\d+)?)$")


def pyperf_section(stem: str, d: Mapping[str, Any], lines: list[str]) -> None:
    """One table of a pyperf file: mean ± stdev per inner loop, ratio to ``*_raw_<n>``."""
    import pyperf

    suite = pyperf.BenchmarkSuite.loads(json.dumps(d))
    means: dict[str, tuple[float, float]] = {}
    for b in suite.get_benchmarks():
        vals = b.get_values()
        sd = b.stdev() if len(vals) > 1 else 0.0
        means[b.get_name()] = (b.mean(), sd)
    rows = []
    for name, (m, sd) in means.items():
        g = _NAME.match(name)
        base = means.get(f"{g['prefix']}_raw_{g['n']}") if g else None
        rows.append([f"`{name}`", us(m * 1e6), us(sd * 1e6), ratio(m / base[0]) if base else "-"])
    lines += [f"### pyperf: `{stem}.json`", ""]
    lines += table(["benchmark", "mean µs per inner loop", "stdev µs", "vs raw"], rows)


def generic_section(stem: str, d: Mapping[str, Any], lines: list[str]) -> None:
    """Summaries of other scripts: ``sizes -> {median_us_per_node: {kind: µs}}``."""
    lines += [f"### `{stem}.json`", ""]
    rows = []
    for n, s in d["sizes"].items():
        med = s["median_us_per_node"]
        for k, v in med.items():
            rows.append([f"{int(n):,}", f"`{k}`", us(v), ratio(v / med["raw"])])
    lines += table(["nodes", "kind", "median µs/node", "vs raw"], rows)


# ---------------------------------------------------------------- SVG


def svg(peer: Mapping[str, Any]) -> str:
    """Per-node cost (log y) vs graph size (log x), one line per contender."""
    series: dict[str, list[tuple[int, float]]] = {}
    for n, s in peer["sizes"].items():
        for k, v in s["median_us"].items():
            series.setdefault(k, []).append((int(n), v))
    xs = [n for pts in series.values() for n, _ in pts]
    ys = [v for pts in series.values() for _, v in pts]
    w, h, left, right, top, bottom = 720, 420, 70, 150, 30, 50
    x0, x1 = math.log10(min(xs)) - 0.1, math.log10(max(xs)) + 0.1
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    if x1 - x0 < 0.3:
        x0, x1 = x0 - 0.5, x1 + 0.5

    def px(n: float) -> float:
        return left + (math.log10(n) - x0) / (x1 - x0) * (w - left - right)

    def py(v: float) -> float:
        return h - bottom - (math.log10(v) - y0) / (y1 - y0) * (h - top - bottom)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2 - 60}" y="18" font-size="14">Engine cost per node (median)</text>',
    ]
    for e in range(y0, y1 + 1):
        y = py(10**e)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{10**e:g} µs</text>')
    for n in sorted(set(xs)):
        x = px(n)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{h - bottom}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{h - bottom + 18}" text-anchor="middle">{n:,}</text>')
    out.append(
        f'<text x="{(left + w - right) / 2:.0f}" y="{h - 10}" text-anchor="middle">'
        "nodes in the graph (log scale)</text>"
    )
    out.append(
        f'<rect x="{left}" y="{top}" width="{w - left - right}" height="{h - top - bottom}" '
        'fill="none" stroke="#333"/>'
    )
    for i, (k, pts) in enumerate(sorted(series.items(), key=lambda kv: kv[1][0][1])):
        color = COLORS.get(k, "#555")
        pts.sort()
        path = " ".join(f"{px(n):.1f},{py(v):.1f}" for n, v in pts)
        dash = ' stroke-dasharray="5,3"' if not k.startswith(("td_", "raw")) else ""
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'
        )
        for n, v in pts:
            out.append(f'<circle cx="{px(n):.1f}" cy="{py(v):.1f}" r="3" fill="{color}"/>')
        ly = top + 14 + i * 18
        out.append(
            f'<line x1="{w - right + 10}" y1="{ly - 4}" x2="{w - right + 30}" y2="{ly - 4}" '
            f'stroke="{color}" stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{w - right + 35}" y="{ly}">{k}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- main


def render(results: Mapping[str, Any]) -> tuple[str, str | None]:
    """The Markdown page and the SVG (None without peer results)."""
    body: list[str] = []
    targets: list[list[str]] = []
    other: list[str] = []
    machine = None
    for stem, d in results.items():
        if not isinstance(d, dict):
            continue
        kind = d.get("bench")
        machine = machine or d.get("machine")
        if kind in (
            "peers",
            "peer_anchors",
            "memory",
            "fanout",
            "levels",
            "workflows",
            "small_runs",
            "stream",
            "memory_waiting",
            "workfirst",
            *PLACEMENT,
        ):
            continue
        if "benchmarks" in d and "version" in d:
            pyperf_section(stem, d, other)
        elif isinstance(d.get("sizes"), dict) and all(
            isinstance(s, dict) and "median_us_per_node" in s for s in d["sizes"].values()
        ):
            generic_section(stem, d, other)
    by_kind = {d.get("bench"): d for d in results.values() if isinstance(d, dict)}
    peer_files = [d for d in results.values() if isinstance(d, dict) and d.get("bench") == "peers"]
    if len(peer_files) > 1:  # e.g. the 100,000-node figures measured on their own
        merged = dict(peer_files[0])
        merged["sizes"] = {}
        for d in peer_files:
            merged["sizes"].update(d["sizes"])
        merged["sizes"] = dict(sorted(merged["sizes"].items(), key=lambda kv: int(kv[0])))
        by_kind["peers"] = merged
    peers: dict[str, Any] | None = by_kind.get("peers")
    if peers:
        peers_section(peers, body, targets)
    if "peer_anchors" in by_kind:
        anchors_section(by_kind["peer_anchors"], body)
    if "workfirst" in by_kind:
        workfirst_section(by_kind["workfirst"], by_kind.get("memory_waiting"), body, targets)
    if "memory" in by_kind:
        memory_section(by_kind["memory"], body, targets)
    if "fanout" in by_kind:
        fanout_section(by_kind["fanout"], body, targets)
    if "levels" in by_kind:
        levels_section(by_kind["levels"], body, targets)
    if "workflows" in by_kind:
        workflows_section(by_kind["workflows"], body)
    if "small_runs" in by_kind:
        small_runs_section(by_kind["small_runs"], body, targets)
    if "stream" in by_kind:
        stream_section(by_kind["stream"], body, targets)
    if any(k in by_kind for k in PLACEMENT):
        placement_section(by_kind, body, targets)
    head = [
        "# Performance",
        "",
        "<!-- Generated by `python perf/report.py` from perf/results/*.json: do not edit. -->",
        "",
        "How fast trio_dag is per node, how much memory a waiting node takes, and how",
        "it compares, side by side, with a hand-written trio scheduler (`raw`, the",
        "floor), an asyncio reference and the Python engines people use. Every timing",
        "is a median of rounds in which all contenders ran one after another in the",
        "same process, so the ratios hold even though the absolute figures drift: the",
        "benchmark machine has 2 cores shared with other work, and single figures",
        "move by 10-30% between runs (the IQR columns show the spread).",
        "",
    ]
    if machine:
        head += [
            f"Measured on {machine.get('platform')}, Python {machine.get('python')},"
            f" {machine.get('cpus')} CPUs, trio {machine.get('trio')}, {machine.get('when')}.",
            "",
        ]
    if targets:
        head += ["## Targets", ""]
        head += table(["figure", "target", "measured", "raw trio floor, same run", ""], targets)
    head += [
        "## Reproduce",
        "",
        "```sh",
        "python perf/bench_peers.py --interleaved      # peers_interleaved.json",
        "python perf/bench_heavy_peers.py              # peers_anchors.json (Prefect, Ray)",
        "python perf/bench_memory.py                   # memory.json (subprocess per N)",
        "python perf/bench_fanout.py                   # fanout.json",
        "python perf/bench_levels.py                   # levels.json",
        "python perf/bench_workflows.py                # workflows.json",
        "python perf/bench_placement.py -o perf/results/placement.json",
        "python perf/bench_cpu_pipeline.py --dask -o perf/results/cpu_pipeline.json",
        "python perf/bench_remote_tasks.py -o perf/results/remote_tasks.json",
        "python perf/bench_small_runs.py               # small_runs.json",
        "python perf/bench_stream.py --floor -o perf/results/stream_floor.json",
        "python perf/report.py                         # this page and the SVG",
        "```",
        "",
        "Every script takes `--fast` for fewer rounds and `--smoke` for a few-second",
        "check that it runs; the peers need the `bench` dependency group (dask,",
        "pipefunc, sf-hamilton), Prefect and Ray the `peers` group.",
        "",
    ]
    if other:
        body += ["## Other benchmark files", "", *other]
    return "\n".join(head + body).rstrip() + "\n", svg(peers) if peers else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--svg", type=Path, default=SVG)
    args = ap.parse_args()
    md, picture = render(load(args.results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md)
    print(f"wrote {args.out}")
    if picture is not None:
        args.svg.parent.mkdir(parents=True, exist_ok=True)
        args.svg.write_text(picture)
        print(f"wrote {args.svg}")


if __name__ == "__main__":
    main()
