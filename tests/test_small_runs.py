"""What a small run no longer pays for keeps its meaning (issue 16).

A run draws its id only when read, reuses the checked options of a call
without options, opens no cancel scope that nothing needs (an eager run's is
its nursery's; a plain sequential run has none), and runs a Sequential plain
node inline with one clock read: every behaviour here is the one a run had
before those savings.
"""

from __future__ import annotations

import pickle
import re

import outcome
import pytest
import trio
import trio.testing

import trio_dag as td
from conftest import Boom

STRATEGIES = [td.Sequential(), td.Parallel(), td.Parallel(schedule="levels")]


class Ids(td.DAG):
    @td.node
    async def first() -> str:
        return td.current_run_id()

    @td.node
    async def second(first: str) -> tuple[str, str]:
        return first, td.current_attempt().run_id


class Quiet(td.DAG):
    @td.node
    async def one() -> int:
        return 1


class RunOnly(td.Instrument):
    """Overrides run hooks only: per-node events stay off (Sequential's inline path)."""

    def __init__(self) -> None:
        self.results: list[td.RunResult] = []
        self.ids: list[str] = []

    def run_finished(self, result: td.RunResult) -> None:
        self.results.append(result)
        self.ids.append(td.current_run_id())


# ------------------------------------------------------------------ run ids


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_run_id_read_in_a_node_is_the_results(strategy: td.Strategy) -> None:
    result = await Ids.run(strategy=strategy)
    assert result["first"] == result.run_id
    assert result["second"] == (result.run_id, result.run_id)


async def test_run_id_drawn_after_the_run_is_stable_unique_and_pickled() -> None:
    results = [await Quiet.run() for _ in range(200)]
    ids = [r.run_id for r in results]
    assert all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert [r.run_id for r in results] == ids  # drawn once
    assert pickle.loads(pickle.dumps(results[0])).run_id == ids[0]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_run_id_in_run_finished_is_the_results(strategy: td.Strategy) -> None:
    ins = RunOnly()
    result = await Quiet.run(strategy=strategy, instruments=[ins])
    assert ins.results == [result]
    assert ins.ids == [result.run_id]


async def test_a_partial_results_run_id_is_the_runs() -> None:
    ins = RunOnly()

    async def bad() -> None:
        raise Boom("no")

    dag = td.DAG.from_nodes("Bad", [td.Node("bad", bad)])
    with pytest.raises(td.RunFailed) as info:
        await dag.run(instruments=[ins])
    assert info.value.result.run_id == ins.ids[0] == ins.results[0].run_id
    resumed = await outcome.acapture(dag.resume, info.value.result)
    assert isinstance(resumed, outcome.Error)
    new_id = resumed.error.result.run_id  # type: ignore[attr-defined]
    assert new_id != info.value.result.run_id  # a resumed run gets a new one


# ------------------------------------------------- the default call's options


def _levels_tell(supervisor: td.Supervisor | None = None) -> type[td.DAG]:
    """A DAG whose ``z`` starts at 0 when run eagerly, at 1 when run level by level."""

    class Tell(td.DAG):
        @td.node
        async def x() -> None:
            await trio.sleep(1)

        @td.node
        async def y() -> None:
            return None

        @td.node
        async def z(y: None) -> None:
            return None

    if supervisor is not None:
        Tell.supervisor = supervisor
    return Tell


async def _z_start(dag: type[td.DAG]) -> float:
    t0 = trio.current_time()
    result = await dag.run()
    z = result.started_at("z")
    assert z is not None
    return z - t0


async def test_default_options_are_built_once_per_class(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dag = _levels_tell()
    assert await _z_start(dag) == 0
    cached = dag._run_defaults
    assert cached is not None
    assert cached[0] is dag
    assert await _z_start(dag) == 0
    assert dag._run_defaults is cached  # reused, not rebuilt


async def test_default_options_follow_the_class_and_its_supervisor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    base = _levels_tell()
    assert await _z_start(base) == 0  # eager: cached on base

    class Sub(base):  # type: ignore[misc, valid-type]
        supervisor = td.Supervisor("one_for_all")

    # Sub inherits base's cache entry: it must not use base's eager options
    assert await _z_start(Sub) == 1
    assert await _z_start(base) == 0
    base.supervisor = td.Supervisor("rest_for_one")  # replaced after a run
    assert await _z_start(base) == 1
    base.supervisor = td.Supervisor()
    assert await _z_start(base) == 0


async def test_a_missing_named_placement_is_an_error_on_every_default_call() -> None:
    def body() -> int:
        return 1

    dag = td.DAG.from_nodes("Placed", [td.Node("a", body, run_in="cluster")])
    for _ in range(2):
        with pytest.raises(td.InputError, match="cluster"):
            await dag.run()
    assert dag._run_defaults is None
    result = await dag.run(placements={"cluster": td.InThread()})
    assert result["a"] == 1


async def test_a_default_run_with_inputs_binds_them_every_time() -> None:
    class Add(td.DAG):
        x = td.input()
        y = td.input(default=10)

        @td.node
        async def total(x: int, y: int) -> int:
            return x + y

    assert (await Add.run({"x": 1}))["total"] == 11
    assert (await Add.run({"x": 2, "y": 3}))["total"] == 5
    with pytest.raises(td.InputError, match="x"):
        await Add.run()


# ------------------------------------- runs without a cancel scope of their own


def _chain(log: list[str]) -> type[td.DAG]:
    """``a`` (1 s), then ``b`` (fails after 2 s) and ``c`` (3 s), both after ``a``."""

    async def a() -> int:
        log.append("a")
        await trio.sleep(1)
        return 1

    async def b(a: int) -> int:
        log.append("b")
        await trio.sleep(2)
        raise Boom("b")

    async def c(a: int) -> int:
        log.append("c")
        await trio.sleep(3)
        return 3

    nodes = [td.Node("a", a), td.Node("b", b, deps=["a"]), td.Node("c", c, deps=["a"])]
    return td.DAG.from_nodes("Chain", nodes)


async def test_sequential_fail_fast_stops_at_the_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    dag = _chain(log)
    assert dag.graph.order == ("a", "b", "c")
    t0 = trio.current_time()
    with pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=td.Sequential())
    assert trio.current_time() - t0 == 3
    r = info.value.result
    assert log == ["a", "b"]
    assert r.status is td.RunStatus.FAILED
    assert isinstance(r.errors["b"], Boom)
    assert r.statuses["c"] is td.NodeStatus.NOT_STARTED


async def test_sequential_continue_runs_what_does_not_depend_on_the_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    with pytest.raises(td.RunFailed) as info:
        await _chain(log).run(strategy=td.Sequential(), on_failure="continue")
    r = info.value.result
    assert log == ["a", "b", "c"]
    assert r["a"] == 1
    assert r["c"] == 3
    assert r.statuses["b"] is td.NodeStatus.FAILED


@pytest.mark.parametrize("strategy", [td.Sequential(), td.Parallel()])
async def test_a_deadline_times_the_run_out(
    strategy: td.Strategy, autojump_clock: trio.testing.MockClock
) -> None:
    t0 = trio.current_time()
    with pytest.raises(td.RunFailed) as info:
        await _chain([]).run(strategy=strategy, deadline=0.5)
    assert trio.current_time() - t0 == 0.5
    assert info.value.result.status is td.RunStatus.TIMED_OUT
    assert isinstance(info.value.__cause__, trio.TooSlowError)


@pytest.mark.parametrize("strategy", [td.Sequential(), td.Parallel()])
async def test_an_outside_cancel_gives_cancelled_and_a_partial_result(
    strategy: td.Strategy, autojump_clock: trio.testing.MockClock
) -> None:
    ins = RunOnly()
    with trio.move_on_after(1.5) as cs:
        await _chain([]).run(strategy=strategy, instruments=[ins])
    assert cs.cancelled_caught
    (r,) = ins.results
    assert r.status is td.RunStatus.CANCELLED
    assert r["a"] == 1
    assert r.statuses["b"] in (td.NodeStatus.CANCELLED, td.NodeStatus.NOT_STARTED)


async def test_eager_fail_fast_cancels_the_siblings(
    autojump_clock: trio.testing.MockClock,
) -> None:
    t0 = trio.current_time()
    with pytest.raises(td.RunFailed) as info:
        await _chain([]).run()
    r = info.value.result
    assert trio.current_time() - t0 == 3  # b fails at 1 + 2; c (1 + 3) is cancelled then
    assert r.statuses["c"] is td.NodeStatus.CANCELLED
    assert r.status is td.RunStatus.FAILED


# -------------------------------------------------- Sequential's inline nodes


async def test_sequential_times_each_node_from_the_end_of_the_one_before(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def a() -> int:
        await trio.sleep(1)
        return 1

    async def b(a: int) -> int:
        await trio.sleep(2)
        return a + 1

    async def c(b: int) -> str:
        return td.current_attempt().node

    dag = td.DAG.from_nodes(
        "Timed", [td.Node("a", a), td.Node("b", b, deps=["a"]), td.Node("c", c, deps=["b"])]
    )
    t0 = trio.current_time()
    r = await dag.run(strategy=td.Sequential())
    times = {n: (r.started_at(n), r.finished_at(n)) for n in ("a", "b", "c")}
    assert times == {"a": (t0, t0 + 1), "b": (t0 + 1, t0 + 3), "c": (t0 + 3, t0 + 3)}
    assert r["c"] == "c"
    assert r.attempts("c") == 1


@pytest.mark.parametrize("strategy", [td.Sequential(), td.Parallel()])
async def test_a_stray_cancelled_fails_an_inline_node(strategy: td.Strategy) -> None:
    async def leaked() -> trio.Cancelled:
        with trio.CancelScope() as cs:
            cs.cancel()
            try:
                await trio.lowlevel.checkpoint()
            except trio.Cancelled as exc:
                return exc
        raise AssertionError("not reached")  # pragma: no cover

    async def leaky() -> None:
        raise await leaked()

    async def mixed() -> None:
        raise BaseExceptionGroup("mixed", [await leaked(), Boom("real")])

    dag = td.DAG.from_nodes("Leaky", [td.Node("leaky", leaky), td.Node("mixed", mixed)])
    with trio.fail_after(10):
        got = await outcome.acapture(dag.run, strategy=strategy, on_failure="continue")
    assert isinstance(got, outcome.Error)
    assert isinstance(got.error, td.RunFailed)
    r = got.error.result
    assert isinstance(r.errors["leaky"], td.NodeCancelled)
    err = r.errors["mixed"]
    assert isinstance(err, ExceptionGroup)
    assert [type(e) for e in err.exceptions] == [Boom]


async def test_sequential_inline_and_supervised_nodes_mix() -> None:
    calls: list[str] = []

    async def plain() -> int:
        calls.append("plain")
        return 1

    async def flaky(plain: int) -> int:
        calls.append("flaky")
        if calls.count("flaky") == 1:
            raise Boom("once")
        return plain + 1

    async def last(flaky: int) -> int:
        calls.append("last")
        return flaky + 1

    retry = td.RetryPolicy(max_attempts=2, initial_delay=0)
    dag = td.DAG.from_nodes(
        "Mix",
        [
            td.Node("plain", plain),
            td.Node("flaky", flaky, deps=["plain"], retry=retry),
            td.Node("last", last, deps=["flaky"]),
        ],
    )
    r = await dag.run(strategy=td.Sequential())
    assert calls == ["plain", "flaky", "flaky", "last"]
    assert (r["plain"], r["flaky"], r["last"]) == (1, 2, 3)
    assert r.attempts("flaky") == 2
    for n in ("plain", "flaky", "last"):
        s, e = r.started_at(n), r.finished_at(n)
        assert s is not None
        assert e is not None
        assert s <= e
