"""Draw the pictures of docs/observing-runs.rst into docs/_static/.

Run from the repository root: ``python docs/make_pictures.py``. The run uses
trio's virtual clock, so the pictures are the same on every machine (up to
the run id).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import trio
import trio.testing
from rich.console import Console

import trio_dag as td
from trio_dag.instruments import ProgressDisplay, Timeline

STATIC = Path(__file__).resolve().parent / "_static"


class NightlyEtl(td.DAG):
    """A nightly load: a flaky rates API (retried), a lookup that fails."""

    day = td.input(default="2026-11-26")

    @td.node
    async def extract_orders(day: str) -> list[int]:
        await trio.sleep(0.8)
        return list(range(10))

    @td.node
    async def extract_customers(day: str) -> int:
        await trio.sleep(0.5)
        return 3

    @td.node(retry=td.RetryPolicy(max_attempts=3, initial_delay=0.2, jitter="none"))
    async def fetch_rates(day: str) -> float:
        await trio.sleep(0.3)
        if td.current_attempt().attempt < 3:
            raise ConnectionError("rates API timed out")
        return 0.92

    @td.node
    async def clean(extract_orders: list[int]) -> list[int]:
        await trio.sleep(0.4)
        return extract_orders

    @td.node
    async def enrich(clean: list[int], extract_customers: int) -> int:
        await trio.sleep(0.6)
        return 1

    @td.node
    async def convert(clean: list[int], fetch_rates: float) -> int:
        await trio.sleep(0.3)
        return 1

    @td.node
    async def geo_lookup(clean: list[int]) -> int:
        await trio.sleep(0.35)
        raise KeyError("no region for order 7")

    @td.node
    async def aggregate(enrich: int, convert: int) -> int:
        await trio.sleep(0.5)
        return 1

    @td.node
    async def report(aggregate: int, geo_lookup: int) -> int:
        await trio.sleep(0.2)
        return 1

    @td.node
    async def audit_log(extract_customers: int) -> int:
        await trio.sleep(1.4)
        return 1


def _offline(svg: str) -> str:
    """Drop the web-font URLs of rich's SVG export (the local font is used)."""
    return re.sub(r',\s*url\("https?://[^"]*"\)\s*format\("[^"]*"\)', "", svg)


async def main() -> None:
    timeline = Timeline()
    shot = Console(record=True, width=84, force_terminal=True, file=io.StringIO())
    display = ProgressDisplay(Console(file=io.StringIO()))

    async def snapshot() -> None:
        await trio.sleep(1.35)  # while fetch_rates waits for its third attempt
        shot.print(display)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(snapshot)
        try:
            await NightlyEtl.run(instruments=[timeline, display])
        except td.RunFailed as exc:
            print(exc.result.report())
    print(display.console.file.getvalue())  # type: ignore[attr-defined]
    timeline.write_svg(STATIC / "timeline.svg")
    (STATIC / "progress.svg").write_text(
        _offline(shot.export_svg(title="ProgressDisplay")), encoding="utf-8"
    )


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
