"""Side-by-side measurement for the ``perf/bench_*`` scripts of the peers issue.

The benchmark machine has 2 cores shared with other work, so timings taken in
separate time windows (as pyperf does, one benchmark after another) drift
apart. :func:`interleave` therefore measures every contender round-robin in
one process: each round runs every contender once, in a rotating order, and a
contender's figure is the median (and minimum) over rounds. Ratios are taken
between figures of the same rounds. This module measures nothing by itself.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import trio

from peers import Runner

RESULTS = Path(__file__).resolve().parent.parent / "results"
"""``perf/results/``: where every script writes its JSON by default."""


def trio_runner(
    work: Callable[[], Awaitable[Any]], values: Callable[[Any], list[Any]] = list
) -> Runner:
    """A :data:`~peers.Runner` awaiting ``work()`` ``loops`` times inside one ``trio.run``.

    ``values`` turns what the last run returned into the node values, after the
    clock stopped.
    """

    def runner(loops: int) -> tuple[float, list[Any]]:
        async def main() -> tuple[float, Any]:
            out: Any = None
            t0 = time.perf_counter()
            for _ in range(loops):
                out = await work()
            return time.perf_counter() - t0, out

        dt, out = trio.run(main)
        return dt, values(out)

    return runner


def interleave(
    runners: Mapping[str, Runner], rounds: int, check: Callable[[str, list[Any]], None]
) -> dict[str, list[float]]:
    """Seconds per run of every runner, ``rounds`` times each, round-robin.

    Every runner runs once first as a warm-up, and its values go to ``check``.
    """
    kinds = list(runners)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for k in kinds:
        _, vals = runners[k](1)
        check(k, vals)
    for r in range(rounds):
        shift = r % len(kinds)
        for k in kinds[shift:] + kinds[:shift]:
            gc.collect()
            dt, _ = runners[k](1)
            times[k].append(dt)
    return times


def summarize(times: Mapping[str, list[float]], per: float, base: str) -> dict[str, Any]:
    """Median and minimum per unit (``per`` units a run) in µs, and ratios to ``base``."""
    med = {k: statistics.median(v) / per * 1e6 for k, v in times.items()}
    low = {k: min(v) / per * 1e6 for k, v in times.items()}
    spread = {
        k: (statistics.quantiles(v, n=4)[2] - statistics.quantiles(v, n=4)[0]) / per * 1e6
        if len(v) >= 2
        else 0.0
        for k, v in times.items()
    }
    out: dict[str, Any] = {
        "rounds": min((len(v) for v in times.values()), default=0),
        "median_us": med,
        "min_us": low,
        "iqr_us": spread,
    }
    if base in med:
        out["median_ratio_to_" + base] = {k: v / med[base] for k, v in med.items()}
        out["min_ratio_to_" + base] = {k: v / low[base] for k, v in low.items()}
    return out


def write_json(data: Mapping[str, Any], path: str | Path) -> None:
    """Write ``data`` as indented JSON (creating the folder)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {p}")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import os
    import platform

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "trio": trio.__version__,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
