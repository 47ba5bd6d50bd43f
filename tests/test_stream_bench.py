"""perf/bench_stream.py computes the right thing (not how fast: see perf/)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import trio

PERF = Path(__file__).resolve().parents[1] / "perf"
if str(PERF) not in sys.path:
    sys.path.insert(0, str(PERF))

bench_stream = importlib.import_module("bench_stream")


@pytest.mark.parametrize(("ordered", "width"), bench_stream.FLOOR_CASES)
def test_the_floor_and_the_stream_compute_the_same(ordered: bool, width: int) -> None:
    n = 50
    want = bench_stream.expected(n)
    assert trio.run(bench_stream.floor, n, width, ordered) == want
    assert trio.run(bench_stream.stream_items, n, width, ordered) == want


def test_compare_to_floor_reports_every_case() -> None:
    result = bench_stream.compare_to_floor(10, 1)
    cases = [(c["ordered"], c["max_in_flight"]) for c in result["cases"]]
    assert cases == bench_stream.FLOOR_CASES
    assert all(c["ratio_of_minima"] > 0 for c in result["cases"])
