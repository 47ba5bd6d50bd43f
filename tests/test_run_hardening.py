"""Run-level hardening: exceptions that are not plain node failures, cancellation,
instruments on every exit, and runs that leave nothing for the cycle collector.

Each test here failed before the fix it guards.
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import outcome
import pytest
import trio
import trio.testing

import trio_dag as td
from conftest import own_garbage

STRATEGIES = [
    pytest.param(td.Sequential(), id="sequential"),
    pytest.param(td.Parallel(schedule="levels"), id="levels"),
    pytest.param(td.Parallel(schedule="eager"), id="eager"),
]
PARALLEL = STRATEGIES[1:]
SRC = str(Path(td.__file__).resolve().parents[1])


def no_delay(attempts: int, delay: float = 0.0) -> td.RetryPolicy:
    return td.RetryPolicy(max_attempts=attempts, initial_delay=delay, jitter="none")


async def cleanup_fails_when_cancelled() -> None:
    """A body whose own nursery fails while it is being cancelled: the nursery
    raises a BaseExceptionGroup of trio.Cancelled and OSError."""
    async with trio.open_nursery() as nursery:

        async def child() -> None:
            try:
                await trio.sleep_forever()
            finally:
                raise OSError("cleanup failed")

        nursery.start_soon(child)
        await trio.sleep_forever()


def assert_cleanup_error(error: BaseException) -> None:
    assert isinstance(error, ExceptionGroup)
    assert pytest.RaisesGroup(OSError).matches(error)


class Recorder(td.Instrument):
    """Records every event as ``(hook, *args)``, with the run id current in the hook."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.run_ids: set[str] = set()

    def _add(self, *event: Any) -> None:
        self.events.append(event)
        self.run_ids.add(td.current_run_id())

    def run_started(self, dag: str, run_id: str) -> None:
        self._add("run_started", dag, run_id)

    def node_started(self, node: str, attempt: int) -> None:
        self._add("node_started", node, attempt)

    def node_finished(self, node: str, elapsed: float) -> None:
        self._add("node_finished", node)

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        self._add("node_failed", node, attempt, will_retry)

    def node_cancelled(self, node: str, attempt: int) -> None:
        self._add("node_cancelled", node, attempt)

    def element_started(self, node: str, index: int, attempt: int) -> None:
        self._add("element_started", node, index, attempt)

    def element_finished(self, node: str, index: int, elapsed: float) -> None:
        self._add("element_finished", node, index, elapsed)

    def element_failed(
        self, node: str, index: int, error: BaseException, attempt: int, will_retry: bool
    ) -> None:
        self._add("element_failed", node, index, type(error).__name__, attempt, will_retry)

    def run_finished(self, result: td.RunResult) -> None:
        self._add("run_finished", result)

    def of(self, *hooks: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] in hooks]

    def check_pairs(self) -> None:
        """Every node_started has exactly one end event, after it."""
        open_: dict[str, int] = {}
        for e in self.events:
            if e[0] == "node_started":
                assert e[1] not in open_, e
                open_[e[1]] = e[2]
            elif e[0] in ("node_finished", "node_failed", "node_cancelled"):
                assert e[1] in open_, e
                del open_[e[1]]
        assert open_ == {}


# ------------------------------------------- 1. a node's nursery fails while cancelled


@pytest.mark.parametrize("strategy", PARALLEL)
async def test_cleanup_error_during_fail_fast_is_that_nodes_failure(
    strategy: td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    async def first() -> int:
        return 1

    async def boom(first: int) -> None:
        await trio.sleep(1)
        raise ValueError("boom")

    async def stuck(first: int) -> None:
        await cleanup_fails_when_cancelled()

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("first", first),
            td.Node("boom", boom, deps=["first"]),
            td.Node("stuck", stuck, deps=["first"]),
        ],
    )
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy)
    r = info.value.result
    assert r.status is td.RunStatus.FAILED
    assert dict(r) == {"first": 1}  # the partial result is kept
    assert isinstance(r.errors["boom"], ValueError)
    assert_cleanup_error(r.errors["stuck"])
    assert r.statuses["stuck"] is td.NodeStatus.FAILED


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("supervised", [False, True], ids=["plain", "supervised"])
async def test_cleanup_error_when_the_deadline_passes_is_that_nodes_failure(
    strategy: td.Strategy, supervised: bool, autojump_clock: trio.testing.MockClock
) -> None:
    calls = 0

    async def first() -> int:
        return 1

    async def stuck(first: int) -> None:
        nonlocal calls
        calls += 1
        await cleanup_fails_when_cancelled()

    options: dict[str, Any] = {"retry": no_delay(5), "timeout": 50.0} if supervised else {}
    dag = td.DAG.from_nodes(
        "D", [td.Node("first", first), td.Node("stuck", stuck, deps=["first"], **options)]
    )
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy, deadline=5)
    r = info.value.result
    assert trio.current_time() == 5
    assert calls == 1  # the run is being cancelled: never retried
    assert dict(r) == {"first": 1}
    assert_cleanup_error(r.errors["stuck"])
    assert "node 'stuck' failed" in r.report()
    assert "OSError: cleanup failed" in r.report()


async def test_body_raising_a_mixed_group_directly_is_its_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def boom() -> None:
        await trio.sleep(1)
        raise ValueError("boom")

    async def mixed() -> None:
        try:
            await trio.sleep_forever()
        except trio.Cancelled as cancelled:
            raise BaseExceptionGroup("mixed", [cancelled, KeyError("k")]) from None

    dag = td.DAG.from_nodes("D", [td.Node("boom", boom), td.Node("mixed", mixed)])
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run()
    err = info.value.result.errors["mixed"]
    assert isinstance(err, ExceptionGroup)
    assert pytest.RaisesGroup(KeyError).matches(err)


@pytest.mark.parametrize("strategy", PARALLEL)
async def test_cleanup_error_when_the_supervisor_halts_is_that_nodes_failure(
    strategy: td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    async def flaky() -> None:
        await trio.sleep(1)
        raise ValueError("flaky")

    async def stuck() -> None:
        await cleanup_fails_when_cancelled()

    dag = td.DAG.from_nodes(
        "D", [td.Node("flaky", flaky, retry=no_delay(5)), td.Node("stuck", stuck)]
    )
    sup = td.Supervisor(max_restarts=1, period=100)
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy, supervisor=sup)
    r = info.value.result
    assert r.status is td.RunStatus.HALTED
    assert_cleanup_error(r.errors["stuck"])


async def test_cleanup_error_of_a_node_cancelled_by_a_level_restart_does_not_escape(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = {"flaky": 0, "stuck": 0}

    async def flaky() -> str:
        calls["flaky"] += 1
        await trio.sleep(1)
        if calls["flaky"] == 1:
            raise ValueError("flaky once")
        return "f"

    async def stuck() -> str:
        calls["stuck"] += 1
        if calls["stuck"] == 1:
            await cleanup_fails_when_cancelled()
        return "s"

    rec = Recorder()
    dag = td.DAG.from_nodes(
        "D", [td.Node("flaky", flaky, retry=no_delay(3, 1.0)), td.Node("stuck", stuck)]
    )
    sup = td.Supervisor(strategy="one_for_all")
    with trio.fail_after(100):
        result = await dag.run(
            strategy=td.Parallel(schedule="levels"), supervisor=sup, instruments=[rec]
        )
    assert dict(result) == {"flaky": "f", "stuck": "s"}  # the restart reran stuck
    assert result.ok
    assert result.last_errors == {}
    # the restart cancelled stuck's first attempt (its number: see the attempt-counting rules)
    assert [e[1] for e in rec.of("node_cancelled")] == ["stuck"]
    rec.check_pairs()


async def test_cleanup_error_in_a_map_element_is_the_map_nodes_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def xs() -> list[int]:
        return [1, 2]

    async def each(xs: int) -> int:
        await cleanup_fails_when_cancelled()
        return xs  # pragma: no cover - never gets here

    async def boom() -> None:
        await trio.sleep(1)
        raise ValueError("boom")

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("xs", xs),
            td.Node("each", each, deps=["xs"], map_over="xs"),
            td.Node("boom", boom),
        ],
    )
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run()
    r = info.value.result
    assert r["xs"] == [1, 2]
    err = r.errors["each"]
    assert isinstance(err, ExceptionGroup)
    oserrors, rest = err.split(OSError)
    assert oserrors is not None
    assert rest is None  # only the real errors, no Cancelled


# ------------------------------------------------- 3. KeyboardInterrupt / SystemExit


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit])
async def test_interrupt_comes_out_bare_with_the_partial_result(
    strategy: td.Strategy, kind: type[BaseException], autojump_clock: trio.testing.MockClock
) -> None:
    rec = Recorder()

    async def first() -> int:
        return 1

    async def interrupt(first: int) -> None:
        await trio.sleep(1)
        raise kind(4)

    async def slow(first: int) -> int:
        await trio.sleep(10)
        return 2  # pragma: no cover - interrupted first

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("first", first),
            td.Node("interrupt", interrupt, deps=["first"]),
            td.Node("slow", slow, deps=["first"]),
        ],
    )
    with trio.fail_after(100), pytest.raises(kind) as info:
        await dag.run(strategy=strategy, instruments=[rec])
    exc = info.value
    assert isinstance(exc, td.RunInterrupted)
    assert not isinstance(exc, BaseExceptionGroup)
    assert type(exc.__cause__) is kind or pytest.RaisesGroup(kind).matches(exc.__cause__)
    if kind is SystemExit:
        assert exc.code == 4  # type: ignore[attr-defined]
    r = exc.result
    assert r.status is td.RunStatus.INTERRUPTED
    assert dict(r) == {"first": 1}
    assert rec.events[-1] == ("run_finished", r)
    resumed = await td.DAG.from_nodes(
        "D2", [td.Node("first", first)]
    ).run()  # an interrupted run leaves the engine usable
    assert resumed.ok


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_interrupt_from_a_task_a_node_spawned_is_bare(
    strategy: td.Strategy, autojump_clock: trio.testing.MockClock
) -> None:
    async def spawner() -> None:
        async def child() -> None:
            await trio.sleep(1)
            raise KeyboardInterrupt

        async with trio.open_nursery() as nursery:  # raises BaseExceptionGroup([KI])
            nursery.start_soon(child)
            await trio.sleep_forever()

    dag = td.DAG.from_nodes("D", [td.Node("spawner", spawner)])
    with trio.fail_after(100), pytest.raises(KeyboardInterrupt) as info:
        await dag.run(strategy=strategy)
    assert isinstance(info.value, td.RunInterrupted)
    assert info.value.result.statuses["spawner"] is td.NodeStatus.CANCELLED


def test_interrupt_from_run_sync_is_bare() -> None:
    async def stop() -> None:
        raise KeyboardInterrupt

    async def other() -> None:
        await trio.lowlevel.checkpoint()

    dag = td.DAG.from_nodes("D", [td.Node("stop", stop), td.Node("other", other)])
    with pytest.raises(KeyboardInterrupt) as info:
        dag.run_sync()
    assert isinstance(info.value, td.RunInterrupted)
    assert info.value.result.status is td.RunStatus.INTERRUPTED


@pytest.mark.parametrize("strategy", ["Sequential()", "Parallel()", "Parallel(schedule='levels')"])
def test_sys_exit_in_a_node_exits_the_process_with_its_code(strategy: str) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import trio
        import trio_dag as td

        async def quit() -> None:
            sys.exit(3)

        async def other() -> None:
            await trio.sleep(0)

        D = td.DAG.from_nodes("D", [td.Node("quit", quit), td.Node("other", other)])
        D.run_sync(strategy=td.{strategy})
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr == ""


@pytest.mark.parametrize("strategy", ["Sequential()", "Parallel()", "Parallel(schedule='levels')"])
def test_a_real_ctrl_c_interrupts_run_sync_bare(strategy: str) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal, threading
        import trio
        import trio_dag as td

        async def quick() -> int:
            return 1

        async def slow(quick: int) -> None:
            await trio.sleep(30)

        D = td.DAG.from_nodes(
            "D", [td.Node("quick", quick), td.Node("slow", slow, deps=["quick"])]
        )
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            D.run_sync(strategy=td.{strategy})
        except KeyboardInterrupt as exc:
            assert isinstance(exc, td.RunInterrupted), repr(exc)
            print(exc.result.status, dict(exc.result))
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "interrupted {'quick': 1}\n"


# ----------------------------------------------------------- 4. a stray Cancelled


async def leaked_cancelled() -> trio.Cancelled:
    """A trio.Cancelled object taken from a cancel scope that is gone."""
    with trio.CancelScope() as cs:
        cs.cancel()
        try:
            await trio.lowlevel.checkpoint()
        except trio.Cancelled as exc:
            return exc  # from inside the except clause: no frame keeps it (no cycle)
    raise AssertionError("not reached")  # pragma: no cover


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("on_failure", ["fail_fast", "continue"])
@pytest.mark.parametrize("kind", ["plain", "supervised", "map"])
async def test_stray_cancelled_is_the_nodes_failure(
    strategy: td.Strategy, on_failure: str, kind: str, autojump_clock: trio.testing.MockClock
) -> None:
    calls = 0
    rec = Recorder()

    async def xs() -> list[int]:
        return [1]

    async def leaky(xs: Any) -> int:
        nonlocal calls
        calls += 1
        await trio.sleep(1)
        raise await leaked_cancelled()

    async def after(leaky: Any) -> Any:  # an int, or a list for the map node
        return leaky  # pragma: no cover - skipped

    options: dict[str, Any] = {
        "plain": {},
        "supervised": {"retry": no_delay(3)},
        "map": {"map_over": "xs"},
    }[kind]
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("xs", xs),
            td.Node("leaky", leaky, deps=["xs"], **options),
            td.Node("after", after, deps=["leaky"]),
        ],
    )
    with trio.fail_after(100):
        # acapture: a stray Cancelled escaping run() must fail this test, not end it quietly
        got = await outcome.acapture(
            dag.run, strategy=strategy, on_failure=on_failure, instruments=[rec]
        )
    assert isinstance(got, outcome.Error)
    assert isinstance(got.error, td.RunFailed)
    r = got.error.result
    assert r.status is td.RunStatus.FAILED
    assert calls == 1  # not retried
    err = r.errors["leaky"]
    assert isinstance(err, td.NodeCancelled)
    assert isinstance(err, RuntimeError)
    assert err.node == "leaky"
    assert "'leaky'" in str(err)
    assert "after" not in r
    assert r.statuses["after"] in (td.NodeStatus.SKIPPED, td.NodeStatus.NOT_STARTED)
    assert "NodeCancelled" in r.report()
    rec.check_pairs()
    assert [e[1:] for e in rec.of("node_failed")] == [("leaky", 1, False)]


# -------------------------------------- 5. the deadline passes during a retry delay


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("when", ["in the delay", "in the next attempt"])
async def test_deadline_keeps_the_last_error_of_a_retrying_node(
    strategy: td.Strategy, when: str, autojump_clock: trio.testing.MockClock
) -> None:
    calls = 0

    async def fetch() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            await trio.sleep(100)
        raise ConnectionError(f"refused {calls}")

    delay = 10.0 if when == "in the delay" else 1.0
    dag = td.DAG.from_nodes("D", [td.Node("fetch", fetch, retry=no_delay(5, delay))])
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy, deadline=5)
    r = info.value.result
    assert r.status is td.RunStatus.TIMED_OUT
    assert r.errors == {}
    assert r.statuses["fetch"] is td.NodeStatus.CANCELLED
    last = r.last_errors["fetch"]
    assert isinstance(last, ConnectionError)
    assert str(last) == "refused 1"
    assert "ConnectionError: refused 1" in r.report()
    assert "ConnectionError" in str(info.value)


async def test_last_errors_include_final_errors_and_forget_completed_nodes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = 0

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("once")
        return 1

    async def bad() -> None:
        await trio.sleep(1)
        raise ValueError("bad")

    dag = td.DAG.from_nodes("D", [td.Node("flaky", flaky, retry=no_delay(3)), td.Node("bad", bad)])
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run()
    r = info.value.result
    assert r["flaky"] == 1
    assert list(r.last_errors) == ["bad"]
    assert r.last_errors["bad"] is r.errors["bad"]


async def test_report_names_the_errors_inside_a_group() -> None:
    async def many() -> None:
        raise ExceptionGroup("many", [KeyError(k) for k in range(7)])

    with pytest.raises(td.RunFailed) as info:
        await td.DAG.from_nodes("D", [td.Node("many", many)]).run()
    report = info.value.result.report()
    assert (
        "many (7 sub-exceptions) [KeyError: 0; KeyError: 1; KeyError: 2; KeyError: 3; " in report
    )
    assert "KeyError: 4; ...]" in report


# ------------------------------------------------------------------ 16. instruments


@pytest.mark.parametrize(
    "make", [lambda r: (x for x in [r]), lambda r: map(lambda x: x, [r])], ids=["generator", "map"]
)
async def test_instruments_given_as_an_iterator_are_used(
    make: Any, autojump_clock: trio.testing.MockClock
) -> None:
    async def a() -> int:
        return 1

    dag = td.DAG.from_nodes("D", [td.Node("a", a)])
    rec = Recorder()
    result = await dag.run(instruments=make(rec))
    assert rec.of("node_finished") == [("node_finished", "a")]
    assert rec.events[-1] == ("run_finished", result)

    rec2 = Recorder()
    async with dag.stream([{}, {}], instruments=make(rec2)) as results:
        async for _ in results:
            pass
    assert len(rec2.of("run_finished")) == 2  # every item's run, not only the first


async def test_async_hooks_are_rejected_before_anything_runs() -> None:
    ran: list[str] = []

    class AsyncHook(td.Instrument):
        async def node_started(self, node: str, attempt: int) -> None:  # type: ignore[override]
            ran.append(node)  # pragma: no cover - never called

    async def a() -> int:
        ran.append("a")  # pragma: no cover - the run never starts
        return 1

    dag = td.DAG.from_nodes("D", [td.Node("a", a)])
    with pytest.raises(TypeError, match=r"AsyncHook.*node_started\(\) as an async function"):
        await dag.run(instruments=[AsyncHook()])
    assert ran == []


async def test_current_run_id_in_hooks_and_nodes(autojump_clock: trio.testing.MockClock) -> None:
    seen: list[str] = []

    async def a() -> int:
        seen.append(td.current_run_id())
        return 1

    rec = Recorder()
    result = await td.DAG.from_nodes("D", [td.Node("a", a)]).run(instruments=[rec])
    assert seen == [result.run_id]
    assert rec.run_ids == {result.run_id}
    with pytest.raises(RuntimeError, match="current_run_id"):
        td.current_run_id()


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_node_cancelled_ends_every_cancelled_attempt(
    strategy: td.Strategy, autojump_clock: trio.testing.MockClock
) -> None:
    async def boom() -> None:
        await trio.sleep(2)
        raise ValueError("boom")

    async def plain() -> None:
        await trio.sleep(10)

    async def retried() -> None:
        await trio.sleep(10)

    async def timed() -> None:
        await trio.sleep(10)

    async def each(xs: int) -> None:
        await trio.sleep(10)

    async def xs() -> list[int]:
        return [1, 2]

    nodes = [
        td.Node("plain", plain),
        td.Node("retried", retried, retry=no_delay(3)),
        td.Node("timed", timed, timeout=1.0),
        td.Node("xs", xs),
        td.Node("each", each, deps=["xs"], map_over="xs"),
        td.Node("boom", boom),
    ]
    rec = Recorder()
    with trio.fail_after(100), pytest.raises(td.RunFailed):
        await td.DAG.from_nodes("D", nodes).run(
            strategy=strategy, instruments=[rec], on_failure="continue", deadline=5
        )
    rec.check_pairs()  # every started attempt has exactly one end event
    cancelled = {e[1] for e in rec.of("node_cancelled")}
    assert "timed" not in cancelled  # a timeout is a failure, not a cancellation
    if isinstance(strategy, td.Sequential):
        assert cancelled == {"plain"}  # the others never started
    elif strategy.schedule == "levels":
        assert cancelled == {"plain", "retried"}  # each is in the next level
    else:
        assert cancelled == {"plain", "retried", "each"}
        assert ("node_failed", "timed", 1, False) in rec.events


@pytest.mark.parametrize("retry", [None, no_delay(2)], ids=["plain", "retried"])
@pytest.mark.parametrize("strategy", PARALLEL)
async def test_an_attempt_waiting_for_a_slot_gets_no_end_event(
    strategy: td.Parallel, retry: td.RetryPolicy | None, autojump_clock: trio.testing.MockClock
) -> None:
    """Cancelled while waiting for a max_concurrency slot: it never started, nothing ends."""

    async def slow() -> None:
        await trio.sleep(10)

    dag = td.DAG.from_nodes("D", [td.Node(n, slow, retry=retry) for n in ("a", "b", "c")])
    rec = Recorder()
    with trio.fail_after(100), trio.move_on_after(1):
        await dag.run(strategy=td.Parallel(1, schedule=strategy.schedule), instruments=[rec])
    rec.check_pairs()  # fails if a node that never started is told it was cancelled
    (started,) = rec.of("node_started")
    assert rec.of("node_cancelled") == [("node_cancelled", started[1], 1)]
    (finished,) = rec.of("run_finished")
    assert finished[1].status is td.RunStatus.CANCELLED


@pytest.mark.parametrize("retry", [None, no_delay(2)], ids=["plain", "retried"])
@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_body_whose_nursery_is_cancelled_is_told_cancelled(
    strategy: td.Strategy, retry: td.RetryPolicy | None, autojump_clock: trio.testing.MockClock
) -> None:
    """The body raises a group of Cancelled (its own nursery's): node_cancelled, once."""

    async def fan_out() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep, 10)
            nursery.start_soon(trio.sleep, 10)

    rec = Recorder()
    dag = td.DAG.from_nodes("D", [td.Node("fan_out", fan_out, retry=retry)])
    with trio.fail_after(100), trio.move_on_after(1):
        await dag.run(strategy=strategy, instruments=[rec])
    rec.check_pairs()
    assert rec.of("node_started", "node_cancelled") == [
        ("node_started", "fan_out", 1),
        ("node_cancelled", "fan_out", 1),
    ]


@pytest.mark.parametrize("y_retry", [None, no_delay(3, 1.0)], ids=["plain", "retried"])
async def test_an_attempt_a_level_restart_cancels_as_it_fails_ends_cancelled(
    y_retry: td.RetryPolicy | None, autojump_clock: trio.testing.MockClock
) -> None:
    """x wakes y, then fails; its restart cancels y, which fails before it can see the cancel."""
    gate = trio.Event()

    async def x() -> int:
        await trio.sleep(1)
        if td.current_attempt().attempt == 1:
            gate.set()  # y is scheduled to run on, with no checkpoint before it raises
            raise ValueError("x once")
        return 1

    async def y() -> int:
        await gate.wait()
        if td.current_attempt().attempt == 1:
            raise ValueError("y once")
        return 2

    nodes = [td.Node("x", x, retry=no_delay(3, 1.0)), td.Node("y", y, retry=y_retry)]
    rec = Recorder()
    with trio.fail_after(100):
        result = await td.DAG.from_nodes("D", nodes).run(
            strategy=td.Parallel(schedule="levels"),
            supervisor=td.Supervisor("one_for_all"),
            instruments=[rec],
        )
    assert result.ok
    rec.check_pairs()  # y's first attempt ended, once
    assert rec.of("node_failed", "node_cancelled") == [
        ("node_failed", "x", 1, True),
        ("node_cancelled", "y", 1),  # it raised, but the restart had cancelled it already
    ]
    assert sorted(rec.of("node_started")) == [
        ("node_started", n, k) for n in ("x", "y") for k in (1, 2)
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_map_nodes_end_event_has_its_attempt_not_its_element_count(
    strategy: td.Strategy, autojump_clock: trio.testing.MockClock
) -> None:
    """A map node starts as attempt 1; it also ends as attempt 1, after 3 element calls."""

    async def xs() -> list[int]:
        return [1, 2, 3]

    async def each(xs: int) -> int:
        await trio.sleep(xs)
        if xs == 2:
            raise ValueError(xs)
        return xs

    async def slow(xs: int) -> int:
        await trio.sleep(10)
        return xs

    for fn, raises, end in (
        (each, pytest.raises(td.RunFailed), ("node_failed", "m", 1, False)),
        (slow, contextlib.nullcontext(), ("node_cancelled", "m", 1)),  # cancelled from outside
    ):
        rec = Recorder()
        nodes = [td.Node("xs", xs), td.Node("m", fn, deps=["xs"], map_over="xs")]
        with trio.fail_after(100), trio.move_on_after(5), raises:
            await td.DAG.from_nodes("D", nodes).run(strategy=strategy, instruments=[rec])
        rec.check_pairs()
        assert [e for e in rec.of("node_failed", "node_cancelled") if e[1] == "m"] == [end]
        (finished,) = rec.of("run_finished")
        assert finished[1].attempts("m") == 3  # the result counts element calls


async def test_element_events(autojump_clock: trio.testing.MockClock) -> None:
    calls: dict[int, int] = {}

    async def xs() -> list[int]:
        return [0, 1, 2]

    async def each(xs: int) -> int:
        calls[xs] = calls.get(xs, 0) + 1
        await trio.sleep(1 + xs)
        if xs == 1 and calls[xs] == 1:
            raise ConnectionError("once")
        return xs * 10

    async def plain_each(xs: int) -> int:
        await trio.sleep(1)
        if xs == 2:
            raise KeyError(xs)
        return xs

    rec = Recorder()
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("xs", xs),
            td.Node("each", each, deps=["xs"], map_over="xs", retry=no_delay(2, 5.0)),
        ],
    )
    result = await dag.run(instruments=[rec])
    assert result["each"] == [0, 10, 20]
    ev = rec.of("element_started", "element_finished", "element_failed")
    assert ("element_started", "each", 1, 1) in ev
    assert ("element_failed", "each", 1, "ConnectionError", 1, True) in ev
    assert ("element_started", "each", 1, 2) in ev
    assert ("element_finished", "each", 0, 1.0) in ev
    assert ("element_finished", "each", 1, 2.0 + 5.0 + 2.0) in ev  # from its first attempt
    assert ("element_finished", "each", 2, 3.0) in ev

    rec = Recorder()
    dag = td.DAG.from_nodes(
        "P", [td.Node("xs", xs), td.Node("plain_each", plain_each, deps=["xs"], map_over="xs")]
    )
    with pytest.raises(td.RunFailed):
        await dag.run(instruments=[rec])
    ev = rec.of("element_started", "element_finished", "element_failed")
    assert sorted(e for e in ev if e[0] == "element_started") == [
        ("element_started", "plain_each", k, 1) for k in range(3)
    ]
    assert ("element_failed", "plain_each", 2, "KeyError", 1, False) in ev


async def test_hooks_nobody_overrides_are_never_looked_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    looked_up: list[str] = []

    class OnlyRunFinished(td.Instrument):
        def __getattribute__(self, name: str) -> Any:
            looked_up.append(name)
            return object.__getattribute__(self, name)

        def run_finished(self, result: td.RunResult) -> None:
            pass

    async def a() -> int:
        return 1

    async def b(a: int) -> int:
        return a

    dag = td.DAG.from_nodes("D", [td.Node("a", a), td.Node("b", b, deps=["a"])])
    for strategy in (td.Sequential(), td.Parallel(), td.Parallel(schedule="levels")):
        looked_up.clear()
        await dag.run(strategy=strategy, instruments=[OnlyRunFinished()])
        assert [n for n in looked_up if n.startswith(("node_", "element_"))] == []
        assert looked_up.count("run_finished") == 2  # the async check, then the event


# ----------------------------------------------------------- 17. reference cycles


def _failing_dag(interrupt: bool = False) -> type[td.DAG]:
    async def a() -> bytearray:
        return bytearray(1000)

    async def b(a: bytearray) -> None:
        await trio.sleep(1)
        raise ValueError("b")

    async def c(a: bytearray) -> int:
        await trio.sleep(5)
        return 1

    async def d(a: bytearray) -> None:
        raise ConnectionError("d")

    async def leaky(a: bytearray) -> None:
        await trio.sleep(0.5)
        raise await leaked_cancelled()

    async def stuck(a: bytearray) -> None:
        await cleanup_fails_when_cancelled()

    async def stop(a: bytearray) -> None:
        await trio.sleep(1)
        raise KeyboardInterrupt

    return td.DAG.from_nodes(
        "F",
        [
            td.Node("stop" if interrupt else "b", stop if interrupt else b, deps=["a"]),
            td.Node("a", a),
            td.Node("c", c, deps=["a"]),
            td.Node("d", d, deps=["a"], retry=no_delay(3, 10.0)),
            td.Node("leaky", leaky, deps=["a"]),
            td.Node("stuck", stuck, deps=["a"]),
        ],
    )


@pytest.mark.parametrize("strategy", PARALLEL)
@pytest.mark.parametrize("how", ["failed", "deadline", "outside", "interrupted"])
async def test_a_finished_run_leaves_nothing_for_the_cycle_collector(
    strategy: td.Strategy, how: str, autojump_clock: trio.testing.MockClock
) -> None:
    dag = _failing_dag(interrupt=how == "interrupted")

    async def one_run() -> None:
        if how == "failed":
            with pytest.raises(td.RunFailed):
                await dag.run(strategy=strategy)
        elif how == "deadline":
            with pytest.raises(td.RunFailed):
                await dag.run(strategy=strategy, deadline=3, on_failure="continue")
        elif how == "outside":
            with trio.move_on_after(0.25):
                await dag.run(strategy=strategy)
        else:
            with pytest.raises(KeyboardInterrupt):
                await dag.run(strategy=strategy, on_failure="continue")

    with trio.fail_after(100):
        await one_run()  # warm up (first-use caches)
        gc.collect()
        gc.disable()
        try:
            await one_run()
            collected = own_garbage()
        finally:
            gc.enable()
    assert collected == []


async def test_a_failed_sequential_run_leaves_nothing_for_the_cycle_collector(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def a() -> bytearray:
        return bytearray(1000)

    async def b(a: bytearray) -> None:
        raise ValueError("b")

    dag = td.DAG.from_nodes("S", [td.Node("a", a), td.Node("b", b, deps=["a"])])
    for _ in range(2):  # the first run warms caches up
        gc.collect()
        gc.disable()
        try:
            with pytest.raises(td.RunFailed):
                await dag.run(strategy=td.Sequential())
            collected = own_garbage()
        finally:
            gc.enable()
    assert collected == []
