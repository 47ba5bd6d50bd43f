"""The floors: hand-written trio schedulers that engine figures are divided by.

* :func:`run`: one nursery, one task per node, each task started by whichever
  dependency finishes last (a per-run copy of the in-degree counters is
  decremented as nodes finish).
* :func:`run_workfirst`: the same, work-first (as Cilk schedules): the task
  that finishes a node runs one of the dependents it made ready itself, in a
  loop, and spawns tasks only for the others. The eager schedule's floor.
* :func:`run_levels`: a nursery per level, one task per node; the floor of
  ``schedule="levels"``.
* :func:`run_limited`: :func:`run_workfirst` with a ``trio.Semaphore`` of
  ``limit`` held around each body (``acquire_nowait()`` first); the floor of
  eager with ``max_concurrency``.

A node's body builds its argument list from its parents' values and awaits the
node function, as trio_dag's does. The graph is compiled once, outside any
timed region, to integer-indexed tuples (:func:`compile_graph`); a run copies
only the counters. Keep them as lean as possible: they are the reference.

Usage (this module measures nothing by itself)::

    g = compile_graph(_graphs.layered_parents(10_000))
    values = trio.run(run, g)
    values = trio.run(run_workfirst, g)
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
    levels: tuple[tuple[int, ...], ...]


def compile_graph(parents: Sequence[Sequence[int]]) -> RawGraph:
    """Compile a parents list (``parents[i]``: the parents of node ``i``)."""
    n = len(parents)
    dependents: list[list[int]] = [[] for _ in range(n)]
    depth = [0] * n  # parents have lower indices: one pass gives every node's level
    for i, ps in enumerate(parents):
        for p in ps:
            dependents[p].append(i)
        depth[i] = 1 + max((depth[p] for p in ps), default=-1)
    levels: list[list[int]] = [[] for _ in range(max(depth, default=-1) + 1)]
    for i, d in enumerate(depth):
        levels[d].append(i)
    return RawGraph(
        tuple(tuple(ps) for ps in parents),
        tuple(tuple(ds) for ds in dependents),
        tuple(len(ps) for ps in parents),
        tuple(i for i, ps in enumerate(parents) if not ps),
        tuple(tuple(lv) for lv in levels),
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


async def run_workfirst(g: RawGraph, fn: Callable[..., Any] = f) -> list[Any]:
    """:func:`run`, work-first: a finishing node's task runs one ready dependent itself."""
    parents, dependents = g.parents, g.dependents
    remaining = list(g.indegree)
    values: list[Any] = [None] * len(parents)

    async def node(i: int) -> None:
        while True:
            values[i] = await fn(*[values[p] for p in parents[i]])
            nxt = -1
            for j in dependents[i]:
                r = remaining[j] - 1
                remaining[j] = r
                if not r:
                    if nxt < 0:
                        nxt = j
                    else:
                        spawn(node, j, name="node")
            if nxt < 0:
                return
            i = nxt

    async with trio.open_nursery() as nursery:
        spawn = nursery.start_soon
        for i in g.roots:
            spawn(node, i, name="node")
    return values


async def run_levels(g: RawGraph, fn: Callable[..., Any] = f) -> list[Any]:
    """A nursery per level, one task per node: the level barrier's floor."""
    parents = g.parents
    values: list[Any] = [None] * len(parents)

    async def node(i: int) -> None:
        values[i] = await fn(*[values[p] for p in parents[i]])

    for level in g.levels:
        async with trio.open_nursery() as nursery:
            spawn = nursery.start_soon
            for i in level:
                spawn(node, i, name="node")
    return values


async def run_limited(g: RawGraph, fn: Callable[..., Any] = f, limit: int = 100) -> list[Any]:
    """:func:`run_workfirst` with at most ``limit`` bodies running (a ``trio.Semaphore``).

    Written out again rather than built on :func:`run_workfirst`: a floor is the
    leanest hand-written code for its case, and a shared helper would add a call
    per node to both.
    """
    parents, dependents = g.parents, g.dependents
    remaining = list(g.indegree)
    values: list[Any] = [None] * len(parents)
    slots = trio.Semaphore(limit)

    async def node(i: int) -> None:
        while True:
            try:
                slots.acquire_nowait()
            except trio.WouldBlock:
                await slots.acquire()
            try:
                values[i] = await fn(*[values[p] for p in parents[i]])
            finally:
                slots.release()
            nxt = -1
            for j in dependents[i]:
                r = remaining[j] - 1
                remaining[j] = r
                if not r:
                    if nxt < 0:
                        nxt = j
                    else:
                        spawn(node, j, name="node")
            if nxt < 0:
                return
            i = nxt

    async with trio.open_nursery() as nursery:
        spawn = nursery.start_soon
        for i in g.roots:
            spawn(node, i, name="node")
    return values
