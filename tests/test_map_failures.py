"""Maps that keep what succeeded: ``on_element_failure="collect"`` and ``"fail"``,
failed elements named by index, and ``resume`` rerunning only the elements
without a value. All in virtual time."""

from __future__ import annotations

import pickle
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
    pytest.param(td.Parallel(max_concurrency=2), id="bounded"),
]


def collecting(calls: list[int], bad: set[int]) -> type[td.DAG]:
    class Parse(td.DAG):
        rows = td.input()

        @td.node(map_over="rows", on_element_failure="collect")
        async def parsed(rows: int) -> int:
            calls.append(rows)
            await trio.sleep(rows)
            if rows in bad:
                raise Boom(f"bad row {rows}")
            return rows * 10

        @td.node
        async def sibling() -> str:
            await trio.sleep(100)  # still running when elements fail
            return "done"

        @td.node
        async def total(parsed: list[int]) -> int:
            return sum(parsed)

    return Parse


# ---------------------------------------------------------------- collect


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_collect_completes_with_the_successes_and_reports_the_failures(
    strategy: Any, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[int] = []
    Parse = collecting(calls, bad={3, 6})
    with trio.fail_after(1000):
        result = await Parse.run({"rows": [1, 2, 3, 4, 5, 6]}, strategy=strategy)
    assert result.ok
    assert result["parsed"] == [10, 20, 40, 50]  # the successes, in input order
    assert result[Parse.parsed] == [10, 20, 40, 50]
    assert result["total"] == 120
    assert result["sibling"] == "done"  # a failed element fails no sibling
    errs = result.element_errors("parsed")
    assert [(e.index, e.element) for e in errs] == [(2, "3"), (5, "6")]
    assert [str(e.error) for e in errs] == ["bad row 3", "bad row 6"]
    assert all(isinstance(e.error, Boom) for e in errs)
    assert str(errs[0]) == "element 2 (3): Boom: bad row 3"
    assert result.element_errors(Parse.parsed) == errs
    assert result.completed_elements("parsed") == {0: 10, 1: 20, 3: 40, 4: 50}
    assert result.attempts("parsed") == 6  # element calls
    assert sorted(calls) == [1, 2, 3, 4, 5, 6]
    report = result.report()
    assert (
        "node 'parsed' completed without its failed elements (collected): 2 of 6 elements "
        "failed, 4 completed (6 element calls in all, retries included):"
    ) in report
    assert "    element 2 (3): Boom: bad row 3" in report
    assert "    element 5 (6): Boom: bad row 6" in report


async def test_collect_retries_each_element_first(autojump_clock: trio.testing.MockClock) -> None:
    tries: dict[str, int] = {}

    class Fetch(td.DAG):
        urls = td.input()

        @td.node(
            map_over="urls",
            on_element_failure="collect",
            retry=td.RetryPolicy(max_attempts=3, initial_delay=1, jitter="none"),
        )
        async def pages(urls: str) -> str:
            tries[urls] = tries.get(urls, 0) + 1
            if urls == "down" or (urls == "flaky" and tries[urls] < 3):
                raise Boom(urls)
            return urls.upper()

    with trio.fail_after(100):
        result = await Fetch.run({"urls": ["a", "flaky", "down", "b"]})
    assert result["pages"] == ["A", "FLAKY", "B"]
    assert [e.index for e in result.element_errors("pages")] == [2]
    assert tries == {"a": 1, "flaky": 3, "down": 3, "b": 1}
    assert result.attempts("pages") == 8


async def test_collect_with_every_element_failing_gives_an_empty_list(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[int] = []
    Parse = collecting(calls, bad={0, 1})
    with trio.fail_after(1000):
        result = await Parse.run({"rows": [0, 1]})
    assert result["parsed"] == []
    assert result["total"] == 0
    assert [e.index for e in result.element_errors("parsed")] == [0, 1]


async def test_long_elements_are_shown_short(autojump_clock: trio.testing.MockClock) -> None:
    class Long(td.DAG):
        docs = td.input()

        @td.node(map_over="docs", on_element_failure="collect")
        async def parsed(docs: str) -> str:
            raise Boom("no")

    with trio.fail_after(10):
        result = await Long.run({"docs": ["x" * 500]})
    (e,) = result.element_errors("parsed")
    assert len(e.element) == 60
    assert e.element.endswith("...")


# ------------------------------------------------------------------- fail


def failing(calls: list[int], bad: set[int]) -> type[td.DAG]:
    class Parse(td.DAG):
        rows = td.input()

        @td.node(map_over="rows")
        async def parsed(rows: int) -> int:
            calls.append(rows)
            await trio.sleep(rows)
            if rows in bad:
                raise Boom(f"bad row {rows}")
            return rows * 10

        @td.node
        async def total(parsed: list[int]) -> int:
            return sum(parsed)

    return Parse


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_fail_keeps_the_completed_elements_and_resume_runs_only_the_rest(
    strategy: Any, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[int] = []
    bad = {3}
    Parse = failing(calls, bad)
    rows = [1, 2, 3, 4, 5, 6]
    with trio.fail_after(1000), pytest.raises(td.RunFailed) as info:
        await Parse.run({"rows": rows}, strategy=strategy)
    partial = info.value.result
    assert partial.statuses["parsed"] is td.NodeStatus.FAILED
    kept = partial.completed_elements("parsed")
    assert kept == {0: 10, 1: 20}  # 1 and 2 finished before 3 failed; the rest was cancelled
    (err,) = partial.element_errors("parsed")
    assert (err.index, err.element, str(err.error)) == (2, "3", "bad row 3")
    cause = info.value.__cause__
    assert cause is err.error
    assert isinstance(cause, Boom)  # the element's own exception, not wrapped
    assert "element 2 of map node 'parsed' (3)" in (cause.__notes__ or [])
    text = str(info.value)
    assert "node 'parsed' failed: 1 of 6 elements failed, 2 completed" in text
    assert "element call" in text
    assert "retries included; resume() reruns only the elements without a value" in text
    assert "    element 2 (3): Boom: bad row 3" in text

    bad.clear()
    calls.clear()
    with trio.fail_after(1000):
        result = await Parse.resume(partial, strategy=strategy)
    assert result["parsed"] == [10, 20, 30, 40, 50, 60]
    assert result["total"] == 210
    assert sorted(calls) == [3, 4, 5, 6]  # neither 1 nor 2 ran again
    assert result.element_errors("parsed") == ()
    assert result.completed_elements("parsed") == dict(enumerate([10, 20, 30, 40, 50, 60]))


async def test_resume_reuses_the_kept_element_values_as_the_same_objects(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fail = [True]

    class Objs(td.DAG):
        n = td.input()

        @td.node(map_over="n")
        async def made(n: int) -> list[int]:
            await trio.sleep(n)
            if n == 2 and fail[0]:
                raise Boom("two")
            return [n]

    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await Objs.run({"n": [0, 1, 2]})
    first = info.value.result.completed_elements("made")
    fail[0] = False
    with trio.fail_after(100):
        result = await Objs.resume(info.value.result)
    assert result["made"] == [[0], [1], [2]]
    assert result["made"][0] is first[0]
    assert result["made"][1] is first[1]


async def test_several_failed_elements_are_listed_with_their_indexes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    go = trio.Event()

    class Odd(td.DAG):
        xs = td.input()

        @td.node(map_over="xs")
        async def halves(xs: int) -> int:
            if xs == 0:
                await trio.sleep(1)
                go.set()
                return 0
            await go.wait()  # every other element wakes at the same moment
            if xs % 2:
                raise ValueError(f"odd {xs}")
            return xs // 2

    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await Odd.run({"xs": [0, 1, 2, 3, 4, 5]})
    cause = info.value.__cause__
    assert isinstance(cause, ExceptionGroup)
    assert str(cause).startswith("elements 1, 3, 5 of map node 'halves' failed")
    errs = info.value.result.element_errors("halves")
    assert [(e.index, str(e.error)) for e in errs] == [(1, "odd 1"), (3, "odd 3"), (5, "odd 5")]
    assert list(cause.exceptions) == [e.error for e in errs]
    text = str(info.value)
    assert "node 'halves' failed: 3 of 6 elements failed, 3 completed (6 element calls" in text
    for k in (1, 3, 5):
        assert f"    element {k} ({k}): ValueError: odd {k}" in text
    assert "ExceptionGroup: 5 elements" not in text


async def test_many_failed_elements_are_listed_up_to_ten(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Many(td.DAG):
        xs = td.input()

        @td.node(map_over="xs", on_element_failure="collect")
        async def each(xs: int) -> int:
            raise Boom(str(xs))

    with trio.fail_after(100):
        result = await Many.run({"xs": range(25)})
    report = result.report()
    assert "    element 9 (9): Boom: 9" in report
    assert "element 10 (10)" not in report
    assert "... (15 more: RunResult.element_errors('each'))" in report
    assert len(result.element_errors("each")) == 25


async def test_fail_under_continue_keeps_siblings_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[int] = []
    Parse = failing(calls, bad={1})

    class WithSibling(Parse):  # type: ignore[valid-type, misc]
        @td.node
        async def other() -> str:
            await trio.sleep(50)
            return "other"

    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await WithSibling.run({"rows": [1, 2]}, on_failure="continue")
    r = info.value.result
    assert r["other"] == "other"
    assert r.statuses["total"] is td.NodeStatus.SKIPPED
    assert r.completed_elements("parsed") == {}
    assert [e.index for e in r.element_errors("parsed")] == [0]


async def test_unstarted_elements_under_a_bound_run_on_resume(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[int] = []
    bad = {2}
    Parse = failing(calls, bad)
    with trio.fail_after(1000), pytest.raises(td.RunFailed) as info:
        await Parse.run({"rows": [2, 5, 1, 1, 1]}, strategy=td.Parallel(max_concurrency=1))
    partial = info.value.result
    assert calls == [2]  # one at a time: the first failed, nothing else started
    assert partial.completed_elements("parsed") == {}
    assert "1 of 5 elements failed, 0 completed, 4 not run" in str(info.value)
    bad.clear()
    calls.clear()
    with trio.fail_after(1000):
        result = await Parse.resume(partial)
    assert calls == [2, 5, 1, 1, 1]
    assert result["parsed"] == [20, 50, 10, 10, 10]


async def test_a_map_over_a_generator_resumes_from_the_same_elements(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[int] = []
    bad = {3}
    Parse = failing(calls, bad)
    with trio.fail_after(1000), pytest.raises(td.RunFailed) as info:
        await Parse.run({"rows": (x for x in [1, 3, 5])})
    bad.clear()
    calls.clear()
    with trio.fail_after(1000):
        result = await Parse.resume(info.value.result)
    assert result["parsed"] == [10, 30, 50]
    assert sorted(calls) == [3, 5]


async def test_a_collected_map_is_complete_and_resume_runs_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[int] = []
    Parse = collecting(calls, bad={1})

    class Then(Parse):  # type: ignore[valid-type, misc]
        @td.node
        async def boom(total: int) -> int:
            raise Boom("after the map")

    with trio.fail_after(1000), pytest.raises(td.RunFailed) as info:
        await Then.run({"rows": [1, 2]})
    partial = info.value.result
    assert partial["parsed"] == [20]
    calls.clear()
    with trio.fail_after(1000), pytest.raises(td.RunFailed):
        await Then.resume(partial)
    assert calls == []  # the map node is complete: it is not run again


@pytest.mark.parametrize("collect", [False, True])
async def test_a_map_node_cancelled_part_way_keeps_its_elements_for_resume(
    collect: bool, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[int] = []
    broken = [True]

    class Cut(td.DAG):
        rows = td.input()

        @td.node(map_over="rows", on_element_failure="collect" if collect else "fail")
        async def parsed(rows: int) -> int:
            calls.append(rows)
            await trio.sleep(rows)
            return rows * 10

        @td.node
        async def other() -> int:
            await trio.sleep(2.5)  # fails while elements 3 and 4 still run
            if broken[0]:
                raise Boom("other")
            return 0

    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await Cut.run({"rows": [1, 2, 3, 4]})
    partial = info.value.result
    assert partial.statuses["parsed"] is td.NodeStatus.CANCELLED
    assert partial.completed_elements("parsed") == {0: 10, 1: 20}
    assert partial.element_errors("parsed") == ()
    broken[0] = False
    calls.clear()
    with trio.fail_after(100):
        result = await Cut.resume(partial)
    assert result["parsed"] == [10, 20, 30, 40]
    assert sorted(calls) == [3, 4]


async def test_more_than_ten_failed_elements_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    go = trio.Event()

    class Many(td.DAG):
        xs = td.input()

        @td.node(map_over="xs")
        async def each(xs: int) -> int:
            if xs == 0:
                await trio.sleep(1)
                go.set()
                return 0
            await go.wait()
            raise Boom(str(xs))

    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await Many.run({"xs": range(13)})
    cause = info.value.__cause__
    assert isinstance(cause, ExceptionGroup)
    assert str(cause).startswith("elements 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ... of map node 'each'")
    assert len(cause.exceptions) == 12


async def test_completed_elements_of_complete_and_plain_nodes() -> None:
    class Plain(td.DAG):
        xs = td.input()

        @td.node(map_over="xs")
        async def each(xs: int) -> int:
            return xs + 1

        @td.node
        async def total(each: list[int]) -> int:
            return sum(each)

    with trio.fail_after(10):
        result = await Plain.run({"xs": [1, 2]})
    assert result.completed_elements(Plain.each) == {0: 2, 1: 3}
    assert result.completed_elements("total") == {}
    assert result.element_errors("total") == ()
    with pytest.raises(KeyError, match="did you mean 'each'"):
        result.element_errors("eachh")


PICKLED_BAD = {2}
PICKLED_CALLS: list[int] = []


class Pickled(td.DAG):
    rows = td.input()

    @td.node(map_over="rows")
    async def parsed(rows: int) -> int:
        PICKLED_CALLS.append(rows)
        await trio.sleep(rows)
        if rows in PICKLED_BAD:
            raise ValueError(f"bad row {rows}")
        return rows * 10


async def test_a_pickled_partial_result_keeps_its_element_outcomes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    PICKLED_CALLS.clear()
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await Pickled.run({"rows": [1, 2, 3]})
    copy = pickle.loads(pickle.dumps(info.value.result))
    assert copy.completed_elements("parsed") == {0: 10}
    assert [(e.index, str(e.error)) for e in copy.element_errors("parsed")] == [(1, "bad row 2")]
    PICKLED_BAD.clear()
    PICKLED_CALLS.clear()
    with trio.fail_after(100):
        result = await Pickled.resume(copy)
    assert result["parsed"] == [10, 20, 30]
    assert sorted(PICKLED_CALLS) == [2, 3]
