"""Failure handling: fail-fast, continue, simultaneous failures, cancellation, deadlines."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import trio_dag as td
from conftest import Boom

STRATEGIES = [
    pytest.param(td.Sequential(), id="sequential"),
    pytest.param(td.Parallel(schedule="levels"), id="levels"),
    pytest.param(td.Parallel(schedule="eager"), id="eager"),
]
PARALLEL = STRATEGIES[1:]


def make_failing_dag(started: list[str]) -> type[td.DAG]:
    """``bad`` fails at t=2 while ``slow`` (10 s) runs; ``fast`` completed at t=1."""

    class Failing(td.DAG):
        @td.node
        async def fast() -> str:
            started.append("fast")
            await trio.sleep(1)
            return "fast"

        @td.node
        async def slow() -> str:
            started.append("slow")
            await trio.sleep(10)
            return "slow"

        @td.node
        async def bad() -> str:
            started.append("bad")
            await trio.sleep(2)
            raise Boom("bad broke")

        @td.node
        async def after_fast(fast: str) -> str:
            started.append("after_fast")
            await trio.sleep(5)
            return fast + "!"

        @td.node
        async def after_bad(bad: str) -> str:
            started.append("after_bad")
            return bad

        @td.node
        async def after_after(after_bad: str, fast: str) -> str:
            started.append("after_after")
            return after_bad + fast

        @td.node
        async def late(slow: str) -> str:
            started.append("late")
            return slow

    return Failing


# ---------------------------------------------------------------- fail-fast


@pytest.mark.parametrize("strategy", PARALLEL)
async def test_fail_fast_cancels_siblings_and_keeps_completed(
    strategy: td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    started: list[str] = []
    dag = make_failing_dag(started)
    with trio.fail_after(100):
        t0 = trio.current_time()
        with pytest.raises(td.RunFailed) as info:
            await dag.run(strategy=strategy)
        # the failure at t=2 stops the run at once: slow's 10 s are not waited for
        assert trio.current_time() - t0 == 2
    result = info.value.result
    assert result.status is td.RunStatus.FAILED
    assert not result.ok
    assert dict(result) == {"fast": "fast"}
    st = result.statuses
    assert st["fast"] is td.NodeStatus.COMPLETED
    assert st["bad"] is td.NodeStatus.FAILED
    assert st["slow"] is td.NodeStatus.CANCELLED
    assert st["after_bad"] is td.NodeStatus.SKIPPED
    assert st["after_after"] is td.NodeStatus.SKIPPED
    assert st["late"] is td.NodeStatus.NOT_STARTED
    if strategy.schedule == "eager":
        # after_fast started at t=1, before the failure, and was cancelled by it
        assert st["after_fast"] is td.NodeStatus.CANCELLED
        assert result.started_at("after_fast") == t0 + 1
    else:
        assert st["after_fast"] is td.NodeStatus.NOT_STARTED
    err = info.value.errors["bad"]
    assert isinstance(err, Boom)
    assert info.value.__cause__ is err
    assert result.errors == {"bad": err}
    assert isinstance(result.outcomes["bad"].error, Boom)  # type: ignore[union-attr]
    assert "after_bad" not in started
    assert "late" not in started
    assert result.finished_at("bad") == t0 + 2
    assert result.finished_at("slow") is None


async def test_fail_fast_sequential_stops_at_the_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started: list[str] = []
    dag = make_failing_dag(started)
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=td.Sequential())
    result = info.value.result
    order = dag.graph.order
    pos = order.index("bad")
    assert started == list(order[: pos + 1])
    assert result.nodes_with(td.NodeStatus.FAILED) == ("bad",)
    assert set(result) == set(order[:pos])
    assert result.statuses["after_bad"] is td.NodeStatus.SKIPPED
    assert not result.nodes_with(td.NodeStatus.CANCELLED)


@pytest.mark.parametrize("strategy", PARALLEL)
async def test_fail_fast_starts_no_node_after_the_failure(
    strategy: td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    """A chain that would start new nodes every second stops at the failure."""
    starts: list[float] = []

    async def step(*args: object) -> int:
        starts.append(trio.current_time())
        await trio.sleep(1)
        return len(args)

    async def bad() -> None:
        await trio.sleep(2.5)
        raise Boom("at 2.5")

    chain = [td.Node("c0", step)]
    chain += [td.Node(f"c{i}", step, deps=(f"c{i - 1}",)) for i in range(1, 8)]
    dag = td.DAG.from_nodes("chain", [*chain, td.Node("bad", bad)])
    with trio.fail_after(100):
        t0 = trio.current_time()
        with pytest.raises(td.RunFailed) as info:
            await dag.run(strategy=strategy)
    assert all(s - t0 <= 2.5 for s in starts)
    result = info.value.result
    if strategy.schedule == "eager":
        assert [s - t0 for s in starts] == [0, 1, 2]
        assert set(result) == {"c0", "c1"}
        assert result.statuses["c2"] is td.NodeStatus.CANCELLED
    else:
        # level 0 is {c0, bad}: c0 completes, and level 1 never starts
        assert [s - t0 for s in starts] == [0]
        assert set(result) == {"c0"}
        assert result.statuses["c1"] is td.NodeStatus.NOT_STARTED
    assert result.statuses["c7"] is td.NodeStatus.NOT_STARTED


# ----------------------------------------------------------------- continue


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_continue_runs_everything_independent_of_the_failure(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    started: list[str] = []
    dag = make_failing_dag(started)
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy, on_failure="continue")
    result = info.value.result
    assert result.status is td.RunStatus.FAILED
    assert dict(result) == {
        "fast": "fast",
        "slow": "slow",
        "after_fast": "fast!",
        "late": "slow",
    }
    assert result.nodes_with("failed") == ("bad",)
    assert result.nodes_with(td.NodeStatus.SKIPPED) == ("after_bad", "after_after")
    assert not result.nodes_with(td.NodeStatus.CANCELLED)
    assert not result.nodes_with(td.NodeStatus.NOT_STARTED)
    assert "after_bad" not in started
    assert "after_after" not in started
    assert isinstance(info.value.__cause__, Boom)
    text = str(info.value)
    assert "'bad' failed after 1 attempt: Boom: bad broke" in text
    assert "skipped: after_bad, after_after" in text
    assert "completed (kept, resume() reuses them)" in text
    assert text == result.report()


async def test_continue_makespan_is_that_of_the_surviving_nodes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dag = make_failing_dag([])
    with trio.fail_after(100):
        t0 = trio.current_time()
        with pytest.raises(td.RunFailed):
            await dag.run(on_failure="continue")
        assert trio.current_time() - t0 == 10


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_continue_skips_transitively_in_a_chain(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    async def ok(*args: object) -> int:
        return 1 + sum(args)  # type: ignore[arg-type]

    async def bad(*args: object) -> int:
        raise Boom("b")

    dag = td.DAG.from_nodes(
        "chain",
        [
            td.Node("a", ok),
            td.Node("b", bad, deps=("a",)),
            td.Node("c", ok, deps=("b",)),
            td.Node("d", ok, deps=("c", "a")),
            td.Node("e", ok, deps=("a",)),
            td.Node("f", ok, deps=("e",)),
        ],
    )
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy, on_failure="continue")
    result = info.value.result
    assert dict(result) == {"a": 1, "e": 2, "f": 3}
    assert result.nodes_with("skipped") == ("c", "d")
    assert result.attempts("c") == 0


@pytest.mark.parametrize(
    ("strategy", "on_failure"),
    [
        # a sequential fail-fast run never reaches the second node, so it is not here
        pytest.param(td.Sequential(), "continue", id="sequential-continue"),
        pytest.param(td.Parallel(schedule="levels"), "continue", id="levels-continue"),
        pytest.param(td.Parallel(schedule="levels"), "fail_fast", id="levels-fail_fast"),
        pytest.param(td.Parallel(schedule="eager"), "continue", id="eager-continue"),
        pytest.param(td.Parallel(schedule="eager"), "fail_fast", id="eager-fail_fast"),
    ],
)
async def test_two_nodes_failing_at_the_same_instant_are_both_reported(
    strategy: td.Sequential | td.Parallel,
    on_failure: str,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Both failures are kept when they happen before the run can cancel either.

    The failing nodes wake on one event (not on a timer: trio's ``sleep`` wakes
    through a cancel scope, so after the first failure the second sleeper would
    see the run's cancellation instead) and raise without a checkpoint between.
    """
    go = trio.Event()

    async def trigger() -> None:
        await trio.sleep(1)
        go.set()

    async def one() -> None:
        await go.wait()
        raise Boom("one")

    async def two() -> None:
        await go.wait()
        raise Boom("two")

    dag = td.DAG.from_nodes(
        "twice", [td.Node("trigger", trigger), td.Node("one", one), td.Node("two", two)]
    )
    with trio.fail_after(100):
        if isinstance(strategy, td.Sequential):
            go.set()  # a sequential run has no other task to set it
        t0 = trio.current_time()
        with pytest.raises(td.RunFailed) as info:
            await dag.run(strategy=strategy, on_failure=on_failure)
    errors = info.value.errors
    assert list(errors) == ["one", "two"]
    assert [str(e) for e in errors.values()] == ["one", "two"]
    result = info.value.result
    assert result.finished_at("one") == result.finished_at("two")
    if not isinstance(strategy, td.Sequential):
        assert result.finished_at("one") == t0 + 1
    cause = info.value.__cause__
    assert isinstance(cause, ExceptionGroup)
    assert pytest.RaisesGroup(
        pytest.RaisesExc(Boom, match="^one$"), pytest.RaisesExc(Boom, match="^two$")
    ).matches(cause)
    assert list(cause.exceptions) == list(errors.values())
    assert result.nodes_with("failed") == ("one", "two")
    assert "'one' failed" in str(info.value)
    assert "'two' failed" in str(info.value)


@pytest.mark.parametrize("strategy", PARALLEL)
async def test_timer_failures_at_the_same_instant_under_continue(
    strategy: td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    async def one() -> None:
        await trio.sleep(1)
        raise Boom("one")

    async def two() -> None:
        await trio.sleep(1)
        raise Boom("two")

    dag = td.DAG.from_nodes("twice", [td.Node("one", one), td.Node("two", two)])
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy, on_failure="continue")
    assert pytest.RaisesGroup(Boom, Boom).matches(info.value.__cause__)
    assert list(info.value.errors) == ["one", "two"]


@pytest.mark.parametrize("bad", ["stop", "FAIL_FAST", None, 1])
async def test_invalid_on_failure_is_rejected(bad: object) -> None:
    ran = []

    class One(td.DAG):
        @td.node
        async def a() -> None:
            ran.append(1)

    with pytest.raises(ValueError, match="on_failure") as info:
        await One.run(on_failure=bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)
    assert not ran


# ------------------------------------------------------ outside cancellation


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_outside_cancellation_stops_the_run_and_leaves_nothing_behind(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    flags: list[str] = []
    seen: list[td.RunResult] = []

    class Recorder(td.Instrument):
        def node_failed(
            self, node: str, error: BaseException, attempt: int, will_retry: bool
        ) -> None:
            flags.append(f"failed {node}")

        def run_finished(self, result: td.RunResult) -> None:
            seen.append(result)

    class Long(td.DAG):
        @td.node
        async def first() -> int:
            await trio.sleep(1)
            return 1

        @td.node
        async def long(first: int) -> int:
            await trio.sleep(100)
            flags.append("long finished")
            return first

        @td.node(retry=td.RetryPolicy(max_attempts=5, jitter="none"), timeout=500.0)
        async def guarded(first: int) -> int:
            await trio.sleep(100)
            flags.append("guarded finished")
            return first

        @td.node(map_over="xs")
        async def each(xs: int) -> int:
            await trio.sleep(100)
            flags.append("each finished")
            return xs

        @td.node
        async def xs(first: int) -> list[int]:
            return [first, first]

        @td.node
        async def last(long: int, guarded: int, each: list[int]) -> int:
            flags.append("last started")
            return long

    with trio.fail_after(1000):
        t0 = trio.current_time()
        with trio.move_on_after(5) as scope:
            await Long.run(strategy=strategy, instruments=[Recorder()])
        assert scope.cancelled_caught
        assert trio.current_time() - t0 == 5
        await trio.sleep(500)  # nothing left running would finish in this time
    assert flags == []
    # run_finished still comes, last, with the partial result of a cancelled run
    assert len(seen) == 1
    assert seen[0].status is td.RunStatus.CANCELLED
    assert seen[0]["first"] == 1
    assert set(seen[0]) <= {"first", "xs"}  # xs is quick: it may have completed too


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_outside_cancellation_is_not_retried(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    calls = 0

    class Retrying(td.DAG):
        @td.node(retry=td.RetryPolicy(max_attempts=10, jitter="none"))
        async def a() -> None:
            nonlocal calls
            calls += 1
            await trio.sleep_forever()

    with trio.fail_after(100):
        with trio.move_on_after(1):
            await Retrying.run(strategy=strategy)
        await trio.sleep(50)
    assert calls == 1


async def test_cancelled_raised_by_node_code_is_not_a_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A node's own move_on_after is its business; the run is unaffected."""

    class Inner(td.DAG):
        @td.node
        async def a() -> str:
            with trio.move_on_after(1):
                await trio.sleep(10)
            return "moved on"

    with trio.fail_after(100):
        result = await Inner.run()
    assert result["a"] == "moved on"
    assert result.errors == {}


# ------------------------------------------------------------------ deadline


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_deadline_times_out_the_run(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    class Slow(td.DAG):
        @td.node
        async def quick() -> int:
            await trio.sleep(1)
            return 1

        @td.node
        async def slow(quick: int) -> int:
            await trio.sleep(10)
            return quick

        @td.node
        async def after(slow: int) -> int:
            return slow

    with trio.fail_after(100):
        t0 = trio.current_time()
        with pytest.raises(td.RunFailed) as info:
            await Slow.run(strategy=strategy, deadline=2.5)
        assert trio.current_time() - t0 == 2.5
    result = info.value.result
    assert result.status == td.RunStatus.TIMED_OUT
    assert dict(result) == {"quick": 1}
    assert result.statuses["slow"] is td.NodeStatus.CANCELLED
    assert result.statuses["after"] is td.NodeStatus.NOT_STARTED
    assert result.errors == {}
    assert isinstance(info.value.__cause__, trio.TooSlowError)
    assert "2.5" in str(info.value.__cause__)
    assert "timed_out" in str(info.value)


async def test_deadline_not_reached_is_harmless(autojump_clock: trio.testing.MockClock) -> None:
    class Quick(td.DAG):
        @td.node
        async def a() -> int:
            await trio.sleep(1)
            return 1

    with trio.fail_after(100):
        result = await Quick.run(deadline=2.5)
    assert result.ok


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "3"])
async def test_invalid_deadline_is_rejected(bad: object) -> None:
    class Quick(td.DAG):
        @td.node
        async def a() -> int:
            return 1

    with pytest.raises((TypeError, ValueError), match="deadline"):
        await Quick.run(deadline=bad)  # type: ignore[arg-type]
