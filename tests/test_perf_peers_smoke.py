"""The workloads of perf/bench_{peers,memory,fanout,levels,workflows}.py, tiny and in-process.

Only the trio_dag, raw-trio and asyncio paths run here (the other peers are
optional ``bench`` dependencies); values are checked, timings are not.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

PERF = Path(__file__).resolve().parent.parent / "perf"
sys.path.insert(0, str(PERF))

import _graphs  # noqa: E402
import bench_fanout  # noqa: E402
import bench_levels  # noqa: E402
import bench_memory  # noqa: E402
import bench_peers  # noqa: E402
import bench_workflows  # noqa: E402
import peers  # noqa: E402
from peers import asyncio_ref, harness  # noqa: E402

import trio_dag as td  # noqa: E402

TRIO_ONLY = ("raw", "td_sequential", "td_eager", "asyncio")
WORKFLOWS = PERF.parent / "data" / "workflows"


def test_peers_trio_and_asyncio_agree() -> None:
    assert bench_peers.smoke(150, only=TRIO_ONLY) == list(TRIO_ONLY)


def test_peers_check_rejects_wrong_values() -> None:
    with pytest.raises(AssertionError, match="asyncio: wrong values"):
        bench_peers.check("asyncio", [1, 2], 2)


def test_asyncio_reference_respects_dependencies() -> None:
    parents = _graphs.layered_parents(120, width=7)
    finished: list[int] = []

    async def record(*deps: int) -> int:
        await asyncio.sleep(0)
        finished.append(len(finished))
        return len(finished)

    graph = {i: tuple(ps) for i, ps in enumerate(parents)}
    values = asyncio.run(asyncio_ref.run_graph(graph, parents, record))
    assert sorted(values) == list(range(1, 121))
    for i, ps in enumerate(parents):  # a value is its finishing rank
        assert all(values[p] < values[i] for p in ps)
    assert asyncio_ref.prepare(parents)(2)[1] == [1] * 120


def test_skipped_peers_say_why() -> None:
    big = 10 * max(p.max_nodes for p in peers.PEERS.values())
    reasons = bench_peers.skipped_at(big)
    assert set(reasons) == set(peers.PEERS)
    assert all(r for r in reasons.values())
    assert not set(bench_peers.kinds_at(big)) & {"pipefunc", "hamilton", "dask_sync"}


def test_interleave_summarizes_and_checks() -> None:
    seen: list[str] = []
    rs = {k: bench_peers.runner(k, *_tiny()) for k in ("raw", "td_eager")}
    times = harness.interleave(rs, 3, lambda k, v: seen.append(k))
    assert seen == ["raw", "td_eager"]
    assert all(len(v) == 3 and min(v) > 0 for v in times.values())
    s = harness.summarize(times, 50, "raw")
    assert s["median_ratio_to_raw"]["raw"] == 1.0
    assert s["rounds"] == 3


def _tiny() -> tuple[list[tuple[int, ...]], type[td.DAG]]:
    parents = _graphs.layered_parents(50, width=5)
    return parents, _graphs.dag_of(parents)


def test_memory_all_nodes_in_flight_at_once() -> None:
    assert bench_memory.smoke(300) == {"bare": 300, "raw": 300, "eager": 300, "levels": 300}


def test_memory_measure_counts_bytes_per_waiting_node() -> None:
    m = bench_memory.measure("eager", 400, "tracemalloc")
    assert m["in_flight"] == 400
    assert 200 < m["bytes_per_node"] < 100_000


def test_memory_gate_opens_only_when_all_started() -> None:
    gate = bench_memory.Gate(3)

    async def main() -> list[int]:
        gate.reset()
        got: list[int] = []
        async with trio.open_nursery() as nursery:

            async def one() -> None:
                got.append(await gate())

            nursery.start_soon(one)
            nursery.start_soon(one)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            assert gate.started == 2
            nursery.start_soon(one)
        return got

    assert trio.run(main) == [1, 1, 1]


def test_fanout_map_and_raw_agree() -> None:
    assert bench_fanout.smoke(120) == list(bench_fanout.KINDS)
    with pytest.raises(AssertionError, match="map: wrong map result"):
        bench_fanout.check("map", [0, 2], 2)


def test_levels_measure_small() -> None:
    s = bench_levels.measure(6, 3, 2)
    assert set(s["median_us"]) == set(bench_levels.KINDS)
    assert set(s["barrier_us"]) == {
        "median_of_paired_differences",
        "difference_of_medians",
        "difference_of_minimums",
    }


def test_workflows_smallest_instance() -> None:
    path = bench_workflows.instances(WORKFLOWS)[0]
    s = bench_workflows.measure(path, 1)
    v = s["virtual"]
    assert s["nodes"] == v["tasks"] > 0
    assert v["eager_makespan_s"] == pytest.approx(v["critical_path_s"])
    assert v["levels_makespan_s"] == pytest.approx(v["level_barrier_s"])
    assert v["critical_path_s"] <= v["level_barrier_s"]
