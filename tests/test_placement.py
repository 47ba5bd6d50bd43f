"""Placements (issue 11): threads, trio-parallel processes, any Executor.

These tests run real threads and real worker processes, so they use trio's
real clock (a virtual clock would jump ahead while a thread works); every wait
sits under ``trio.fail_after``, and ordering is forced with events and files,
never with sleeps that must be long enough.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

import trio_dag as td
from trio_dag._placement import bind_limiters, bind_placements, check_run_in

# ----------------------------------------------------------- worker functions
# (module level, so worker processes import them by reference)


def add(a: int, b: int) -> int:
    return a + b


def pid_of(_: object = None) -> int:
    return os.getpid()


class Boom(Exception):
    pass


def boom(x: object) -> None:
    raise Boom(f"bad {x}")


def half(x: int) -> int:
    if x % 2:
        raise Boom(f"odd {x}")
    return x // 2


def flaky(counter: str) -> str:
    """Fails on its first run, succeeds on the next (runs counted in a file)."""
    with open(counter, "a") as fh:
        fh.write("x")
    runs = len(Path(counter).read_text())
    if runs == 1:
        raise Boom("first run fails")
    return f"ok after {runs} runs"


def write_pid_and_hang(path: str) -> None:
    # written whole, then renamed into place: a reader never sees an empty file
    Path(path + ".tmp").write_text(str(os.getpid()))
    os.replace(path + ".tmp", path)
    time.sleep(60)


def wait_for_file(path: str, timeout: float = 20.0, started: str | None = None) -> str:
    if started is not None:  # tell the test this call is running now
        Path(started).write_text("started")
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.005)
    return "released"


def touch(path: str) -> str:
    Path(path).write_text("ran")
    return "touched"


def make_lock(_: object = None) -> Any:
    return threading.Lock()


def lock_for_odd(x: int) -> Any:
    return threading.Lock() if x % 2 else x


class Peak:
    """Counts bodies running at once (from any thread); ``peak`` is the most seen."""

    def __init__(self) -> None:
        self.running = self.peak = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def leave(self) -> None:
        with self._lock:
            self.running -= 1

    def hold(self, seconds: float) -> None:
        """A body: in for ``seconds``, then out."""
        self.enter()
        time.sleep(seconds)
        self.leave()


def _explode() -> None:
    raise RuntimeError("cannot be rebuilt here")


class Unloadable:
    """Pickles fine, fails to unpickle (as a class missing in the worker would)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_explode, ())


async def _until_exists(path: Path) -> None:
    await trio.to_thread.run_sync(wait_for_file, str(path))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ------------------------------------------------------------------ options


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: td.InThread(on_cancel="kill"), ValueError, r"InThread: on_cancel .*'kill'"),
        (lambda: td.InThread(limiter=0), ValueError, r"InThread: limiter .*>= 1, got 0"),
        (lambda: td.InThread(limiter=True), TypeError, r"InThread: limiter .*got True"),
        (lambda: td.InThread(limiter="db"), TypeError, r"InThread: limiter .*got 'db'"),
        (lambda: td.InProcess(on_cancel="wait"), ValueError, r"InProcess: on_cancel .*'wait'"),
        (lambda: td.InProcess(limiter=-1), ValueError, r"InProcess: limiter .*got -1"),
        (lambda: td.InExecutor(object()), TypeError, r"InExecutor: executor must be a concur"),
        (
            lambda: td.InExecutor(cf.ThreadPoolExecutor(1), on_cancel="kill"),
            ValueError,
            r"InExecutor: on_cancel must be one of 'abandon', 'wait', got 'kill'",
        ),
        (
            lambda: td.InExecutor(cf.ThreadPoolExecutor(1), serialize="yes"),
            TypeError,
            r"InExecutor: serialize must be True, False or None, got 'yes'",
        ),
    ],
)
def test_bad_options_name_the_option_and_value(make: Any, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        make()


def test_a_dask_client_is_not_an_executor_and_the_error_says_what_to_pass() -> None:
    class Client:  # stands in for the name only: the real one is in test_placement_dask
        pass

    with pytest.raises(TypeError, match=r"pass client\.get_executor\(\)"):
        td.InExecutor(Client())  # type: ignore[arg-type]


def test_options_are_kept_and_shown() -> None:
    lim = trio.CapacityLimiter(3)
    assert td.InThread(limiter=lim).limiter is lim
    assert td.InThread(limiter=2).limiter.total_tokens == 2  # type: ignore[union-attr]
    assert repr(td.InThread()) == "InThread(on_cancel='wait')"
    assert repr(td.InThread("abandon", limiter=lim)).startswith(
        "InThread(on_cancel='abandon', limiter="
    )
    assert repr(td.InProcess()) == "InProcess(on_cancel='kill')"
    assert "limiter=" in repr(td.InProcess(limiter=2))
    with cf.ThreadPoolExecutor(1) as pool:
        p = td.InExecutor(pool, on_cancel="wait")
        assert repr(p).endswith(", on_cancel='wait')")
        assert not p.serializes
        assert td.InExecutor(pool, serialize=True).serializes
    assert td.InProcess().serializes
    assert not td.InThread().serializes


def test_check_run_in() -> None:
    p = td.InThread()
    assert check_run_in("node 'a'", p) is p
    assert check_run_in("node 'a'", "cluster") == "cluster"
    with pytest.raises(TypeError, match=r"node 'a': run_in must be a placement .* got 3"):
        check_run_in("node 'a'", 3)
    with pytest.raises(ValueError, match=r"node 'a': run_in must be a non-empty .* got ' '"):
        check_run_in("node 'a'", " ")


def test_bind_placements() -> None:
    p = td.InThread()
    assert bind_placements("run", ["cluster"], {"cluster": p, "spare": p}) == {
        "cluster": p,
        "spare": p,
    }
    assert bind_placements("run", [], None) == {}
    with pytest.raises(td.InputError, match=r"run: no placement for run_in name\(s\) 'cluster'"):
        bind_placements("run", ["cluster"], None)
    with pytest.raises(TypeError, match=r"placements\['cluster'\] must be a trio_dag placement"):
        bind_placements("run", ["cluster"], {"cluster": cf.ThreadPoolExecutor})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="placements must be a mapping"):
        bind_placements("run", [], [p])  # type: ignore[arg-type]
    with pytest.raises(td.InputError) as info:
        bind_placements("run", ["b", "a"], {})
    assert info.value.missing == ("a", "b")


async def test_bind_limiters() -> None:
    shared = trio.CapacityLimiter(2)
    out = bind_limiters("run", ["db"], {"db": 4, "api": shared})
    assert out["db"].total_tokens == 4
    assert out["api"] is shared
    assert bind_limiters("run", [], None) == {}
    with pytest.raises(td.InputError, match=r"no limit for limiter name\(s\) 'db'"):
        bind_limiters("run", ["db"], {})
    with pytest.raises(ValueError, match=r"run: limiters\['db'\] must be an int >= 1, got 0"):
        bind_limiters("run", ["db"], {"db": 0})
    with pytest.raises(TypeError, match=r"limiters\['db'\] must be a trio.CapacityLimiter"):
        bind_limiters("run", ["db"], {"db": None})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="limiters must be a mapping"):
        bind_limiters("run", [], 4)  # type: ignore[arg-type]


# ------------------------------------------------------------------ threads


async def test_thread_call_runs_in_another_thread_and_keeps_exception_types() -> None:
    with trio.fail_after(10):
        for p in (td.InThread(), td.InThread("abandon")):
            assert await p.call(add, (2, 3)) == 5
            assert await p.call(threading.get_ident, ()) != threading.get_ident()
            with pytest.raises(Boom, match="bad 7"):
                await p.call(boom, (7,))


async def test_thread_limiter_bounds_threads_at_once() -> None:
    counter = Peak()
    p = td.InThread(limiter=2)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(6):
                nursery.start_soon(p.call, counter.hold, (0.02,))
    assert counter.peak == 2


async def test_thread_wait_finishes_the_body_then_discards_it_as_timed_out() -> None:
    release = threading.Event()
    finished = []
    overruns: list[str] = []

    def body() -> str:
        release.wait(10)
        finished.append(True)
        return "late"

    p = td.InThread("wait")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def attempt() -> None:
                with pytest.raises(trio.TooSlowError):
                    with trio.fail_after(0.05):
                        await p.call(body, (), on_overrun=overruns.append)
                assert finished == [True]  # the call returned only once the body had

            nursery.start_soon(attempt)
            await trio.sleep(0.3)  # well past the attempt's timeout: still waiting
            assert finished == []
            assert overruns == []
            release.set()
    assert overruns == ["wait"]


async def test_thread_wait_discards_a_late_error_too() -> None:
    release = threading.Event()

    def body() -> None:
        release.wait(10)
        raise Boom("late")

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def attempt() -> None:
                with pytest.raises(trio.TooSlowError):
                    with trio.fail_after(0.05):
                        await td.InThread().call(body, ())

            nursery.start_soon(attempt)
            await trio.sleep(0.2)
            release.set()


async def test_thread_abandon_returns_at_once_and_leaves_the_body_running() -> None:
    release = threading.Event()
    finished = threading.Event()
    overruns: list[str] = []

    def body() -> None:
        release.wait(10)
        finished.set()

    p = td.InThread("abandon")
    with trio.fail_after(10):
        for cb in (None, overruns.append):
            release.clear()
            finished.clear()
            t0 = trio.current_time()
            with trio.move_on_after(0.1) as cs:
                await p.call(body, (), on_overrun=cb)
            assert cs.cancelled_caught
            assert trio.current_time() - t0 < 5
            assert not finished.is_set()  # still running, abandoned
            release.set()
            await trio.to_thread.run_sync(finished.wait, 10)
    assert overruns == ["abandon"]


async def test_thread_abandon_watched_call_returns_values_without_overrun() -> None:
    overruns: list[str] = []
    assert await td.InThread("abandon").call(add, (1, 1), on_overrun=overruns.append) == 2
    with pytest.raises(Boom):
        await td.InThread("abandon").call(boom, (1,), on_overrun=overruns.append)
    assert overruns == []


async def test_thread_chunk_results_in_order_and_errors_name_the_element() -> None:
    p = td.InThread()
    with trio.fail_after(10):
        assert await p.call_chunk(add, [0, 10], 0, [1, 2, 3]) == [11, 12, 13]
        assert await p.call_chunk(add, [10, None], 1, [1, 2]) == [11, 12]
        assert await p.call_chunk(add, [0, 10], 0, []) == []
        with pytest.raises(Boom, match="odd 5") as info:
            await p.call_chunk(half, [None], 0, [4, 6, 5, 8], first=20, node="halve")
    assert info.value.__notes__ == ["trio_dag: raised by map element 22 of node 'halve'"]


# ------------------------------------------------------------ wait_future


async def test_wait_future_results_and_errors() -> None:
    with cf.ThreadPoolExecutor(2) as pool, trio.fail_after(10):
        assert await td.wait_future(pool.submit(add, 1, 2)) == 3
        done = pool.submit(add, 2, 2)
        done.result()
        assert await td.wait_future(done) == 4  # already done: no parking
        with pytest.raises(Boom):
            await td.wait_future(pool.submit(boom, 1))
        with pytest.raises(TypeError, match=r"future must be a concurrent\.futures\.Future"):
            await td.wait_future(3)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="on_cancel must be one of 'abandon', 'wait'"):
            await td.wait_future(pool.submit(add, 1, 2), on_cancel="kill")


async def test_wait_future_never_blocks_the_loop() -> None:
    release = threading.Event()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not release.is_set():
            ticks += 1
            await trio.sleep(0.01)

    with cf.ThreadPoolExecutor(1) as pool, trio.fail_after(10):
        fut = pool.submit(release.wait, 10)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            await trio.sleep(0.1)
            release.set()
            assert await td.wait_future(fut) is True
    assert ticks >= 3


@pytest.fixture
def pool1() -> Iterator[cf.ThreadPoolExecutor]:
    with cf.ThreadPoolExecutor(1) as pool:
        yield pool


async def test_executor_pending_future_cancelled_never_runs(
    pool1: cf.ThreadPoolExecutor, tmp_path: Path
) -> None:
    release = threading.Event()
    blocker = pool1.submit(release.wait, 10)  # the only worker is busy
    marker = tmp_path / "ran"
    p = td.InExecutor(pool1)
    with trio.fail_after(10):
        with trio.move_on_after(0.05) as cs:
            await p.call(touch, (str(marker),))
        assert cs.cancelled_caught
        release.set()
        await td.wait_future(blocker)
        await td.wait_future(pool1.submit(add, 0, 0))  # everything queued has run
    assert not marker.exists()


@pytest.mark.parametrize("on_cancel", ["abandon", "wait"])
async def test_executor_running_future_abandon_or_wait(
    pool1: cf.ThreadPoolExecutor, on_cancel: str
) -> None:
    started = threading.Event()
    release = threading.Event()
    done: list[str] = []
    overruns: list[str] = []

    def body() -> str:
        started.set()
        release.wait(10)
        done.append("body")
        return "late"

    p = td.InExecutor(pool1, on_cancel=on_cancel)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def attempt() -> None:
                with trio.CancelScope() as cs:
                    scopes.append(cs)
                    await p.call(body, (), on_overrun=overruns.append)
                    raise AssertionError("not reached: the call was cancelled")
                done.append("call returned")

            scopes: list[trio.CancelScope] = []
            nursery.start_soon(attempt)
            await trio.to_thread.run_sync(started.wait, 10)
            scopes[0].cancel()
            await trio.sleep(0.1)
            if on_cancel == "abandon":
                assert done == ["call returned"]
            else:
                assert done == []  # still waiting for the body
            release.set()
    if on_cancel == "abandon":
        await td.wait_future(pool1.submit(add, 0, 0))
        assert done == ["call returned", "body"]
    else:
        assert done == ["body", "call returned"]
    assert overruns == [on_cancel]


async def test_executor_cancel_after_the_future_finished(pool1: cf.ThreadPoolExecutor) -> None:
    """A cancel that lands after the future finished (not yet delivered) drops the result."""
    for on_cancel in ("abandon", "wait"):
        p = td.InExecutor(pool1, on_cancel=on_cancel)
        fut = pool1.submit(add, 1, 1)
        fut.result()
        with trio.CancelScope() as cs:
            cs.cancel()
            await p.call(time.sleep, (0,))
        assert cs.cancelled_caught


async def test_thread_executor_call_and_chunk(pool1: cf.ThreadPoolExecutor) -> None:
    p = td.InExecutor(pool1)
    with trio.fail_after(10):
        assert await p.call(add, (1, 2)) == 3
        assert await p.call_chunk(add, [0, 1], 0, [1, 2, 3]) == [2, 3, 4]
        with pytest.raises(Boom) as info:
            await p.call_chunk(half, [0], 0, [2, 3], node="h")
        # a lock is fine on a thread pool: nothing is pickled
        assert await p.call(lambda lk: lk.locked(), (threading.Lock(),)) is False
    assert info.value.__notes__ == ["trio_dag: raised by map element 1 of node 'h'"]


# ---------------------------------------------------------------- processes


async def test_process_call_results_and_exception_types() -> None:
    p = td.InProcess()
    with trio.fail_after(60):
        assert await p.call(add, (2, 3), node="adder") == 5
        assert await p.call(pid_of, ()) != os.getpid()
        assert await p.call(lambda x: x * 2, (21,)) == 42  # cloudpickle: lambdas travel
        with pytest.raises(Boom, match="bad 1"):
            await p.call(boom, (1,))


async def test_process_retry_runs_the_function_again(tmp_path: Path) -> None:
    counter = str(tmp_path / "runs")
    p = td.InProcess()
    with trio.fail_after(60):
        for attempt in (1, 2):  # as the runtime's retry loop calls it
            try:
                result = await p.call(flaky, (counter,), node="flaky")
                break
            except Boom:
                assert attempt == 1
    assert result == "ok after 2 runs"


async def test_process_cancel_kills_the_worker(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    overruns: list[str] = []
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:

            async def attempt() -> None:
                with pytest.raises(trio.TooSlowError):
                    with trio.fail_after(30):
                        cancel_me.append(trio.CancelScope())
                        with cancel_me[0]:
                            await td.InProcess().call(
                                write_pid_and_hang, (str(pid_file),), on_overrun=overruns.append
                            )
                        raise trio.TooSlowError  # the inner scope was cancelled

            cancel_me: list[trio.CancelScope] = []
            nursery.start_soon(attempt)
            await _until_exists(pid_file)
            pid = int(pid_file.read_text())
            assert pid_alive(pid)
            t0 = trio.current_time()
            cancel_me[0].cancel()
        assert trio.current_time() - t0 < 10  # not the 60 s the body sleeps
    assert not pid_alive(pid)  # killed and reaped
    assert overruns == []  # a kill interrupts: nothing to report


async def test_process_chunk_in_one_worker_call() -> None:
    p = td.InProcess()
    with trio.fail_after(60):
        out = await p.call_chunk(add, [0, 100], 0, list(range(5)), node="plus")
        assert out == [100, 101, 102, 103, 104]
        pids = await p.call_chunk(pid_of, [None], 0, [1, 2, 3])
        assert len(set(pids)) == 1  # one call, one worker
        with pytest.raises(Boom, match="odd 3") as info:
            await p.call_chunk(half, [None], 0, [2, 3, 4], first=10, node="halve")
    assert info.value.__notes__ == ["trio_dag: raised by map element 11 of node 'halve'"]


def _process_placements() -> list[Any]:
    return [
        pytest.param(lambda: td.InProcess(), id="InProcess"),
        pytest.param(lambda: td.InExecutor(_spawn_pool()), id="ProcessPoolExecutor"),
    ]


_POOLS: list[cf.ProcessPoolExecutor] = []


def _spawn_pool() -> cf.ProcessPoolExecutor:
    if not _POOLS:
        _POOLS.append(cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")))
    return _POOLS[0]


@pytest.fixture(scope="module", autouse=True)
def _shutdown_pools() -> Iterator[None]:
    yield
    for pool in _POOLS:
        pool.shutdown()


@pytest.mark.parametrize("make", _process_placements())
async def test_serialization_errors_name_the_node_and_the_part(make: Any) -> None:
    p = make()
    lock = threading.Lock()
    with trio.fail_after(60):
        with pytest.raises(td.SerializationError) as info:
            await p.call(add, (1, lock), node="adder")
        e = info.value
        assert (e.node, e.part, e.argument) == ("adder", "argument", "b")
        assert str(e).startswith("node 'adder': argument 'b' (a lock) cannot be pickled for ")
        assert "cannot pickle '_thread.lock' object" in str(e)
        assert isinstance(e.__cause__, TypeError)

        with pytest.raises(td.SerializationError) as info:
            await p.call(lambda x: lock, (1,), node="closure")
        assert (info.value.part, info.value.node) == ("function", "closure")
        assert "or a value its closure holds" in str(info.value)

        with pytest.raises(td.SerializationError) as info:
            await p.call(make_lock, (None,), node="maker")
        e = info.value
        assert (e.node, e.part, e.index) == ("maker", "result", None)
        assert str(e).startswith("node 'maker': its return value (a lock: TypeError: cannot")

        with pytest.raises(td.SerializationError) as info:
            await p.call(add, (Unloadable(), 1))
        e = info.value
        assert (e.node, e.part) == (None, "call")
        assert str(e).startswith("a placed call: the worker of ")
        assert "RuntimeError: cannot be rebuilt here" in str(e)

        with pytest.raises(td.SerializationError) as info:
            await p.call_chunk(add, [None, 1], 0, [1, 2, lock], first=5, node="m")
        e = info.value
        assert (e.part, e.argument, e.index) == ("element", "a", 7)
        assert str(e).startswith("node 'm': element 7 of argument 'a' (a lock) cannot be")

        with pytest.raises(td.SerializationError) as info:
            await p.call_chunk(lock_for_odd, [None], 0, [2, 4, 5], first=1, node="m")
        e = info.value
        assert (e.part, e.index) == ("result", 3)
        assert str(e).startswith("node 'm': the result of map element 3 (a lock: ")

        assert await p.call(add, (1, 2)) == 3  # the placement still works


async def test_a_result_that_cannot_be_unpickled_here_is_named(tmp_path: Path) -> None:
    with trio.fail_after(60), pytest.raises(td.SerializationError) as info:
        await td.InProcess().call(Unloadable, (), node="maker")
    assert (info.value.part, info.value.node) == ("result", "maker")
    assert "could not be unpickled here" in str(info.value)


async def test_process_pool_executor_results_errors_and_chunks() -> None:
    p = td.InExecutor(_spawn_pool())
    assert p.serializes
    with trio.fail_after(60):
        assert await p.call(add, (2, 3)) == 5
        assert await p.call(pid_of, ()) != os.getpid()
        with pytest.raises(Boom, match="bad 2"):
            await p.call(boom, (2,))
        assert await p.call_chunk(add, [0, 1], 0, [1, 2]) == [2, 3]
        with pytest.raises(Boom) as info:
            await p.call_chunk(half, [0], 0, [2, 3], node="h")
    assert info.value.__notes__ == ["trio_dag: raised by map element 1 of node 'h'"]


async def test_arguments_of_a_function_without_signature_are_named_by_position(
    pool1: cf.ThreadPoolExecutor,
) -> None:
    p = td.InExecutor(pool1, serialize=True)  # pickled although it is a thread pool
    with pytest.raises(td.SerializationError, match=r"^node 'm': argument '#1' \(a lock\)"):
        await p.call(max, (1, threading.Lock()), node="m")


def test_in_process_without_trio_parallel_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "trio_parallel", None)  # import now fails
    with pytest.raises(ImportError, match=r"pip install 'trio-dag\[process\]'"):
        td.InProcess()
