"""Class-body nodes with positional parameters, as most examples write them.

mypy types them too (tests/test_typing.py runs it on this file; pyright
would report the first parameter of each node as an invalid ``self``, see
typed_dag.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, reveal_type

import trio_dag as td


class Shop(td.DAG):
    day = td.input()

    @td.node
    async def orders(day: str) -> list[float]:
        return [12.5, 30.0]

    @td.node
    async def total(orders: list[float], rounding: int = 2) -> float:
        return round(sum(orders), rounding)


async def main() -> None:
    result = await Shop.run({"day": "d"})
    if TYPE_CHECKING:
        reveal_type(result[Shop.total])  # mypy: float | pyright: float
        reveal_type(result[Shop.orders])  # mypy: list[float] | pyright: list[float]
        reveal_type(await Shop.total([1.0]))  # mypy: float | pyright: float
        await Shop.total("x")  # error
