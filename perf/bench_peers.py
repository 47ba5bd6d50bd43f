"""Engine cost per node of trio_dag beside raw trio, asyncio, Dask, pipefunc and Hamilton.

What it measures: one whole run of the layered random DAG of ``_graphs`` (width
100, two random parents per node, every node returns a constant) at 1,000 /
10,000 / 100,000 nodes, per node, for

* ``raw``: the floor, ``_rawtrio.run`` (hand-written trio scheduler);
* ``td_sequential`` / ``td_eager``: ``Dag.run`` under ``td.Sequential()`` and
  ``td.Parallel(schedule="eager")``;
* every available peer of ``perf/peers``: ``asyncio`` (TaskGroup +
  graphlib), ``dask_sync`` (``dask.get``), ``dask_threaded``
  (``dask.threaded.get``), ``pipefunc`` and ``hamilton``, each only up to its
  ``max_nodes`` (beyond it, building the peer's graph takes too long: see
  ``peers.PEERS[...].note``). Graph building is never timed. Prefect and Ray
  (milliseconds per node, a server or cluster to start) are measured by
  ``bench_heavy_peers.py`` on small graphs instead.

Target (the "Performance proof" issue): ``td_eager`` at least 10x faster per
node than ``dask_sync`` at 10,000 nodes.

Modes::

    python perf/bench_peers.py --interleaved [--fast] [--sizes 1000,10000]
        # side by side, round-robin in one process (the figures docs/performance.md
        # uses); writes perf/results/peers_interleaved.json (-o to change) after
        # every size; --only raw,td_eager,dask_sync picks contenders
    python perf/bench_peers.py --interleaved --sizes 100000 -o perf/results/peers_100k.json
        # the 100,000-node figures (the peers that fit: Dask needs > 17 GB there)
    python perf/bench_peers.py --fast -o perf/results/peers.json
        # pyperf, one benchmark peers_<kind>_<n> per contender and size, per node
    python perf/bench_peers.py --smoke   # every contender once at 200 nodes, no timing
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from collections.abc import Sequence
from typing import Any

import _common
import _graphs
import _rawtrio
import peers
from peers import harness

import trio_dag as td

SIZES = (1_000, 10_000, 100_000)
TRIO_KINDS = ("raw", "td_sequential", "td_eager")
OPTIONS: dict[str, dict[str, Any]] = {
    "td_sequential": {"strategy": td.Sequential()},
    "td_eager": {"strategy": td.Parallel(schedule="eager")},
}


def kinds_at(n: int, only: Sequence[str] | None = None) -> list[str]:
    """Contenders run at ``n`` nodes: the trio ones, then every available peer that fits."""
    ks = list(TRIO_KINDS)
    ks += [
        p for p in peers.available() if not peers.PEERS[p].heavy and n <= peers.PEERS[p].max_nodes
    ]
    return [k for k in ks if only is None or k in only]


def skipped_at(n: int) -> dict[str, str]:
    """Peers not run at ``n`` nodes, with the reason."""
    out: dict[str, str] = {}
    for p, peer in peers.PEERS.items():
        if peer.heavy:
            out[p] = f"measured by bench_heavy_peers.py (up to {peer.max_nodes:,} nodes)"
        elif not peer.available():
            out[p] = f"{peer.needs} is not installed"
        elif n > peer.max_nodes:
            out[p] = f"run up to {peer.max_nodes:,} nodes only: {peer.note or 'too slow'}"
    return out


def runner(kind: str, parents: Sequence[Sequence[int]], dag: type[td.DAG]) -> peers.Runner:
    """The runner of one contender on ``parents`` (``dag`` is the same graph as a DAG)."""
    n = len(parents)
    if kind == "raw":
        g = _rawtrio.compile_graph(parents)
        return harness.trio_runner(functools.partial(_rawtrio.run, g))
    if kind in OPTIONS:
        names = [_graphs.name(i) for i in range(n)]
        return harness.trio_runner(
            functools.partial(dag.run, **OPTIONS[kind]), lambda r: [r[k] for k in names]
        )
    return peers.PEERS[kind].prepare(parents)


def check(kind: str, values: list[Any], n: int) -> None:
    """Every node of a run returned 1."""
    if values != [1] * n:
        raise AssertionError(f"{kind}: wrong values at n={n}")


def _check_at(n: int, kind: str, values: list[Any]) -> None:
    check(kind, values, n)


@functools.cache
def _prepared(kind: str, n: int) -> peers.Runner:
    parents, dag = _graphs.layered(n)
    return runner(kind, parents, dag)


def rounds_for(n: int, effort: str) -> int:
    """Interleaved rounds at ``n`` nodes."""
    base = {1_000: 30, 10_000: 10, 100_000: 9}.get(n, max(3, 100_000 // n))
    return {"fast": max(3, base // 3), "rigorous": base * 3}.get(effort, base)


def interleaved(
    sizes: Sequence[int],
    effort: str,
    only: Sequence[str] | None = None,
    output: str | None = None,
) -> dict[str, Any]:
    """Every contender round-robin in this process, per size; per-node µs and ratios.

    With ``output``, the JSON so far is written after every size.
    """
    out: dict[str, Any] = {
        "bench": "peers",
        "unit": "us per node",
        "effort": effort,
        "machine": harness.machine(),
        "versions": versions(),
        "sizes": {},
    }
    for n in sizes:
        ks = kinds_at(n, only)
        runners = {k: _prepared(k, n) for k in ks}
        rounds = rounds_for(n, effort)
        times = harness.interleave(runners, rounds, functools.partial(_check_at, n))
        s = harness.summarize(times, n, "raw")
        s["skipped"] = skipped_at(n)
        out["sizes"][str(n)] = s
        med = s["median_us"]
        print(
            f"n={n:,} ({rounds} rounds): "
            + ", ".join(f"{k} {med[k]:.2f} us ({med[k] / med['raw']:.2f}x raw)" for k in ks),
            flush=True,
        )
        if output:
            harness.write_json(out, output)
        _prepared.cache_clear()  # free this size's graphs before the next one
        if "dask_sync" in med:
            print(
                f"  dask_sync / td_eager = {med['dask_sync'] / med['td_eager']:.1f}x", flush=True
            )
    return out


def versions() -> dict[str, str]:
    """Versions of the peers' packages that are installed."""
    from importlib import metadata

    out = {}
    for dist in ("trio", "dask", "pipefunc", "sf-hamilton", "apache-hamilton", "pyperf"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def smoke(n: int = 200, only: Sequence[str] | None = None) -> list[str]:
    """Every contender once on an ``n``-node graph, values checked; the contenders run."""
    parents = _graphs.layered_parents(n)
    dag = _graphs.dag_of(parents)
    ks = kinds_at(n, only)
    for k in ks:
        _, vals = runner(k, parents, dag)(1)
        check(k, vals, n)
    return ks


def main() -> None:
    argv = sys.argv[1:]
    if _common.smoke_requested():
        print("bench_peers smoke OK:", ", ".join(smoke()))
        return
    if "--interleaved" in argv:
        ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        ap.add_argument("--interleaved", action="store_true")
        ap.add_argument("--fast", action="store_true")
        ap.add_argument("--rigorous", action="store_true")
        ap.add_argument("--sizes", type=_common.parse_sizes, default=SIZES)
        ap.add_argument("--only", type=lambda s: s.split(","), default=None)
        ap.add_argument("-o", "--output", default=str(harness.RESULTS / "peers_interleaved.json"))
        args = ap.parse_args(argv)
        effort = "fast" if args.fast else "rigorous" if args.rigorous else "default"
        interleaved(args.sizes, effort, args.only, args.output)
        return
    r, sizes = _common.make_runner(SIZES)
    for n in sizes:
        for kind in kinds_at(n):

            def time_func(loops: int, kind: str = kind, n: int = n) -> float:
                return _prepared(kind, n)(loops)[0]

            r.bench_time_func(f"peers_{kind}_{n}", time_func, inner_loops=n)


if __name__ == "__main__":
    main()
