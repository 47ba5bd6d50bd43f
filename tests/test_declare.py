"""Declaring DAGs: what the class-body DSL and ``DAG.from_nodes`` mean.

Parameters name dependencies, ``td.get`` aliases one, ordinary defaults are
kept, subclasses inherit and override nodes, inputs are declared (required or
with a default) and checked before any node runs, both front doors compile the
same graph, a chain runs in order under ``Sequential()``, and the markers
have readable reprs.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

import trio_dag as td
from conftest import echo

# --------------------------------------------------------------- empty DAG


@pytest.mark.parametrize(
    "strategy",
    [
        td.Sequential(),
        td.Parallel(),
        td.Parallel(schedule="levels"),
        td.Parallel(max_concurrency=1),
    ],
    ids=["sequential", "eager", "levels", "bounded"],
)
async def test_empty_dag_is_valid_and_runs_to_an_empty_result(strategy: Any) -> None:
    class Empty(td.DAG):
        pass

    Gen = td.DAG.from_nodes("Gen", [])
    for D in (Empty, Gen):
        assert D.graph.nodes == ()
        assert D.graph.order == ()
        assert D.graph.levels == ()
        with trio.fail_after(5):
            r = await D.run(strategy=strategy)
        assert r.ok
        assert r.status is td.RunStatus.COMPLETED
        assert dict(r) == {}
        assert len(r) == 0
        assert r.statuses == {}


# ----------------------------------------------------------- DSL semantics


class Pipeline(td.DAG):
    day = td.input()
    region = td.input(default="eu")

    @td.node
    async def users(day: Any, page_size: int = 50) -> Any:
        return ("users", day, page_size)

    @td.node
    async def orders(day: Any, *, users: Any, region: Any) -> Any:
        return ("orders", day, users[0], region)

    @td.node
    async def summary(users: Any, orders: Any, when: Any = td.get("day")) -> Any:
        return ("summary", users[0], orders[0], when)

    @td.node
    async def reuses(users: Any = "ignored") -> Any:
        return users


def test_parameter_with_default_naming_nothing_keeps_its_default() -> None:
    assert Pipeline.graph.dependencies("users") == ("day",)
    r = Pipeline.run_sync({"day": "d1"})
    assert r["users"] == ("users", "d1", 50)


def test_parameter_with_default_naming_a_node_is_a_dependency() -> None:
    assert Pipeline.graph.dependencies("reuses") == ("users",)
    assert Pipeline.run_sync({"day": "d1"})["reuses"] == ("users", "d1", 50)


def test_get_aliases_a_dependency_under_another_parameter_name() -> None:
    assert Pipeline.graph.dependencies("summary") == ("users", "orders", "day")
    assert Pipeline.run_sync({"day": "d2"})["summary"] == ("summary", "users", "orders", "d2")


@pytest.mark.parametrize(
    "strategy", [td.Sequential(), td.Parallel(), td.Parallel(schedule="levels")]
)
async def test_keyword_only_dependency_parameters(strategy: Any) -> None:
    assert Pipeline.graph.dependencies("orders") == ("day", "users", "region")
    with trio.fail_after(5):
        r = await Pipeline.run({"day": "d3", "region": "us"}, strategy=strategy)
    assert r["orders"] == ("orders", "d3", "users", "us")


async def test_a_node_stays_callable_on_its_own() -> None:
    assert await Pipeline.summary(users=["u"], orders=["o"], when="w") == (
        "summary",
        "u",
        "o",
        "w",
    )
    assert await Pipeline.users("d") == ("users", "d", 50)
    assert isinstance(Pipeline.summary, td.NodeFunction)
    assert Pipeline.summary.__name__ == "summary"


def test_subclass_inherits_nodes_and_inputs_and_base_is_unchanged() -> None:
    class Extended(Pipeline):
        limit = td.input(default=3)

        @td.node
        async def top(summary: Any, limit: Any) -> Any:
            return (summary[0], limit)

    assert Extended.graph.nodes == ("users", "orders", "summary", "reuses", "top")
    assert Extended.graph.inputs == ("day", "region", "limit")
    assert Pipeline.graph.nodes == ("users", "orders", "summary", "reuses")
    assert Extended.graph is not Pipeline.graph
    r = Extended.run_sync({"day": "d"})
    assert r["top"] == ("summary", 3)
    assert r["summary"] == ("summary", "users", "orders", "d")


def test_subclass_overrides_a_node() -> None:
    class Override(Pipeline):
        @td.node
        async def users(day: Any) -> Any:
            return ("other", day)

    assert Override.graph.nodes == Pipeline.graph.nodes
    assert Override.run_sync({"day": 1})["summary"] == ("summary", "other", "orders", 1)
    assert Pipeline.run_sync({"day": 1})["summary"][1] == "users"


def test_inputs_required_and_with_default() -> None:
    assert Pipeline.graph.inputs == ("day", "region")
    r = Pipeline.run_sync({"day": "d"})
    assert r["orders"][3] == "eu"
    assert r.inputs == {"day": "d", "region": "eu"}
    r = Pipeline.run_sync({"day": "d", "region": "us"})
    assert r["orders"][3] == "us"


class Counted(td.DAG):
    calls: list[str] = []  # noqa: RUF012
    a = td.input()
    b = td.input(default=2)

    @td.node
    async def n(a: Any, b: Any) -> Any:
        Counted.calls.append("n")
        return a + b


@pytest.mark.parametrize(
    ("given", "missing", "unknown", "says"),
    [
        ({}, ("a",), (), "missing required input(s) 'a'"),
        (None, ("a",), (), "missing required input(s) 'a'"),
        ({"a": 1, "c": 3}, (), ("c",), "unknown input(s) 'c'"),
        (
            {"b": 1, "aa": 3},
            ("a",),
            ("aa",),
            "missing required input(s) 'a'; unknown input(s) 'aa'",
        ),
    ],
)
@pytest.mark.parametrize("strategy", [td.Sequential(), td.Parallel()])
async def test_input_error_names_inputs_and_runs_nothing(
    given: Any, missing: tuple[str, ...], unknown: tuple[str, ...], says: str, strategy: Any
) -> None:
    Counted.calls.clear()
    with trio.fail_after(5), pytest.raises(td.InputError) as ei:
        await Counted.run(given, strategy=strategy)
    assert Counted.calls == []
    e = ei.value
    assert (e.missing, e.unknown) == (missing, unknown)
    assert isinstance(e, ValueError)
    msg = str(e)
    assert "'Counted'" in msg
    assert says in msg
    assert "declared inputs: a, b=2" in msg


def test_input_error_without_declared_inputs() -> None:
    class NoInputs(td.DAG):
        @td.node
        async def n() -> int:
            return 1

    with pytest.raises(td.InputError, match=r"unknown input\(s\) 'x'.*declared inputs: none"):
        NoInputs.run_sync({"x": 1})


def test_inputs_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match=r"'Counted'.*\[1\]"):
        Counted.run_sync([1])  # type: ignore[arg-type]


def test_both_front_doors_compile_the_same_graph() -> None:
    async def users(day: Any) -> Any: ...
    async def orders(day: Any, users: Any, region: Any) -> Any: ...
    async def summary(users: Any, orders: Any, day: Any) -> Any: ...

    G = td.DAG.from_nodes(
        "Pipeline",
        [
            td.Node("users", users, deps=("day",)),
            td.Node("orders", orders, deps=("day", "users", "region")),
            td.Node("summary", summary, deps=("users", "orders", "day")),
            td.Node("reuses", users, deps=("users",)),
        ],
        inputs={"day": td.input(), "region": td.input(default="eu")},
    )
    a, b = Pipeline.graph, G.graph
    assert (a.nodes, a.inputs, a.order, a.levels) == (b.nodes, b.inputs, b.order, b.levels)
    for n in a.nodes:
        assert a.dependencies(n) == b.dependencies(n)
        assert a.dependents(n) == b.dependents(n)
    assert a.to_mermaid() == b.to_mermaid()
    assert a.to_dot() == b.to_dot()


# ---------------------------------------------------------- sequential run


async def test_sequential_chain_runs_in_order_and_failure_keeps_first_value() -> None:
    events: list[str] = []
    boom = ValueError("boom")

    class Chain(td.DAG):
        x = td.input()

        @td.node
        async def first(x: Any) -> Any:
            events.append("first")
            return x + 1

        @td.node
        async def second(first: Any) -> Any:
            events.append("second")
            return first * 10

        @td.node
        async def third(second: Any) -> Any:
            events.append("third")
            return [second]

    with trio.fail_after(5):
        r = await Chain.run({"x": 1}, strategy=td.Sequential())
    assert events == ["first", "second", "third"]
    assert dict(r) == {"first": 2, "second": 20, "third": [20]}

    class Broken(td.DAG):
        x = td.input()

        @td.node
        async def first(x: Any) -> Any:
            events.append("first")
            return {"kept": x}

        @td.node
        async def second(first: Any) -> Any:
            events.append("second")
            raise boom

        @td.node
        async def third(second: Any) -> Any:
            events.append("third")
            return second

    events.clear()
    with trio.fail_after(5), pytest.raises(td.RunFailed) as ei:
        await Broken.run({"x": 7}, strategy=td.Sequential())
    assert events == ["first", "second"]
    e = ei.value
    assert e.__cause__ is boom
    assert dict(e.result) == {"first": {"kept": 7}}
    assert e.errors == {"second": boom}
    assert e.result.statuses == {
        "first": td.NodeStatus.COMPLETED,
        "second": td.NodeStatus.FAILED,
        "third": td.NodeStatus.SKIPPED,
    }
    assert "'Broken'" in str(e)
    assert "node 'second' failed" in str(e)


# ------------------------------------------------------- small value types


def test_markers_and_node_specs_have_readable_reprs() -> None:
    req, opt = td.input(), td.input(default=3)
    assert (req.required, opt.required) == (True, False)
    assert repr(req) == "trio_dag.input()"
    assert repr(opt) == "trio_dag.input(default=3)"
    assert repr(td.get("day")) == "trio_dag.get('day')"
    nd = td.Node("n", echo, deps="a")  # a lone string is one dependency
    assert nd.deps == ("a",)
    assert repr(nd) == "Node('n', deps=('a',))"


def test_from_nodes_single_input_string_and_supervisor() -> None:
    sup = td.Supervisor(strategy="one_for_all")
    G = td.DAG.from_nodes("One", [td.Node("n", echo, deps=("day",))], "day", supervisor=sup)
    assert G.graph.inputs == ("day",)
    assert G.supervisor is sup
    assert G.__name__ == "One"
    assert issubclass(G, td.DAG)
    assert G.run_sync({"day": 4})["n"] == 4
    with pytest.raises(td.InputError, match="'day'"):
        G.run_sync()


def test_a_typed_handle_finds_its_node_and_only_its_node() -> None:
    class First(td.DAG):
        @td.node
        async def value() -> int:
            return 1

    class Second(td.DAG):
        @td.node
        async def value() -> int:
            return 2

        again = First.value  # the same node function under another name

    first, second = First.run_sync(), Second.run_sync()
    assert first[First.value] == 1
    assert second[Second.value] == 2
    assert second[First.value] == 1  # found by its function: it is 'again' here
    assert second["again"] == 1
    with pytest.raises(KeyError, match="is not a node of DAG 'First'"):
        first[Second.value]
