"""InExecutor on a real Dask cluster: a LocalCluster of two worker processes.

One cluster for the whole module (starting one takes a few seconds), made by
a sync fixture; the tests use trio's real clock (the work is real) with every
wait under ``trio.fail_after``.
"""

from __future__ import annotations

import functools
import gc
import os
import random
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
        dashboard_address=":0",  # a free port: another cluster may hold 8787
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
        # the same retry loop as test_process_retry_runs_the_function_again, on Dask
        for attempt in (1, 2, 3):  # as the runtime's retry loop calls it
            try:
                result = await cluster.call(flaky, (counter,), node="flaky")
                break
            except Boom:
                assert attempt == 1
    assert result == "ok after 2 runs"


async def forgotten(client: distributed.Client, prefix: str) -> None:
    """Wait until neither the scheduler nor a worker knows a task key starting with ``prefix``.

    A cancelled task may already sit in a worker's queue (behind a blocker);
    the worker drops it when the scheduler's message arrives. Releasing the
    blockers before that would let the worker run it.
    """

    def known() -> bool:
        keys = client.run_on_scheduler(_scheduler_keys)
        for per_worker in client.run(_worker_keys).values():
            keys += per_worker
        return any(k.startswith(prefix) for k in keys)

    while await trio.to_thread.run_sync(known):  # noqa: ASYNC110 - nothing to wait on
        await trio.sleep(0.01)


async def busy_workers(client: distributed.Client, tmp_path: Path) -> list[Any]:
    """Occupy both single-threaded workers (one blocker pinned to each) until
    ``tmp_path / "release"`` exists; return the blockers once both run."""
    release = tmp_path / "release"
    blockers = []
    for k, addr in enumerate(sorted(client.scheduler_info()["workers"])):
        started = tmp_path / f"started-{k}"
        blockers.append(
            client.submit(
                wait_for_file,
                str(release),
                60.0,
                str(started),
                workers=[addr],
                allow_other_workers=False,
                pure=False,
            )
        )
        await trio.to_thread.run_sync(wait_for_file, str(started))
    return blockers


async def test_a_cancelled_pending_task_never_runs(
    client: distributed.Client, cluster: td.InExecutor, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    marker = tmp_path / "cancelled-ran"
    control = tmp_path / "control-ran"
    with trio.fail_after(60):
        # both single-threaded workers busy until we release them
        blockers = await busy_workers(client, tmp_path)
        with trio.move_on_after(0.5) as cs:  # as fail_fast or a timeout would cancel it
            await cluster.call(touch, (str(marker),), node="never")
        assert cs.cancelled_caught
        await forgotten(client, "never-")
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


# ------------------------------------------------------- DAGs on the cluster


class OnCluster(td.DAG):
    """Nodes bound to the run's ``"cluster"`` placement."""

    counter = td.input()
    xs = td.input()

    @td.node(run_in="cluster")
    def where(xs: list[int]) -> int:
        return pid_of()

    @td.node(run_in="cluster", retry=td.RetryPolicy(max_attempts=3, initial_delay=0))
    def retried(counter: str) -> str:
        return flaky(counter)

    @td.node(run_in="cluster", map_over="xs", chunk_size=3)
    def plus(xs: int) -> int:
        return add(xs, 100)


class FailsRemotely(td.DAG):
    x = td.input()

    @td.node(run_in="cluster", retry=td.RetryPolicy(max_attempts=2, retry_on=KeyError))
    def remote(x: int) -> None:
        boom(x)


async def test_a_dag_on_the_cluster_results_retries_and_chunks(
    cluster: td.InExecutor, tmp_path: Path
) -> None:
    counter = str(tmp_path / "runs")
    with trio.fail_after(60):
        r = await OnCluster.run(
            {"counter": counter, "xs": list(range(7))}, placements={"cluster": cluster}
        )
        with pytest.raises(td.RunFailed) as info:
            await FailsRemotely.run({"x": 3}, placements={"cluster": cluster})
    assert r["where"] != os.getpid()
    assert r["retried"] == "ok after 2 runs"  # the retry was a new task that really ran
    assert r.attempts("retried") == 2
    assert r["plus"] == [x + 100 for x in range(7)]
    assert r.attempts("plus") == 3  # chunks of 3, 3, 1
    err = info.value.result.errors["remote"]
    assert type(err) is Boom  # the remote exception keeps its type
    assert info.value.result.attempts("remote") == 1  # Boom is not a KeyError


class Touches(td.DAG):
    marker = td.input()

    @td.node(run_in="cluster")
    def never(marker: str) -> str:
        return touch(marker)


def _scheduler_keys(dask_scheduler: Any) -> list[str]:
    return [str(k) for k in dask_scheduler.tasks]


def _worker_keys(dask_worker: Any) -> list[str]:
    return [str(k) for k in dask_worker.state.tasks]


async def _submitted(client: distributed.Client, prefix: str) -> bool:
    found = await trio.to_thread.run_sync(client.run_on_scheduler, _scheduler_keys)
    return any(k.startswith(prefix) for k in found)


async def test_fail_fast_cancels_a_pending_remote_task_which_never_runs(
    client: distributed.Client, cluster: td.InExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "cancelled-ran"

    class FailFast(Touches):
        @td.node
        async def fails() -> None:
            # until never's task is queued: the scheduler has no event to wait on
            while not await _submitted(client, "never-"):  # noqa: ASYNC110
                await trio.sleep(0.01)
            raise Boom("fail fast")

    with trio.fail_after(60):
        blockers = await busy_workers(client, tmp_path)
        try:
            with pytest.raises(td.RunFailed) as info:
                await FailFast.run({"marker": str(marker)}, placements={"cluster": cluster})
            await forgotten(client, "never-")
        finally:
            (tmp_path / "release").write_text("go")
        assert await trio.to_thread.run_sync(client.gather, blockers) == ["released"] * 2
        assert await cluster.call(touch, (str(tmp_path / "control"),)) == "touched"
    assert isinstance(info.value.__cause__, Boom)
    assert info.value.result.statuses["never"] == td.NodeStatus.CANCELLED
    assert not marker.exists()


async def test_concurrent_calls_results_come_back_each_to_its_caller(
    cluster: td.InExecutor,
) -> None:
    """Results of tasks that finish together are fetched in one batch, then handed out."""
    results: dict[int, int] = {}

    async def one(x: int) -> None:
        results[x] = await cluster.call(add, (x, 1000), node="many")

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            for x in range(40):
                nursery.start_soon(one, x)
        # a caller cancelled while its result is being fetched gets nothing, others do
        with trio.move_on_after(0):
            await cluster.call(add, (1, 1))
        assert await cluster.call(add, (2, 2)) == 4
    assert results == {x: x + 1000 for x in range(40)}


class ManyTiny(td.DAG):
    xs = td.input()

    @td.node(run_in="cluster", map_over="xs")
    def plus(xs: int) -> int:
        return add(xs, 1)


async def test_a_map_of_tiny_calls_is_submitted_in_one_batch(
    client: distributed.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A map's workers start one another, one per pass: the batch waits for them all.

    trio runs a pass's tasks in a random order, so a pass that adds no call does
    not mean that none will come: waiting for one quiet pass sent 1,000 calls in
    about 240 ``client.map`` calls; the batch now waits for two quiet passes.
    """
    maps: list[int] = []
    real_map = client.map

    def counted_map(*args: Any, **kwargs: Any) -> Any:
        maps.append(len(kwargs["key"]))
        return real_map(*args, **kwargs)

    monkeypatch.setattr(client, "map", counted_map)
    placements = {"cluster": td.InExecutor(client.get_executor())}
    with trio.fail_after(120):
        r = await ManyTiny.run({"xs": list(range(200))}, placements=placements)
    assert r["plus"] == [x + 1 for x in range(200)]
    assert sum(maps) == 200  # none was submitted alone
    assert len(maps) <= 2
    assert 0 not in maps  # no empty batch goes to the scheduler


async def test_many_cancelled_calls_are_cancelled_in_one_request(
    client: distributed.Client,
    cluster: td.InExecutor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Calls cancelled together (one cancel scope) cost the scheduler one request."""
    cancels: list[int] = []
    real_cancel = client.cancel

    def counted_cancel(futures: Any, *args: Any, **kwargs: Any) -> Any:
        cancels.append(len(futures))
        return real_cancel(futures, *args, **kwargs)

    monkeypatch.setattr(client, "cancel", counted_cancel)
    markers = [tmp_path / f"ran-{k}" for k in range(12)]
    with trio.fail_after(60):
        blockers = await busy_workers(client, tmp_path)
        try:
            async with trio.open_nursery() as nursery:
                for marker in markers:
                    nursery.start_soon(
                        functools.partial(cluster.call, touch, (str(marker),), node="cancelme")
                    )
                while not await _submitted(client, "cancelme-"):  # noqa: ASYNC110
                    await trio.sleep(0.01)
                nursery.cancel_scope.cancel()
            await forgotten(client, "cancelme-")
        finally:
            (tmp_path / "release").write_text("go")
        assert await trio.to_thread.run_sync(client.gather, blockers) == ["released"] * 2
    assert cancels == [12]
    assert not any(m.exists() for m in markers)


async def test_delivered_results_release_their_tasks(client: distributed.Client) -> None:
    """Once its value is handed over, a call's future goes: Dask forgets the task."""
    placements = {"cluster": td.InExecutor(client.get_executor())}
    with trio.fail_after(60):
        r = await ManyTiny.run({"xs": list(range(30))}, placements=placements)
        assert r["plus"] == [x + 1 for x in range(30)]
        while any(str(k).startswith("plus-") for k in client.futures):  # noqa: ASYNC110
            await trio.sleep(0.01)  # released on the client's loop, soon after
        while await _submitted(client, "plus-"):  # noqa: ASYNC110
            await trio.sleep(0.01)


async def test_results_of_a_busy_client_are_fetched_in_windows(
    client: distributed.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many calls in flight: one gather per window, not one per handful of results."""
    from trio_dag import _place_dask

    gathers: list[int] = []
    real_gather = client.gather

    def counted_gather(futures: Any, *args: Any, **kwargs: Any) -> Any:
        gathers.append(len(futures))
        return real_gather(futures, *args, **kwargs)

    monkeypatch.setattr(client, "gather", counted_gather)
    monkeypatch.setattr(_place_dask, "_BUSY", 0)
    monkeypatch.setattr(_place_dask, "_WINDOW", 0.25)
    placements = {"cluster": td.InExecutor(client.get_executor())}
    with trio.fail_after(120):
        t0 = trio.current_time()
        r = await ManyTiny.run({"xs": list(range(100))}, placements=placements)
        elapsed = trio.current_time() - t0
    assert r["plus"] == [x + 1 for x in range(100)]
    assert sum(gathers) == 100
    # one gather per window (and the first, at once): about 20 without windows
    assert len(gathers) <= 2 + elapsed / 0.25


async def test_a_lone_call_is_fetched_at_once(
    cluster: td.InExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Few calls in flight: no window, whatever its length."""
    from trio_dag import _place_dask

    monkeypatch.setattr(_place_dask, "_WINDOW", 3600.0)
    with trio.fail_after(60):
        assert await cluster.call(add, (40, 2), node="lone") == 42
        async with trio.open_nursery() as nursery:
            for x in range(5):
                nursery.start_soon(functools.partial(cluster.call, add, (x, 1), node="few"))


async def test_a_call_on_a_client_closed_under_it_raises_instead_of_hanging(
    client: distributed.Client, tmp_path: Path
) -> None:
    """Closing cancels the client's futures: the waiting caller gets an error that
    says so, at once (Dask's own ``result()`` could then wait for ever)."""
    other = await trio.to_thread.run_sync(
        functools.partial(distributed.Client, client.scheduler.address, set_as_default=False)
    )
    placement = td.InExecutor(other.get_executor())
    started = tmp_path / "started"
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:

            async def close_when_started() -> None:
                await trio.to_thread.run_sync(wait_for_file, str(started))
                await trio.to_thread.run_sync(other.close)
                (tmp_path / "never").write_text("go")  # frees the worker for the next tests

            nursery.start_soon(close_when_started)
            with pytest.raises(RuntimeError, match="'orphan': the Dask client was closed"):
                await placement.call(
                    wait_for_file, (str(tmp_path / "never"), 30.0, str(started)), node="orphan"
                )


async def test_calls_cancelled_at_random_moments_leave_nothing_behind(
    client: distributed.Client,
) -> None:
    """Queued, submitted, finished, being fetched: a cancel at any moment is clean.

    Each caller gives up after its own random delay (some before submission,
    some while their task runs, some while their value is on its way to
    trio): every call either returns its own value or is cancelled, none
    hangs, and afterwards the client holds no future of theirs. (Once in a
    few runs a cancelled call's future is freed only by the cycle collector,
    through a cycle not traced yet: the test runs it before each look.)
    """
    placement = td.InExecutor(client.get_executor())
    got: dict[int, int] = {}
    cancelled: list[int] = []

    async def one(x: int, patience: float) -> None:
        with trio.move_on_after(patience) as scope:
            got[x] = await placement.call(add, (x, 1), node="jittery")
        if scope.cancelled_caught:
            cancelled.append(x)

    rng = random.Random(11)
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:  # both workers warm (imports done)
            for x in range(4):
                nursery.start_soon(one, x, 60.0)
        for _ in range(3):
            got.clear()
            cancelled.clear()
            async with trio.open_nursery() as nursery:
                for x in range(80):
                    patience = rng.choice([0.0, rng.uniform(0.0, 0.3), 60.0])
                    nursery.start_soon(one, x, patience)
            assert sorted([*got, *cancelled]) == list(range(80))
            assert got == {x: x + 1 for x in got}
            assert got  # some calls returned
            assert cancelled  # and some were cancelled
        gc.collect()
        while any(str(k).startswith("jittery-") for k in client.futures):
            await trio.sleep(0.01)
            gc.collect()
        assert await placement.call(add, (1, 1)) == 2  # the client still serves


async def test_a_kept_remote_error_does_not_keep_its_task_on_the_cluster(
    client: distributed.Client, cluster: td.InExecutor
) -> None:
    """The error's traceback runs through Dask's frames, which held the future.

    A result kept with its errors (as a failed run's is) must not keep the
    failed task's key, and its exception, on the scheduler: the frames are
    cleared, so reference counting alone releases the future (the cycle
    collector is off here: it might not run for minutes in a big process).
    """
    gc.collect()
    gc.disable()
    try:
        with trio.fail_after(60):
            with pytest.raises(td.RunFailed) as info:
                await FailsRemotely.run({"x": 3}, placements={"cluster": cluster})
            err = info.value.result.errors["remote"]
            assert type(err) is Boom
            assert "boom" in "".join(traceback.format_tb(err.__traceback__))  # still told
            while any(str(k).startswith("remote-") for k in client.futures):  # noqa: ASYNC110
                await trio.sleep(0.01)
            while await _submitted(client, "remote-"):  # noqa: ASYNC110
                await trio.sleep(0.01)
    finally:
        gc.enable()
