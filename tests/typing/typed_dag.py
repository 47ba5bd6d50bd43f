"""Typed access to results, checked by mypy and pyright (tests/test_typing.py).

Each ``reveal_type`` line ends with the type each checker must reveal; each
line marked ``# error`` must be reported, and no other line may be. The
module also imports and runs (the doctest collection imports it), so the
checks sit under ``TYPE_CHECKING``.

Nodes take their dependencies keyword-only (``*,``): pyright checks the first
positional parameter of every function in a class body against the class,
as if it were ``self``; a keyword-only parameter is never taken for ``self``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, reveal_type

import trio_dag as td


class Report(td.DAG):
    day = td.input()
    urls = td.input()

    @td.node
    async def users(*, day: str) -> list[str]:
        return [day]

    @td.node(retry=3, timeout=5.0)
    async def orders(*, day: str) -> dict[str, int]:
        return {day: 1}

    @td.node
    async def summary(*, users: list[str], orders: dict[str, int]) -> str:
        return f"{len(users)} users, {len(orders)} orders"

    @td.node(map_over="urls", on_element_failure="collect")
    async def pages(*, urls: str) -> bytes:
        return urls.encode()

    @td.node(run_in=td.InThread())
    def total(*, orders: dict[str, int]) -> int:
        return sum(orders.values())

    @td.node(run_in="cluster", map_over="urls", chunk_size=2)
    def sizes(*, urls: str) -> int:
        return len(urls)


async def count(users: list[str]) -> int:
    return len(users)


async def main() -> None:
    cluster = {"cluster": td.InThread()}
    result = await Report.run({"day": "2026-11-26", "urls": ["a"]}, placements=cluster)
    summary = result[Report.summary]
    users = result[Report.users]
    pages = result[Report.pages]
    anything = result["summary"]
    direct = await Report.summary(users=["ann"], orders={})
    Extended = Report.extend("ReportPlus", [td.Node("count", count, ("users",))])
    extended = await Extended.run({"day": "2026-11-26", "urls": []}, placements=cluster)
    from_extended = extended[Report.summary]
    failed_pages = result.element_errors(Report.pages)
    total = result[Report.total]
    sizes = result[Report.sizes]
    Generated = td.DAG.from_nodes("Generated", [td.Node("count", count, ("users",))], ["users"])
    wrapped = Report.as_node({"day": "day", "urls": "urls"}, output="summary")
    if TYPE_CHECKING:
        reveal_type(Generated)  # mypy: type[trio_dag._dag.DAG] | pyright: type[DAG]
        reveal_type(Extended)  # mypy: type[typed_dag.Report] | pyright: type[Report]
        reveal_type(wrapped)  # mypy: trio_dag._node.NodeFunction[..., Any] | pyright: NodeFunction[..., Any]  # fmt: skip
        reveal_type(summary)  # mypy: str | pyright: str
        reveal_type(users)  # mypy: list[str] | pyright: list[str]
        reveal_type(pages)  # mypy: list[bytes] | pyright: list[bytes]
        reveal_type(anything)  # mypy: Any | pyright: Any
        reveal_type(direct)  # mypy: str | pyright: str
        reveal_type(from_extended)  # mypy: str | pyright: str
        reveal_type(total)  # mypy: int | pyright: int
        reveal_type(sizes)  # mypy: list[int] | pyright: list[int]
        reveal_type(failed_pages)  # mypy: tuple[trio_dag._status.ElementError, ...] | pyright: tuple[ElementError, ...]  # fmt: skip
        reveal_type(Report.orders)  # mypy: trio_dag._node.NodeFunction[[*, day: str], dict[str, int]] | pyright: NodeFunction[(*, day: str), dict[str, int]]  # fmt: skip
        length: int = result[Report.summary]  # error
        print(length)
        await Report.summary(users=["ann"])  # error
        await Report.summary(users=[1], orders={})  # error

        @td.node  # error
        def not_async(*, day: str) -> str:
            return day


def untyped(result: td.RunResult) -> Any:
    return result["users"]
