"""What a store costs: journaling, cache hits, and resuming after kill -9.

Three measurements on the 10,000-node layered random DAG of ``_graphs.py``
(trivial bodies, so every microsecond is engine and store cost):

* ``journal``: a durable run (``store=``, a new ``run_key`` each round, so
  every node is run, serialized, hashed and committed) against the same run
  without a store. Target (issue 13): at most 4x the run without a store:
  group commit must beat one commit per node.
* ``cache_hit``: every node ``cache=True`` and already cached, run with the
  store and no ``run_key`` (each node is a lookup, no body), against the same
  DAG run without a store (each node runs its trivial body). Target: at most
  2x a plain node. ``cache_hit_durable`` is the same with a new ``run_key``
  per round (each hit also journaled), for reference.
* ``kill_to_resumed``: a child process runs the DAG durably and SIGKILLs
  itself halfway; a new process then runs the same ``run_key``. Reported:
  from the kill to the first node body of the new process (process start,
  imports, building the graph, opening the store and restoring every
  committed node), the restore alone (``DAG.run`` called -> first body), and
  the whole resumed run.

The machine may be shared and noisy, so the runs with and without a store
alternate round by round in one process and the medians are compared.

How to run::

    python perf/bench_store.py                  # writes perf/results/store.json
    python perf/bench_store.py --fast
    python perf/bench_store.py --smoke          # tiny: checks it runs
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

import trio_dag as td

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _graphs  # noqa: E402 - perf/ is not a package

TARGETS = {"journal": 4.0, "cache_hit": 2.0}


def _dag(n: int, *, cached: bool, dag_name: str) -> type[td.DAG]:
    parents = _graphs.layered_parents(n)
    nodes = [
        td.Node(_graphs.name(i), _graphs.f, [_graphs.name(p) for p in ps], cache=cached)
        for i, ps in enumerate(parents)
    ]
    return td.DAG.from_nodes(dag_name, nodes)


def _timed(fn: Any) -> float:
    async def main() -> float:
        t0 = time.perf_counter()
        await fn()
        return time.perf_counter() - t0

    return trio.run(main)


def rounds(n: int, count: int, tmp: Path) -> dict[str, Any]:
    """Interleaved rounds of plain / journaled / cache-hit runs; per-node medians (µs)."""
    plain = _dag(n, cached=False, dag_name="bench_plain")
    cached = _dag(n, cached=True, dag_name="bench_cached")
    store = td.SQLiteStore(tmp / "bench.db")
    trio.run(lambda: cached.run(store=store))  # fill the cache
    times: dict[str, list[float]] = {
        k: [] for k in ("plain", "journal", "plain_cached_dag", "cache_hit", "cache_hit_durable")
    }
    for r in range(count):
        times["plain"].append(_timed(plain.run))
        times["journal"].append(_timed(functools.partial(plain.run, store=store, run_key=f"j{r}")))
        times["plain_cached_dag"].append(_timed(cached.run))
        hit = _timed(functools.partial(cached.run, store=store))
        times["cache_hit"].append(hit)
        times["cache_hit_durable"].append(
            _timed(functools.partial(cached.run, store=store, run_key=f"c{r}"))
        )
    store.close()
    med = {k: statistics.median(v) / n * 1e6 for k, v in times.items()}
    return {
        "nodes": n,
        "rounds": count,
        "median_us_per_node": med,
        "min_us_per_node": {k: min(v) / n * 1e6 for k, v in times.items()},
        "journal_ratio": med["journal"] / med["plain"],
        "cache_hit_ratio": med["cache_hit"] / med["plain_cached_dag"],
        "cache_hit_durable_ratio": med["cache_hit_durable"] / med["plain_cached_dag"],
        "targets": TARGETS,
    }


# ------------------------------------------------------------ kill -9 and resume


def child(db: str, n: int, kill_at: int) -> None:
    """Run the DAG durably; SIGKILL this process on body entry ``kill_at`` (0: never)."""
    t_start = time.time()
    entries = [0]
    first: list[float] = []

    async def body(*deps: Any) -> int:
        entries[0] += 1
        if not first:
            first.append(time.time())
        if entries[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return 1

    parents = _graphs.layered_parents(n)
    dag = td.DAG.from_nodes(
        "bench_resume",
        [  # version=: the body's closure differs between the two processes (kill_at)
            td.Node(_graphs.name(i), body, [_graphs.name(p) for p in ps], version="1")
            for i, ps in enumerate(parents)
        ],
    )
    store = td.SQLiteStore(db)
    t_run = time.time()
    result = trio.run(lambda: dag.run(store=store, run_key="resume"))
    t_end = time.time()
    restored = len(result.nodes_with("restored"))
    print(
        json.dumps(
            {
                "start": t_start,
                "run": t_run,
                "first": first[0] if first else t_end,
                "end": t_end,
                "restored": restored,
                "ran": entries[0],
            }
        )
    )


def kill_to_resumed(n: int, tmp: Path) -> dict[str, Any]:
    db = str(tmp / "resume.db")
    cmd = [sys.executable, __file__, "--child", db, str(n)]
    proc = subprocess.run([*cmd, str(n // 2)], capture_output=True, text=True, check=False)
    t_kill = time.time()
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    out = subprocess.run([*cmd, "0"], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    return {
        "nodes": n,
        "restored": r["restored"],
        "ran_after_resume": r["ran"],
        "kill_to_first_body_ms": (r["first"] - t_kill) * 1e3,
        "restore_ms": (r["first"] - r["run"]) * 1e3,
        "resumed_run_ms": (r["end"] - r["run"]) * 1e3,
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child(argv[1], int(argv[2]), int(argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("-n", "--nodes", type=int, default=10_000)
    parser.add_argument("-o", "--output", default=str(HERE / "results" / "store.json"))
    args = parser.parse_args(argv)
    n, count = (200, 1) if args.smoke else (args.nodes, 5 if args.fast else 11)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        out = {"rounds": rounds(n, count, tmp), "kill_to_resumed": kill_to_resumed(n, tmp)}
    r, k = out["rounds"], out["kill_to_resumed"]
    med = r["median_us_per_node"]
    print(f"{n:,}-node layered DAG, medians of {count} interleaved rounds (us/node):")
    print(
        f"  plain {med['plain']:.2f}, journaled {med['journal']:.2f}: "
        f"{r['journal_ratio']:.2f}x (target <= {TARGETS['journal']}x)"
    )
    print(
        f"  plain (cache=True DAG, no store) {med['plain_cached_dag']:.2f}, cache hit "
        f"{med['cache_hit']:.2f}: {r['cache_hit_ratio']:.2f}x "
        f"(target <= {TARGETS['cache_hit']}x);"
        f" hit + journal {med['cache_hit_durable']:.2f}: {r['cache_hit_durable_ratio']:.2f}x"
    )
    print(
        f"  kill -9 -> first body of the resumed process: {k['kill_to_first_body_ms']:.0f} ms "
        f"(restore of {k['restored']:,} nodes: {k['restore_ms']:.0f} ms; resumed run "
        f"{k['resumed_run_ms']:.0f} ms, {k['ran_after_resume']:,} bodies)"
    )
    if not args.smoke:
        Path(args.output).parent.mkdir(exist_ok=True)
        Path(args.output).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
