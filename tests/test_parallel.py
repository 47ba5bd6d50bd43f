"""Parallel execution: makespans, eager vs levels, max_concurrency, strategy equivalence."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import trio_dag as td
from conftest import dag_deps

STRATEGIES = [
    pytest.param(td.Sequential(), id="sequential"),
    pytest.param(td.Parallel(schedule="levels"), id="levels"),
    pytest.param(td.Parallel(schedule="eager"), id="eager"),
]


class Diamond(td.DAG):
    @td.node
    async def root() -> int:
        await trio.sleep(1)
        return 1

    @td.node
    async def left(root: int) -> int:
        await trio.sleep(2)
        return root + 10

    @td.node
    async def right(root: int) -> int:
        await trio.sleep(2)
        return root + 100

    @td.node
    async def merge(left: int, right: int) -> int:
        await trio.sleep(1)
        return left + right


def sleeper(seconds: float, value: Any = None) -> Callable[..., Awaitable[Any]]:
    async def fn(*args: Any) -> Any:
        await trio.sleep(seconds)
        return value if value is not None else sum(args)

    return fn


def independent(n: int, seconds: float = 1) -> type[td.DAG]:
    return td.DAG.from_nodes(
        f"independent{n}", [td.Node(f"n{i}", sleeper(seconds, i)) for i in range(n)]
    )


# ---------------------------------------------------------------- makespans


@pytest.mark.parametrize(
    ("strategy", "makespan"),
    [
        (td.Parallel(schedule="eager"), 4),
        (td.Parallel(schedule="levels"), 4),
        (td.Parallel(), 4),
        (td.Sequential(), 6),
    ],
)
async def test_diamond_makespan(
    strategy: td.Sequential | td.Parallel, makespan: int, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await Diamond.run(strategy=strategy)
        assert trio.current_time() - t0 == makespan
    assert dict(result) == {"root": 1, "left": 11, "right": 101, "merge": 112}
    assert result.started_at("merge") == t0 + makespan - 1


async def test_diamond_branches_overlap_in_parallel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await Diamond.run(strategy=td.Parallel())
    assert result.started_at("left") == result.started_at("right") == t0 + 1
    assert result.finished_at("left") == result.finished_at("right") == t0 + 3
    assert result.duration("merge") == 1


@pytest.mark.parametrize(
    ("strategy", "makespan"),
    [
        (td.Parallel(schedule="eager"), 1),
        (td.Parallel(schedule="levels"), 1),
        (td.Sequential(), 10),
    ],
)
async def test_ten_independent_nodes(
    strategy: td.Sequential | td.Parallel, makespan: int, autojump_clock: trio.testing.MockClock
) -> None:
    dag = independent(10)
    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await dag.run(strategy=strategy)
        assert trio.current_time() - t0 == makespan
    assert dict(result) == {f"n{i}": i for i in range(10)}


class EagerWins(td.DAG):
    @td.node
    async def a() -> str:
        await trio.sleep(1)
        return "a"

    @td.node
    async def b() -> str:
        await trio.sleep(5)
        return "b"

    @td.node
    async def c(a: str) -> str:
        await trio.sleep(1)
        return a + "c"

    @td.node
    async def d(c: str) -> str:
        await trio.sleep(1)
        return c + "d"


@pytest.mark.parametrize(("schedule", "makespan", "d_start"), [("eager", 5, 2), ("levels", 7, 6)])
async def test_eager_beats_levels_on_uneven_levels(
    schedule: str, makespan: int, d_start: int, autojump_clock: trio.testing.MockClock
) -> None:
    assert EagerWins.graph.levels == (("a", "b"), ("c",), ("d",))
    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await EagerWins.run(strategy=td.Parallel(schedule=schedule))  # type: ignore[arg-type]
        assert trio.current_time() - t0 == makespan
    assert result["d"] == "acd"
    assert result["b"] == "b"
    assert result.started_at("d") == t0 + d_start


# ---------------------------------------------------------- max_concurrency


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, math.nan, "x"])
def test_max_concurrency_validation(bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="max_concurrency") as info:
        td.Parallel(max_concurrency=bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)


def test_max_concurrency_accepts_positive_ints() -> None:
    assert td.Parallel(max_concurrency=1).max_concurrency == 1
    assert td.Parallel(max_concurrency=None).max_concurrency is None


class Gauge:
    """Counts the node bodies running at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def wrap(self, seconds: float) -> Callable[..., Awaitable[int]]:
        async def fn(*args: Any) -> int:
            self.now += 1
            self.peak = max(self.peak, self.now)
            try:
                await trio.sleep(seconds)
            finally:
                self.now -= 1
            return len(args)

        return fn


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("schedule", ["eager", "levels"])
@pytest.mark.parametrize("options", [{}, {"timeout": 50.0}], ids=["plain", "timeout"])
async def test_max_concurrency_bounds_running_nodes(
    k: int, schedule: str, options: dict[str, Any], autojump_clock: trio.testing.MockClock
) -> None:
    gauge = Gauge()
    # two wide levels of 5 nodes each, the second reading the whole first one
    first = [td.Node(f"a{i}", gauge.wrap(1), **options) for i in range(5)]
    second = [
        td.Node(f"b{i}", gauge.wrap(1), deps=tuple(f"a{j}" for j in range(5)), **options)
        for i in range(5)
    ]
    dag = td.DAG.from_nodes("wide", first + second)
    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await dag.run(strategy=td.Parallel(max_concurrency=k, schedule=schedule))  # type: ignore[arg-type]
        elapsed = trio.current_time() - t0
    assert gauge.peak == k
    assert gauge.now == 0
    assert elapsed == 2 * math.ceil(5 / k)
    assert [result[f"b{i}"] for i in range(5)] == [5] * 5


@pytest.mark.parametrize("k", [1, 2, 3])
async def test_max_concurrency_bounds_map_elements(
    k: int, autojump_clock: trio.testing.MockClock
) -> None:
    gauge = Gauge()
    body = gauge.wrap(1)

    class Mapped(td.DAG):
        @td.node
        async def xs() -> list[int]:
            return list(range(7))

        @td.node(map_over="xs")
        async def each(xs: int) -> int:
            await body()
            return xs * 2

        @td.node
        async def other() -> int:
            return await body()

    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await Mapped.run(strategy=td.Parallel(max_concurrency=k))
        elapsed = trio.current_time() - t0
    assert result["each"] == [x * 2 for x in range(7)]
    assert gauge.peak == k
    assert elapsed == math.ceil(8 / k)


async def test_max_concurrency_makespan(autojump_clock: trio.testing.MockClock) -> None:
    dag = independent(6)
    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await dag.run(strategy=td.Parallel(max_concurrency=2))
        assert trio.current_time() - t0 == 3
    assert sorted(result.finished_at(f"n{i}") - t0 for i in range(6)) == [1, 1, 2, 2, 3, 3]  # type: ignore[operator]


async def test_max_concurrency_timestamps_exclude_waiting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A node waiting for a slot has not started: started_at is when its body began."""
    dag = independent(3)
    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await dag.run(strategy=td.Parallel(max_concurrency=1))
    starts = sorted(result.started_at(f"n{i}") - t0 for i in range(3))  # type: ignore[operator]
    assert starts == [0, 1, 2]
    assert [result.duration(f"n{i}") for i in range(3)] == [1, 1, 1]


async def test_max_concurrency_with_retries_releases_slot_during_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gauge = Gauge()
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        await gauge.wrap(1)()
        if calls == 1:
            raise ValueError("once")
        return "ok"

    dag = td.DAG.from_nodes(
        "flaky",
        [
            td.Node(
                "f",
                flaky,
                retry=td.RetryPolicy(max_attempts=2, initial_delay=10, jitter="none"),
            ),
            td.Node("z", sleeper(0, "z")),
            td.Node("g", gauge.wrap(3), deps=("z",)),
        ],
    )
    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await dag.run(strategy=td.Parallel(max_concurrency=1))
        elapsed = trio.current_time() - t0
    assert result["f"] == "ok"
    assert result.attempts("f") == 2
    assert gauge.peak == 1
    # f: 1 s, then g runs during f's 10 s backoff, then f again: 1 + 10 + 1
    # (whichever of f and z gets the slot first: the limiter is FIFO)
    assert elapsed == 12


# ------------------------------------------------- strategy equivalence (hypothesis)


@st.composite
def timed_dags(draw: st.DrawFn) -> tuple[list[list[int]], list[int]]:
    """A random DAG of 1 to 9 nodes and each node's duration."""
    deps = draw(dag_deps(min_nodes=1, max_nodes=9, max_deps=3, shuffled=False))
    durations = draw(st.lists(st.integers(0, 4), min_size=len(deps), max_size=len(deps)))
    return deps, durations


def run_recorded(
    deps: list[list[int]], durations: list[int], strategy: td.Sequential | td.Parallel
) -> tuple[dict[str, Any], dict[str, tuple[float, float]], int, float]:
    times: dict[str, tuple[float, float]] = {}
    running = 0
    peak = 0

    def make(i: int) -> Callable[..., Awaitable[Any]]:
        async def fn(*args: Any) -> Any:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            start = trio.current_time()
            await trio.sleep(durations[i])
            running -= 1
            times[f"n{i}"] = (start, trio.current_time())
            return (i, *args)

        return fn

    dag = td.DAG.from_nodes(
        "random",
        [td.Node(f"n{i}", make(i), deps=tuple(f"n{j}" for j in d)) for i, d in enumerate(deps)],
    )

    async def main() -> tuple[td.RunResult, float]:
        with trio.fail_after(10_000):
            t0 = trio.current_time()
            result = await dag.run(strategy=strategy)
            return result, trio.current_time() - t0

    result, elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert result.ok
    return dict(result), times, peak, elapsed


@settings(max_examples=60, deadline=None)
@given(
    timed_dags(),
    st.sampled_from(["levels", "eager"]),
    st.one_of(st.none(), st.integers(1, 4)),
)
def test_every_strategy_gives_the_same_results(
    dag: tuple[list[list[int]], list[int]], schedule: str, k: int | None
) -> None:
    deps, durations = dag
    expected, seq_times, seq_peak, seq_elapsed = run_recorded(deps, durations, td.Sequential())
    assert seq_peak == 1
    assert seq_elapsed == sum(durations)
    strategy = td.Parallel(max_concurrency=k, schedule=schedule)  # type: ignore[arg-type]
    values, times, peak, elapsed = run_recorded(deps, durations, strategy)
    assert values == expected
    for times_ in (seq_times, times):
        assert set(times_) == {f"n{i}" for i in range(len(deps))}
    assert peak <= (k or len(deps))
    for i, d in enumerate(deps):
        for j in d:
            assert seq_times[f"n{j}"][1] <= seq_times[f"n{i}"][0]
            assert times[f"n{j}"][1] <= times[f"n{i}"][0]
        if k is None and schedule == "eager":
            # with no bound, an eager node starts the instant its last dependency ends
            assert times[f"n{i}"][0] == max((times[f"n{j}"][1] for j in d), default=0)
    if k is None and schedule == "eager":
        finish: list[int] = []
        for i, d in enumerate(deps):
            finish.append(max((finish[j] for j in d), default=0) + durations[i])
        assert elapsed == max(finish)  # the critical path
    assert elapsed <= seq_elapsed
