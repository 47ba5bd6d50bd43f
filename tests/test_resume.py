"""Partial results, RunFailed reports and resume; a property test of supervised runs."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import trio_dag as td
from conftest import dag_deps

STRATEGIES = [td.Parallel(), td.Parallel(schedule="levels"), td.Sequential()]
STRATEGY_IDS = ["eager", "levels", "sequential"]


class Body:
    """A node body failing on its first ``fails`` calls over its whole life (across runs)."""

    def __init__(self, name: str, fails: int = 0, *, sleep: float = 0.0) -> None:
        self.name = name
        self.fails = fails
        self.sleep = sleep
        self.calls = 0
        self.args: list[tuple[Any, ...]] = []
        self.values: list[object] = []

    async def __call__(self, *args: Any) -> Any:
        self.calls += 1
        n = self.calls
        self.args.append(args)
        if self.sleep:
            await trio.sleep(self.sleep)
        if n <= self.fails:
            raise ValueError(f"{self.name} failure {n}")
        v = [self.name, n]  # a fresh object per call
        self.values.append(v)
        return v


def _dag(**fails: int) -> tuple[type[td.DAG], dict[str, Body]]:
    """a -> b -> c; a -> d (slow) -> e; c and e -> f."""
    bodies = {n: Body(n, fails.get(n, 0)) for n in "abcdef"}
    bodies["d"].sleep = 5
    dag = td.DAG.from_nodes(
        "Pipeline",
        [
            td.Node("a", bodies["a"], deps=["x"]),
            td.Node("b", bodies["b"], deps=["a"]),
            td.Node("c", bodies["c"], deps=["b"]),
            td.Node("d", bodies["d"], deps=["a"]),
            td.Node("e", bodies["e"], deps=["d"]),
            td.Node("f", bodies["f"], deps=["c", "e"]),
        ],
        inputs=("x",),
    )
    return dag, bodies


def _calls(bodies: dict[str, Body]) -> dict[str, int]:
    return {n: b.calls for n, b in bodies.items()}


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_resume_after_fail_fast_runs_only_missing_nodes(
    strategy: td.Parallel | td.Sequential, autojump_clock: trio.testing.MockClock
) -> None:
    dag, bodies = _dag(b=1)
    bodies["b"].sleep = 1  # d has surely started when b fails
    x = object()
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run({"x": x}, strategy=strategy)
    partial = info.value.result
    assert partial.status is td.RunStatus.FAILED
    assert list(partial) == ["a"]
    a_value = partial["a"]
    assert partial.statuses["b"] is td.NodeStatus.FAILED
    assert partial.statuses["c"] is td.NodeStatus.SKIPPED
    assert partial.statuses["f"] is td.NodeStatus.SKIPPED
    if isinstance(strategy, td.Sequential):
        # graph.order is a, b, d, c, e, f: b failed before d started
        assert partial.statuses["d"] is td.NodeStatus.NOT_STARTED
    elif strategy.schedule == "levels":
        assert partial.statuses["d"] is td.NodeStatus.CANCELLED
        assert partial.statuses["e"] is td.NodeStatus.NOT_STARTED
    else:
        assert partial.statuses["d"] is td.NodeStatus.CANCELLED
    before = _calls(bodies)

    with trio.fail_after(60):
        result = await dag.resume(partial, strategy=strategy)
    ran = {n: c - before[n] for n, c in _calls(bodies).items()}
    assert ran == {"a": 0, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1}
    assert result.ok
    assert result.status is td.RunStatus.COMPLETED
    assert set(result) == set("abcdef")
    assert result["a"] is a_value
    assert bodies["b"].args[-1][0] is a_value
    assert bodies["d"].args[-1][0] is a_value
    assert bodies["a"].args == [(x,)]
    assert result.inputs["x"] is x
    assert result["f"] == ["f", 1]
    assert bodies["f"].args == [(result["c"], result["e"])]
    assert result.run_id != partial.run_id
    # the partial result is left as it was
    assert partial.status is td.RunStatus.FAILED
    assert list(partial) == ["a"]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_resume_after_a_halt_runs_only_missing_nodes(
    strategy: td.Parallel | td.Sequential, autojump_clock: trio.testing.MockClock
) -> None:
    dag, bodies = _dag(c=2)
    retry = td.RetryPolicy(max_attempts=5, initial_delay=0)
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(
            {"x": 1}, strategy=strategy, retry=retry, supervisor=td.Supervisor(max_restarts=1)
        )
    partial = info.value.result
    assert partial.status is td.RunStatus.HALTED
    assert bodies["c"].calls == 2
    kept = {n: partial[n] for n in partial}
    assert {"a", "b"} <= set(kept)
    assert "c" not in kept
    before = _calls(bodies)

    with trio.fail_after(60):
        result = await dag.resume(partial, strategy=strategy, retry=retry)
    ran = {n: c - before[n] for n, c in _calls(bodies).items()}
    assert all(ran[n] == 0 for n in kept)
    assert all(ran[n] == 1 for n in "abcdef" if n not in kept)
    assert result.ok
    assert all(result[n] is v for n, v in kept.items())
    assert result.attempts("c") == 1
    assert bodies["c"].args[-1][0] is kept["b"]


async def test_resume_after_the_deadline_passed(autojump_clock: trio.testing.MockClock) -> None:
    dag, bodies = _dag()
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run({"x": 1}, deadline=2)
    partial = info.value.result
    assert partial.status is td.RunStatus.TIMED_OUT
    assert set(partial) == {"a", "b", "c"}
    assert partial.statuses["d"] is td.NodeStatus.CANCELLED
    with trio.fail_after(60):
        result = await dag.resume(partial)
    assert result.ok
    assert _calls(bodies) == {"a": 1, "b": 1, "c": 1, "d": 2, "e": 1, "f": 1}
    assert all(result[n] is partial[n] for n in "abc")


async def test_repeated_resume_completes_a_run(autojump_clock: trio.testing.MockClock) -> None:
    dag, bodies = _dag(b=2, e=1)
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run({"x": 1}, on_failure="continue")
    first = info.value.result
    assert set(first.errors) == {"b", "e"}
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.resume(first, on_failure="continue")
    second = info.value.result
    assert set(second.errors) == {"b"}
    assert second["e"] == ["e", 2]
    with trio.fail_after(60):
        third = await dag.resume(second)
    assert third.ok
    assert _calls(bodies) == {"a": 1, "b": 3, "c": 1, "d": 1, "e": 2, "f": 1}
    assert third["d"] is first["d"]
    assert third["e"] is second["e"]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_resuming_a_complete_result_runs_nothing(
    strategy: td.Parallel | td.Sequential, autojump_clock: trio.testing.MockClock
) -> None:
    dag, bodies = _dag()
    with trio.fail_after(60):
        done = await dag.run({"x": 1}, strategy=strategy)
        t0 = trio.current_time()
        again = await dag.resume(done, strategy=strategy)
    assert trio.current_time() == t0
    assert _calls(bodies) == dict.fromkeys("abcdef", 1)
    assert again.ok
    assert dict(again) == dict(done)
    assert all(again[n] is done[n] for n in done)


async def test_resume_rejects_a_result_of_another_dag() -> None:
    dag, bodies = _dag()
    other, _ = _dag()
    result = await other.run({"x": 1})
    with pytest.raises(ValueError, match="Pipeline"):
        await dag.resume(result)
    with pytest.raises(ValueError, match="RunResult"):
        await dag.resume({"a": 1})  # type: ignore[arg-type]
    assert sum(_calls(bodies).values()) == 0


async def test_resume_validates_its_options(autojump_clock: trio.testing.MockClock) -> None:
    dag, bodies = _dag(b=1)
    with pytest.raises(td.RunFailed) as info:
        await dag.run({"x": 1})
    before = _calls(bodies)
    with pytest.raises(ValueError, match="schedule='levels'"):
        await dag.resume(
            info.value.result, supervisor=td.Supervisor("one_for_all"), strategy=td.Parallel()
        )
    with pytest.raises(ValueError, match="deadline"):
        await dag.resume(info.value.result, deadline=-1)
    assert _calls(bodies) == before


async def test_run_failed_report_is_readable(autojump_clock: trio.testing.MockClock) -> None:
    async def a(x: int) -> int:
        return x

    async def b(a: int) -> int:
        await trio.sleep(1)
        try:
            {}["missing"]
        except KeyError as e:
            raise ValueError("bad b") from e
        return a  # pragma: no cover

    async def slow(a: int) -> int:
        await trio.sleep(10)
        return a  # pragma: no cover

    async def c(b: int) -> int:
        return b  # pragma: no cover

    async def later(slow: int) -> int:
        return slow  # pragma: no cover

    dag = td.DAG.from_nodes(
        "Report",
        [
            td.Node("a", a, deps=["x"]),
            td.Node("b", b, deps=["a"], retry=td.RetryPolicy(max_attempts=2, initial_delay=0)),
            td.Node("slow", slow, deps=["a"]),
            td.Node("c", c, deps=["b"]),
            td.Node("later", later, deps=["slow"]),
        ],
        inputs=("x",),
    )
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run({"x": 1}, strategy=td.Parallel(schedule="levels"))
    exc = info.value
    text = str(exc)
    r = exc.result
    assert text == r.report()
    lines = text.splitlines()
    assert lines[0].startswith(f"run {r.run_id} of DAG 'Report' failed:")
    assert "1 completed" in lines[0]
    assert "1 failed" in lines[0]
    assert (
        "node 'b' failed after 2 attempts: ValueError: bad b <- caused by KeyError: 'missing'"
        in text
    )
    assert "  cancelled: slow" in lines
    assert "  skipped: c" in lines
    assert "  not started: later" in lines
    assert any(line.startswith("  completed") and "a" in line for line in lines)
    assert isinstance(exc.__cause__, ValueError)
    assert isinstance(exc.__cause__.__cause__, KeyError)
    assert exc.errors == {"b": exc.__cause__}


async def test_run_failed_cause_groups_several_failures(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dag, bodies = _dag(b=1, d=1)
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run({"x": 1}, on_failure="continue")
    cause = info.value.__cause__
    assert isinstance(cause, ExceptionGroup)
    assert [str(e) for e in cause.exceptions] == ["b failure 1", "d failure 1"]
    text = str(info.value)
    assert "node 'b' failed after 1 attempt: ValueError: b failure 1" in text
    assert "node 'd' failed after 1 attempt: ValueError: d failure 1" in text
    assert "skipped: c, e, f" in text
    assert bodies["f"].calls == 0


# ------------------------------------------------------------------ property


@st.composite
def supervised_runs(draw: st.DrawFn) -> dict[str, Any]:
    deps = draw(dag_deps(min_nodes=1, max_nodes=7, max_deps=3, shuffled=False))
    n = len(deps)
    supervisor = draw(st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"]))
    schedules = ["levels", "sequential"] + (["eager"] if supervisor == "one_for_one" else [])
    return {
        "deps": deps,
        "fails": [draw(st.integers(0, 3)) for _ in range(n)],
        "attempts": [draw(st.integers(1, 3)) for _ in range(n)],
        "sleeps": [draw(st.sampled_from([0, 0, 1, 2])) for _ in range(n)],
        "supervisor": supervisor,
        "schedule": draw(st.sampled_from(schedules)),
        "on_failure": draw(st.sampled_from(["fail_fast", "continue"])),
    }


class PropBody:
    def __init__(self, name: str, deps: list[str], fails: int, sleep: float, state: Any) -> None:
        self.name, self.deps, self.fails, self.sleep, self.state = name, deps, fails, sleep, state
        self.calls = 0

    async def __call__(self, *args: Any) -> Any:
        done = self.state["done"]
        for d, v in zip(self.deps, args, strict=True):
            if done.get(d) is not v:  # a dependency's final value must be there already
                self.state["violations"].append((self.name, d))
        self.calls += 1
        self.state["run_calls"][self.name] += 1
        if self.sleep:
            await trio.sleep(self.sleep)
        if self.calls <= self.fails:
            raise ValueError(self.name)
        v = (self.name, self.calls)
        done[self.name] = v
        return v


@settings(max_examples=60, deadline=None)
@given(supervised_runs())
def test_supervised_runs_keep_their_invariants_and_resume_completes(case: dict[str, Any]) -> None:
    n = len(case["deps"])
    names = [f"n{i}" for i in range(n)]
    state: dict[str, Any] = {"done": {}, "violations": [], "run_calls": {}}
    bodies = [
        PropBody(names[i], [names[j] for j in case["deps"][i]], f, s, state)
        for i, (f, s) in enumerate(zip(case["fails"], case["sleeps"], strict=True))
    ]
    dag = td.DAG.from_nodes(
        "Prop",
        [
            td.Node(
                names[i],
                bodies[i],
                deps=[names[j] for j in case["deps"][i]],
                retry=td.RetryPolicy(max_attempts=case["attempts"][i], initial_delay=0),
            )
            for i in range(n)
        ],
    )
    strategy = (
        td.Sequential()
        if case["schedule"] == "sequential"
        else td.Parallel(schedule=case["schedule"])
    )
    options = {
        "strategy": strategy,
        "supervisor": td.Supervisor(case["supervisor"]),
        "on_failure": case["on_failure"],
    }

    def check(result: td.RunResult, partial: td.RunResult | None) -> None:
        assert state["violations"] == []
        statuses = result.statuses
        assert set(statuses) == set(names)
        for i, name in enumerate(names):
            s = statuses[name]
            ran = state["run_calls"][name]
            if partial is not None and name in partial:
                assert ran == 0
                assert result[name] is partial[name]
            if s is td.NodeStatus.COMPLETED:
                assert result[name] == state["done"][name]
                assert result[name] is state["done"][name]
            elif s is td.NodeStatus.FAILED:
                assert ran >= 1
                assert isinstance(result.errors[name], ValueError)
                if case["supervisor"] == "one_for_one":
                    assert ran == case["attempts"][i]
            elif s in (td.NodeStatus.SKIPPED, td.NodeStatus.NOT_STARTED):
                assert ran == 0
                assert name not in result
                if s is td.NodeStatus.SKIPPED:
                    assert any(
                        statuses[names[j]] in (td.NodeStatus.FAILED, td.NodeStatus.SKIPPED)
                        for j in case["deps"][i]
                    )
            else:
                assert s is td.NodeStatus.CANCELLED
                assert ran >= 1
                assert name not in result
        assert result.ok == all(s is td.NodeStatus.COMPLETED for s in statuses.values())

    async def main() -> int:
        baseline = trio.lowlevel.current_statistics().tasks_living
        state["run_calls"] = dict.fromkeys(names, 0)
        partial: td.RunResult | None = None
        resumes = 0
        while True:
            try:
                with trio.fail_after(1000):
                    if partial is None:
                        result = await dag.run(**options)
                    else:
                        result = await dag.resume(partial, **options)
            except td.RunFailed as exc:
                failed = exc.result
            else:
                failed = None
            if failed is not None:
                assert failed.status is td.RunStatus.FAILED
                check(failed, partial)
                partial = failed
            else:
                check(result, partial)
                break
            assert trio.lowlevel.current_statistics().tasks_living == baseline
            resumes += 1
            assert resumes <= 3 * n + 1  # each failed run uses up at least one failure
            state["run_calls"] = dict.fromkeys(names, 0)
        assert result.ok
        assert set(result) == set(names)
        calls = [b.calls for b in bodies]
        await trio.sleep(100)
        assert [b.calls for b in bodies] == calls  # nothing left running
        assert trio.lowlevel.current_statistics().tasks_living == baseline
        return resumes

    resumes = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    outlast = all(f < a for f, a in zip(case["fails"], case["attempts"], strict=True))
    if outlast and case["supervisor"] == "one_for_one":
        assert resumes == 0  # every node's retries outlast its failures: no resume needed
