"""Instruments (event order, faulty instruments) and the RunResult API."""

from __future__ import annotations

import logging
from typing import Any

import outcome
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


class Recorder(td.Instrument):
    """Records every event as a tuple ``(hook, *args)``."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def run_started(self, dag: str, run_id: str) -> None:
        self.events.append(("run_started", dag, run_id))

    def level_started(self, level: int, nodes: tuple[str, ...]) -> None:
        self.events.append(("level_started", level, nodes))

    def level_finished(self, level: int) -> None:
        self.events.append(("level_finished", level))

    def node_started(self, node: str, attempt: int) -> None:
        self.events.append(("node_started", node, attempt))

    def node_finished(self, node: str, elapsed: float) -> None:
        self.events.append(("node_finished", node, elapsed))

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        self.events.append(("node_failed", node, error, attempt, will_retry))

    def run_finished(self, result: td.RunResult) -> None:
        self.events.append(("run_finished", result))

    def of(self, hook: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == hook]


def make_dag(fail_once: dict[str, int]) -> type[td.DAG]:
    class Observed(td.DAG):
        day = td.input(default="monday")

        @td.node
        async def a(day: str) -> str:
            await trio.sleep(1)
            return day

        @td.node(retry=td.RetryPolicy(max_attempts=3, initial_delay=1, jitter="none"))
        async def b(day: str) -> str:
            await trio.sleep(2)
            fail_once["b"] += 1
            if fail_once["b"] == 1:
                raise Boom("b once")
            return day.upper()

        @td.node(map_over="xs")
        async def m(xs: int, a: str) -> str:
            await trio.sleep(xs)
            return a * xs

        @td.node
        async def xs() -> list[int]:
            return [1, 2]

        @td.node(timeout=100.0)
        async def c(a: str, b: str, m: list[str]) -> str:
            await trio.sleep(1)
            return a + b + "".join(m)

    return Observed


def check_order(rec: Recorder, result: td.RunResult, dag: type[td.DAG], levels: bool) -> None:
    ev = rec.events
    assert ev[0] == ("run_started", dag.graph.name, result.run_id)
    assert ev[-1] == ("run_finished", result)
    assert len(rec.of("run_started")) == len(rec.of("run_finished")) == 1
    # each node_started before its end event, and alternating per node
    open_: dict[str, int] = {}
    for e in ev:
        if e[0] == "node_started":
            assert e[1] not in open_, f"{e[1]} started twice without ending"
            open_[e[1]] = e[2]
        elif e[0] in ("node_finished", "node_failed"):
            assert e[1] in open_, f"{e[0]} of {e[1]} before its node_started"
            if e[0] == "node_failed":
                assert e[3] == open_[e[1]]
            del open_[e[1]]
    assert open_ == {}
    finished = {e[1] for e in rec.of("node_finished")}
    assert finished == set(result)
    # a node starts only after all its dependencies finished
    pos = {(e[0], e[1]): k for k, e in enumerate(ev) if e[0] in ("node_started", "node_finished")}
    for name in dag.graph.nodes:
        for dep in dag.graph.dependencies(name):
            if dep in dag.graph.nodes:
                assert pos[("node_finished", dep)] < pos[("node_started", name)]
    if levels:
        graph_levels = dag.graph.levels
        starts = rec.of("level_started")
        assert [s[1] for s in starts] == list(range(len(graph_levels)))
        assert [s[2] for s in starts] == list(graph_levels)
        for k, nodes in enumerate(graph_levels):
            lo = ev.index(("level_started", k, nodes))
            hi = ev.index(("level_finished", k))
            assert lo < hi
            for j, e in enumerate(ev):
                if e[0].startswith("node_") and e[1] in nodes:
                    assert lo < j < hi, f"{e} outside level {k}"
    else:
        assert rec.of("level_started") == rec.of("level_finished") == []


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_instrument_sees_a_valid_event_order(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    counter = {"b": 0}
    dag = make_dag(counter)
    rec = Recorder()
    with trio.fail_after(100):
        result = await dag.run(strategy=strategy, instruments=[rec])
    assert result["c"] == "mondayMONDAYmondaymondaymonday"
    check_order(rec, result, dag, levels=strategy == td.Parallel(schedule="levels"))
    # b: attempt 1 fails and will be retried, attempt 2 starts after that
    b_events = [e for e in rec.events if e[0].startswith("node_") and e[1] == "b"]
    assert [e[0] for e in b_events] == [
        "node_started",
        "node_failed",
        "node_started",
        "node_finished",
    ]
    assert b_events[0][2] == 1
    assert isinstance(b_events[1][2], Boom)
    assert b_events[1][3:] == (1, True)
    assert b_events[2][2] == 2
    assert b_events[3][2] == 2  # the second attempt's own 2 s
    # a map node is one node to instruments: one start, one finish
    assert [e[0] for e in rec.events if e[1:2] == ("m",)] == ["node_started", "node_finished"]
    assert dict((e[1], e[2]) for e in rec.of("node_finished"))["a"] == 1


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_instrument_sees_final_failure(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    class Failing(td.DAG):
        @td.node
        async def ok() -> int:
            return 1

        @td.node(retry=td.RetryPolicy(max_attempts=2, jitter="none"))
        async def retried(ok: int) -> int:
            raise Boom("retried")

        @td.node
        async def plain(ok: int) -> int:
            raise Boom("plain")

    rec = Recorder()
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await Failing.run(strategy=strategy, instruments=[rec], on_failure="continue")
    result = info.value.result
    assert rec.events[-1] == ("run_finished", result)
    failed = [(e[1], str(e[2]), e[3], e[4]) for e in rec.of("node_failed")]
    assert sorted(failed) == [
        ("plain", "plain", 1, False),
        ("retried", "retried", 1, True),
        ("retried", "retried", 2, False),
    ]
    if strategy == td.Parallel(schedule="levels"):
        assert [e[1] for e in rec.of("level_finished")] == [0, 1]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_levels_are_closed_when_the_run_fails_fast(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    """Every level_started gets its level_finished, even when the run stops."""

    class Failing(td.DAG):
        @td.node
        async def ok() -> int:
            return 1

        @td.node
        async def slow(ok: int) -> int:
            await trio.sleep(10)
            return ok

        @td.node
        async def bad(ok: int) -> int:
            await trio.sleep(1)
            raise Boom("bad")

        @td.node
        async def never(bad: int) -> int:
            return bad

    rec = Recorder()
    with trio.fail_after(100), pytest.raises(td.RunFailed):
        await Failing.run(strategy=strategy, instruments=[rec])
    started = [e[1] for e in rec.of("level_started")]
    assert [e[1] for e in rec.of("level_finished")] == started
    if strategy == td.Parallel(schedule="levels"):
        assert started == [0, 1]
    assert rec.events[-1][0] == "run_finished"
    slow = [e[0] for e in rec.events if e[1:2] == ("slow",)]
    if isinstance(strategy, td.Sequential):
        assert slow == ["node_started", "node_finished"]  # it comes before bad
    else:
        assert slow == ["node_started"]  # cancelled: no end event


class Faulty(td.Instrument):
    def __init__(self, hook: str) -> None:
        self.hook = hook
        self.calls = 0

    def _maybe_fail(self, name: str) -> None:
        if name == self.hook:
            self.calls += 1
            raise RuntimeError(f"faulty {name}")

    def run_started(self, dag: str, run_id: str) -> None:
        self._maybe_fail("run_started")

    def node_started(self, node: str, attempt: int) -> None:
        self._maybe_fail("node_started")

    def node_finished(self, node: str, elapsed: float) -> None:
        self._maybe_fail("node_finished")

    def run_finished(self, result: td.RunResult) -> None:
        self._maybe_fail("run_finished")


@pytest.mark.parametrize("hook", ["run_started", "node_started", "node_finished", "run_finished"])
async def test_instrument_that_raises_is_removed_and_the_run_succeeds(
    hook: str, caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    faulty = Faulty(hook)
    rec = Recorder()
    dag = make_dag({"b": 0})
    with caplog.at_level(logging.ERROR, logger="trio_dag"), trio.fail_after(100):
        result = await dag.run(instruments=[faulty, rec])
    assert result.ok
    assert faulty.calls == 1  # removed after the first failure
    assert rec.events[-1] == ("run_finished", result)  # the other instrument kept going
    records = [r for r in caplog.records if r.name == "trio_dag"]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert hook in records[0].getMessage()
    assert records[0].exc_info is not None
    assert str(records[0].exc_info[1]) == f"faulty {hook}"


class OverridesSome(td.Instrument):
    def __init__(self) -> None:
        self.nodes: list[str] = []

    def node_started(self, node: str, attempt: int) -> None:
        self.nodes.append(node)


async def test_instrument_base_hooks_are_no_ops(autojump_clock: trio.testing.MockClock) -> None:
    ins = OverridesSome()
    dag = make_dag({"b": 1})  # b does not fail: its counter is past 1
    result = await dag.run(instruments=[ins], strategy=td.Parallel(schedule="levels"))
    assert result.ok
    assert sorted(ins.nodes) == sorted(dag.graph.nodes)


@pytest.mark.parametrize("bad", [object(), Recorder, "recorder", None])
async def test_non_instrument_is_rejected(bad: object) -> None:
    ran: list[int] = []

    class One(td.DAG):
        @td.node
        async def a() -> None:
            ran.append(1)

    with pytest.raises(TypeError, match="Instrument"):
        await One.run(instruments=[Recorder(), bad])  # type: ignore[list-item]
    assert not ran


# ------------------------------------------------------------------ RunResult


class Mixed(td.DAG):
    day = td.input()
    region = td.input(default="eu")

    @td.node
    async def first(day: str) -> str:
        await trio.sleep(1)
        return day

    @td.node(retry=td.RetryPolicy(max_attempts=3, initial_delay=1, jitter="none"))
    async def flaky(first: str) -> str:
        await trio.sleep(1)
        raise Boom(f"flaky on {first}")

    @td.node
    async def second(first: str, region: str) -> str:
        await trio.sleep(2)
        return first + region

    @td.node
    async def needs_flaky(flaky: str) -> str:
        return flaky

    @td.node
    async def none_value(first: str) -> None:
        return None


async def run_mixed() -> td.RunResult:
    with pytest.raises(td.RunFailed) as info:
        await Mixed.run({"day": "d1"}, on_failure="continue")
    return info.value.result


async def test_run_result_mapping(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(100):
        result = await run_mixed()
    assert list(result) == ["first", "second", "none_value"]
    assert len(result) == 3
    assert dict(result) == {"first": "d1", "second": "d1eu", "none_value": None}
    assert result["none_value"] is None
    assert "none_value" in result
    assert "flaky" not in result
    assert "nope" not in result
    assert result.get("flaky", "dflt") == "dflt"
    assert set(result.keys()) == {"first", "second", "none_value"}
    with pytest.raises(KeyError, match=r"'flaky'.*failed"):
        result["flaky"]
    with pytest.raises(KeyError, match=r"'needs_flaky'.*skipped"):
        result["needs_flaky"]
    with pytest.raises(KeyError, match="did you mean 'second'"):
        result["secnd"]
    with pytest.raises(KeyError, match="no node 'zzz'"):
        result["zzz"]
    with pytest.raises(TypeError):
        result["first"] = "x"  # type: ignore[index]


async def test_run_result_key_error_messages_read_well(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Three(td.DAG):
        @td.node
        async def bad() -> int:
            await trio.sleep(1)
            raise Boom("x")

        @td.node
        async def slow() -> int:
            await trio.sleep(5)
            return 1

        @td.node
        async def after(bad: int) -> int:
            return bad

        @td.node
        async def later(slow: int) -> int:
            return slow

    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await Three.run()
    result = info.value.result

    def message(name: str) -> str:
        with pytest.raises(KeyError) as err:
            result[name]
        return str(err.value.args[0])

    assert message("bad") == "node 'bad' has no value: it failed"
    assert message("slow") == "node 'slow' has no value: it was cancelled"
    assert message("after") == "node 'after' has no value: it was skipped (a dependency failed)"
    assert message("later") == (
        "node 'later' has no value: it never started (the run stopped first)"
    )


async def test_run_result_outcomes_statuses_and_errors(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        result = await run_mixed()
    oc = result.outcomes
    assert set(oc) == {"first", "flaky", "second", "none_value"}
    assert isinstance(oc["first"], outcome.Value)
    assert oc["first"].unwrap() == "d1"
    assert isinstance(oc["flaky"], outcome.Error)
    with pytest.raises(Boom, match="flaky on d1"):
        oc["flaky"].unwrap()
    assert result.errors == {"flaky": oc["flaky"].error}
    assert result.status is td.RunStatus.FAILED
    assert result.ok is False
    assert result.statuses == {
        "first": td.NodeStatus.COMPLETED,
        "flaky": td.NodeStatus.FAILED,
        "second": td.NodeStatus.COMPLETED,
        "needs_flaky": td.NodeStatus.SKIPPED,
        "none_value": td.NodeStatus.COMPLETED,
    }
    assert result.nodes_with("completed") == ("first", "second", "none_value")
    assert result.nodes_with(td.NodeStatus.FAILED) == ("flaky",)
    assert result.nodes_with(td.NodeStatus.CANCELLED) == ()
    with pytest.raises(ValueError, match="bogus"):
        result.nodes_with("bogus")
    assert result.inputs == {"day": "d1", "region": "eu"}
    assert isinstance(result.run_id, str)
    assert result.run_id


async def test_run_result_times_and_attempts(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await run_mixed()
    assert result.started_at("first") == t0
    assert result.finished_at("first") == t0 + 1
    assert result.duration("first") == 1
    assert result.started_at("second") == t0 + 1
    assert result.duration("second") == 2
    # flaky: 1 s, 1 s delay, 1 s, 2 s delay, 1 s: last attempt from t0+6 to t0+7
    assert result.attempts("flaky") == 3
    assert result.finished_at("flaky") == t0 + 7
    assert result.started_at("flaky") == t0 + 6
    assert result.duration("flaky") == 1
    assert result.attempts("first") == 1
    assert result.attempts("needs_flaky") == 0
    assert result.started_at("needs_flaky") is None
    assert result.finished_at("needs_flaky") is None
    assert result.duration("needs_flaky") is None
    with pytest.raises(KeyError, match="did you mean 'first'"):
        result.attempts("frist")
    with pytest.raises(KeyError, match="no node"):
        result.started_at("nope")


async def test_node_finished_elapsed_is_that_of_the_last_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rec = Recorder()
    counter = {"b": 0}
    with trio.fail_after(100):
        result = await make_dag(counter).run(instruments=[rec])
    # b: 2 s, fails, 1 s delay, 2 s
    assert result.duration("b") == 2
    assert dict((e[1], e[2]) for e in rec.of("node_finished"))["b"] == 2


async def test_run_result_repr_and_report(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(100):
        result = await run_mixed()
    assert repr(result) == "<RunResult 'Mixed' failed: 3/5 nodes completed>"
    text = result.report()
    lines = text.splitlines()
    assert lines[0] == (
        f"run {result.run_id} of DAG 'Mixed' failed: 3 completed, 1 failed, 1 skipped"
    )
    assert "  node 'flaky' failed after 3 attempts: Boom: flaky on d1" in lines
    assert "  skipped: needs_flaky" in lines
    assert "  completed (kept, resume() reuses them): first, second, none_value" in lines


async def test_complete_run_result(autojump_clock: trio.testing.MockClock) -> None:
    class Ok(td.DAG):
        @td.node
        async def a() -> int:
            return 1

        @td.node
        async def b(a: int) -> int:
            return a + 1

    with trio.fail_after(100):
        result = await Ok.run()
    assert result.ok
    assert result.status is td.RunStatus.COMPLETED
    assert repr(result) == "<RunResult 'Ok' completed: 2/2 nodes completed>"
    assert result.report() == f"run {result.run_id} of DAG 'Ok' completed: 2 completed"
    assert result.errors == {}
    assert result.inputs == {}
    assert result == {"a": 1, "b": 2}


async def test_report_of_a_chained_error_and_long_lists(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def root() -> int:
        try:
            raise KeyError("inner")
        except KeyError as e:
            raise Boom("outer") from e

    async def dep(root: int) -> int:
        return root

    dag = td.DAG.from_nodes(
        "Wide",
        [td.Node("root", root)] + [td.Node(f"d{i:02}", dep, deps=("root",)) for i in range(12)],
    )
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run()
    text = info.value.result.report()
    assert "node 'root' failed after 1 attempt: Boom: outer <- caused by KeyError: 'inner'" in text
    assert "  skipped: d00, d01, d02, d03, d04, d05, d06, d07, d08, d09, ... (2 more)" in text
