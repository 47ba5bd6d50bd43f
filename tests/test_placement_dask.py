"""InExecutor on a real Dask cluster: a LocalCluster of two worker processes.

One cluster for the whole module (starting one takes a few seconds), made by
a sync fixture; the tests use trio's real clock (the work is real) with every
wait under ``trio.fail_after``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import distributed
import pytest
import trio
from test_placement import Boom, add, boom, flaky, half, make_lock, pid_of, touch, wait_for_file

import trio_dag as td


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def cluster(client: distributed.Client) -> td.InExecutor:
    return td.InExecutor(client.get_executor())


async def test_results_run_on_workers_and_remote_exceptions_keep_their_type(
    cluster: td.InExecutor,
) -> None:
    with trio.fail_after(60):
        assert await cluster.call(add, (2, 3), node="adder") == 5
        pids = {await cluster.call(pid_of, ()) for _ in range(4)}
        assert len(pids) >= 1
        with pytest.raises(Boom, match="bad 9"):
            await cluster.call(boom, (9,), node="boom")


async def test_a_retry_submits_a_new_task_that_really_runs(
    cluster: td.InExecutor, tmp_path: Path
) -> None:
    """Dask's default pure=True would hand the failed task back to an identical call."""
    counter = str(tmp_path / "runs")
    with trio.fail_after(60):
        for attempt in (1, 2, 3):  # as the runtime's retry loop calls it
            try:
                result = await cluster.call(flaky, (counter,), node="flaky")
                break
            except Boom:
                assert attempt == 1
    assert result == "ok after 2 runs"


async def test_a_cancelled_pending_task_never_runs(
    client: distributed.Client, cluster: td.InExecutor, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    marker = tmp_path / "cancelled-ran"
    control = tmp_path / "control-ran"
    # both single-threaded workers busy until we release them
    started = [tmp_path / f"started-{k}" for k in range(2)]
    blockers = [
        client.submit(wait_for_file, str(release), 60.0, str(s), pure=False) for s in started
    ]
    with trio.fail_after(60):
        while not all(s.exists() for s in started):  # noqa: ASYNC110 - files written by workers
            await trio.sleep(0.01)
        with trio.move_on_after(0.5) as cs:  # as fail_fast or a timeout would cancel it
            await cluster.call(touch, (str(marker),), node="never")
        assert cs.cancelled_caught
        # the cancel reached the scheduler: no worker still holds the task
        while any(  # noqa: ASYNC110 - the scheduler's state, not ours to wait on
            "never" in str(key)
            for keys in (await trio.to_thread.run_sync(client.processing)).values()
            for key in keys
        ):
            await trio.sleep(0.05)
        release.write_text("go")
        assert await trio.to_thread.run_sync(client.gather, blockers) == ["released"] * 2
        assert await cluster.call(touch, (str(control),)) == "touched"
    assert control.exists()
    assert not marker.exists()


async def test_chunks_on_the_cluster(cluster: td.InExecutor) -> None:
    with trio.fail_after(60):
        assert await cluster.call_chunk(add, [0, 10], 0, [1, 2, 3], node="plus") == [11, 12, 13]
        with pytest.raises(Boom, match="odd 7") as info:
            await cluster.call_chunk(half, [None], 0, [4, 7], first=100, node="halve")
    assert info.value.__notes__ == ["trio_dag: raised by map element 101 of node 'halve'"]


async def test_serialization_errors_on_the_cluster(cluster: td.InExecutor) -> None:
    with trio.fail_after(60):
        with pytest.raises(td.SerializationError) as info:
            await cluster.call(add, (threading.Lock(), 1), node="adder")
        assert (info.value.part, info.value.argument) == ("argument", "a")
        # an unpicklable result would leave the Dask client waiting forever;
        # the worker pickles it itself, so it comes back as an error instead
        with pytest.raises(td.SerializationError) as info:
            await cluster.call(make_lock, (None,), node="maker")
        assert (info.value.part, info.value.node) == ("result", "maker")
