"""perf/bench_small_runs.py runs and compares like with like (not how fast: see perf/)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

PERF = Path(__file__).resolve().parents[1] / "perf"
if str(PERF) not in sys.path:
    sys.path.insert(0, str(PERF))

bench_small_runs = importlib.import_module("bench_small_runs")


def test_every_workload_computes_the_same_values() -> None:
    out = bench_small_runs.smoke(250)
    for k in bench_small_runs.SMALL:
        assert out[k] == [1, 1, 1], k
    assert out["plain_loop"] == out["plain_loop_bare"] == out["sequential_n"] == [1] * 250


def test_smoke_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    bench_small_runs.main(["--smoke"])
    assert "bench_small_runs smoke OK" in capsys.readouterr().out


def test_interleaved_reports_every_ratio(tmp_path: Path) -> None:
    out = bench_small_runs.interleaved(rounds=1, batch=2, n=200)
    for clock in ("wall", "cpu"):
        ratios = out[clock]["ratios"]
        assert set(bench_small_runs.TARGETS) <= set(ratios)
        for k, target in bench_small_runs.TARGETS.items():
            assert ratios[k]["target"] == target
            assert ratios[k]["floor"] == bench_small_runs.FLOOR[k]
            assert ratios[k]["median_ratio"] > 0
    text = bench_small_runs.report(out)
    assert "eager / raw_nursery" in text
    assert "sequential_n / plain_loop" in text
    md, _ = importlib.import_module("report").render({"small_runs": out})
    assert "## Small runs and Sequential" in md
    assert "3-node `await Dag.run()` (eager), per run" in md
