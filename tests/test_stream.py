"""Streaming: one DAG over many inputs, with backpressure (virtual time)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trio
import trio.testing

import trio_dag as td
from conftest import own_garbage


class Slow(td.DAG):
    """x -> a (sleeps 10 - x seconds, so later items finish first) -> b."""

    x = td.input()

    @td.node
    async def a(x: int) -> int:
        await trio.sleep(10 - x)
        return x * 2

    @td.node
    async def b(a: int) -> int:
        return a + 1


class Flaky(td.DAG):
    """Fails for odd x."""

    x = td.input()

    @td.node
    async def check(x: int) -> int:
        await trio.sleep(1)
        if x % 2:
            raise ValueError(f"odd item {x}")
        return x


def items(n: int) -> Iterator[dict[str, int]]:
    return ({"x": i} for i in range(n))


async def test_ordered_delivery_when_later_items_finish_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        async with Slow.stream(items(10)) as results:
            got = [r["b"] async for r in results]
    assert got == [2 * i + 1 for i in range(10)]
    # All ten ran at once (pipelined), so the stream took as long as the slowest item.
    assert trio.current_time() == 10


async def test_unordered_delivery_is_completion_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        async with Slow.stream(items(10), ordered=False) as results:
            got = [r["b"] async for r in results]
    assert got == [2 * i + 1 for i in reversed(range(10))]


async def test_results_are_run_results_equal_to_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        single = await Slow.run({"x": 3})
        async with Slow.stream([{"x": 3}], strategy=td.Sequential()) as results:
            (streamed,) = [r async for r in results]
    assert isinstance(streamed, td.RunResult)
    assert dict(streamed) == dict(single)
    assert streamed.inputs == {"x": 3}


@pytest.mark.parametrize(("max_in_flight", "batch_size"), [(1, None), (4, None), (6, 3), (5, 2)])
async def test_backpressure_bounds_how_far_the_source_is_read(
    autojump_clock: trio.testing.MockClock, max_in_flight: int, batch_size: int | None
) -> None:
    read = 0
    received = 0
    worst = 0

    def source() -> Iterator[dict[str, int]]:
        nonlocal read, worst
        for _ in range(40):
            read += 1
            worst = max(worst, read - received)
            yield {"x": 9}

    with trio.fail_after(1000):
        async with Slow.stream(
            source(), max_in_flight=max_in_flight, batch_size=batch_size
        ) as results:
            async for r in results:
                received += len(r) if isinstance(r, list) else 1
                await trio.sleep(5)  # a slow consumer
    assert received == 40
    assert worst <= max_in_flight
    assert worst == max_in_flight  # and the bound is actually reached (pipelining)


async def test_failing_item_is_reported_and_the_stream_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        async with Flaky.stream(items(6)) as results:
            got = [r async for r in results]
    assert [r.ok for r in got] == [True, False] * 3
    assert isinstance(got[1].errors["check"], ValueError)
    assert got[1].status is td.RunStatus.FAILED
    assert [r["check"] for r in got if r.ok] == [0, 2, 4]


async def test_stop_on_item_failure_raises_after_earlier_results(
    autojump_clock: trio.testing.MockClock,
) -> None:
    got: list[int] = []
    with trio.fail_after(100):
        async with Flaky.stream(items(6), on_item_failure="stop") as results:
            with pytest.raises(td.RunFailed) as info:
                async for r in results:
                    got.append(r["check"])
    assert got == [0]
    assert "odd item 1" in str(info.value.__cause__)
    assert info.value.result.inputs == {"x": 1}


async def test_consumer_breaking_early_cancels_work_and_closes_source(
    autojump_clock: trio.testing.MockClock,
) -> None:
    finished: list[int] = []
    closed = False

    class Tracked(td.DAG):
        x = td.input()

        @td.node
        async def a(x: int) -> int:
            await trio.sleep(1 + x)
            finished.append(x)
            return x

    async def source() -> AsyncIterator[dict[str, int]]:
        nonlocal closed
        try:
            for i in range(100):
                yield {"x": i}
        finally:
            closed = True

    gen = source()
    with trio.fail_after(5000):
        async with Tracked.stream(gen, max_in_flight=8) as results:
            async for r in results:
                assert r["a"] == 0
                break
        assert closed
        done_then = list(finished)
        await trio.sleep(1000)  # nothing is left running to finish later
    assert finished == done_then == [0]


async def test_last_partial_batch_is_processed(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(100):
        async with Slow.stream(items(7), batch_size=3, max_in_flight=6) as results:
            got = [[r["b"] for r in batch] async for batch in results]
    assert got == [[1, 3, 5], [7, 9, 11], [13]]


async def test_async_source_and_shared_concurrency_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    running = peak = 0

    class Counted(td.DAG):
        x = td.input()

        @td.node
        async def a(x: int) -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await trio.sleep(1)
            running -= 1
            return x

    async def source() -> AsyncIterator[dict[str, int]]:
        for i in range(12):
            yield {"x": i}

    with trio.fail_after(100):
        async with Counted.stream(source(), strategy=td.Parallel(max_concurrency=3)) as results:
            got = [r["a"] async for r in results]
    assert got == list(range(12))
    assert peak == 3
    assert trio.current_time() == 4


async def test_bad_item_inputs_raise_input_error_from_iteration(
    autojump_clock: trio.testing.MockClock,
) -> None:
    got: list[int] = []
    with trio.fail_after(100):
        async with Slow.stream([{"x": 9}, {"y": 1}]) as results:
            with pytest.raises(td.InputError, match="'y'"):
                async for r in results:
                    got.append(r["b"])
    assert got == [19]


async def test_source_error_is_raised_after_earlier_results(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def source() -> Iterator[dict[str, int]]:
        yield {"x": 9}
        raise OSError("source broke")

    got: list[int] = []
    with trio.fail_after(100):
        async with Slow.stream(source()) as results:
            with pytest.raises(OSError, match="source broke"):
                async for r in results:
                    got.append(r["b"])
    assert got == [19]


async def test_finished_items_leave_no_reference_cycles(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        async with Slow.stream(({"x": 9} for _ in range(300)), max_in_flight=16) as results:
            n = 0
            async for _ in results:
                n += 1
        collected = own_garbage()
    finally:
        gc.enable()
    assert n == 300
    # Allocation count is not the point; what must hold is that nothing the
    # items created needed the cycle collector to be freed.
    del before
    assert collected == []


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_in_flight": 0}, ValueError),
        ({"max_in_flight": True}, TypeError),
        ({"batch_size": 0}, ValueError),
        ({"batch_size": 1.5}, TypeError),
        ({"batch_size": 65}, ValueError),
        ({"ordered": "yes"}, TypeError),
        ({"on_item_failure": "ignore"}, ValueError),
        ({"strategy": "fast"}, TypeError),
    ],
)
async def test_invalid_stream_options_are_rejected(
    options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(
        error, match=next(iter(options)) if "strategy" not in options else "strategy"
    ):
        async with Slow.stream(items(1), **options):
            pass  # pragma: no cover


async def test_source_must_be_iterable() -> None:
    with pytest.raises(TypeError, match="source must be an iterable"):
        async with Slow.stream(42):  # type: ignore[arg-type]
            pass  # pragma: no cover
