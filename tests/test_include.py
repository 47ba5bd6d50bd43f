"""Flattened inclusion: ``td.include(Etl, inputs=...)`` copies Etl's nodes in as ``etl.*``.

One graph, one scheduler, one supervisor: the values equal those of running
the parts by hand, inner options carry over, and every way to get the
wiring wrong is a definition error with a "did you mean".
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

import trio_dag as td
from conftest import Boom, check_message


class Etl(td.DAG):
    day = td.input()
    limit = td.input(default=3)

    @td.node
    async def rows(day: str, limit: int) -> list[str]:
        return [f"{day}/{k}" for k in range(limit)]

    @td.node
    async def summary(rows: list[str]) -> str:
        return f"{len(rows)} rows"


class Nightly(td.DAG):
    day = td.input()
    etl = td.include(Etl, inputs={"day": "day"})

    @td.node
    async def publish(day: str, total: str = td.get("etl.summary")) -> str:
        return f"{day}: {total}"


STRATEGIES = [td.Sequential(), td.Parallel(), td.Parallel(schedule="levels")]


def test_included_nodes_are_prefixed_by_the_attribute_name() -> None:
    g = Nightly.graph
    assert g.nodes == ("publish", "etl.rows", "etl.summary")
    assert g.inputs == ("day",)
    assert g.dependencies("etl.rows") == ("day",)
    assert g.dependencies("etl.summary") == ("etl.rows",)
    assert g.dependencies("publish") == ("day", "etl.summary")
    assert g.levels == (("etl.rows",), ("etl.summary",), ("publish",))
    assert "etl" not in g  # the inclusion is no node


@pytest.mark.parametrize("strategy", STRATEGIES, ids=repr)
async def test_values_equal_running_the_parts_by_hand(
    strategy: td.Strategy, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(10):
        whole = await Nightly.run({"day": "d1"}, strategy=strategy)
        part = await Etl.run({"day": "d1"}, strategy=strategy)
    assert whole["etl.rows"] == part["rows"] == ["d1/0", "d1/1", "d1/2"]
    assert whole["etl.summary"] == part["summary"]
    assert whole["publish"] == await Nightly.publish("d1", part["summary"])
    assert whole.inputs == {"day": "d1"}  # the inner default is no outer input


async def test_prefix_overrides_and_wiring_to_nodes_and_other_inclusions(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Two(td.DAG):
        day = td.input()

        @td.node
        async def n(day: str) -> int:
            return len(day)

        first = td.include(Etl, inputs={"day": "day"}, prefix="a")
        second = td.include(Etl, inputs={"day": "a.summary", "limit": "n"}, prefix="b")

    assert Two.graph.nodes == ("n", "a.rows", "a.summary", "b.rows", "b.summary")
    r = await Two.run({"day": "xy"})
    assert r["a.summary"] == "3 rows"
    assert r["b.rows"] == ["3 rows/0", "3 rows/1"]  # limit wired to node n (len "xy")
    assert Two.graph.dependencies("b.rows") == ("a.summary", "n")


async def test_nested_inclusions_get_both_prefixes(autojump_clock: trio.testing.MockClock) -> None:
    class Outer(td.DAG):
        when = td.input()
        night = td.include(Nightly, inputs={"day": "when"})

    assert Outer.graph.nodes == ("night.publish", "night.etl.rows", "night.etl.summary")
    r = await Outer.run({"when": "w"})
    assert r["night.publish"] == "w: 3 rows"


async def test_inner_options_carry_over(autojump_clock: trio.testing.MockClock) -> None:
    calls = {"flaky": 0}

    class Inner(td.DAG):
        xs = td.input()

        @td.node(retry=td.RetryPolicy(max_attempts=3, initial_delay=1.0, jitter="none"))
        async def flaky(xs: list[int]) -> int:
            calls["flaky"] += 1
            if calls["flaky"] < 3:
                raise Boom
            return 1

        @td.node(map_over="xs", timeout=5.0)
        async def double(xs: int) -> int:
            return 2 * xs

        @td.node(timeout=1.0)
        async def slow() -> None:
            await trio.sleep(2)

    class Outer(td.DAG):
        xs = td.input()
        inner = td.include(Inner, inputs={"xs": "xs"})

    g = Outer.graph
    assert g._policies[g._index["inner.flaky"]] == Inner.graph._policies[0]
    assert g._maps[g._index["inner.double"]] == 0
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await Outer.run({"xs": [1, 2]}, on_failure="continue")
    r = info.value.result
    assert r["inner.flaky"] == 1
    assert r.attempts("inner.flaky") == 3
    assert r["inner.double"] == [2, 4]
    assert isinstance(r.errors["inner.slow"], trio.TooSlowError)


async def test_unwired_inputs_with_defaults_keep_them_also_for_positional_nodes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def join(*parts: Any) -> str:
        return "-".join(map(str, parts))

    Gen = td.DAG.from_nodes(
        "Gen",
        [td.Node("j", join, deps=("a", "b", "c")), td.Node("k", join, deps=("j", "b"))],
        inputs={"a": td.input(), "b": td.input(default="B"), "c": td.input()},
    )

    class Outer(td.DAG):
        x = td.input()
        gen = td.include(Gen, inputs={"a": "x", "c": "x"})

    r = await Outer.run({"x": 1})
    assert r["gen.j"] == "1-B-1"
    assert r["gen.k"] == "1-B-1-B"
    assert Outer.graph.dependencies("gen.j") == ("x", "x")


async def test_a_subclass_inherits_the_inclusion(autojump_clock: trio.testing.MockClock) -> None:
    class More(Nightly):
        @td.node
        async def shout(text: str = td.get("publish")) -> str:
            return text.upper()

    assert set(More.graph.nodes) == {"publish", "etl.rows", "etl.summary", "shout"}
    assert (await More.run({"day": "d"}))["shout"] == "D: 3 ROWS"


async def test_one_supervisor_and_one_failure_report(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Bad(td.DAG):
        @td.node
        async def breaks() -> None:
            raise Boom("inner")

    class Outer(td.DAG):
        bad = td.include(Bad)

        @td.node
        async def after(x: None = td.get("bad.breaks")) -> None: ...

    with trio.fail_after(10), pytest.raises(td.RunFailed) as info:
        await Outer.run()
    assert isinstance(info.value.__cause__, Boom)
    assert info.value.result.statuses == {"after": "skipped", "bad.breaks": "failed"}
    assert "node 'bad.breaks' failed" in str(info.value)


# ------------------------------------------------------------ definition errors


def test_unknown_wiring_key_suggests_an_inner_input() -> None:
    with pytest.raises(td.DAGDefinitionError) as info:

        class Wrong(td.DAG):
            day = td.input()
            etl = td.include(Etl, inputs={"dya": "day"})

    check_message(info.value, "Wrong", "'dya'", "not an input", "did you mean 'day'?")
    assert info.value.node == "etl"


def test_unknown_wiring_target_suggests_an_outer_name() -> None:
    with pytest.raises(td.UnknownDependencyError) as info:

        class Wrong(td.DAG):
            day = td.input()
            etl = td.include(Etl, inputs={"day": "dya"})

    e = info.value
    check_message(e, "Wrong", "inclusion 'etl'", "'dya'", "input 'day'", "did you mean 'day'?")
    assert (e.dependency, e.suggestion) == ("dya", "day")


def test_wiring_can_name_a_node_of_another_inclusion_with_a_suggestion() -> None:
    with pytest.raises(td.UnknownDependencyError) as info:

        class Wrong(td.DAG):
            day = td.input()
            a = td.include(Etl, inputs={"day": "day"})
            b = td.include(Etl, inputs={"day": "a.sumary"})

    assert info.value.suggestion == "a.summary"


def test_a_required_input_left_unwired_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(td.DAGDefinitionError) as info:

        class Wrong(td.DAG):
            day = td.input()
            etl = td.include(Etl)

    check_message(
        info.value,
        "Wrong",
        "required input 'day'",
        "not wired",
        "did you mean inputs={'day': 'day'}?",
    )


def test_two_inclusions_with_one_prefix_collide() -> None:
    with pytest.raises(td.DuplicateNodeError) as info:

        class Wrong(td.DAG):
            day = td.input()
            a = td.include(Etl, inputs={"day": "day"}, prefix="etl")
            b = td.include(Etl, inputs={"day": "day"}, prefix="etl")

    check_message(info.value, "Wrong", "prefix 'etl'", "attribute 'a'", "attribute 'b'")


def test_a_prefix_that_is_a_node_name_collides() -> None:
    with pytest.raises(td.DuplicateNodeError) as info:

        class Wrong(td.DAG):
            day = td.input()
            etl = td.include(Etl, inputs={"day": "day"}, prefix="day")

    check_message(info.value, "Wrong", "prefix 'day'", "input 'day'")


def test_a_copied_name_that_is_taken_collides() -> None:
    with pytest.raises(td.DuplicateNodeError) as info:

        class Wrong(td.DAG):
            day = td.input()
            a = td.include(Nightly, inputs={"day": "day"}, prefix="x")
            b = td.include(Etl, inputs={"day": "day"}, prefix="x.etl")

    check_message(info.value, "Wrong", "'x.etl.rows'", "inclusion 'x'")


def test_a_cycle_through_an_inclusion_is_a_cycle_error() -> None:
    with pytest.raises(td.CycleError) as info:

        class Wrong(td.DAG):
            etl = td.include(Etl, inputs={"day": "prep"})

            @td.node
            async def prep(s: str = td.get("etl.summary")) -> str:
                return s

    assert info.value.cycle == ["prep", "etl.summary", "etl.rows", "prep"]


def test_the_same_attribute_twice_is_a_duplicate() -> None:
    with pytest.raises(td.DuplicateNodeError):

        class Wrong(td.DAG):
            day = td.input()
            etl = td.include(Etl, inputs={"day": "day"})
            etl = td.include(Etl, inputs={"day": "day"})


def test_mapping_over_an_unwired_input_is_an_error() -> None:
    class Inner(td.DAG):
        xs = td.input(default=(1, 2))

        @td.node(map_over="xs")
        async def each(xs: int) -> int:
            return xs

    with pytest.raises(td.InvalidOptionError) as info:

        class Wrong(td.DAG):
            inner = td.include(Inner)

    check_message(info.value, "Wrong", "'inner.each'", "maps over input 'xs'", "not wired")
    assert isinstance(info.value, td.DAGDefinitionError)


@pytest.mark.parametrize(
    ("args", "kwargs", "option"),
    [
        ((object(),), {}, "dag"),
        ((td.DAG.from_nodes,), {}, "dag"),
        ((Etl, ["day"]), {}, "inputs"),
        ((Etl, {"day": 1}), {}, "inputs"),
        ((Etl, {"day": ""}), {}, "inputs"),
        ((Etl,), {"prefix": ""}, "prefix"),
        ((Etl,), {"prefix": 3}, "prefix"),
    ],
)
def test_include_rejects_bad_arguments(args: Any, kwargs: Any, option: str) -> None:
    with pytest.raises(td.InvalidOptionError) as info:
        td.include(*args, **kwargs)
    assert info.value.option == option
    assert isinstance(info.value, TypeError)
    assert "trio_dag.include()" in str(info.value)


def test_a_positional_node_with_fixed_arguments_reads_well() -> None:
    async def join(*parts: Any) -> str:
        return "-".join(map(str, parts))

    Gen = td.DAG.from_nodes(
        "Gen", [td.Node("j", join, deps=("a", "b"))], inputs={"a": td.input(), "b": td.input(1)}
    )

    class Outer(td.DAG):
        x = td.input()
        gen = td.include(Gen, inputs={"a": "x"})

    assert "with arguments {1: 1} fixed" in repr(Outer.graph._fns[0])


async def test_unwired_defaults_for_keyword_nodes_and_shifted_maps(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Inner(td.DAG):
        xs = td.input()
        scale = td.input(default=10)

        @td.node(map_over="xs")
        async def each(scale: int, xs: int) -> int:  # the mapped dependency comes second
            return scale * xs

        @td.node
        async def total(*, by: int = td.get("scale"), each: list[int]) -> int:
            return sum(each) // by

    class Outer(td.DAG):
        values = td.input()
        inner = td.include(Inner, inputs={"xs": "values"})

    assert Outer.graph._maps[Outer.graph._index["inner.each"]] == 0
    r = await Outer.run({"values": [1, 2, 3]})
    assert r["inner.each"] == [10, 20, 30]
    assert r["inner.total"] == 6
    assert Outer.graph.dependencies("inner.total") == ("inner.each",)


def test_markers_read_well() -> None:
    assert repr(td.include(Etl, {"day": "d"})) == "trio_dag.include(Etl, inputs={'day': 'd'})"
    assert repr(td.include(Etl, prefix="p")) == "trio_dag.include(Etl, inputs={}, prefix='p')"
    assert repr(td.resource(Etl)) == "trio_dag.resource('Etl')"
