"""Placed nodes in runs (issue 11): every supervision feature on ``run_in=`` nodes.

Real threads, real trio-parallel worker processes and real executors, so
these tests use trio's real clock (a virtual clock would jump ahead while a
thread works); every wait sits under ``trio.fail_after``. Where an order
matters it is forced with events and files; the few real sleeps only ever
need to be *longer than a timeout that has already been entered*, which trio
guarantees whatever the machine's load.

DAGs whose bodies go to a process are defined at module level: their node
functions pickle by reference (``test_placement_runs.Procs.cpu``).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import trio
from test_placement import (
    Boom,
    Peak,
    add,
    boom,
    flaky,
    half,
    pid_alive,
    pid_of,
    write_pid_and_hang,
)

import trio_dag as td
from trio_dag._adapters import ByName
from trio_dag._place_thread import _guarded

# ------------------------------------------------------------------ helpers


class Overruns(td.Instrument):
    """Records node_overran events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, str]] = []

    def node_overran(self, node: str, attempt: int, action: str) -> None:
        self.events.append((node, attempt, action))


# ------------------------------------------------- DAGs with process bodies


class Procs(td.DAG):
    """Bodies in worker processes, one of them taking its dependency via get()."""

    n = td.input()

    @td.node(run_in=td.InProcess())
    def cpu(n: int) -> tuple[int, int]:
        return sum(range(n)), os.getpid()

    @td.node(run_in=td.InProcess())
    def keyword(cpu: tuple[int, int], *, size: int = td.get("n")) -> int:
        return cpu[0] + size  # keyword-only: called by name, through a picklable adapter


class ProcChunks(td.DAG):
    xs = td.input()

    @td.node(run_in=td.InProcess(), map_over="xs", chunk_size=4)
    def halves(xs: int) -> int:
        return half(xs)

    @td.node(run_in=td.InProcess(), map_over="xs", chunk_size=3)
    def pids(xs: int) -> int:
        return os.getpid()


class ProcFlaky(td.DAG):
    counter = td.input()

    @td.node(run_in=td.InProcess(), retry=td.RetryPolicy(max_attempts=3, initial_delay=0))
    def retried(counter: str) -> str:
        return flaky(counter)


class ProcHang(td.DAG):
    pid_file = td.input()

    @td.node(run_in=td.InProcess(), timeout=5.0)
    def hang(pid_file: str) -> None:
        write_pid_and_hang(pid_file)


class Unpicklable(td.DAG):
    @td.node
    async def lock() -> Any:
        return threading.Lock()

    @td.node(run_in=td.InProcess(), retry=td.RetryPolicy(max_attempts=3, initial_delay=0))
    def count(lock: Any) -> int:
        return 1


# ------------------------------------------------------------------ results


async def test_def_nodes_run_in_threads_processes_and_executors() -> None:
    main = threading.get_ident()

    with cf.ThreadPoolExecutor(2) as pool:

        class Mixed(td.DAG):
            a = td.input()

            @td.node(run_in=td.InThread())
            def in_thread(a: int) -> tuple[int, int]:
                return a + 1, threading.get_ident()

            @td.node(run_in=td.InExecutor(pool))
            def in_pool(in_thread: tuple[int, int]) -> tuple[int, int]:
                return in_thread[0] * 10, threading.get_ident()

            @td.node
            async def on_loop(in_pool: tuple[int, int]) -> int:
                return in_pool[0] + 1

        with trio.fail_after(30):
            r = await Mixed.run({"a": 1})
            r2 = await Procs.run({"n": 10})
    assert r["on_loop"] == 21
    assert r["in_thread"][1] != main
    assert r["in_pool"][1] != main
    assert r2["cpu"][0] == 45
    assert r2["cpu"][1] != os.getpid()
    assert r2["keyword"] == 55
    # a placed node stays callable as the plain function
    assert Mixed.in_thread(a=1)[0] == 2


async def test_from_nodes_takes_placed_sync_functions() -> None:
    G = td.DAG.from_nodes(
        "G",
        [
            td.Node("s", add, deps=("x", "y"), run_in=td.InThread()),
            td.Node("p", add, deps=("s", "x"), run_in=td.InProcess(), retry=2),
        ],
        inputs=("x", "y"),
    )
    with trio.fail_after(30):
        r = await G.run({"x": 1, "y": 2})
    assert (r["s"], r["p"]) == (3, 4)


async def test_sequential_and_level_strategies_run_placed_nodes() -> None:
    class Seq(td.DAG):
        @td.node(run_in=td.InThread())
        def a() -> int:
            return 1

        @td.node(run_in=td.InThread("abandon"), timeout=10)
        def b(a: int) -> int:
            return a + 1

    with trio.fail_after(10):
        for strategy in (td.Sequential(), td.Parallel(schedule="levels"), td.Parallel()):
            assert (await Seq.run(strategy=strategy))["b"] == 2


# ------------------------------------------------------------------ retries


async def test_retries_of_a_flaky_thread_body() -> None:
    calls: list[int] = []

    class Flaky(td.DAG):
        @td.node(run_in=td.InThread(), retry=td.RetryPolicy(max_attempts=3, initial_delay=0))
        def n() -> str:
            calls.append(1)
            if len(calls) < 3:
                raise Boom(f"call {len(calls)}")
            return "ok"

    with trio.fail_after(10):
        r = await Flaky.run()
    assert r["n"] == "ok"
    assert r.attempts("n") == 3


async def test_retries_of_a_flaky_process_body(tmp_path: Path) -> None:
    counter = str(tmp_path / "runs")
    with trio.fail_after(60):
        r = await ProcFlaky.run({"counter": counter})
    assert r["retried"] == "ok after 2 runs"
    assert r.attempts("retried") == 2


async def test_a_serialization_error_is_never_retried() -> None:
    with trio.fail_after(30), pytest.raises(td.RunFailed) as info:
        await Unpicklable.run()
    err = info.value.result.errors["count"]
    assert isinstance(err, td.SerializationError)
    assert (err.node, err.part, err.argument) == ("count", "argument", "lock")
    assert info.value.result.attempts("count") == 1  # the policy allowed 3


async def test_remote_exceptions_keep_their_type() -> None:
    G = td.DAG.from_nodes("G", [td.Node("b", boom, deps=("x",), run_in=td.InProcess())], ["x"])
    with trio.fail_after(30), pytest.raises(td.RunFailed) as info:
        await G.run({"x": 4})
    assert isinstance(info.value.__cause__, Boom)
    assert str(info.value.__cause__) == "bad 4"


# ---------------------------------------------------------------- timeouts


async def test_thread_wait_timeout_finishes_the_call_but_counts_as_timed_out() -> None:
    release = threading.Event()
    started = threading.Event()
    finished: list[str] = []
    rec = Overruns()

    class Slow(td.DAG):
        @td.node(run_in=td.InThread("wait"), timeout=0.05)
        def slow() -> str:
            started.set()
            release.wait(20)
            finished.append("body")
            return "late"

    outcome: list[BaseException] = []

    async def run() -> None:
        try:
            await Slow.run(instruments=[rec])
        except td.RunFailed as exc:
            outcome.append(exc)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            await trio.to_thread.run_sync(started.wait, 20)
            await trio.sleep(0.3)  # the 0.05 s timeout has fired; the attempt still waits
            assert outcome == []
            assert finished == []
            release.set()
    assert finished == ["body"]
    (exc,) = outcome
    assert isinstance(exc, td.RunFailed)
    assert isinstance(exc.result.errors["slow"], trio.TooSlowError)  # timed out, result dropped
    assert "slow" not in exc.result
    assert exc.result.duration("slow") >= 0.3  # it ended only when its body did
    assert rec.events == [("slow", 1, "wait")]


async def test_thread_abandon_timeout_ends_at_once_and_reports_the_overrun() -> None:
    release = threading.Event()
    done = threading.Event()
    rec = Overruns()

    class Stuck(td.DAG):
        @td.node(
            run_in=td.InThread("abandon"),
            timeout=0.05,
            retry=td.RetryPolicy(max_attempts=2, initial_delay=0),
        )
        def stuck() -> None:
            release.wait(20)
            done.set()

    with trio.fail_after(30):
        with pytest.raises(td.RunFailed) as info:
            await Stuck.run(instruments=[rec])
        assert not done.is_set()  # the bodies still run, abandoned
        release.set()
        await trio.to_thread.run_sync(done.wait, 20)
    assert isinstance(info.value.result.errors["stuck"], trio.TooSlowError)
    assert info.value.result.attempts("stuck") == 2
    assert rec.events == [("stuck", 1, "abandon"), ("stuck", 2, "abandon")]


async def test_a_timeout_kills_a_process_body(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    rec = Overruns()
    with trio.fail_after(60):
        await td.InProcess().call(pid_of, ())  # a warm worker: the body starts at once
        t0 = trio.current_time()
        with pytest.raises(td.RunFailed) as info:
            await ProcHang.run({"pid_file": str(pid_file)}, instruments=[rec])
        elapsed = trio.current_time() - t0
    assert isinstance(info.value.result.errors["hang"], trio.TooSlowError)
    assert elapsed < 30  # not the 60 s the body sleeps
    pid = int(pid_file.read_text())
    assert pid != os.getpid()
    assert not pid_alive(pid)  # killed (SIGKILL) and reaped
    assert rec.events == []  # a kill interrupts the body: no overrun


# ------------------------------------------- fail_fast, restarts, deadline


class _Recording(cf.ThreadPoolExecutor):
    """A thread pool that says when something was submitted to it."""

    def __init__(self) -> None:
        super().__init__(1)
        self.submitted = threading.Event()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        fut = super().submit(fn, *args, **kwargs)
        self.submitted.set()
        return fut


async def test_fail_fast_cancels_a_pending_executor_future_which_never_runs(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    release = threading.Event()
    with _Recording() as pool:
        blocker = pool.submit(release.wait, 20)  # the pool's only worker is busy
        pool.submitted.clear()

        class FailFast(td.DAG):
            @td.node(run_in=td.InExecutor(pool))
            def never() -> None:
                marker.write_text("ran")

            @td.node
            async def fails() -> None:
                await trio.to_thread.run_sync(pool.submitted.wait, 10)  # never's call is queued
                raise Boom("fail fast")

        with trio.fail_after(30):
            with pytest.raises(td.RunFailed) as info:
                await FailFast.run()
            release.set()
            await td.wait_future(blocker)
            await td.wait_future(pool.submit(add, 0, 0))  # everything queued has run
    assert isinstance(info.value.__cause__, Boom)
    assert info.value.result.statuses["never"] == td.NodeStatus.CANCELLED
    assert not marker.exists()


async def test_one_for_all_restarts_a_placed_level_mate() -> None:
    runs: list[str] = []
    placed_done = threading.Event()

    class Level(td.DAG):
        supervisor = td.Supervisor(strategy="one_for_all")

        @td.node(run_in=td.InThread())
        def placed() -> str:
            runs.append("placed")
            placed_done.set()
            return "p"

        @td.node(retry=td.RetryPolicy(max_attempts=2, initial_delay=0))
        async def flaky() -> str:
            # wait until the placed level-mate has finished, so the restart reruns it
            await trio.to_thread.run_sync(placed_done.wait, 10)
            if runs.count("flaky") == 0:
                runs.append("flaky")
                raise Boom("once")
            return "f"

    with trio.fail_after(20):
        r = await Level.run()
    assert (r["placed"], r["flaky"]) == ("p", "f")
    assert runs.count("placed") == 2
    assert r.attempts("placed") == 2


async def test_the_run_deadline_cancels_placed_nodes() -> None:
    release = threading.Event()
    started = threading.Event()
    rec = Overruns()

    class Late(td.DAG):
        @td.node(run_in=td.InThread("abandon"))
        def late() -> None:
            started.set()
            release.wait(20)

    try:
        with trio.fail_after(30):
            with pytest.raises(td.RunFailed) as info:
                await Late.run(deadline=0.1, instruments=[rec])
    finally:
        release.set()
    assert info.value.result.status == td.RunStatus.TIMED_OUT
    assert info.value.result.statuses["late"] == td.NodeStatus.CANCELLED
    # a body that had begun is abandoned (and reported); one that had not never begins
    assert rec.events == ([("late", 1, "abandon")] if started.is_set() else [])


@pytest.mark.parametrize("on_cancel", ["wait", "abandon"])
async def test_a_thread_body_cancelled_before_it_begins_never_runs(on_cancel: str) -> None:
    ran: list[str] = []
    gate = trio.CapacityLimiter(1)
    overruns: list[str] = []
    p = td.InThread(on_cancel, limiter=gate)
    with trio.fail_after(10):
        async with gate:  # the placement's only thread token is taken
            with trio.move_on_after(0.05) as cs:
                await p.call(ran.append, ("body",), on_overrun=overruns.append)
        assert cs.cancelled_caught
        await td.InThread().call(time.sleep, (0.05,))  # a thread that ran late would show
    assert ran == []
    assert overruns == []


async def test_a_cancel_that_reaches_the_thread_before_the_body_stops_it() -> None:
    """The worker thread checks for a cancel before it calls the body (``_guarded``)."""
    ran: list[str] = []
    proceed = threading.Event()

    def worker() -> None:  # the thread was handed the call; the body has not begun
        proceed.wait(10)
        _guarded(ran.append, ("body",))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            with trio.CancelScope() as cs:

                async def cancel_then_proceed() -> None:
                    await trio.sleep(0.01)
                    cs.cancel()
                    await trio.sleep(0.01)
                    proceed.set()

                nursery.start_soon(cancel_then_proceed)
                await trio.to_thread.run_sync(worker)
    assert cs.cancelled_caught
    assert ran == []


async def test_resume_reruns_only_the_failed_placed_node() -> None:
    calls: list[str] = []
    broken = [True]

    class Resumable(td.DAG):
        @td.node(run_in=td.InThread())
        def first() -> int:
            calls.append("first")
            return 1

        @td.node(run_in="where")
        def second(first: int) -> int:
            calls.append("second")
            if broken[0]:
                raise Boom("broken")
            return first + 1

    with trio.fail_after(30):
        with pytest.raises(td.RunFailed) as info:
            await Resumable.run(placements={"where": td.InThread()})
        broken[0] = False
        with pytest.raises(td.InputError, match="'where'"):
            await Resumable.resume(info.value.result)  # names are given again
        r = await Resumable.resume(info.value.result, placements={"where": td.InProcess()})
    assert r["second"] == 2
    assert calls == ["first", "second"]  # the process run is not recorded here


# ------------------------------------------------- named placements, limits


async def test_unbound_names_are_input_errors_before_any_node_runs() -> None:
    ran: list[str] = []

    class Named(td.DAG):
        @td.node
        async def early() -> None:
            ran.append("early")

        @td.node(run_in="cluster", limiter="db")
        def model(early: None) -> int:
            return 1

    with trio.fail_after(10):
        with pytest.raises(td.InputError, match=r"no placement for run_in name\(s\) 'cluster'"):
            await Named.run()
        with pytest.raises(td.InputError, match=r"no limit for limiter name\(s\) 'db'") as info:
            await Named.run(placements={"cluster": td.InThread()})
        assert info.value.missing == ("db",)
        with pytest.raises(td.InputError, match="'cluster'"):
            async with Named.stream([{}]) as results:
                async for _ in results:  # pragma: no cover - never reached
                    pass
        with pytest.raises(td.InvalidOptionError, match=r"placements\['cluster'\] must be"):
            await Named.run(placements={"cluster": "thread"}, limiters={"db": 1})  # type: ignore[dict-item]
        with pytest.raises(td.InvalidOptionError, match=r"limiters\['db'\] must be an int >= 1"):
            await Named.run(placements={"cluster": td.InThread()}, limiters={"db": 0})
        with pytest.raises(td.InvalidOptionError, match="placements must be a mapping"):
            await Named.run(placements=[td.InThread()])  # type: ignore[arg-type]
        assert ran == []
        r = await Named.run(
            placements={"cluster": td.InThread(), "spare": td.InThread()}, limiters={"db": 1}
        )
    assert r["model"] == 1


async def test_a_named_limiter_bounds_attempts_across_placements_and_async_nodes() -> None:
    counter = Peak()
    enter, leave = counter.enter, counter.leave

    def work(x: int) -> int:
        counter.hold(0.05)
        return x

    with cf.ThreadPoolExecutor(4) as pool:

        class Limited(td.DAG):
            xs = td.input()

            @td.node(run_in=td.InThread(), map_over="xs", limiter="db")
            def threads(xs: int) -> int:
                return work(xs)

            @td.node(run_in=td.InExecutor(pool), map_over="xs", limiter="db")
            def pooled(xs: int) -> int:
                return work(xs)

            @td.node(limiter="db")
            async def on_loop(xs: list[int]) -> int:
                enter()
                await trio.sleep(0.05)
                leave()
                return len(xs)

        shared = trio.CapacityLimiter(2)
        with trio.fail_after(30):
            r = await Limited.run({"xs": list(range(8))}, limiters={"db": shared})
            assert counter.peak == 2
            counter.peak = 0
            await Limited.run({"xs": list(range(8))}, limiters={"db": 3})
            assert counter.peak == 3
    assert r["threads"] == r["pooled"] == list(range(8))
    assert shared.borrowed_tokens == 0


async def test_a_run_limiter_that_is_also_the_placements_limiter_is_rejected() -> None:
    """It would deadlock at 1 token: the attempt holds it, the thread call waits for it."""
    lim = trio.CapacityLimiter(1)

    class Shared(td.DAG):
        @td.node(run_in="where", limiter="db")
        def one() -> int:
            return 1

        @td.node(run_in="elsewhere")
        def two() -> int:
            return 2

    with trio.fail_after(10):
        for where in (td.InThread(limiter=lim), td.InProcess(limiter=lim)):
            placements = {"where": where, "elsewhere": td.InThread()}
            with pytest.raises(td.InvalidOptionError, match="node 'one' holds a token") as info:
                await Shared.run(placements=placements, limiters={"db": lim})
            assert (info.value.node, info.value.option, info.value.value) == (
                "one",
                "limiter",
                lim,
            )
            assert lim.borrowed_tokens == 0
        # the same limiter on another node's placement is fine: no node holds it twice
        placements = {"where": td.InThread(), "elsewhere": td.InThread(limiter=lim)}
        r = await Shared.run(placements=placements, limiters={"db": lim})
    assert (r["one"], r["two"]) == (1, 2)


# -------------------------------------------------------------------- maps


async def test_chunked_maps_on_threads_results_in_order_one_call_per_chunk() -> None:
    threads: list[int] = []

    class Chunks(td.DAG):
        xs = td.input()

        @td.node(run_in=td.InThread(), map_over="xs", chunk_size=3)
        def sq(xs: int) -> int:
            threads.append(threading.get_ident())
            return xs * xs

        @td.node(run_in=td.InThread(), map_over="xs")
        def one_by_one(xs: int) -> int:
            return -xs

    with trio.fail_after(20):
        r = await Chunks.run({"xs": list(range(10))})
        empty = await Chunks.run({"xs": []})
    assert r["sq"] == [x * x for x in range(10)]
    assert r["one_by_one"] == [-x for x in range(10)]
    assert r.attempts("sq") == 4  # chunks of 3, 3, 3, 1: one call each
    assert r.attempts("one_by_one") == 10
    assert empty["sq"] == []


async def test_chunked_maps_on_processes_and_element_errors_name_the_element() -> None:
    with trio.fail_after(60):
        ok = await ProcChunks.run({"xs": [0, 2, 4, 6, 8, 10]}, strategy=td.Sequential())
        with pytest.raises(td.RunFailed) as info:
            await ProcChunks.run({"xs": [0, 2, 4, 6, 8, 11, 12]})
    assert ok["halves"] == [0, 1, 2, 3, 4, 5]
    assert len(set(ok["pids"][:3])) == 1  # one chunk, one worker call
    err = info.value.result.errors["halves"]
    assert isinstance(err, Boom)
    assert err.__notes__[0] == "trio_dag: raised by map element 5 of node 'halves'"
    assert "element 5 of map node 'halves' (11)" in err.__notes__  # the runtime's own note


async def test_chunked_map_with_retries_retries_the_chunk() -> None:
    failed: list[int] = []

    class Retry(td.DAG):
        xs = td.input()

        @td.node(
            run_in=td.InThread(),
            map_over="xs",
            chunk_size=2,
            retry=td.RetryPolicy(max_attempts=2, initial_delay=0),
        )
        def once(xs: int) -> int:
            if xs == 3 and not failed:
                failed.append(xs)
                raise Boom("once")
            return xs

    with trio.fail_after(20):
        r = await Retry.run({"xs": [1, 2, 3, 4, 5]})
    assert r["once"] == [1, 2, 3, 4, 5]
    assert r.attempts("once") == 4  # 3 chunks, one of them twice


# ------------------------------------------------------------------ stream


async def test_streams_bind_names_once_and_share_an_int_limit() -> None:
    counter = Peak()

    class Item(td.DAG):
        x = td.input()

        @td.node(run_in="io", limiter="db")
        def load(x: int) -> int:
            counter.hold(0.05)
            return x * 2

    with trio.fail_after(30):
        async with Item.stream(
            [{"x": k} for k in range(8)],
            max_in_flight=8,
            placements={"io": td.InThread()},
            limiters={"db": 2},
        ) as results:
            out = [r["load"] async for r in results]
    assert out == [k * 2 for k in range(8)]
    assert counter.peak == 2  # one limit for the whole stream, not one per item


# ---------------------------------------------------------------- pickling


def test_a_class_body_node_pickles_by_reference() -> None:
    fn = Procs.graph._fns[0]
    assert isinstance(fn, td.NodeFunction)
    data = pickle.dumps(fn)
    assert b"Procs.cpu" in data
    assert len(data) < 100  # a name, not the code
    assert pickle.loads(data) is fn
    adapter = Procs.graph._fns[1]
    assert isinstance(adapter, ByName)
    back = pickle.loads(pickle.dumps(adapter))
    assert back.fn is Procs.keyword
    assert back((1, 0), 2) == 3


def test_a_node_of_a_local_class_pickles_its_function_by_value() -> None:
    class Local(td.DAG):
        @td.node(run_in=td.InThread())
        def n() -> int:
            return 7

    fn = Local.graph._fns[0]
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(fn)  # a local function: plain pickle cannot
    assert cloudpickle.loads(cloudpickle.dumps(fn))() == 7


async def test_a_local_class_node_runs_in_a_process_by_value() -> None:
    class Local(td.DAG):
        @td.node(run_in=td.InProcess())
        def n() -> int:
            return os.getpid()

    with trio.fail_after(30):
        assert (await Local.run())["n"] != os.getpid()


async def test_a_failed_chunk_names_its_element_and_resume_runs_what_is_missing() -> None:
    broken = [True]
    calls: list[int] = []

    class Chunked(td.DAG):
        xs = td.input()

        @td.node(run_in=td.InThread(), map_over="xs", chunk_size=3)
        def checked(xs: int) -> int:
            calls.append(xs)
            if xs == 4 and broken[0]:
                raise Boom("four")
            return xs * 10

    with trio.fail_after(20):
        with pytest.raises(td.RunFailed) as info:
            # one chunk at a time: the first has completed when the second fails
            await Chunked.run(
                {"xs": [0, 1, 2, 3, 4, 5, 6]}, strategy=td.Parallel(max_concurrency=1)
            )
        err = info.value.result.errors["checked"]
        assert isinstance(err, Boom)
        assert "trio_dag: raised by map element 4 of node 'checked'" in err.__notes__
        broken[0] = False
        calls.clear()
        r = await Chunked.resume(info.value.result)
    assert r["checked"] == [0, 10, 20, 30, 40, 50, 60]
    assert sorted(calls) == [3, 4, 5, 6]  # the first chunk's values were kept; the rest one by one


# ------------------------------------------------------- overruns, rendered


async def test_the_built_in_instruments_render_an_overrun(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An abandoned body: a log warning, a count, a trace mark, an SVG mark, a span event."""
    # imports of every built-in instrument, as in test_as_node: lines alike, nothing to share
    import io
    import json
    import logging

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from rich.console import Console

    from trio_dag.instruments import (
        ChromeTrace,
        LogInstrument,
        OpenTelemetryInstrument,
        ProgressDisplay,
        Timeline,
    )

    release = threading.Event()
    done = threading.Event()

    class Stuck(td.DAG):
        @td.node(run_in=td.InThread("abandon"), timeout=0.05)
        def stuck() -> None:
            release.wait(20)
            done.set()

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace, timeline = ChromeTrace(tmp_path / "trace.json"), Timeline()
    display = ProgressDisplay(Console(file=io.StringIO(), width=100))
    otel = OpenTelemetryInstrument(provider.get_tracer("tests"))
    instruments = [LogInstrument("overrun"), display, trace, timeline, otel]
    with trio.fail_after(30), caplog.at_level(logging.INFO, logger="overrun"):
        with pytest.raises(td.RunFailed):
            await Stuck.run(instruments=instruments)
        release.set()
        await trio.to_thread.run_sync(done.wait, 20)
    # the log: one warning naming the node, the attempt and what became of the body
    (line,) = [r for r in caplog.records if getattr(r, "status", None) == "overran"]
    assert line.levelno == logging.WARNING
    assert (line.node, line.attempt, line.action) == ("stuck", 1, "abandon")  # type: ignore[attr-defined]
    assert "Stuck.stuck overran its cancellation (attempt 1)" in line.getMessage()
    # the progress display counts it
    assert display.overran == 1
    assert ", 1 overran" in display.counts_line()
    # the recording (trace and timeline): the attempt carries the mark
    assert trace.recording is not None
    (attempt,) = trace.recording.records
    assert attempt.overran is not None
    assert attempt.overran[1] == "abandon"
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    (mark,) = [e for e in events if e["ph"] == "i"]
    assert mark["name"] == "stuck overran (abandon)"
    assert mark["args"]["overran"] == "abandon"
    (bar,) = [e for e in events if e["ph"] == "X" and e["cat"] == "node"]
    assert bar["args"]["overran"] == "abandon"
    assert mark["tid"] == bar["tid"]
    svg = timeline.to_svg()
    assert 'class="overran"' in svg
    assert "overran its cancellation at" in svg
    # OpenTelemetry: an event on the attempt's span
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "stuck"]
    (event,) = [e for e in span.events if e.name != "exception"]  # the TooSlowError's
    assert event.name == "trio_dag.overran"
    assert dict(event.attributes or {}) == {"trio_dag.attempt": 1, "trio_dag.action": "abandon"}
