"""The floor: a hand-written trio scheduler that every engine figure is divided by.

One nursery, one task per node, each task started by whichever dependency
finishes last (a per-run copy of the in-degree counters is decremented as
nodes finish). A node's body builds its argument list from its parents'
values and awaits the node function, as trio_dag's does. The graph is compiled
once, outside any timed region, to integer-indexed tuples (:func:`compile_graph`);
a run copies only the counters. Keep it as lean as possible: it is the reference.

Usage (this module measures nothing by itself)::

    g = compile_graph(_graphs.layered_parents(10_000))
    values = trio.run(run, g)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import trio
from _graphs import f


class RawGraph(NamedTuple):
    """A graph compiled for :func:`run`: everything indexed by node number."""

    parents: tuple[tuple[int, ...], ...]
    dependents: tuple[tuple[int, ...], ...]
    indegree: tuple[int, ...]
    roots: tuple[int, ...]


def compile_graph(parents: Sequence[Sequence[int]]) -> RawGraph:
    """Compile a parents list (``parents[i]``: the parents of node ``i``)."""
    n = len(parents)
    dependents: list[list[int]] = [[] for _ in range(n)]
    for i, ps in enumerate(parents):
        for p in ps:
            dependents[p].append(i)
    return RawGraph(
        tuple(tuple(ps) for ps in parents),
        tuple(tuple(ds) for ds in dependents),
        tuple(len(ps) for ps in parents),
        tuple(i for i, ps in enumerate(parents) if not ps),
    )


async def run(g: RawGraph, fn: Callable[..., Any] = f) -> list[Any]:
    """Run every node of ``g`` with body ``fn``; return the values, by node index."""
    parents, dependents = g.parents, g.dependents
    remaining = list(g.indegree)
    values: list[Any] = [None] * len(parents)

    async def node(i: int) -> None:
        values[i] = await fn(*[values[p] for p in parents[i]])
        for j in dependents[i]:
            r = remaining[j] - 1
            remaining[j] = r
            if not r:
                spawn(node, j, name="node")

    async with trio.open_nursery() as nursery:
        spawn = nursery.start_soon
        for i in g.roots:
            spawn(node, i, name="node")
    return values
