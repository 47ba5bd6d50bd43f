"""Opaque composition: ``Etl.as_node(...)`` runs a whole DAG as one node of another.

The outer run's cancellation reaches the inner nodes; an inner failure is the
node's failure (the inner ``RunFailed``, not a group); an outer retry resumes
the inner partial result; the node takes no ``max_concurrency`` slot, so a
shared bound cannot deadlock; the outer instruments see inner events under a
path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

import trio_dag as td
from conftest import Boom, check_message


class Etl(td.DAG):
    day = td.input()
    limit = td.input(default=2)

    @td.node
    async def rows(day: str, limit: int) -> list[str]:
        await trio.sleep(1)
        return [f"{day}/{k}" for k in range(limit)]

    @td.node
    async def summary(rows: list[str]) -> str:
        await trio.sleep(1)
        return f"{len(rows)} rows"


class Outer(td.DAG):
    day = td.input()
    etl = Etl.as_node(inputs={"day": "day"}, output="summary")

    @td.node
    async def publish(etl: str, day: str) -> str:
        return f"{day}: {etl}"


class Recorder(td.Instrument):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def node_started(self, node: str, attempt: int) -> None:
        self.events.append(("started", node, attempt))

    def node_finished(self, node: str, elapsed: float) -> None:
        self.events.append(("finished", node))

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        self.events.append(("failed", node, type(error).__name__, will_retry))


async def test_the_node_value_is_the_output_of_the_inner_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(10):
        r = await Outer.run({"day": "d"})
    assert r["etl"] == "2 rows"
    assert r["publish"] == "d: 2 rows"
    assert Outer.graph.dependencies("etl") == ("day",)
    assert trio.current_time() == 2  # the inner critical path


async def test_without_output_the_value_is_the_inner_result(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Whole(td.DAG):
        when = td.input()
        etl = Etl.as_node(inputs={"day": "when", "limit": "when"})

    r = await Whole.run({"when": 1})
    inner = r["etl"]
    assert isinstance(inner, td.RunResult)
    assert inner.graph is Etl.graph
    assert dict(inner) == {"rows": ["1/0"], "summary": "1 rows"}


async def test_the_node_stays_callable_by_hand(autojump_clock: trio.testing.MockClock) -> None:
    assert await Outer.etl("x") == "2 rows"
    assert await Outer.etl(day="y") == "2 rows"
    with pytest.raises(td.InputError):
        await Outer.etl()


async def test_outer_cancellation_cascades_into_the_inner_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[str] = []

    class Slow(td.DAG):
        @td.node
        async def forever() -> None:
            try:
                await trio.sleep(100)
            finally:
                seen.append(f"inner cancelled at {trio.current_time():g}")

    class Out(td.DAG):
        slow = Slow.as_node()

        @td.node
        async def breaks() -> None:
            await trio.sleep(3)
            raise Boom

    with trio.fail_after(10), pytest.raises(td.RunFailed) as info:
        await Out.run()
    assert seen == ["inner cancelled at 3"]
    assert info.value.result.statuses["slow"] == "cancelled"

    seen.clear()  # the outer deadline too
    t0 = trio.current_time()
    with trio.fail_after(10), pytest.raises(td.RunFailed) as info:
        await Out.run(deadline=2)
    assert seen == [f"inner cancelled at {t0 + 2:g}"]
    assert info.value.result.status == "timed_out"


async def test_an_inner_failure_is_the_node_failure_with_the_inner_report(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Bad(td.DAG):
        @td.node
        async def ok() -> int:
            return 1

        @td.node
        async def breaks(ok: int) -> None:
            raise Boom("inner trouble")

    class Out(td.DAG):
        bad = Bad.as_node()

    with trio.fail_after(10), pytest.raises(td.RunFailed) as info:
        await Out.run()
    outer = info.value
    inner = outer.errors["bad"]
    assert isinstance(inner, td.RunFailed)  # not an anonymous ExceptionGroup
    assert outer.__cause__ is inner
    assert isinstance(inner.__cause__, Boom)
    assert inner.result.graph is Bad.graph
    assert inner.result["ok"] == 1
    assert inner.result.statuses["breaks"] == "failed"
    report = str(outer)
    assert "node 'bad' failed after 1 attempt: RunFailed:" in report
    assert "DAG 'Bad' failed" in report
    assert "node 'breaks' failed after 1 attempt: Boom: inner trouble" in report


async def test_an_outer_retry_resumes_the_inner_partial_result(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = {"first": 0, "flaky": 0}

    class Inner(td.DAG):
        x = td.input()

        @td.node
        async def first(x: int) -> int:
            calls["first"] += 1
            return x + 1

        @td.node
        async def flaky(first: int) -> int:
            calls["flaky"] += 1
            if calls["flaky"] == 1:
                raise Boom
            return first * 10

    class Out(td.DAG):
        x = td.input()
        inner = Inner.as_node(
            inputs={"x": "x"},
            output="flaky",
            node_options={"retry": td.RetryPolicy(max_attempts=2, initial_delay=1)},
        )

    rec = Recorder()
    with trio.fail_after(10):
        r = await Out.run({"x": 1}, instruments=[rec])
    assert r["inner"] == 20
    assert r.attempts("inner") == 2
    assert calls == {"first": 1, "flaky": 2}  # first is not run again
    assert rec.events == [
        ("started", "inner", 1),
        ("started", "inner/first", 1),
        ("finished", "inner/first"),
        ("started", "inner/flaky", 1),
        ("failed", "inner/flaky", "Boom", False),
        ("failed", "inner", "RunFailed", True),
        ("started", "inner", 2),
        ("started", "inner/flaky", 1),
        ("finished", "inner/flaky"),
        ("finished", "inner"),
    ]


class Wide(td.DAG):
    """Two inner nodes that can run at the same time."""

    @td.node
    async def a() -> int:
        await _busy()
        return 1

    @td.node
    async def b() -> int:
        await _busy()
        return 2

    @td.node
    async def total(a: int, b: int) -> int:
        await _busy()
        return a + b


_running = {"now": 0, "most": 0}


async def _busy() -> None:
    _running["now"] += 1
    _running["most"] = max(_running["most"], _running["now"])
    try:
        await trio.sleep(1)
    finally:
        _running["now"] -= 1


@pytest.mark.parametrize("bound", [1, 2])
async def test_a_shared_bound_does_not_deadlock_and_holds_for_inner_and_outer(
    bound: int, autojump_clock: trio.testing.MockClock
) -> None:
    class Out(td.DAG):
        one = Wide.as_node(output="total")
        two = Wide.as_node(output="total")

        @td.node
        async def outer_work() -> int:
            await _busy()
            return 0

        @td.node
        async def both(one: int, two: int, outer_work: int) -> int:
            return one + two

    _running["most"] = 0
    with trio.fail_after(100):  # a slot held by `one` while its inner nodes wait: a hang
        r = await Out.run(strategy=td.Parallel(max_concurrency=bound))
    assert r["both"] == 6
    assert _running["most"] == bound
    assert trio.current_time() == {1: 7, 2: 4}[bound]  # 7 busy seconds through the slots


async def test_an_own_strategy_gives_the_inner_run_its_own_bound(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Out(td.DAG):
        wide = Wide.as_node(output="total", strategy=td.Parallel(max_concurrency=2))

    _running["most"] = 0
    with trio.fail_after(100):
        await Out.run(strategy=td.Parallel(max_concurrency=1))
    assert _running["most"] == 2


async def test_the_inner_run_follows_the_outer_strategy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Out(td.DAG):
        wide = Wide.as_node(output="total")

    _running["most"] = 0
    await Out.run(strategy=td.Sequential())
    assert _running["most"] == 1

    class Levels(td.DAG):
        supervisor = td.Supervisor(strategy="one_for_all")

        @td.node
        async def only() -> int:
            return 1

    class Mixed(td.DAG):
        levels = Levels.as_node(output="only")

    assert (await Mixed.run())["levels"] == 1  # eager outside, levels inside


async def test_instruments_see_nested_paths(autojump_clock: trio.testing.MockClock) -> None:
    class Mid(td.DAG):
        day = td.input()
        etl = Etl.as_node(inputs={"day": "day"}, output="summary")

    class Top(td.DAG):
        mid = Mid.as_node(inputs={"day": "day"}, output="etl")
        day = td.input()

    rec = Recorder()
    inner_rec = Recorder()

    class Spy(td.DAG):
        day = td.input()
        etl = Etl.as_node(inputs={"day": "day"}, output="summary", instruments=[inner_rec])

    r = await Top.run({"day": "d"}, instruments=[rec])
    assert r["mid"] == "2 rows"
    started = [e[1] for e in rec.events if e[0] == "started"]
    assert started == ["mid", "mid/etl", "mid/etl/rows", "mid/etl/summary"]
    await Spy.run({"day": "d"}, instruments=[rec])
    assert [e[1] for e in inner_rec.events if e[0] == "started"] == ["rows", "summary"]


async def test_map_over_runs_the_inner_dag_per_element(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Many(td.DAG):
        days = td.input()
        etl = Etl.as_node(
            inputs={"day": "days"}, output="summary", node_options={"map_over": "day"}
        )

    with trio.fail_after(10):
        r = await Many.run({"days": ["a", "b", "c"]})
    assert r["etl"] == ["2 rows"] * 3
    assert trio.current_time() == 2


def test_as_node_definition_errors() -> None:
    with pytest.raises(td.InvalidOptionError, match="did you mean 'day'") as info:
        Etl.as_node(inputs={"dya": "day"})
    assert info.value.option == "inputs"
    with pytest.raises(td.InvalidOptionError, match="required input 'day'"):
        Etl.as_node(inputs={"limit": "n"})
    with pytest.raises(td.InvalidOptionError, match="did you mean 'summary'"):
        Etl.as_node(inputs={"day": "day"}, output="sumary")
    with pytest.raises(td.InvalidOptionError, match="deadline"):
        Etl.as_node(inputs={"day": "day"}, deadline=0)
    with pytest.raises(td.InvalidOptionError, match="node_options"):
        Etl.as_node(inputs={"day": "day"}, node_options=[("retry", 2)])  # type: ignore[arg-type]
    with pytest.raises(td.InvalidOptionError, match="inputs must be a mapping"):
        Etl.as_node(inputs=["day"])  # type: ignore[arg-type]
    with pytest.raises(td.InvalidOptionError, match=r"inputs\['day'\]"):
        Etl.as_node(inputs={"day": 3})  # type: ignore[dict-item]


def test_outer_wiring_and_node_options_are_checked_with_the_outer_dag() -> None:
    with pytest.raises(td.UnknownDependencyError) as info:

        class Wrong(td.DAG):
            day = td.input()
            etl = Etl.as_node(inputs={"day": "dya"})

    check_message(info.value, "Wrong", "'etl'", "'dya'", "did you mean 'day'?")
    with pytest.raises(td.InvalidOptionError) as opt:

        class Wrong2(td.DAG):
            day = td.input()
            etl = Etl.as_node(inputs={"day": "day"}, node_options={"timeout": 0})

    assert (opt.value.node, opt.value.option) == ("etl", "timeout")


async def test_resuming_the_outer_run_resumes_the_inner_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = {"first": 0, "flaky": 0}

    class Inner(td.DAG):
        @td.node
        async def first() -> int:
            calls["first"] += 1
            return 1

        @td.node
        async def flaky(first: int) -> int:
            calls["flaky"] += 1
            if calls["flaky"] == 1:
                raise Boom
            return first + 1

    class Out(td.DAG):
        inner = Inner.as_node(output="flaky")

        @td.node
        async def after(inner: int) -> int:
            return inner * 10

    with trio.fail_after(10), pytest.raises(td.RunFailed) as info:
        await Out.run()
    r = await Out.resume(info.value.result)
    assert r["after"] == 20
    assert calls == {"first": 1, "flaky": 2}  # the inner `first` ran once, in the first run


async def test_built_in_instruments_and_handles_take_inner_paths(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    import io

    from rich.console import Console

    from trio_dag.instruments import (
        ChromeTrace,
        LogInstrument,
        OpenTelemetryInstrument,
        ProgressDisplay,
        Timeline,
    )

    seen_ids: list[str] = []

    class RunIds(td.Instrument):
        def node_started(self, node: str, attempt: int) -> None:
            seen_ids.append(td.current_run_id())

    trace, timeline = ChromeTrace(tmp_path / "trace.json"), Timeline()
    display = ProgressDisplay(Console(file=io.StringIO(), width=100))
    instruments = [trace, timeline, LogInstrument(), OpenTelemetryInstrument(), display, RunIds()]
    with trio.fail_after(10):
        async with Outer.start({"day": "d"}, instruments=instruments) as run:
            result = await run.wait()
    assert result["publish"] == "d: 2 rows"
    assert run.progress.done == 2  # counted in outer nodes
    assert trace.recording is not None
    assert {"etl", "etl/rows", "etl/summary", "publish"} == {
        a.node for a in trace.recording.records
    }
    assert set(seen_ids) == {result.run_id}  # hooks run in the outer run's context
    assert not [r for r in caplog.records if "removing it" in r.getMessage()]


async def test_a_retry_after_the_node_timed_out_resumes_too(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = {"first": 0, "slow": 0}

    class Inner(td.DAG):
        @td.node
        async def first() -> int:
            calls["first"] += 1
            await trio.sleep(1)
            return 1

        @td.node
        async def slow(first: int) -> int:
            calls["slow"] += 1
            await trio.sleep(10 if calls["slow"] == 1 else 1)
            return first + 1

    class Out(td.DAG):
        inner = Inner.as_node(
            output="slow",
            node_options={
                "timeout": 3,
                "retry": td.RetryPolicy(
                    max_attempts=2, initial_delay=0, retry_on=trio.TooSlowError
                ),
            },
        )

    t0 = trio.current_time()
    with trio.fail_after(30):
        r = await Out.run()
    assert r["inner"] == 2
    assert calls == {"first": 1, "slow": 2}
    assert trio.current_time() - t0 == 3 + 1  # the timed-out attempt, then `slow` alone
