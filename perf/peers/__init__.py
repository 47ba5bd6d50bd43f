"""Peer engines run on the benchmark graphs of ``perf/``, for side-by-side figures.

Every peer turns a ``parents`` list (``parents[i]``: the parents of node ``i``,
as made by ``_graphs.layered_parents``) into a :data:`Runner`: a callable that
runs the whole graph ``loops`` times and returns the seconds those runs took
(the clock runs only around the runs, not around graph building or event-loop
start-up) and the node values of the last run, by node index. Every node body
is trivial (returns ``1``), so the time is the engine's cost per node.

Peers (each an optional import: a peer whose package is missing is simply not
:func:`available`):

* ``asyncio``: the standard-library reference, :mod:`asyncio` ``TaskGroup``
  driven by :class:`graphlib.TopologicalSorter` (``peers.asyncio_ref``);
* ``dask_sync`` / ``dask_threaded``: ``dask.get`` (the synchronous scheduler)
  and ``dask.threaded.get`` on the task-graph dict ``{key: (func, *dep_keys)}``
  (``peers.dask_peer``);
* ``pipefunc``: a ``pipefunc.Pipeline`` of one ``PipeFunc`` per node
  (``peers.pipefunc_peer``);
* ``hamilton``: a Hamilton driver over a generated module of one function per
  node (``peers.hamilton_peer``).

This package measures nothing by itself: ``perf/bench_peers.py`` does.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Parents = Sequence[Sequence[int]]
Runner = Callable[[int], tuple[float, list[Any]]]
"""``runner(loops) -> (seconds, values)``: ``loops`` whole runs of one graph."""


@dataclass(frozen=True)
class Peer:
    """One peer engine: its module, the package it needs, the largest size it is run at."""

    name: str
    module: str
    attr: str
    needs: str | None
    max_nodes: int
    """Largest graph it is benchmarked on (beyond it, building or running takes too long)."""
    note: str = ""

    def available(self) -> bool:
        """Whether the peer's package is installed."""
        return self.needs is None or importlib.util.find_spec(self.needs) is not None

    def prepare(self, parents: Parents) -> Runner:
        """Build the peer's form of the graph (untimed); return its runner."""
        mod = importlib.import_module(f"peers.{self.module}")
        prepare: Callable[[Parents], Runner] = getattr(mod, self.attr)
        return prepare(parents)


PEERS: dict[str, Peer] = {
    p.name: p
    for p in (
        Peer("asyncio", "asyncio_ref", "prepare", None, 1_000_000),
        Peer(
            "dask_sync",
            "dask_peer",
            "prepare_sync",
            "dask",
            10_000,
            "at 100,000 nodes dask.get grew past 17 GB RSS within 2 minutes, before its "
            "first run finished, on the 24 GB machine, and was stopped",
        ),
        Peer(
            "dask_threaded",
            "dask_peer",
            "prepare_threaded",
            "dask",
            10_000,
            "at 100,000 nodes (run together with dask_sync) the process grew past "
            "18 GB RSS on the 24 GB machine and was stopped",
        ),
        Peer(
            "pipefunc",
            "pipefunc_peer",
            "prepare",
            "pipefunc",
            1_000,
            "Pipeline construction is quadratic (re-validated on every add): "
            "1-2 minutes at 1,000 nodes here, so an estimated 2-3 hours at 10,000",
        ),
        Peer(
            "hamilton",
            "hamilton_peer",
            "prepare",
            "hamilton",
            10_000,
            "not tried at 100,000 nodes for lack of time (building the driver took "
            "1.5 s at 1,000 nodes)",
        ),
    )
}
"""Every peer, by name."""


def available() -> list[str]:
    """Names of the peers whose packages are installed."""
    return [name for name, p in PEERS.items() if p.available()]


def sync_runner(run_once: Callable[[], list[Any]]) -> Runner:
    """A :data:`Runner` for a synchronous engine: ``loops`` calls of ``run_once``."""
    import time

    def runner(loops: int) -> tuple[float, list[Any]]:
        out: list[Any] = []
        t0 = time.perf_counter()
        for _ in range(loops):
            out = run_once()
        return time.perf_counter() - t0, out

    return runner


def name(i: int) -> str:
    """Node ``i``'s name (the same as ``_graphs.name``)."""
    return f"n{i}"


def const(*deps: Any) -> int:
    """The trivial synchronous node body: ignores its dependencies, returns 1."""
    return 1
