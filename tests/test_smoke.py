"""End-to-end smoke tests: the demo workflow and the CLI."""

from __future__ import annotations

import pytest
import trio

import trio_dag as td
from trio_dag._cli import main
from trio_dag._demo import SalesReport


@pytest.mark.parametrize(
    "strategy", [td.Sequential(), td.Parallel(), td.Parallel(schedule="levels")]
)
async def test_demo_dag_gives_same_result_under_every_strategy(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    result = await SalesReport.run(strategy=strategy, seed=1)
    assert result.ok
    assert result["summary"].startswith("2026-11-26: 40 orders, revenue 1996.40 EUR")
    assert result.attempts("rates") == 2


def test_cli_demo_prints_order_timings_and_results(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--strategy", "levels"]) == 0
    out = capsys.readouterr().out
    assert "level 0: orders, rates, customers" in out
    assert "FAILED   rates attempt 1: ConnectionError" in out  # the event lines of `run`
    assert "summary = '2026-11-26: 40 orders" in out
