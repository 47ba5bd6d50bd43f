"""The perf/ benchmarks run and compute the right thing (not how fast: see perf/).

Each workload runs once at a tiny size, in-process. The raw trio scheduler
(the floor every figure is divided by) and every trio_dag strategy must
compute the same values on the same graph, and those values must match a
plain Python evaluation of the graph.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

import trio_dag as td

PERF = Path(__file__).resolve().parents[1] / "perf"
if str(PERF) not in sys.path:
    sys.path.insert(0, str(PERF))

_common = importlib.import_module("_common")
_graphs = importlib.import_module("_graphs")
_rawtrio = importlib.import_module("_rawtrio")
bench_build = importlib.import_module("bench_build")
bench_overhead = importlib.import_module("bench_overhead")
bench_recovery = importlib.import_module("bench_recovery")
bench_tuning = importlib.import_module("bench_tuning")
run_all = importlib.import_module("run_all")


async def plus(*deps: int) -> int:
    """A node body whose value depends on every dependency's value."""
    return 1 + sum(deps)


def evaluate(parents: list[tuple[int, ...]]) -> list[int]:
    """``plus`` over the graph in plain Python (parents have lower indices)."""
    values: list[int] = []
    for ps in parents:
        values.append(1 + sum(values[p] for p in ps))
    return values


def test_layered_parents_shape() -> None:
    parents = _graphs.layered_parents(250, width=10, seed=1)
    assert len(parents) == 250
    for i, ps in enumerate(parents):
        layer = i // 10
        if layer == 0:
            assert ps == ()
        else:
            assert len(set(ps)) == 2
            assert all(p // 10 == layer - 1 for p in ps)
    assert parents == _graphs.layered_parents(250, width=10, seed=1)
    assert parents != _graphs.layered_parents(250, width=10, seed=2)


def test_dag_has_the_parents_edges() -> None:
    parents = _graphs.layered_parents(350)
    dag = _graphs.dag_of(parents)
    g = dag.graph
    assert len(g.nodes) == 350
    assert len(g.levels) == 4
    for i, ps in enumerate(parents):
        assert set(g.dependencies(_graphs.name(i))) == {_graphs.name(p) for p in ps}


def test_every_strategy_computes_what_raw_trio_computes() -> None:
    parents = _graphs.layered_parents(120, width=10, seed=3)
    expected = evaluate(parents)
    assert expected[-1] > 2**10  # the values really flow through 12 layers
    out = bench_overhead.smoke(parents, plus)
    assert set(out) == {*bench_overhead.RAW, *bench_overhead.OPTIONS}
    for kind, values in out.items():
        assert values == expected, kind


def test_default_overhead_smoke_runs_every_node() -> None:
    out = bench_overhead.smoke()
    assert all(v == [1] * 300 for v in out.values())


def test_timer_awaits_the_workload_loops_times() -> None:
    calls: list[int] = []

    async def work() -> None:
        calls.append(1)
        await trio.lowlevel.checkpoint()

    elapsed = _common.timer(lambda: work)(3)
    assert len(calls) == 3
    assert elapsed > 0


def test_tuning_smoke_every_option_computes_what_raw_trio_computes() -> None:
    """bench_tuning's kinds (timeout on every node, a one_for_all supervisor) run the
    same graph to the same values; run_all's smoke list runs it."""
    out = bench_tuning.smoke(250)
    assert set(out) == set(bench_tuning.KINDS)
    expected = [1] * 250  # _graphs.f returns 1 whatever its dependencies
    for kind, got in out.items():
        assert got == expected, kind
    assert "bench_tuning.py" in run_all.EXTRA
    plain, timed = bench_tuning.dags(_graphs.layered_parents(250))
    assert timed.graph.order == plain.graph.order


def test_parse_sizes() -> None:
    assert _common.parse_sizes("1000, 10") == (1000, 10)
    with pytest.raises(argparse.ArgumentTypeError, match="--sizes"):
        _common.parse_sizes("0")


def test_build_smoke_builds_the_same_graph() -> None:
    out = bench_build.smoke(300)
    dag, order = out["trio_dag"], out["graphlib"]
    names, deps = bench_build.spec(300)
    assert list(dag.graph.nodes) == names
    assert sorted(order) == sorted(names)
    pos = {nm: k for k, nm in enumerate(order)}
    for nm, ds in zip(names, deps, strict=True):
        assert all(pos[d] < pos[nm] for d in ds)
        assert set(dag.graph.dependencies(nm)) == set(ds)


def test_percentile() -> None:
    xs = [float(x) for x in range(100, 0, -1)]
    assert bench_recovery.percentile(xs, 0.5) == 50.0
    assert bench_recovery.percentile(xs, 0.99) == 99.0
    assert bench_recovery.percentile(xs, 1.0) == 100.0
    assert bench_recovery.percentile([7.0], 0.99) == 7.0


async def test_retry_latency_records_every_failure() -> None:
    with trio.fail_after(10):
        latencies, result = await bench_recovery.measure_retry_latency(25)
    assert result.attempts("flaky") == 26
    assert result["flaky"] == 26
    assert len(latencies) == 25
    assert all(x >= 0 for x in latencies)


async def test_one_for_all_level_restarts_once() -> None:
    with trio.fail_after(10):
        _, failed = await bench_recovery.time_run(bench_recovery.level_dag(30, True))
        _, ok = await bench_recovery.time_run(bench_recovery.level_dag(30, False))
    last = "m29"
    assert failed.ok
    assert ok.ok
    assert failed.attempts(last) == 2
    assert ok.attempts(last) == 1
    assert dict(failed) == dict(ok)
    assert len(ok) == 31


def test_recovery_smoke_and_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out: dict[str, Any] = bench_recovery.smoke()
    a, b = out["retry_latency"], out["one_for_all_restart"]
    assert a["samples"] == 20
    assert 0 <= a["p50_us"] <= a["p99_us"] <= a["max_us"]
    assert b["level_nodes"] == 50
    assert b["median_failing_ms"] > 0
    assert b["median_baseline_ms"] > 0
    (tmp_path / "recovery.json").write_text(json.dumps(out))
    monkeypatch.setattr(run_all, "RESULTS", tmp_path)
    text = run_all.summary()
    assert "Retry latency" in text
    assert "one_for_all restart of a 50-node level" in text


def test_retry_delay_does_not_overflow_after_many_attempts() -> None:
    # Found by bench_recovery: backoff ** (attempt - 1) overflows a float past attempt 1025.
    import trio_dag as td

    zero = td.RetryPolicy(max_attempts=2_000, initial_delay=0, jitter="none")
    assert zero.delay(1_100) == 0.0
    capped = td.RetryPolicy(max_attempts=2_000, initial_delay=1, max_delay=60, jitter="none")
    assert capped.delay(1_100) == 60.0


def test_cpu_work_and_the_placement_report_section() -> None:
    cw = importlib.import_module("_cpu_work")
    lines = cw.records(3)
    assert json.loads(cw.work(lines[0]))["id"] == 0
    assert cw.work_chunk(lines) == [cw.work(x) for x in lines]
    out = cw.Pipeline.run_sync({"lines": lines}, placements={"where": td.InThread()})
    cw.check(out["processed"], 3)
    report = importlib.import_module("report")
    results = {
        "placement": {
            "bench": "placement",
            "rounds": 1,
            "loadavg": [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]],
            "backends": {
                "thread": {
                    "median_us_per_call": {"raw": 100.0, "td": 105.0},
                    "median_ratio": 1.05,
                    "min_ratio": 1.0,
                }
            },
        },
        "cpu_pipeline": {
            "bench": "cpu_pipeline",
            "records": 10_000,
            "rounds": 1,
            "chunk": 500,
            "loadavg_before": [1.0],
            "loadavg_after": [1.0],
            "median_s": {"inline": 5.0, "process": 3.0, "pipefunc": 3.5},
            "min_s": {"inline": 5.0, "process": 3.0, "pipefunc": 3.5},
            "ratio_to_inline": {"inline": 1.0, "process": 0.6, "pipefunc": 0.7},
            "ms_per_record_inline": 0.5,
            "process_vs_best_peer": 3.0 / 3.5,
        },
        "remote_tasks": {
            "bench": "remote_tasks",
            "tasks": 1000,
            "rounds": 1,
            "loadavg_before": [1.0],
            "loadavg_after": [1.0],
            "median_s": {"dask": 1.0, "trio_dag": 1.1},
            "min_s": {"dask": 1.0, "trio_dag": 1.1},
            "ratio": 1.1,
            "min_ratio": 1.1,
        },
    }
    md, _ = report.render(results)
    assert "## Placement: threads, processes, executors, Dask" in md
    assert "| CPU pipeline, `InProcess` chunked vs inline | <= 0.65x | 0.60x" in md
    assert "1,000 tiny remote tasks, trio_dag vs `client.map` + `gather` | <= 1.2x | 1.10x" in md
