"""Map nodes: one call per element, results in input order, failures and retries."""

from __future__ import annotations

from typing import Any

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


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_map_results_are_in_input_order(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    finished: list[int] = []

    class Mapped(td.DAG):
        xs = td.input()

        @td.node(map_over="xs")
        async def slow_first(xs: int, factor: int) -> int:
            await trio.sleep(10 - xs)  # later elements finish first
            finished.append(xs)
            return xs * factor

        @td.node
        async def factor() -> int:
            return 3

        @td.node
        async def total(slow_first: list[int]) -> int:
            return sum(slow_first)

    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await Mapped.run({"xs": range(1, 6)}, strategy=strategy)
        elapsed = trio.current_time() - t0
    assert result["slow_first"] == [3, 6, 9, 12, 15]
    assert result["total"] == 45
    assert sorted(finished) == [1, 2, 3, 4, 5]
    if isinstance(strategy, td.Parallel):
        assert finished == [5, 4, 3, 2, 1]
        assert elapsed == 9  # elements run concurrently: the longest is 9 s
    assert result.attempts("slow_first") == 5


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_map_over_empty_iterable_gives_empty_list(
    strategy: td.Sequential | td.Parallel,
) -> None:
    calls: list[object] = []

    class Mapped(td.DAG):
        xs = td.input()

        @td.node(map_over="xs")
        async def each(xs: object) -> object:
            calls.append(xs)
            return xs

    with trio.fail_after(10):
        result = await Mapped.run({"xs": iter(())}, strategy=strategy)
    assert result["each"] == []
    assert calls == []
    assert result.ok


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_map_over_non_iterable_is_a_map_error(
    strategy: td.Sequential | td.Parallel,
) -> None:
    class Mapped(td.DAG):
        xs = td.input()

        @td.node(map_over="xs")
        async def each(xs: int) -> int:
            return xs

    with trio.fail_after(10), pytest.raises(td.RunFailed) as info:
        await Mapped.run({"xs": 42}, strategy=strategy)
    cause = info.value.__cause__
    assert isinstance(cause, td.MapError)
    assert isinstance(cause, TypeError)
    msg = str(cause)
    assert "'each'" in msg
    assert "'xs'" in msg
    assert "42" in msg
    assert "not iterable" in msg
    assert info.value.errors == {"each": cause}
    assert info.value.result.statuses["each"] is td.NodeStatus.FAILED


async def test_map_over_a_large_iterable() -> None:
    n = 100_000

    class Big(td.DAG):
        xs = td.input()

        @td.node(map_over="xs")
        async def each(xs: int) -> int:
            return xs + 1

        @td.node
        async def total(each: list[int]) -> int:
            return sum(each)

    with trio.fail_after(60):
        result = await Big.run({"xs": range(n)})
    assert len(result["each"]) == n
    assert result["each"][:3] == [1, 2, 3]
    assert result["each"][-1] == n
    assert result["total"] == n * (n + 1) // 2


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_map_in_from_nodes_form(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    async def words(text: str) -> list[str]:
        return text.split()

    async def suffix() -> str:
        return "!"

    async def shout(word: str, suffix: str) -> str:
        await trio.sleep(len(word))
        return word.upper() + suffix

    dag = td.DAG.from_nodes(
        "Shout",
        [
            td.Node("words", words, deps=("text",)),
            td.Node("suffix", suffix),
            td.Node("shout", shout, deps=("words", "suffix"), map_over="words"),
        ],
        inputs=("text",),
    )
    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await dag.run({"text": "a quick brown fox"}, strategy=strategy)
        assert trio.current_time() - t0 == 5
    assert result["shout"] == ["A!", "QUICK!", "BROWN!", "FOX!"]


def test_map_over_must_name_a_dependency() -> None:
    async def f(a: int) -> int:
        return a

    with pytest.raises(td.InvalidOptionError, match="map_over"):
        td.DAG.from_nodes("Bad", [td.Node("f", f, deps=("a",), map_over="b")], inputs=("a",))


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_failing_element_fails_the_node_and_cancels_the_others(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    finished: list[int] = []

    class Mapped(td.DAG):
        xs = td.input()

        @td.node(map_over="xs")
        async def each(xs: int) -> int:
            if xs == 3:
                await trio.sleep(1)
                raise Boom(f"element {xs}")
            await trio.sleep(5)
            finished.append(xs)
            return xs

        @td.node
        async def after(each: list[int]) -> int:
            return len(each)

    with trio.fail_after(100):
        t0 = trio.current_time()
        with pytest.raises(td.RunFailed) as info:
            await Mapped.run({"xs": [1, 2, 3, 4]}, strategy=strategy)
        assert trio.current_time() - t0 == 1
        await trio.sleep(10)
    assert finished == []
    cause = info.value.__cause__
    assert isinstance(cause, Boom)
    assert str(cause) == "element 3"
    result = info.value.result
    assert result.statuses["each"] is td.NodeStatus.FAILED
    assert result.statuses["after"] is td.NodeStatus.SKIPPED
    assert result.finished_at("each") == t0 + 1


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_two_failing_elements_give_an_exception_group(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    go = trio.Event()

    class Mapped(td.DAG):
        xs = td.input()

        @td.node(map_over="xs")
        async def each(xs: int) -> int:
            if xs == 0:
                await trio.sleep(1)
                go.set()
                return xs
            await go.wait()  # both failing elements wake together
            raise Boom(f"element {xs}")

    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await Mapped.run({"xs": [0, 1, 2]}, strategy=strategy)
    err = info.value.errors["each"]
    assert isinstance(err, ExceptionGroup)
    assert pytest.RaisesGroup(
        # the message, then the note naming the element
        pytest.RaisesExc(Boom, match=r"^element 1\nelement 1 of map node 'each' \(1\)$"),
        pytest.RaisesExc(Boom, match=r"^element 2\nelement 2 of map node 'each' \(2\)$"),
    ).matches(err)
    assert "'each'" in str(err)
    assert info.value.__cause__ is err


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_map_element_is_retried_in_place(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    calls: dict[int, int] = {}
    attempts_seen: list[tuple[int, int]] = []

    class Mapped(td.DAG):
        xs = td.input()

        @td.node(
            map_over="xs",
            retry=td.RetryPolicy(max_attempts=3, initial_delay=2, jitter="none"),
        )
        async def each(xs: int) -> int:
            calls[xs] = calls.get(xs, 0) + 1
            a = td.current_attempt()
            assert a.node == "each"
            attempts_seen.append((xs, a.attempt))
            await trio.sleep(1)
            if xs == 1 and calls[xs] == 1:
                raise Boom("flaky once")
            return xs * 10

    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await Mapped.run({"xs": [0, 1, 2]}, strategy=strategy)
        # element 1: 1 s, fails, 2 s delay, 1 s again; the others are not rerun
        assert trio.current_time() - t0 == 4
    assert result["each"] == [0, 10, 20]
    assert calls == {0: 1, 1: 2, 2: 1}
    assert sorted(attempts_seen) == [(0, 1), (1, 1), (1, 2), (2, 1)]
    assert result.attempts("each") == 4


async def test_map_element_retry_gives_up(autojump_clock: trio.testing.MockClock) -> None:
    class Mapped(td.DAG):
        xs = td.input()

        @td.node(map_over="xs", retry=td.RetryPolicy(max_attempts=2, jitter="none"))
        async def each(xs: int) -> int:
            if xs:
                raise Boom(f"always {xs}")
            return xs

    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await Mapped.run({"xs": [0, 1]})
    assert isinstance(info.value.__cause__, Boom)
    assert info.value.result.attempts("each") == 3


async def test_map_element_timeout(autojump_clock: trio.testing.MockClock) -> None:
    class Mapped(td.DAG):
        xs = td.input()

        @td.node(map_over="xs", timeout=2.0)
        async def each(xs: int) -> int:
            await trio.sleep(xs)
            return xs

    with trio.fail_after(100):
        assert (await Mapped.run({"xs": [1, 1.5]}))["each"] == [1, 1.5]
        t0 = trio.current_time()
        with pytest.raises(td.RunFailed) as info:
            await Mapped.run({"xs": [1, 3]})
        assert trio.current_time() - t0 == 2
    assert isinstance(info.value.__cause__, trio.TooSlowError)


async def test_map_over_a_generator_from_a_node(autojump_clock: trio.testing.MockClock) -> None:
    class Mapped(td.DAG):
        @td.node
        async def gen() -> Any:
            return (i * i for i in range(4))

        @td.node(map_over="gen")
        async def each(gen: int) -> int:
            await trio.sleep(gen)
            return gen + 1

    with trio.fail_after(100):
        result = await Mapped.run()
    assert result["each"] == [1, 2, 5, 10]
