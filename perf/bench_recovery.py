"""Recovery cost on the real clock: retry latency and a one_for_all level restart.

What it measures:

(a) ``retry_latency``: the time from a node's exception to the start of its
    next attempt, with zero retry delay
    (``RetryPolicy(max_attempts=K + 1, initial_delay=0, jitter="none")``). One
    node fails ``K`` times in one run; its body records ``time.perf_counter()``
    just before raising and on entering the next attempt. Reported: p50, p99,
    max, over every failure of every repetition. Target: p99 <= 1 ms.

(b) ``one_for_all_restart``: the extra run time caused by one restart of a
    1,000-node level. The DAG is a root feeding a 1,000-node level, run with
    ``Supervisor("one_for_all")`` and ``Parallel(schedule="levels")``; the last
    node of the level has ``RetryPolicy(max_attempts=2, initial_delay=0,
    jitter="none")`` and fails once (its first attempt), so the whole level is
    cancelled and started again. The same DAG with that node not failing is
    the baseline. Runs of the two alternate (so load drift on a shared machine
    hits both alike); cost = median(failing) - median(baseline). Target: <= 20 ms.

This script does not use pyperf: (a) is a distribution inside one run, which a
pyperf ``time_func`` cannot report, and (b) is a difference of two noisy
numbers, best measured interleaved. It writes one small JSON object.

How to run::

    python perf/bench_recovery.py -o recovery.json            # default effort
    python perf/bench_recovery.py --fast | --rigorous
    python perf/bench_recovery.py --smoke                      # tiny, checks it runs
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from typing import Any

import _graphs
import trio

import trio_dag as td

LEVEL = 1_000
"""Nodes in the restarted level of (b)."""

ZERO_DELAY = {"initial_delay": 0, "jitter": "none"}

# effort: (repetitions of (a), failures per repetition, pairs of runs for (b)).
# At most 1,000 failures per run: RetryPolicy.delay overflows (OverflowError)
# past attempt 1,025 with the default backoff (a bug reported upstream).
EFFORT = {
    "smoke": (1, 20, 1),
    "fast": (3, 1_000, 15),
    "default": (10, 1_000, 30),
    "rigorous": (30, 1_000, 100),
}


def percentile(xs: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``xs``, nearest rank."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s) - 1e-9) - 1))]


# ------------------------------------------------------------------ (a)


def retry_dag(failures: int) -> tuple[type[td.DAG], list[float]]:
    """A one-node DAG whose node fails ``failures`` times, and its latency list.

    Each run appends one latency (seconds, exception to next attempt) per failure.
    """
    latencies: list[float] = []
    state = {"raised_at": 0.0, "calls": 0}

    async def flaky() -> int:
        now = time.perf_counter()
        calls = state["calls"] = state["calls"] + 1
        if calls > 1:
            latencies.append(now - state["raised_at"])
        if calls <= failures:
            state["raised_at"] = time.perf_counter()
            raise RuntimeError("planned failure")
        state["calls"] = 0
        return calls

    policy = td.RetryPolicy(max_attempts=failures + 1, **ZERO_DELAY)  # type: ignore[arg-type]
    dag = td.DAG.from_nodes("retry_latency", [td.Node("flaky", flaky, retry=policy)])
    return dag, latencies


async def measure_retry_latency(failures: int) -> tuple[list[float], td.RunResult]:
    """One run whose node fails ``failures`` times: latencies (s) and the result."""
    dag, latencies = retry_dag(failures)
    result = await dag.run()
    return latencies, result


# ------------------------------------------------------------------ (b)


def level_dag(width: int, fail: bool) -> type[td.DAG]:
    """A root feeding a ``width``-node level; its last node fails once if ``fail``."""

    async def last(*deps: Any) -> int:
        if td.current_attempt().attempt == 1 and fail:
            raise RuntimeError("planned failure")
        return 1

    f = _graphs.f
    policy = td.RetryPolicy(max_attempts=2, **ZERO_DELAY)  # type: ignore[arg-type]
    nodes = [td.Node("root", f)]
    nodes += [td.Node(f"m{i}", f, deps=("root",)) for i in range(width - 1)]
    nodes.append(td.Node(f"m{width - 1}", last, deps=("root",), retry=policy))
    return td.DAG.from_nodes(
        f"level{width}_{'fail' if fail else 'ok'}",
        nodes,
        supervisor=td.Supervisor("one_for_all"),
    )


LEVEL_OPTIONS: dict[str, Any] = {"strategy": td.Parallel(schedule="levels")}


async def time_run(dag: type[td.DAG]) -> tuple[float, td.RunResult]:
    """Seconds one run of ``dag`` (with ``LEVEL_OPTIONS``) takes, and its result."""
    t0 = time.perf_counter()
    result = await dag.run(**LEVEL_OPTIONS)
    return time.perf_counter() - t0, result


async def measure_restart(width: int, pairs: int) -> tuple[list[float], list[float]]:
    """Alternating runs with and without the failure: (failing times, baseline times)."""
    failing, ok = level_dag(width, True), level_dag(width, False)
    t_fail: list[float] = []
    t_ok: list[float] = []
    await time_run(failing)  # warm up both
    await time_run(ok)
    for k in range(pairs):
        order: list[tuple[type[td.DAG], list[float]]] = [(failing, t_fail), (ok, t_ok)]
        for dag, out in order if k % 2 else order[::-1]:
            out.append((await time_run(dag))[0])
    return t_fail, t_ok


# ------------------------------------------------------------------ main


def run(effort: str, width: int = LEVEL) -> dict[str, Any]:
    """Both measurements at ``effort``; the JSON-ready summary."""
    reps, failures, pairs = EFFORT[effort]
    lat: list[float] = []
    for _ in range(reps):
        got, result = trio.run(measure_retry_latency, failures)
        assert result.attempts("flaky") == failures + 1, result.report()
        lat += got
    t_fail, t_ok = trio.run(measure_restart, width, pairs)
    med_fail, med_ok = statistics.median(t_fail), statistics.median(t_ok)
    return {
        "effort": effort,
        "retry_latency": {
            "samples": len(lat),
            "p50_us": percentile(lat, 0.50) * 1e6,
            "p99_us": percentile(lat, 0.99) * 1e6,
            "max_us": max(lat) * 1e6,
            "target_p99_us": 1_000,
        },
        "one_for_all_restart": {
            "level_nodes": width,
            "pairs": pairs,
            "median_failing_ms": med_fail * 1e3,
            "median_baseline_ms": med_ok * 1e3,
            "cost_ms": (med_fail - med_ok) * 1e3,
            "min_failing_ms": min(t_fail) * 1e3,
            "min_baseline_ms": min(t_ok) * 1e3,
            "cost_min_ms": (min(t_fail) - min(t_ok)) * 1e3,
            "target_ms": 20,
        },
    }


def smoke() -> dict[str, Any]:
    """Both measurements once at tiny size (a 50-node level)."""
    return run("smoke", width=50)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    group = parser.add_mutually_exclusive_group()
    for flag in ("--fast", "--rigorous", "--smoke"):
        group.add_argument(flag, action="store_true")
    parser.add_argument("-o", "--output", help="write the JSON summary to this file")
    args = parser.parse_args(argv)
    effort = next((e for e in ("fast", "rigorous", "smoke") if getattr(args, e)), "default")
    out: dict[str, Any] = smoke() if args.smoke else run(effort)
    text = json.dumps(out, indent=2)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
