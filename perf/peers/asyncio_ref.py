"""The asyncio reference: ``asyncio.TaskGroup`` driven by ``graphlib.TopologicalSorter``.

Every node is a task started as soon as the sorter says it is ready: a node's
task, when done, marks itself done and starts every node that became ready.
The sorter is single-use, so each run makes one (from a dict built once).
All runs of one :data:`~peers.Runner` call share one ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import graphlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from peers import Parents, Runner


async def _f(*deps: Any) -> int:
    return 1


async def run_graph(
    graph: dict[int, tuple[int, ...]],
    parents: Parents,
    fn: Callable[..., Awaitable[Any]] = _f,
) -> list[Any]:
    """One run of the graph (node ``i`` awaits ``fn(*parent_values)``); values by index."""
    ts = graphlib.TopologicalSorter(graph)
    ts.prepare()
    values: list[Any] = [None] * len(parents)
    async with asyncio.TaskGroup() as tg:

        async def node(i: int) -> None:
            values[i] = await fn(*[values[p] for p in parents[i]])
            ts.done(i)
            for j in ts.get_ready():
                tg.create_task(node(j))

        for i in ts.get_ready():
            tg.create_task(node(i))
    return values


def prepare(parents: Parents) -> Runner:
    """The asyncio runner of ``parents``."""
    graph = {i: tuple(ps) for i, ps in enumerate(parents)}

    def runner(loops: int) -> tuple[float, list[Any]]:
        async def main() -> tuple[float, list[Any]]:
            out: list[Any] = []
            t0 = time.perf_counter()
            for _ in range(loops):
                out = await run_graph(graph, parents)
            return time.perf_counter() - t0, out

        return asyncio.run(main())

    return runner
