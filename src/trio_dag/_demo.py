"""The demo workflow shipped with trio_dag: a small nightly sales report.

Simulated I/O (``trio.sleep``) stands in for network calls, so the demo shows
what runs concurrently, in what order, and what a retry looks like.
"""

from __future__ import annotations

import statistics
from typing import Any

import trio

from ._context import current_attempt
from ._dag import DAG
from ._declare import get, input, node
from ._retry import RetryPolicy

__all__ = ["SalesReport"]


class SalesReport(DAG):
    """Fetch orders and exchange rates, convert, aggregate per region, and report."""

    day = input(default="2026-11-26")
    currency = input(default="EUR")

    @node
    async def orders(day: str) -> list[dict[str, Any]]:
        """Orders of the day (a simulated 0.30 s database query)."""
        await trio.sleep(0.30)
        regions = ("north", "south", "east", "west")
        return [
            {"id": k, "region": regions[k % 4], "amount": 10.0 + (k * 37) % 90, "cur": "USD"}
            for k in range(40)
        ]

    @node(retry=RetryPolicy(max_attempts=3, initial_delay=0.05, jitter="none"))
    async def rates(day: str, currency: str) -> dict[str, float]:
        """Exchange rates (a flaky 0.10 s API call: the first attempt times out)."""
        await trio.sleep(0.10)
        if current_attempt().attempt == 1:
            raise ConnectionError("rates API timed out (simulated)")
        return {"USD": 0.92 if currency == "EUR" else 1.0}

    @node
    async def customers(day: str) -> int:
        """Active customers (a simulated 0.20 s service call)."""
        await trio.sleep(0.20)
        return 31

    @node
    async def converted(orders: list[dict[str, Any]], rates: dict[str, float]) -> list[float]:
        """Order amounts in the report currency."""
        return [o["amount"] * rates[o["cur"]] for o in orders]

    @node
    async def by_region(orders: list[dict[str, Any]], converted: list[float]) -> dict[str, float]:
        """Revenue per region."""
        totals: dict[str, float] = {}
        for o, amount in zip(orders, converted, strict=True):
            totals[o["region"]] = totals.get(o["region"], 0.0) + amount
        return {k: round(v, 2) for k, v in sorted(totals.items())}

    @node
    async def summary(
        by_region: dict[str, float],
        converted: list[float],
        customers: int,
        cur: str = get("currency"),
        day: str = get("day"),
    ) -> str:
        """A one-line report."""
        total = sum(by_region.values())
        return (
            f"{day}: {len(converted)} orders, revenue {total:.2f} {cur}, "
            f"median order {statistics.median(converted):.2f} {cur}, {customers} customers"
        )
