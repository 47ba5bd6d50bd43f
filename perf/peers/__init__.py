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
  node (``peers.hamilton_peer``);
* ``prefect`` and ``ray`` (*heavy* peers, the ``peers`` dependency group):
  a Prefect 3 ``@flow`` submitting one ``@task`` per node to its ephemeral
  local server (``peers.prefect_peer``), and one Ray remote task per node on a
  local one-node cluster (``peers.ray_peer``). Their cost per node is in
  milliseconds and they need a start-up of seconds (a server, a cluster), so
  they run only on small graphs, in ``perf/bench_heavy_peers.py``, which also
  times their start-up (:meth:`Peer.start`) apart from the runs.

This package measures nothing by itself: ``perf/bench_peers.py`` and
``perf/bench_heavy_peers.py`` do.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
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
    heavy: bool = False
    """Milliseconds per node and a service to start: measured by ``bench_heavy_peers.py`` only."""

    def available(self) -> bool:
        """Whether the peer's package is installed."""
        return self.needs is None or importlib.util.find_spec(self.needs) is not None

    def start(self) -> dict[str, float]:
        """Import the peer and start its service, if it has one; seconds of each phase.

        ``"import"`` is the import of the peer module (with its package, when
        not imported before). A peer module may define ``start() -> dict[str,
        float]`` (idempotent: seconds of each start-up phase, empty when
        already started) and ``stop()``; a peer without them needs no start-up.
        """
        t0 = time.perf_counter()
        mod = importlib.import_module(f"peers.{self.module}")
        out = {"import": time.perf_counter() - t0}
        start: Callable[[], dict[str, float]] | None = getattr(mod, "start", None)
        return out | (start() if start is not None else {})

    def stop(self) -> None:
        """Stop the peer's service, if it has one and it was started (never imports it)."""
        mod = sys.modules.get(f"peers.{self.module}")
        stop: Callable[[], None] | None = getattr(mod, "stop", None)
        if stop is not None:
            stop()

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
        Peer(
            "prefect",
            "prefect_peer",
            "prepare",
            "prefect",
            200,
            "tens of milliseconds per task (one task run recorded by its server): "
            "a 200-node run already takes seconds",
            heavy=True,
        ),
        Peer(
            "ray",
            "ray_peer",
            "prepare",
            "ray",
            1_000,
            "over a millisecond per task (a remote task on a local cluster): "
            "a 1,000-node run already takes seconds",
            heavy=True,
        ),
    )
}
"""Every peer, by name."""


def available() -> list[str]:
    """Names of the peers whose packages are installed."""
    return [name for name, p in PEERS.items() if p.available()]


def sync_runner(run_once: Callable[[], list[Any]]) -> Runner:
    """A :data:`Runner` for a synchronous engine: ``loops`` calls of ``run_once``."""

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
