"""OTP supervisor strategies (one_for_one, one_for_all, rest_for_one) and restart intensity."""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest
import trio
import trio.testing

import trio_dag as td

LEVELS = td.Parallel(schedule="levels")


class Body:
    """A node body: records calls (time, args), may sleep, fails on its first ``fails`` calls."""

    def __init__(
        self, fails: int = 0, *, sleep: float = 0.0, value: Any = None, hang: bool = False
    ) -> None:
        self.fails = fails
        self.sleep = sleep
        self.value = value
        self.hang = hang
        self.calls = 0
        self.times: list[float] = []
        self.args: list[tuple[Any, ...]] = []
        self.finished = 0
        self.raised: list[Exception] = []

    async def __call__(self, *args: Any) -> Any:
        self.calls += 1
        n = self.calls
        self.times.append(trio.current_time())
        self.args.append(args)
        if self.hang:
            await trio.sleep_forever()
        if self.sleep:
            await trio.sleep(self.sleep)
        if n <= self.fails:
            e = ValueError(f"failure {n}")
            self.raised.append(e)
            raise e
        self.finished += 1
        return self.value if self.value is not None else f"value {n}"


def fixed(max_attempts: int, delay: float) -> td.RetryPolicy:
    return td.RetryPolicy(max_attempts=max_attempts, initial_delay=delay, backoff=1, jitter="none")


# ------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("kwargs", "error", "option"),
    [
        ({"strategy": "one_for_some"}, ValueError, "strategy"),
        ({"strategy": None}, ValueError, "strategy"),
        ({"max_restarts": -1}, ValueError, "max_restarts"),
        ({"max_restarts": True}, TypeError, "max_restarts"),
        ({"max_restarts": 1.0}, TypeError, "max_restarts"),
        ({"period": 0}, ValueError, "period"),
        ({"period": -1}, ValueError, "period"),
        ({"period": math.nan}, ValueError, "period"),
        ({"period": math.inf}, ValueError, "period"),
        ({"period": True}, TypeError, "period"),
    ],
)
def test_supervisor_rejects_bad_values_naming_the_option(
    kwargs: dict[str, Any], error: type[Exception], option: str
) -> None:
    with pytest.raises(error, match=option):
        td.Supervisor(**kwargs)


def test_supervisor_defaults() -> None:
    s = td.Supervisor()
    assert (s.strategy, s.max_restarts, s.period) == ("one_for_one", None, 5.0)
    assert td.Supervisor(max_restarts=0, period=1).max_restarts == 0


async def test_run_rejects_a_non_supervisor() -> None:
    body = Body()
    dag = td.DAG.from_nodes("D", [td.Node("a", body)])
    with pytest.raises(TypeError, match="supervisor"):
        await dag.run(supervisor="one_for_all")  # type: ignore[arg-type]
    assert body.calls == 0


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
async def test_eager_schedule_with_a_level_restarting_supervisor_is_an_error(
    strategy: str,
) -> None:
    body = Body()
    dag = td.DAG.from_nodes("D", [td.Node("a", body)])
    with pytest.raises(ValueError, match="schedule='levels'"):
        await dag.run(strategy=td.Parallel(), supervisor=td.Supervisor(strategy))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=strategy):
        await dag.run(
            strategy=td.Parallel(schedule="eager", max_concurrency=2),
            supervisor=td.Supervisor(strategy),  # type: ignore[arg-type]
        )
    assert body.calls == 0


def _schedule_probe(supervisor: td.Supervisor | None = None) -> tuple[type[td.DAG], Body]:
    """x (1 s) -> y; z (5 s) alone: y starts at 1 when eager, at 5 level by level."""
    y = Body()
    dag = td.DAG.from_nodes(
        "Probe",
        [
            td.Node("x", Body(sleep=1)),
            td.Node("z", Body(sleep=5)),
            td.Node("y", y, deps=["x"]),
        ],
        supervisor=supervisor,
    )
    return dag, y


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
async def test_level_restarting_supervisor_runs_level_by_level_by_default(
    strategy: str, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        dag, y = _schedule_probe()
        t0 = trio.current_time()
        await dag.run()
        assert y.times == [t0 + 1]  # the default, one_for_one: eager
        dag, y = _schedule_probe()
        t0 = trio.current_time()
        await dag.run(supervisor=td.Supervisor(strategy))  # type: ignore[arg-type]
        assert y.times == [t0 + 5]  # level 1 starts after level 0 (z) finished
        dag, y = _schedule_probe(td.Supervisor(strategy))  # type: ignore[arg-type]
        t0 = trio.current_time()
        result = await dag.run()  # the DAG's own supervisor
        assert y.times == [t0 + 5]
        assert result.ok


# -------------------------------------------------------------- one_for_one


async def test_one_for_one_retries_in_place_and_siblings_keep_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a, b, c = Body(sleep=3), Body(1, sleep=1), Body(sleep=3)
    dag = td.DAG.from_nodes(
        "D", [td.Node("a", a), td.Node("b", b, retry=fixed(2, 1)), td.Node("c", c)]
    )
    with trio.fail_after(60):
        result = await dag.run(strategy=LEVELS)
    assert (a.calls, b.calls, c.calls) == (1, 2, 1)
    assert b.times == [0, 2]
    assert trio.current_time() == 3
    assert result.ok


# -------------------------------------------------------------- one_for_all


def _level_dag(fail_at: str, **retry: int) -> tuple[type[td.DAG], dict[str, Body]]:
    """base -> (a, b, c) -> sink; ``fail_at`` fails once and has retry=2 (1 s, no jitter)."""
    base_value: list[str] = ["the base"]
    bodies = {
        "base": Body(value=base_value),
        "a": Body(),  # completes at once
        "b": Body(sleep=1),
        "c": Body(sleep=5),
        "sink": Body(),
    }
    bodies[fail_at].fails = 1
    dag = td.DAG.from_nodes(
        "Level",
        [
            td.Node("base", bodies["base"]),
            *(
                td.Node(n, bodies[n], deps=["base"], retry=fixed(2, 2) if n == fail_at else None)
                for n in "abc"
            ),
            td.Node("sink", bodies["sink"], deps=["a", "b", "c"]),
        ],
    )
    return dag, bodies


@pytest.mark.parametrize("strategy", [LEVELS, td.Sequential()], ids=["levels", "sequential"])
async def test_one_for_all_restarts_the_whole_level_reusing_earlier_values(
    strategy: td.Parallel | td.Sequential, autojump_clock: trio.testing.MockClock
) -> None:
    dag, bodies = _level_dag("c")  # the last of its level: every level-mate has run
    with trio.fail_after(60):
        result = await dag.run(strategy=strategy, supervisor=td.Supervisor("one_for_all"))
    assert result.ok
    calls = {n: b.calls for n, b in bodies.items()}
    assert calls == {"base": 1, "a": 2, "b": 2, "c": 2, "sink": 1}
    base_value = result["base"]
    for n in "abc":
        assert len(bodies[n].args) == 2
        assert all(args[0] is base_value for args in bodies[n].args)
    assert result.attempts("c") == 2
    assert bodies["sink"].args == [("value 2", "value 2", "value 2")]


async def test_one_for_all_under_levels_cancels_running_level_mates_and_restarts_all(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dag, bodies = _level_dag("b")
    with trio.fail_after(60):
        result = await dag.run(supervisor=td.Supervisor("one_for_all"))
    # b fails at 1; a (done at 0) and c (running) restart with b after the 2 s delay
    assert bodies["a"].times == [0, 3]
    assert bodies["b"].times == [0, 3]
    assert bodies["c"].times == [0, 3]
    assert bodies["c"].finished == 1  # the first c was cancelled
    assert bodies["base"].calls == 1
    assert bodies["sink"].times == [8]
    base_value = result["base"]
    assert all(args[0] is base_value for n in "abc" for args in bodies[n].args)
    assert result.started_at("c") == 3
    assert result.finished_at("c") == 8
    assert result.attempts("b") == 2
    assert result.ok


async def test_one_for_all_under_sequential_reruns_only_level_mates_that_ran(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dag, bodies = _level_dag("b")
    with trio.fail_after(60):
        result = await dag.run(strategy=td.Sequential(), supervisor=td.Supervisor("one_for_all"))
    assert {n: b.calls for n, b in bodies.items()} == {
        "base": 1,
        "a": 2,
        "b": 2,
        "c": 1,
        "sink": 1,
    }
    base_value = result["base"]
    assert all(args[0] is base_value for n in "abc" for args in bodies[n].args)
    assert result.ok


@pytest.mark.parametrize("strategy", [LEVELS, td.Sequential()], ids=["levels", "sequential"])
async def test_one_for_all_restart_of_a_plain_level_mate_counts_as_an_attempt(
    strategy: td.Parallel | td.Sequential, autojump_clock: trio.testing.MockClock
) -> None:
    dag, bodies = _level_dag("c")
    with trio.fail_after(60):
        result = await dag.run(strategy=strategy, supervisor=td.Supervisor("one_for_all"))
    assert bodies["a"].calls == 2
    assert result.attempts("a") == 2
    assert result.attempts("base") == 1


# ------------------------------------------------------------- rest_for_one


async def test_rest_for_one_under_levels_restarts_the_node_and_those_after_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a, b, c = Body(sleep=4), Body(1, sleep=1), Body(sleep=5)
    base, sink = Body(value=["base"]), Body()
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("base", base),
            td.Node("a", a, deps=["base"]),
            td.Node("b", b, deps=["base"], retry=fixed(2, 2)),
            td.Node("c", c, deps=["base"]),
            td.Node("sink", sink, deps=["a", "b", "c"]),
        ],
    )
    with trio.fail_after(60):
        result = await dag.run(supervisor=td.Supervisor("rest_for_one"))
    assert (base.calls, a.calls, b.calls, c.calls, sink.calls) == (1, 1, 2, 2, 1)
    assert a.times == [0]
    assert result.finished_at("a") == 4  # kept running through b's failure
    assert b.times == [0, 3]
    assert c.times == [0, 3]
    assert c.finished == 1
    assert sink.times == [8]
    base_value = result["base"]
    assert all(args[0] is base_value for x in (a, b, c) for args in x.args)
    assert result.ok


async def test_rest_for_one_under_sequential_reruns_only_the_failed_node(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dag, bodies = _level_dag("b")
    with trio.fail_after(60):
        result = await dag.run(strategy=td.Sequential(), supervisor=td.Supervisor("rest_for_one"))
    assert {n: b.calls for n, b in bodies.items()} == {
        "base": 1,
        "a": 1,
        "b": 2,
        "c": 1,
        "sink": 1,
    }
    assert result.ok


async def test_rest_for_one_failure_of_the_last_node_restarts_it_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dag, bodies = _level_dag("c")
    with trio.fail_after(60):
        result = await dag.run(supervisor=td.Supervisor("rest_for_one"))
    assert (bodies["a"].calls, bodies["b"].calls, bodies["c"].calls) == (1, 1, 2)
    assert result.ok


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
async def test_level_restart_that_finally_fails_fails_the_run(
    strategy: str, autojump_clock: trio.testing.MockClock
) -> None:
    dag, bodies = _level_dag("a")
    bodies["a"].fails = 99
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(supervisor=td.Supervisor(strategy))  # type: ignore[arg-type]
    r = info.value.result
    assert bodies["a"].calls == 2
    assert info.value.__cause__ is bodies["a"].raised[-1]
    assert r.status is td.RunStatus.FAILED
    assert bodies["sink"].calls == 0
    assert r["base"] == ["the base"]


# ---------------------------------------------------------- restart intensity


@pytest.mark.parametrize(
    "strategy",
    [td.Parallel(), LEVELS, td.Sequential()],
    ids=["eager", "levels", "sequential"],
)
async def test_intensity_exceeded_halts_the_run_keeping_completed_values(
    strategy: td.Parallel | td.Sequential, autojump_clock: trio.testing.MockClock
) -> None:
    done, bad, running, after = Body(value=["kept"]), Body(99), Body(sleep=50), Body()
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("done", done),
            td.Node("bad", bad, deps=["done"], retry=fixed(10, 0)),
            td.Node("running", running, deps=["done"]),
            td.Node("after", after, deps=["bad"]),
        ],
    )
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy, supervisor=td.Supervisor(max_restarts=2, period=10))
    assert bad.calls == 3  # max_restarts + 1
    assert after.calls == 0
    assert running.finished == 0
    r = info.value.result
    assert r.status is td.RunStatus.HALTED
    assert r.attempts("bad") == 3
    assert r["done"] is done.value
    assert r.statuses["bad"] is td.NodeStatus.FAILED
    assert info.value.__cause__ is bad.raised[-1]
    assert not r.ok
    report = str(info.value)
    assert "halted" in report
    assert "'bad' failed after 3 attempts" in report
    assert "done" in report
    assert trio.current_time() == 0


async def test_failures_spaced_wider_than_the_period_do_not_escalate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    body = Body(3)
    policy = td.RetryPolicy(max_attempts=4, initial_delay=6, backoff=1, jitter="none")
    dag = td.DAG.from_nodes("D", [td.Node("a", body, retry=policy)])
    with trio.fail_after(60):
        result = await dag.run(supervisor=td.Supervisor(max_restarts=1, period=5))
    assert result["a"] == "value 4"
    assert result.attempts("a") == 4
    assert body.times == [0, 6, 12, 18]


async def test_failures_closer_than_the_period_escalate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    body = Body(3)
    policy = td.RetryPolicy(max_attempts=4, initial_delay=6, backoff=1, jitter="none")
    dag = td.DAG.from_nodes("D", [td.Node("a", body, retry=policy)])
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(supervisor=td.Supervisor(max_restarts=1, period=7))
    assert body.times == [0, 6]  # restarts at 0 and 6 are within 7 s: more than 1
    assert info.value.result.status is td.RunStatus.HALTED


async def test_restarts_of_different_nodes_count_together(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a, b = Body(1), Body(1, sleep=1)
    dag = td.DAG.from_nodes(
        "D", [td.Node("a", a, retry=fixed(3, 0)), td.Node("b", b, retry=fixed(3, 0))]
    )
    with trio.fail_after(60):
        assert (await dag.run(supervisor=td.Supervisor(max_restarts=2))).ok
    a2, b2 = Body(1), Body(1, sleep=1)
    dag = td.DAG.from_nodes(
        "D", [td.Node("a", a2, retry=fixed(3, 0)), td.Node("b", b2, retry=fixed(3, 0))]
    )
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(supervisor=td.Supervisor(max_restarts=1))
    r = info.value.result
    assert r.status is td.RunStatus.HALTED
    assert r["a"] == "value 2"  # a's restart was the one allowed; b's second failure halts
    assert set(r.errors) == {"b"}
    assert b2.calls == 1


async def test_max_restarts_zero_halts_on_the_first_failure_even_with_continue(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bad, slow = Body(5, sleep=1), Body(sleep=10)
    dag = td.DAG.from_nodes("D", [td.Node("bad", bad, retry=fixed(3, 0)), td.Node("slow", slow)])
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(supervisor=td.Supervisor(max_restarts=0), on_failure="continue")
    assert bad.calls == 1
    assert slow.finished == 0
    assert info.value.result.status is td.RunStatus.HALTED
    assert info.value.result.statuses["slow"] is td.NodeStatus.CANCELLED


async def test_a_level_restart_counts_once_toward_intensity(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dag, bodies = _level_dag("b")
    with trio.fail_after(60):
        result = await dag.run(supervisor=td.Supervisor("one_for_all", max_restarts=1))
    assert result.ok
    assert bodies["a"].calls == bodies["b"].calls == bodies["c"].calls == 2
    dag, bodies = _level_dag("b")
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(supervisor=td.Supervisor("one_for_all", max_restarts=0))
    r = info.value.result
    assert r.status is td.RunStatus.HALTED
    assert r["base"] == ["the base"]
    assert bodies["b"].calls == 1
    assert bodies["c"].finished == 0
    assert bodies["sink"].calls == 0


def _one_for_all_with_early_failure() -> list[str]:
    """Level [fails, m0..m3]: names of level-mates that began between the failure and
    the restart 5 s later (there must be none)."""
    failed_at: list[float] = []
    early: list[str] = []

    async def fails() -> str:
        if not failed_at:
            failed_at.append(trio.current_time())
            raise ValueError("once")
        return "fails ok"

    def mate(name: str) -> Any:
        async def body() -> str:
            if failed_at and trio.current_time() < 5:
                early.append(name)
            await trio.sleep(1)
            return name

        return body

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("fails", fails, retry=fixed(2, 5)),
            *(td.Node(f"m{k}", mate(f"m{k}")) for k in range(4)),
        ],
    )
    result = trio.run(
        functools.partial(dag.run, supervisor=td.Supervisor("one_for_all")),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    assert result.ok
    assert result.attempts("fails") == 2
    return early


def test_one_for_all_level_mates_not_yet_started_do_not_run_besides_their_restart() -> None:
    # The failing node is spawned first and trio shuffles each batch of runnable tasks,
    # so in many runs some level-mates have not begun when it fails. Such a level-mate
    # must not begin later anyway: it runs only as part of the restart.
    for _ in range(16):
        assert _one_for_all_with_early_failure() == []


async def test_sequential_one_for_all_rerun_failing_stops_the_run_before_the_retry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    b, c = Body(), Body(1)
    a_calls: list[int] = []

    async def a_fn() -> str:
        a_calls.append(1)
        if len(a_calls) == 2:
            raise ValueError("a fails on its rerun")
        return "a"

    dag = td.DAG.from_nodes(
        "D",
        [td.Node("a", a_fn), td.Node("b", b), td.Node("c", c, retry=fixed(2, 1))],
    )
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=td.Sequential(), supervisor=td.Supervisor("one_for_all"))
    r = info.value.result
    assert len(a_calls) == 2
    assert b.calls == 1  # the run stopped before b's rerun
    assert c.calls == 1  # ... and before c's second attempt
    assert set(r.errors) == {"a"}
    assert "c" not in r


async def test_sequential_one_for_all_rerun_sees_its_own_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[tuple[str, int]] = []
    failed = False

    async def a() -> str:
        at = td.current_attempt()
        seen.append((at.node, at.attempt))
        return "a"

    async def b() -> str:
        nonlocal failed
        at = td.current_attempt()
        seen.append((at.node, at.attempt))
        if not failed:
            failed = True
            raise ValueError("once")
        return "b"

    dag = td.DAG.from_nodes("Seq", [td.Node("a", a), td.Node("b", b, retry=fixed(2, 0))])
    with trio.fail_after(60):
        result = await dag.run(strategy=td.Sequential(), supervisor=td.Supervisor("one_for_all"))
    # a's rerun is its attempt 2: a restart is an attempt, and the count goes on
    assert seen == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert result.attempts("a") == 2
    assert result.attempts("b") == 2
