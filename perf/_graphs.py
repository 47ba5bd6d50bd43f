"""Graph generators shared by every benchmark in ``perf/``.

The benchmark graph is a *layered random DAG*: nodes are numbered in layers of
``width`` (100 by default); every node outside the first layer has two distinct
parents drawn at random (seeded, so every process builds the same graph) from
the layer just before it. The same graph is available in two forms:

* :func:`layered_parents` gives ``parents``, a list of parent-index tuples (the
  raw form, used by ``_rawtrio`` and by ``graphlib``);
* :func:`layered_dag` gives a ``td.DAG`` built with ``td.DAG.from_nodes``,
  every node sharing the one trivial async function :func:`f`.

This module measures nothing itself; it is imported by the ``bench_*`` scripts.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from typing import Any

import trio_dag as td

WIDTH = 100
"""Nodes per layer of the layered random DAG."""

SEED = 20261126
"""Seed of the edge choices, so every worker process builds the same graph."""

Parents = list[tuple[int, ...]]


async def f(*deps: Any) -> int:
    """The trivial node body every benchmark node runs: ignores its deps, returns 1."""
    return 1


def name(i: int) -> str:
    """The name of node ``i`` in every form of the graph."""
    return f"n{i}"


def layered_parents(n: int, width: int = WIDTH, seed: int = SEED) -> Parents:
    """``parents[i]``: the parents of node ``i`` of an ``n``-node layered random DAG.

    Node ``i`` is in layer ``i // width``; the first layer has no parents, every
    other node has two distinct parents from the previous layer (one, if that
    layer has a single node).
    """
    rng = random.Random(seed)
    parents: Parents = []
    for i in range(n):
        layer = i // width
        if layer == 0:
            parents.append(())
            continue
        prev = range((layer - 1) * width, layer * width)
        parents.append(tuple(rng.sample(prev, min(2, len(prev)))))
    return parents


def nodes_of(parents: Sequence[Sequence[int]], fn: Callable[..., Any] = f) -> list[td.Node]:
    """The ``td.Node`` specs of the graph, every node running ``fn``."""
    return [td.Node(name(i), fn, deps=[name(p) for p in ps]) for i, ps in enumerate(parents)]


def dag_of(
    parents: Sequence[Sequence[int]], fn: Callable[..., Any] = f, dag_name: str | None = None
) -> type[td.DAG]:
    """The graph as a ``td.DAG`` (``td.DAG.from_nodes``), every node running ``fn``."""
    return td.DAG.from_nodes(dag_name or f"layered{len(parents)}", nodes_of(parents, fn))


@functools.cache
def layered(n: int) -> tuple[Parents, type[td.DAG]]:
    """The ``n``-node layered random DAG in both forms, built once per process."""
    parents = layered_parents(n)
    return parents, dag_of(parents)


def layered_dag(n: int) -> type[td.DAG]:
    """The ``n``-node layered random DAG as a ``td.DAG`` running :func:`f`."""
    return layered(n)[1]
