"""Prefect 3 and Ray beside trio_dag, asyncio and the in-process peers, on small graphs.

What it measures: one whole run of the layered random DAG of ``_graphs`` (width
100, two random parents per node, every node returns a constant) per
measurement, per node, for every contender of ``bench_peers.py`` (``raw``,
``td_sequential``, ``td_eager``, ``asyncio``, ``dask_sync``, ``dask_threaded``,
``pipefunc``, ``hamilton``: the ones installed) and the *heavy* peers of
``perf/peers`` (``prefect``: a Prefect 3 flow of one task per node on its
ephemeral local server; ``ray``: one remote task per node on a local one-node
cluster). The heavy peers cost milliseconds per node, so the graphs are small
(200 and 1,000 nodes by default). Every ``bench_peers`` contender runs at every
size it fits; each heavy peer at one size, the largest it fits (its
``max_nodes``: Prefect at 200 nodes, Ray at 1,000, where a run takes seconds),
so each ratio to ``td_eager`` is taken at the same size, in the same rounds.
A heavy peer's service (Prefect's server, Ray's cluster) runs only while its
size is measured, so its background work does not load the other sizes.

Start-up is timed apart, once, before its size (``peers.Peer.start``): the
import, Ray's ``ray.init`` and first task, Prefect's server start-up (its first
flow run) and the fixed cost of one more empty flow run.

All contenders run round-robin in one process (rounds in a rotating order, as
``bench_peers.py --interleaved``). A fast contender repeats its run within one
measurement until it takes at least ``--min-ms`` (calibrated on the warm-up
run), and its figure is per run. Figures: median and minimum µs per node over
the rounds, ratios to ``td_eager`` of the same rounds, and the load average
before and after (the machine is shared).

The heavy peers need the ``peers`` dependency group (``prefect>=3``,
``ray>=2``; too heavy for the ``bench`` group CI installs): without them this
script measures the rest and says which were not measured and why.

Modes::

    python perf/bench_heavy_peers.py                 # -> perf/results/peers_anchors.json
    python perf/bench_heavy_peers.py --fast          # 3 rounds instead of 5
    python perf/bench_heavy_peers.py --sizes 200 --rounds 3 --only td_eager,prefect
    python perf/bench_heavy_peers.py --smoke         # every contender once at 150 nodes
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import _common
import _graphs
import bench_peers
import peers
from peers import harness

SIZES = (200, 1_000)
BASE = "td_eager"
INSTALL = "the `peers` dependency group: pip install --group peers"


def heavy() -> list[str]:
    """Names of the heavy peers."""
    return [p for p, peer in peers.PEERS.items() if peer.heavy]


def _heavy_size(p: str, sizes: Sequence[int]) -> int | None:
    """The one size heavy peer ``p`` runs at: the largest of ``sizes`` it fits."""
    fit = [n for n in sizes if n <= peers.PEERS[p].max_nodes]
    return max(fit) if fit else None


def kinds_at(
    n: int, only: Sequence[str] | None = None, sizes: Sequence[int] | None = None
) -> list[str]:
    """Contenders at ``n`` nodes, of a measurement over ``sizes`` (default: ``n`` alone).

    ``bench_peers``' contenders that fit, then each installed heavy peer at
    one size only, the largest of ``sizes`` it fits: a run there already takes
    seconds, and one heavy peer's service then runs alone (see :func:`measure`).
    """
    every = sizes or (n,)
    ks = bench_peers.kinds_at(n)
    ks += [p for p in heavy() if peers.PEERS[p].available() and _heavy_size(p, every) == n]
    return [k for k in ks if only is None or k in only]


def skipped_at(n: int, sizes: Sequence[int] | None = None) -> dict[str, str]:
    """Peers not run at ``n`` nodes (of a measurement over ``sizes``), with the reason."""
    every = sizes or (n,)
    out = {p: r for p, r in bench_peers.skipped_at(n).items() if not peers.PEERS[p].heavy}
    for p in heavy():
        peer = peers.PEERS[p]
        at = _heavy_size(p, every)
        if not peer.available():
            out[p] = f"{peer.needs} is not installed ({INSTALL})"
        elif n > peer.max_nodes:
            out[p] = f"run up to {peer.max_nodes:,} nodes only: {peer.note}"
        elif at != n:
            out[p] = f"measured at {at:,} nodes (a heavy peer runs at its largest size only)"
    return out


def repeated(runner: peers.Runner, inner: int) -> peers.Runner:
    """``runner`` making ``inner`` runs of each run asked for; its seconds divided by ``inner``."""

    def run(loops: int) -> tuple[float, list[Any]]:
        dt, values = runner(loops * inner)
        return dt / inner, values

    return run


def calibrated(
    runners: Mapping[str, peers.Runner], n: int, min_seconds: float
) -> tuple[dict[str, peers.Runner], dict[str, int]]:
    """Warm every runner up once (values checked); repeat the fast ones up to ``min_seconds``."""
    out: dict[str, peers.Runner] = {}
    inner: dict[str, int] = {}
    for k, r in runners.items():
        dt, values = r(1)
        bench_peers.check(k, values, n)
        if dt < min_seconds:  # a first run can be much slower: time a second one
            dt = min(dt, r(1)[0])
        inner[k] = max(1, math.ceil(min_seconds / max(dt, 1e-9) - 1e-6))
        out[k] = repeated(r, inner[k]) if inner[k] > 1 else r
    return out, inner


def interleave(runners: Mapping[str, peers.Runner], rounds: int) -> dict[str, list[float]]:
    """Seconds per run of every runner, ``rounds`` times each, round-robin, rotating order."""
    kinds = list(runners)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(rounds):
        shift = r % len(kinds)
        for k in kinds[shift:] + kinds[:shift]:
            gc.collect()
            dt, _ = runners[k](1)
            times[k].append(dt)
    return times


def start_heavy(kinds: Sequence[str]) -> dict[str, dict[str, float]]:
    """Start every heavy peer among ``kinds`` (once); the seconds of each start-up phase."""
    out: dict[str, dict[str, float]] = {}
    for k in kinds:
        if k in peers.PEERS and peers.PEERS[k].heavy:
            print(f"starting {k} ...", flush=True)
            out[k] = peers.PEERS[k].start()
            print(f"  {k} start-up: {_fmt_startup(out[k])}", flush=True)
    return out


def stop_heavy(kinds: Sequence[str]) -> None:
    """Stop every heavy peer among ``kinds`` that was started."""
    for k in kinds:
        if k in peers.PEERS and peers.PEERS[k].heavy:
            peers.PEERS[k].stop()


def _fmt_startup(phases: Mapping[str, float]) -> str:
    return ", ".join(f"{p} {s:.2f} s" for p, s in phases.items())


def versions() -> dict[str, str]:
    """Versions of every peer package installed (``bench_peers``' and the heavy ones)."""
    from importlib import metadata

    out = bench_peers.versions()
    for dist in ("prefect", "ray"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def measure(
    sizes: Sequence[int],
    rounds: int,
    min_seconds: float,
    only: Sequence[str] | None = None,
    output: str | None = None,
    command: str = "python perf/bench_heavy_peers.py",
) -> dict[str, Any]:
    """Every contender round-robin per size; per-node µs and ratios to ``td_eager``.

    With ``output``, the JSON so far is written after every size; ``command``
    is recorded in it.
    """
    out: dict[str, Any] = {
        "bench": "peer_anchors",
        "unit": "us per node",
        "base": BASE,
        "command": command,
        "load_before": list(os.getloadavg()),
        "machine": harness.machine(),
        "versions": versions(),
        "startup_s": {},
        "sizes": {},
    }
    every = sorted({k for n in sizes for k in kinds_at(n, only, sizes)})
    try:
        for n in sizes:
            ks = kinds_at(n, only, sizes)
            # a heavy peer's service runs only while a size needs it: its background
            # work (a server's services, a cluster's daemons) would load the other runs
            stop_heavy(sorted(set(every) - set(ks)))
            out["startup_s"] |= start_heavy([k for k in ks if k not in out["startup_s"]])
            parents, dag = _graphs.layered(n)
            runners, inner = calibrated(
                {k: bench_peers.runner(k, parents, dag) for k in ks}, n, min_seconds
            )
            t0 = time.perf_counter()
            times = interleave(runners, rounds)
            s = harness.summarize(times, n, BASE)
            s["runs_per_measurement"] = inner
            s["skipped"] = skipped_at(n, sizes)
            s["load_after"] = list(os.getloadavg())
            s["seconds"] = time.perf_counter() - t0
            out["sizes"][str(n)] = s
            med = s["median_us"]
            print(
                f"n={n:,} ({rounds} rounds, load {s['load_after'][0]:.1f}): "
                + ", ".join(
                    f"{k} {med[k]:,.1f} us"
                    + (f" ({med[k] / med[BASE]:,.1f}x)" if BASE in med else "")
                    for k in sorted(ks, key=lambda k: med[k])
                ),
                flush=True,
            )
            if output:
                harness.write_json(out, output)
    finally:
        stop_heavy(every)
    out["load_after"] = list(os.getloadavg())
    if output:
        harness.write_json(out, output)
    return out


def smoke(n: int = 150, only: Sequence[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Every contender once on an ``n``-node graph, values checked; those run, those skipped."""
    ks = kinds_at(n, only)
    parents = _graphs.layered_parents(n)
    dag = _graphs.dag_of(parents)
    try:
        start_heavy(ks)
        for k in ks:
            _, values = bench_peers.runner(k, parents, dag)(1)
            bench_peers.check(k, values, n)
    finally:
        stop_heavy(ks)
    return ks, skipped_at(n)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="every contender once, tiny, untimed")
    ap.add_argument("--sizes", type=_common.parse_sizes, default=SIZES)
    ap.add_argument("--rounds", type=int, default=None, help="default 5 (--fast: 3)")
    ap.add_argument("--fast", action="store_true", help="3 rounds")
    ap.add_argument("--min-ms", type=float, default=50.0, help="shortest measurement (ms)")
    ap.add_argument("--only", type=lambda s: s.split(","), default=None)
    ap.add_argument("-o", "--output", default=str(harness.RESULTS / "peers_anchors.json"))
    args = ap.parse_args(argv)
    if args.smoke:
        ran, skipped = smoke(only=args.only)
        print("bench_heavy_peers smoke OK:", ", ".join(ran))
        for p, why in skipped.items():
            if peers.PEERS[p].heavy:
                print(f"  {p} not measured: {why}")
        return
    rounds = args.rounds if args.rounds is not None else 3 if args.fast else 5
    if rounds < 1:
        ap.error(f"--rounds must be a positive int, got {rounds}")
    command = shlex.join(["python", "perf/bench_heavy_peers.py", *argv])
    measure(args.sizes, rounds, args.min_ms / 1e3, args.only, args.output, command)


if __name__ == "__main__":
    main()
