"""Streaming: which items run their nodes in the item's own task, and that they keep
every run semantic there (virtual time)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.testing

import trio_dag as td
from trio_dag._options import RunOptions
from trio_dag._run import _Run
from trio_dag._stream_item import PER_RUN, SHARED, ItemRunner, _InlineRun, runs_inline

quick = td.RetryPolicy(max_attempts=3, initial_delay=1, backoff=1)


class Chain(td.DAG):
    """x -> a -> b -> c: one topological order, so items run inline under Parallel."""

    x = td.input()

    @td.node(retry=quick)
    async def a(x: int) -> int:
        att = td.current_attempt()
        if x % 2 and att.attempt == 1:
            raise ConnectionError(f"item {x}: attempt 1")
        await trio.sleep(10 - x)  # later items finish first
        return x

    @td.node(timeout=5)
    async def b(a: int) -> int:
        if a == 7:
            await trio.sleep(6)  # past b's timeout
        return a * 10

    @td.node
    async def c(a: int, b: int) -> tuple[int, str, str]:
        att = td.current_attempt()
        return a + b, att.node, att.run_id


class Wide(td.DAG):
    """x -> (left, right) -> both: left and right may run at once."""

    x = td.input()

    @td.node
    async def left(x: int) -> int:
        await trio.sleep(3)
        return x

    @td.node
    async def right(x: int) -> int:
        await trio.sleep(3)
        return x

    @td.node
    async def both(left: int, right: int) -> int:
        return left + right


def items(n: int) -> Iterator[dict[str, int]]:
    return ({"x": i} for i in range(n))


def options(dag: type[td.DAG], **kw: Any) -> RunOptions:
    return RunOptions.build("test", dag.supervisor, graph=dag.graph, **kw)


def test_which_items_run_inline() -> None:
    assert runs_inline(Chain.graph, options(Chain))
    assert runs_inline(Chain.graph, options(Chain, strategy=td.Parallel(max_concurrency=2)))
    assert runs_inline(Wide.graph, options(Wide, strategy=td.Sequential()))
    assert not runs_inline(Wide.graph, options(Wide))  # left and right must overlap
    assert not runs_inline(Chain.graph, options(Chain, strategy=td.Parallel(schedule="levels")))
    one_for_all = td.Supervisor(strategy="one_for_all")
    assert not runs_inline(Chain.graph, options(Chain, supervisor=one_for_all))  # levels
    assert runs_inline(
        Chain.graph, options(Chain, supervisor=one_for_all, strategy=td.Sequential())
    )


async def test_every_run_attribute_is_either_per_run_or_shared() -> None:
    # An inline item's run copies the template's state and makes PER_RUN fresh:
    # a new attribute of RunState must be put in one of the two sets.
    run = _Run(Chain.graph, [1], None, options(Chain))
    inline = _InlineRun(Chain.graph, [1], None, options(Chain))
    assert not PER_RUN & SHARED
    assert set(vars(run)) == (PER_RUN | SHARED) - {a for a in SHARED if a.startswith("inline_")}
    assert set(vars(inline)) <= PER_RUN | SHARED
    assert hasattr(_Run, "_sequential")  # what _InlineRun overrides; go() calls it


async def test_inline_items_keep_retries_timeouts_attempts_and_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        async with Chain.stream(items(10)) as results:
            got = [r async for r in results]
    assert [r.inputs["x"] for r in got] == list(range(10))  # in input order
    ok = [r for r in got if r.ok]
    assert [r["c"][0] for r in ok] == [11 * x for x in range(10) if x != 7]
    # retries: odd items failed their first attempt of a and succeeded on the second
    assert [r.attempts("a") for r in got] == [1 + x % 2 for x in range(10)]
    # timeouts: item 7's b ran past its 5 s timeout, so that item failed there
    failed = got[7]
    assert failed.status is td.RunStatus.FAILED
    assert isinstance(failed.errors["b"], trio.TooSlowError)
    assert "c" not in failed
    assert failed["a"] == 7
    # current_attempt() inside a node names it, with the item's run id
    assert {r["c"][1] for r in ok} == {"c"}
    assert [r["c"][2] for r in ok] == [r.run_id for r in ok]
    assert len({r.run_id for r in got}) == 10  # one id per item
    # pipelined: items overlapped (the slowest: item 0's 10 s, item 1's 1 s retry delay + 9 s)
    assert trio.current_time() == 10


async def test_inline_stop_on_failure_delivers_earlier_items_then_raises(
    autojump_clock: trio.testing.MockClock,
) -> None:
    got: list[int] = []
    with trio.fail_after(100):
        async with Chain.stream(items(10), on_item_failure="stop") as results:
            with pytest.raises(td.RunFailed) as info:
                async for r in results:
                    got.append(r.inputs["x"])
    assert got == list(range(7))
    assert isinstance(info.value.result.errors["b"], trio.TooSlowError)


@pytest.mark.parametrize("width", [1, 3])
async def test_inline_backpressure_bound(
    autojump_clock: trio.testing.MockClock, width: int
) -> None:
    read = received = worst = 0

    def source() -> Iterator[dict[str, int]]:
        nonlocal read, worst
        for _ in range(20):
            read += 1
            worst = max(worst, read - received)
            yield {"x": 0}

    with trio.fail_after(1000):
        async with Chain.stream(source(), max_in_flight=width) as results:
            async for _ in results:
                received += 1
                await trio.sleep(5)  # a slow consumer
    assert received == 20
    assert worst == width


async def test_inline_item_deadline_times_it_out(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(100):
        async with Chain.stream([{"x": 0}, {"x": 9}], deadline=5) as results:
            got = [r async for r in results]
    assert got[0].status is td.RunStatus.TIMED_OUT  # a sleeps 10 s
    assert got[1].ok


async def test_a_wide_dag_still_runs_its_nodes_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        async with Wide.stream(items(3)) as results:
            got = [r["both"] async for r in results]
        assert got == [0, 2, 4]
        assert trio.current_time() == 3  # left and right overlapped
        async with Wide.stream(items(3), strategy=td.Sequential()) as results:
            assert [r["both"] async for r in results] == [0, 2, 4]
        assert trio.current_time() == 3 + 6  # one after the other, items still pipelined


async def test_inline_items_tell_instruments_in_order() -> None:
    events: list[tuple[Any, ...]] = []

    class Log(td.Instrument):
        def run_started(self, dag: str, run_id: str) -> None:
            events.append(("run_started", run_id))

        def node_started(self, node: str, attempt: int) -> None:
            events.append(("node_started", node, td.current_run_id()))

        def node_finished(self, node: str, elapsed: float) -> None:
            events.append(("node_finished", node))

        def run_finished(self, result: td.RunResult) -> None:
            events.append(("run_finished", result.run_id))

    class Three(td.DAG):
        x = td.input()

        @td.node
        async def a(x: int) -> int:
            return x

        @td.node
        async def b(a: int) -> int:
            return a

    with trio.fail_after(100):
        async with Three.stream(items(2), instruments=[Log()], max_in_flight=1) as results:
            ids = [r.run_id async for r in results]
    assert events == [
        e
        for rid in ids
        for e in [
            ("run_started", rid),
            ("node_started", "a", rid),
            ("node_finished", "a"),
            ("node_started", "b", rid),
            ("node_finished", "b"),
            ("run_finished", rid),
        ]
    ]


async def test_inline_map_node_and_shared_concurrency_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    running = peak = 0

    class Mapped(td.DAG):
        xs = td.input()

        @td.node(map_over="xs")
        async def each(xs: int) -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            try:
                await trio.sleep(1)
            finally:  # a failed element cancels the others of its node
                running -= 1
            if xs == 13:
                raise ValueError("thirteen")
            return xs * 2

        @td.node
        async def total(each: list[int]) -> int:
            return sum(each)

    source = [{"xs": [1, 2, 3]}, {"xs": [13, 4]}, {"xs": [5]}]
    strategy = td.Parallel(max_concurrency=2)
    with trio.fail_after(100):
        async with Mapped.stream(source, strategy=strategy) as results:
            got = [r async for r in results]
    assert got[0]["total"] == 12
    assert got[2]["total"] == 10
    assert got[1].status is td.RunStatus.FAILED
    assert "total" not in got[1]
    assert peak == 2


async def test_sequential_stream_with_level_restarts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[str] = []

    class Restarting(td.DAG):
        x = td.input()

        @td.node
        async def first(x: int) -> int:
            calls.append("first")
            return x

        @td.node(retry=td.RetryPolicy(max_attempts=2, initial_delay=1))
        async def second(x: int) -> int:
            calls.append("second")
            if calls.count("second") == 1:
                raise ConnectionError("once")
            return x + 1

    sup = td.Supervisor(strategy="one_for_all")
    with trio.fail_after(100):
        async with Restarting.stream(
            [{"x": 1}], supervisor=sup, strategy=td.Sequential()
        ) as results:
            (r,) = [r async for r in results]
    assert dict(r) == {"first": 1, "second": 2}
    assert calls == ["first", "second", "first", "second"]  # the level restarted


async def test_a_long_inline_chain_lets_other_tasks_run() -> None:
    ticks = 0
    seen: list[int] = []

    async def step(prev: int) -> int:
        seen.append(ticks)
        return prev + 1

    async def first(x: int) -> int:
        return x

    nodes = [td.Node("n0", first, deps=("x",))]
    nodes += [td.Node(f"n{k}", step, deps=(f"n{k - 1}",)) for k in range(1, 1000)]
    Long = td.DAG.from_nodes("Long", nodes, inputs=("x",))

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    with trio.fail_after(100):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            await trio.lowlevel.checkpoint()
            async with Long.stream([{"x": 0}]) as results:
                (r,) = [r async for r in results]
            nursery.cancel_scope.cancel()
    assert r["n999"] == 999
    # The chain paused after 256, 512 and 768 nodes: the ticker ran in each of those
    # scheduler passes (before or after the item, as trio orders a batch).
    assert seen[-1] - seen[0] >= 2


async def test_a_stray_cancelled_in_an_inline_node_is_its_failure() -> None:
    # A Cancelled from a scope that is not the run's, re-raised by the node: not the
    # item's cancellation, so the node failed (as in any run).
    leaked: list[BaseException] = []

    class Leaky(td.DAG):
        x = td.input()

        @td.node
        async def a(x: int) -> int:
            with trio.CancelScope() as cs:
                cs.cancel()
                try:
                    await trio.lowlevel.checkpoint()
                except trio.Cancelled as exc:
                    leaked.append(exc)
            raise leaked[0]

    with trio.fail_after(100):
        async with Leaky.stream([{"x": 0}]) as results:
            (r,) = [r async for r in results]
    assert isinstance(r.errors["a"], td.NodeCancelled)


async def test_item_runs_share_a_stream_id_prefix_and_count() -> None:
    runner = ItemRunner(Chain.graph, options(Chain), None, None)
    ids = [runner._fresh([1]).run_id for _ in range(3)]
    prefix = ids[0].rsplit("-", 1)[0]
    assert ids == [f"{prefix}-{k}" for k in (1, 2, 3)]


async def test_an_instrument_that_raises_is_dropped_for_its_item_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []

    class Fussy(td.Instrument):
        def node_started(self, node: str, attempt: int) -> None:
            seen.append(len(seen))
            raise RuntimeError("fussy")  # dropped from this run: its next node is not told

    class Two(td.DAG):
        x = td.input()

        @td.node
        async def a(x: int) -> int:
            return x

        @td.node
        async def b(a: int) -> int:
            return a

    with trio.fail_after(100):
        async with Two.stream(items(3), instruments=[Fussy()]) as results:
            got = [r["b"] async for r in results]
    assert got == [0, 1, 2]
    assert seen == [0, 1, 2]  # once per item (its first node), as in three separate runs
    assert caplog.text.count("removing it") == 3
