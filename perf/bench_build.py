"""Build-and-validate cost: ``td.DAG.from_nodes`` beside ``graphlib.TopologicalSorter``.

What it measures: for layered random DAGs (``_graphs``) of 1,000 / 10,000 /
100,000 nodes, starting from the same precomputed lists of node names and
parent names,

* ``build_trio_dag_<n>``: building the ``td.Node`` specs and calling
  ``td.DAG.from_nodes`` (validation, cycle check, levels, compilation);
* ``build_graphlib_<n>``: ``TopologicalSorter.add(node, *parents)`` for every
  node, then ``list(static_order())`` (which also checks for cycles).

The issue's target: trio_dag at most 5x graphlib at 100,000 nodes
(``run_all.py`` prints the ratio).

How to run::

    python perf/bench_build.py --fast -o build.json          # pyperf
    python perf/bench_build.py --sizes 1000,10000             # fewer sizes
    python perf/bench_build.py --smoke                        # each workload once, tiny
"""

from __future__ import annotations

import functools
import graphlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import _common
import _graphs

import trio_dag as td

SIZES = (1_000, 10_000, 100_000)
KINDS = ("trio_dag", "graphlib")

Spec = tuple[list[str], list[list[str]]]


@functools.cache
def spec(n: int) -> Spec:
    """Node names and, per node, its parents' names, for the ``n``-node graph."""
    return spec_of(_graphs.layered_parents(n))


def spec_of(parents: Sequence[Sequence[int]]) -> Spec:
    """Node names and parent names of a parents list."""
    names = [_graphs.name(i) for i in range(len(parents))]
    return names, [[names[p] for p in ps] for ps in parents]


def build_trio_dag(names: list[str], deps: list[list[str]]) -> type[td.DAG]:
    """Build (and so validate and compile) the graph with ``td.DAG.from_nodes``."""
    f = _graphs.f
    return td.DAG.from_nodes(
        "build", [td.Node(nm, f, deps=ds) for nm, ds in zip(names, deps, strict=True)]
    )


def build_graphlib(names: list[str], deps: list[list[str]]) -> list[str]:
    """Build the graph with ``graphlib`` and compute its static order."""
    ts: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for nm, ds in zip(names, deps, strict=True):
        ts.add(nm, *ds)
    return list(ts.static_order())


BUILDERS: dict[str, Callable[[list[str], list[list[str]]], Any]] = {
    "trio_dag": build_trio_dag,
    "graphlib": build_graphlib,
}


def time_build(kind: str, n: int) -> Callable[[int], float]:
    """pyperf ``time_func`` for one builder and size (the spec is built untimed)."""
    builder = BUILDERS[kind]

    def time_func(loops: int) -> float:
        names, deps = spec(n)
        t0 = time.perf_counter()
        for _ in range(loops):
            builder(names, deps)
        return time.perf_counter() - t0

    return time_func


def smoke(n: int = 300) -> dict[str, Any]:
    """Each builder once on an ``n``-node graph; returns what each built."""
    names, deps = spec(n)
    return {kind: build(names, deps) for kind, build in BUILDERS.items()}


def main() -> None:
    if _common.smoke_requested():
        out = smoke()
        print("bench_build smoke OK:", {k: type(v).__name__ for k, v in out.items()})
        return
    runner, sizes = _common.make_runner(SIZES)
    for n in sizes:
        for kind in KINDS:
            runner.bench_time_func(f"build_{kind}_{n}", time_build(kind, n))


if __name__ == "__main__":
    main()
