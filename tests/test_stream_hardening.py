"""Streaming hardening: what leaves the block, bad items, "stop", batches, reused rows.

Every test runs on virtual time; each one failed before the fix it guards.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trio
import trio.testing

import trio_dag as td


class Flaky(td.DAG):
    """Fails for odd x, after 1 s."""

    x = td.input()

    @td.node
    async def check(x: int) -> int:
        await trio.sleep(1)
        if x % 2:
            raise ValueError(f"odd item {x}")
        return x


def tracked(started: list[int], finished: list[int], durations: dict[int, float]) -> type[td.DAG]:
    """A DAG that records which items started and finished; odd x fail."""

    class Tracked(td.DAG):
        x = td.input()

        @td.node
        async def a(x: int) -> int:
            started.append(x)
            await trio.sleep(durations.get(x, 1))
            if x % 2:
                raise ValueError(f"odd item {x}")
            finished.append(x)
            return x

    return Tracked


def items(n: int) -> Iterator[dict[str, int]]:
    return ({"x": i} for i in range(n))


async def drain(results: td.StreamResults) -> list[Any]:
    """Every outcome, catching what ``__anext__`` raises, until the end."""
    got: list[Any] = []
    while True:
        try:
            got.append(await results.__anext__())
        except StopAsyncIteration:
            return got
        except Exception as exc:
            got.append(exc)


# ---------------------------------------------------------------- defect 2


async def test_stop_mode_run_failed_leaves_the_block_as_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        async with Flaky.stream(items(4), on_item_failure="stop") as results:
            async for _ in results:
                pass
    assert type(info.value) is td.RunFailed  # what `except td.RunFailed:` catches
    assert info.value.result.inputs == {"x": 1}
    assert isinstance(info.value.__cause__, ValueError)


async def test_consumer_exception_leaves_the_block_as_the_same_object(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mine = KeyError("mine")
    with trio.fail_after(100), pytest.raises(KeyError) as info:
        async with Flaky.stream(items(4)) as results:
            async for _ in results:
                raise mine
    assert info.value is mine


async def test_consumer_exception_before_iterating_leaves_as_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mine = RuntimeError("before any result")
    with trio.fail_after(100), pytest.raises(RuntimeError) as info:
        async with Flaky.stream(items(4)):
            raise mine
    assert info.value is mine


async def test_source_error_leaves_the_block_as_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    broke = OSError("source broke")

    def source() -> Iterator[dict[str, int]]:
        yield {"x": 0}
        raise broke

    with trio.fail_after(100), pytest.raises(OSError, match="source broke") as info:
        async with Flaky.stream(source()) as results:
            async for _ in results:
                pass
    assert info.value is broke


async def test_input_error_leaves_the_block_as_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100), pytest.raises(td.InputError, match="'y'"):
        async with Flaky.stream([{"x": 0}, {"y": 1}]) as results:
            async for _ in results:
                pass


async def test_keyboard_interrupt_in_the_block_leaves_as_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    interrupt = KeyboardInterrupt()
    with trio.fail_after(100), pytest.raises(KeyboardInterrupt) as info:
        async with Flaky.stream(items(4)) as results:
            async for _ in results:
                raise interrupt
    assert info.value is interrupt


async def test_keyboard_interrupt_from_a_node_leaves_as_itself_and_is_never_lost(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Interrupted(td.DAG):
        x = td.input()

        @td.node
        async def a(x: int) -> int:
            await trio.sleep(x)
            if x == 1:
                raise KeyboardInterrupt
            return x

    # Ten streams: before the fix the error was raced against the end of the
    # stream and vanished in most of them (the block ended normally).
    for _ in range(10):
        got: list[int] = []
        with trio.fail_after(100), pytest.raises(KeyboardInterrupt):
            async with Interrupted.stream(items(3)) as results:
                async for r in results:
                    got.append(r["a"])
        assert got == [0]


async def test_block_error_and_stream_error_at_once_leave_together(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Interrupted(td.DAG):
        x = td.input()

        @td.node
        async def a(x: int) -> int:
            await trio.sleep(1)
            raise KeyboardInterrupt

    mine = ValueError("consumer failed too")
    with trio.fail_after(100), pytest.raises(BaseExceptionGroup) as info:
        async with Interrupted.stream(items(1)):
            with trio.CancelScope(shield=True):
                await trio.sleep(2)  # the node's interrupt happens meanwhile
            raise mine
    first, second = info.value.exceptions
    assert first is mine
    assert isinstance(second, KeyboardInterrupt)


# ---------------------------------------------------------------- defect 10


async def test_non_mapping_item_is_its_input_error_in_order_and_the_stream_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    source: list[Any] = [{"x": 0}, 5, {"x": 2}, "ab", types.MappingProxyType({"x": 4})]
    with trio.fail_after(100):
        async with Flaky.stream(source) as results:
            got = await drain(results)
    assert len(got) == 5
    assert [r["check"] for r in got[0::2]] == [0, 2, 4]
    for index, bad, exc in ((1, "5", got[1]), (3, "'ab'", got[3])):
        assert isinstance(exc, td.InputError)
        assert f"item {index} must be a mapping" in str(exc)
        assert f"got {bad}" in str(exc)
        assert "DAG 'Flaky'" in str(exc)


async def test_non_mapping_item_ends_an_async_for_with_its_input_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    got: list[int] = []
    with trio.fail_after(100), pytest.raises(td.InputError, match="item 1 must be a mapping"):
        async with Flaky.stream([{"x": 0}, None, {"x": 2}]) as results:
            async for r in results:
                got.append(r["check"])
    assert got == [0]


async def test_non_mapping_items_in_completion_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        async with Flaky.stream([{"x": 0}, 7, {"x": 2}], ordered=False) as results:
            got = await drain(results)
    assert isinstance(got[0], td.InputError)  # known when read: it comes first
    assert sorted(r["check"] for r in got[1:]) == [0, 2]


async def test_bad_inputs_error_names_the_item(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        async with Flaky.stream([{"x": 0}, {"x": 2, "y": 1}]) as results:
            got = await drain(results)
    exc = got[1]
    assert isinstance(exc, td.InputError)
    assert exc.unknown == ("y",)
    assert exc.__notes__ == ["in item 1 of the stream (counting from 0)"]


# ---------------------------------------------------------------- defect 11


async def test_stop_cancels_items_in_flight_and_reads_nothing_more(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started: list[int] = []
    finished: list[int] = []
    dag = tracked(started, finished, {0: 1, 1: 2, 2: 5, 3: 5, 4: 5})
    read = 0

    def source() -> Iterator[dict[str, int]]:
        nonlocal read
        for i in range(100):
            read += 1
            yield {"x": i}

    with trio.fail_after(100):
        async with dag.stream(source(), max_in_flight=4, on_item_failure="stop") as results:
            got = await drain(results)
            # Nothing more is delivered, whoever keeps asking.
            with pytest.raises(StopAsyncIteration):
                await results.__anext__()
            stopped_at = trio.current_time()
            await trio.sleep(50)  # nothing was left running to finish later
    assert [r["a"] for r in got[:1]] == [0]
    assert isinstance(got[1], td.RunFailed)
    assert got[1].result.inputs == {"x": 1}
    assert len(got) == 2
    assert stopped_at == 2  # item 1 failed at t=2; items 2 and 3 were not awaited
    assert finished == [0]  # items 2 and 3 (in flight) were cancelled
    # Item 0's slot came back when it was received: one more item was read and
    # started; after the failure at t=2 nothing else was.
    assert started == [0, 1, 2, 3, 4]
    assert read == 5


async def test_stop_in_order_delivers_earlier_items_before_the_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started: list[int] = []
    finished: list[int] = []
    dag = tracked(started, finished, {0: 10, 1: 1, 2: 10, 3: 1})
    with trio.fail_after(100):
        async with dag.stream(items(4), on_item_failure="stop") as results:
            got = await drain(results)
    assert got[0]["a"] == 0  # still finished: it comes before the failure
    assert isinstance(got[1], td.RunFailed)
    assert len(got) == 2
    assert finished == [0]  # item 2 (after the failure) was cancelled
    assert trio.current_time() == 10


async def test_stop_in_completion_order_raises_at_once_and_cancels_the_rest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started: list[int] = []
    finished: list[int] = []
    dag = tracked(started, finished, {0: 10, 1: 1, 2: 10, 3: 1})
    with trio.fail_after(100):
        async with dag.stream(items(4), ordered=False, on_item_failure="stop") as results:
            got = await drain(results)
            assert trio.current_time() == 1
    assert len(got) == 1
    assert isinstance(got[0], td.RunFailed)
    assert got[0].result.inputs in ({"x": 1}, {"x": 3})  # both failed at t=1
    assert finished == []


async def test_stop_in_completion_order_delivers_what_finished_before_the_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started: list[int] = []
    finished: list[int] = []
    dag = tracked(started, finished, {0: 1, 1: 2, 2: 10})
    with trio.fail_after(100):
        async with dag.stream(items(3), ordered=False, on_item_failure="stop") as results:
            got = await drain(results)
            await trio.sleep(50)
    assert got[0]["a"] == 0
    assert isinstance(got[1], td.RunFailed)
    assert len(got) == 2
    assert finished == [0]


async def test_stop_on_a_bad_item_raises_its_input_error_in_order_then_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started: list[int] = []
    finished: list[int] = []
    dag = tracked(started, finished, {})
    source: list[Any] = [{"x": 0}, {"x": 2}, {"y": 1}, {"x": 4}, {"x": 6}]
    with trio.fail_after(100):
        async with dag.stream(source, on_item_failure="stop") as results:
            got = await drain(results)
    assert [r["a"] for r in got[:2]] == [0, 2]
    assert isinstance(got[2], td.InputError)
    assert len(got) == 3
    assert started == [0, 2]  # nothing after the bad item was read or started


async def test_stop_on_a_source_error_delivers_earlier_items_then_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started: list[int] = []
    finished: list[int] = []
    dag = tracked(started, finished, {0: 5})

    def source() -> Iterator[dict[str, int]]:
        yield {"x": 0}
        raise OSError("source broke")

    with trio.fail_after(100):
        async with dag.stream(source(), on_item_failure="stop") as results:
            got = await drain(results)
    assert got[0]["a"] == 0
    assert isinstance(got[1], OSError)
    assert len(got) == 2


async def test_stop_with_batches_delivers_the_batch_as_its_first_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started: list[int] = []
    finished: list[int] = []
    dag = tracked(started, finished, {3: 2, 6: 9, 8: 9, 10: 9, 12: 9})
    xs = [0, 2, 4, 3, 6, 5, 8, 10, 12]  # batches [0, 2, 4] [3, 6, 5] [8, 10, 12]
    with trio.fail_after(100):
        async with dag.stream(
            ({"x": x} for x in xs), batch_size=3, max_in_flight=9, on_item_failure="stop"
        ) as results:
            got = await drain(results)
            assert trio.current_time() == 1
            await trio.sleep(50)  # nothing was left running to finish later
    assert [r["a"] for r in got[0]] == [0, 2, 4]
    assert isinstance(got[1], td.RunFailed)
    assert got[1].result.inputs == {"x": 5}  # failed at t=1; item 3 would at t=2
    assert len(got) == 2
    assert sorted(started) == sorted(xs)
    assert sorted(finished) == [0, 2, 4]  # 3 and 6 (its batch), 8, 10, 12 (later): cancelled


async def test_stop_with_batches_and_a_bad_item_starts_nothing_more(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started: list[int] = []
    finished: list[int] = []
    dag = tracked(started, finished, {})
    source: list[Any] = [{"x": 0}, {"x": 2}, {"x": 4}, {"x": 6}, "bad", {"x": 8}, {"x": 10}]
    with trio.fail_after(100):
        async with dag.stream(
            source, batch_size=3, max_in_flight=6, on_item_failure="stop"
        ) as results:
            got = await drain(results)
    assert [r["a"] for r in got[0]] == [0, 2, 4]
    assert isinstance(got[1], td.InputError)
    assert len(got) == 2
    assert sorted(started) == [0, 2, 4]


# ---------------------------------------------------------------- defect 12


async def test_batch_keeps_each_items_outcome_with_a_bad_item(
    autojump_clock: trio.testing.MockClock,
) -> None:
    source: list[Any] = [{"x": 0}, {"y": 1}, {"x": 2}, 3, {"x": 4}]
    with trio.fail_after(100):
        async with Flaky.stream(source, batch_size=3, max_in_flight=6) as results:
            got = [batch async for batch in results]
    assert len(got) == 2
    first, second = got
    assert first[0]["check"] == 0
    assert isinstance(first[1], td.InputError)
    assert first[2]["check"] == 2
    assert isinstance(second[0], td.InputError)
    assert second[1]["check"] == 4


async def test_batch_with_a_failed_run_keeps_the_partial_result(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        async with Flaky.stream(items(3), batch_size=3) as results:
            (batch,) = [b async for b in results]
    assert [r.ok for r in batch] == [True, False, True]
    assert isinstance(batch[1].errors["check"], ValueError)


# ---------------------------------------------------------------- defect 13


@pytest.mark.parametrize(("batch_size", "max_in_flight"), [(None, 1), (None, 8), (4, 8)])
async def test_a_source_reusing_one_mapping_runs_each_row_with_its_own_values(
    autojump_clock: trio.testing.MockClock, batch_size: int | None, max_in_flight: int
) -> None:
    def source() -> Iterator[dict[str, int]]:
        row: dict[str, int] = {}
        for i in range(8):
            row["x"] = 2 * i
            yield row

    got: list[int] = []
    inputs: list[dict[str, Any]] = []
    with trio.fail_after(100):
        async with Flaky.stream(
            source(), batch_size=batch_size, max_in_flight=max_in_flight
        ) as results:
            async for r in results:
                for one in r if isinstance(r, list) else [r]:
                    got.append(one["check"])
                    inputs.append(one.inputs)
    assert got == [2 * i for i in range(8)]
    assert inputs == [{"x": 2 * i} for i in range(8)]


async def test_an_async_source_reusing_one_mapping(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def source() -> AsyncIterator[dict[str, int]]:
        row: dict[str, int] = {}
        for i in range(6):
            row["x"] = 2 * i
            yield row

    with trio.fail_after(100):
        async with Flaky.stream(source(), batch_size=3, max_in_flight=6) as results:
            got = [[r["check"] for r in batch] async for batch in results]
    assert got == [[0, 2, 4], [6, 8, 10]]


# ---------------------------------------------------------------- the source's error


async def test_source_error_in_completion_order_comes_after_the_items_read_before_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def source() -> Iterator[dict[str, int]]:
        yield {"x": 0}
        yield {"x": 2}
        raise OSError("source broke")

    with trio.fail_after(100):
        async with Flaky.stream(source(), ordered=False) as results:
            got = await drain(results)
    assert sorted(r["check"] for r in got[:2]) == [0, 2]
    assert isinstance(got[2], OSError)
    assert len(got) == 3


@pytest.mark.parametrize("on_item_failure", ["continue", "stop"])
@pytest.mark.parametrize(("rows", "batches"), [(4, [[0, 2, 4], [6]]), (3, [[0, 2, 4]])])
async def test_source_error_in_a_batch_or_between_batches(
    autojump_clock: trio.testing.MockClock,
    on_item_failure: str,
    rows: int,
    batches: list[list[int]],
) -> None:
    def source() -> Iterator[dict[str, int]]:
        for i in range(rows):
            yield {"x": 2 * i}
        raise OSError("source broke")

    with trio.fail_after(100):
        async with Flaky.stream(
            source(), batch_size=3, max_in_flight=6, on_item_failure=on_item_failure
        ) as results:
            got = await drain(results)
    assert [[r["check"] for r in batch] for batch in got[:-1]] == batches
    assert isinstance(got[-1], OSError)


async def test_outside_cancellation_of_the_block_is_not_an_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    closed = False

    async def source() -> AsyncIterator[dict[str, int]]:
        nonlocal closed
        try:
            for i in range(100):
                yield {"x": 2 * i}
        finally:
            closed = True

    gen = source()
    got: list[int] = []
    with trio.fail_after(100):
        with trio.move_on_after(2.5) as outside:
            async with Flaky.stream(gen, max_in_flight=1) as results:
                async for r in results:
                    got.append(r["check"])
        assert outside.cancelled_caught
    assert got == [0, 2]
    assert closed


async def test_several_stream_errors_at_once_leave_as_their_group(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Interrupted(td.DAG):
        x = td.input()

        @td.node
        async def a(x: int) -> int:
            with trio.CancelScope(shield=True):  # item 1 fails after item 0 did
                await trio.sleep(1 + x)
            raise KeyboardInterrupt

    with (
        trio.fail_after(100),
        pytest.RaisesGroup(KeyboardInterrupt, KeyboardInterrupt, flatten_subgroups=True),
    ):
        async with Interrupted.stream(items(2)) as results:
            async for _ in results:
                pass  # pragma: no cover


async def test_leaving_early_after_an_error_still_closes_the_source(
    autojump_clock: trio.testing.MockClock,
) -> None:
    closed = False

    async def source() -> AsyncIterator[dict[str, int]]:
        nonlocal closed
        try:
            for i in range(100):
                yield {"x": i}
        finally:
            closed = True

    gen = source()
    with trio.fail_after(100), pytest.raises(td.RunFailed):
        async with Flaky.stream(gen, on_item_failure="stop", max_in_flight=4) as results:
            async for _ in results:
                pass
    assert closed
