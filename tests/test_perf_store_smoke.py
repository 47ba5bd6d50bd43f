"""perf/bench_store.py runs (its --smoke mode: tiny sizes, subprocesses included)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

PERF = Path(__file__).resolve().parents[1] / "perf"
if str(PERF) not in sys.path:
    sys.path.insert(0, str(PERF))

bench_store = importlib.import_module("bench_store")


def test_bench_store_smoke(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bench_store.main(["--smoke", "-o", str(tmp_path / "store.json")])
    out = capsys.readouterr().out
    assert "journaled" in out
    assert "cache hit" in out
    assert "kill -9 -> first body" in out
