"""Generated graphs without workarounds: keyword ``deps``, order-only ``after=``,
node options on ``td.Node``, and ``DAG.extend`` mixing class-defined and
generated nodes; each with its definition errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

import trio_dag as td
from conftest import Boom, check_message

STRATEGIES = [
    pytest.param(td.Sequential(), id="sequential"),
    pytest.param(td.Parallel(schedule="levels"), id="levels"),
    pytest.param(td.Parallel(schedule="eager"), id="eager"),
]


async def fetch(url: str) -> str:
    return f"<{url}>"


async def join(*, head: str, body: str, sep: str = "|") -> str:
    return head + sep + body


# ------------------------------------------------------------ keyword deps


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_keyword_deps_pass_values_by_parameter_name(strategy: Any) -> None:
    dag = td.DAG.from_nodes(
        "Kw",
        [
            td.Node("a", fetch, deps=("u1",)),
            td.Node("b", fetch, {"url": "u2"}),
            td.Node("page", join, deps={"body": "b", "head": "a"}),  # any order
        ],
        inputs=["u1", "u2"],
    )
    assert dag.graph.dependencies("page") == ("b", "a")
    with trio.fail_after(5):
        r = await dag.run({"u1": "x", "u2": "y"}, strategy=strategy)
    assert r["page"] == "<x>|<y>"


def test_keyword_deps_errors_name_the_parameter() -> None:
    def build(deps: dict[str, str]) -> type[td.DAG]:
        return td.DAG.from_nodes("Kw", [td.Node("page", join, deps)], inputs=["h", "b"])

    with pytest.raises(td.InvalidNodeError) as ei:
        build({"head": "h", "bdy": "b"})
    check_message(ei.value, "Kw", "'page'", "'bdy'", "not a parameter", "did you mean 'body'?")
    with pytest.raises(td.InvalidNodeError) as ei:
        build({"head": "h"})
    check_message(ei.value, "Kw", "'page'", "'body'", "required parameter")
    with pytest.raises(td.UnknownDependencyError) as ei2:
        build({"head": "h", "body": "bb"})
    assert ei2.value.suggestion == "b"
    with pytest.raises(td.InvalidNodeError, match="lists dependency 'h' twice"):
        build({"head": "h", "body": "h"})

    async def positional_only(a: str, /) -> str:
        return a

    with pytest.raises(td.InvalidNodeError, match="positional-only"):
        td.DAG.from_nodes("P", [td.Node("n", positional_only, {"a": "x"})], inputs=["x"])


async def test_keyword_deps_reach_a_kwargs_function() -> None:
    async def anything(**kw: str) -> list[str]:
        return sorted(kw)

    dag = td.DAG.from_nodes("Any", [td.Node("n", anything, {"not an identifier": "x"})], ["x"])
    with trio.fail_after(5):
        assert (await dag.run({"x": "1"}))["n"] == ["not an identifier"]


# ------------------------------------------------------------------ after=


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_after_orders_without_passing_a_value(
    strategy: Any, autojump_clock: trio.testing.MockClock
) -> None:
    events: list[str] = []

    async def lint() -> None:
        await trio.sleep(5)
        events.append("lint")

    async def compile_c(src: str) -> str:
        events.append("compile")
        return src + ".o"

    dag = td.DAG.from_nodes(
        "Build",
        [
            td.Node("lint", lint),
            td.Node("compile", compile_c, ("src",), after=("lint",)),
        ],
        inputs=["src"],
    )
    assert dag.graph.dependencies("compile") == ("src", "lint")
    assert dag.graph.dependents("lint") == ("compile",)
    assert dag.graph.levels == (("lint",), ("compile",))
    assert "n0 -.-> n1" in dag.graph.to_mermaid()
    assert '"lint" -> "compile" [style=dashed];' in dag.graph.to_dot()
    with trio.fail_after(50):
        r = await dag.run({"src": "a.c"}, strategy=strategy)
    assert events == ["lint", "compile"]
    assert r["compile"] == "a.c.o"


async def test_after_in_a_class_body() -> None:
    events: list[str] = []

    class Build(td.DAG):
        @td.node
        async def migrate() -> None:
            await trio.lowlevel.checkpoint()
            events.append("migrate")

        @td.node(after=["migrate"])
        async def serve() -> str:
            events.append("serve")
            return "up"

    with trio.fail_after(5):
        assert (await Build.run())["serve"] == "up"
    assert events == ["migrate", "serve"]


async def test_a_failed_after_dependency_skips_the_node_and_resume_runs_it() -> None:
    fail = [True]

    async def lint() -> None:
        if fail[0]:
            raise Boom("style")

    async def build() -> str:
        return "built"

    dag = td.DAG.from_nodes("B", [td.Node("lint", lint), td.Node("build", build, after="lint")])
    with trio.fail_after(5), pytest.raises(td.RunFailed) as ei:
        await dag.run(on_failure="continue")
    assert ei.value.result.statuses["build"] is td.NodeStatus.SKIPPED
    fail[0] = False
    with trio.fail_after(5):
        r = await dag.resume(ei.value.result)
    assert r["build"] == "built"


def test_after_errors() -> None:
    async def one() -> int:
        return 1

    def build(*nodes: td.Node) -> type[td.DAG]:
        return td.DAG.from_nodes("A", [td.Node("lint", one), *nodes], inputs=["x"])

    with pytest.raises(td.UnknownDependencyError) as ei:
        build(td.Node("n", one, after=("lnt",)))
    check_message(ei.value, "A", "'n'", "'lnt'", "(in after=)", "is not a node", "'lint'")
    with pytest.raises(td.InvalidNodeError, match="lists input 'x' in after="):
        build(td.Node("n", one, after=("x",)))
    with pytest.raises(td.InvalidOptionError) as eo:
        build(td.Node("n", echo_one, ("lint",), after=("lint",)))
    assert eo.value.option == "after"
    check_message(eo.value, "A", "'n'", "already", "'lint'")
    with pytest.raises(td.InvalidOptionError, match="there twice"):
        build(td.Node("n", one, after=("lint", "lint")))
    with pytest.raises(td.InvalidOptionError, match="node names"):
        build(td.Node("n", one, after=(3,)))  # type: ignore[arg-type]
    with pytest.raises(td.CycleError) as ec:
        build(td.Node("n", one, after=("n",)))
    assert ec.value.cycle == ["n", "n"]


async def echo_one(a: Any) -> Any:
    return a


# --------------------------------------------------------- node options


async def test_options_directly_on_node(autojump_clock: trio.testing.MockClock) -> None:
    calls = {"flaky": 0}

    async def flaky(x: int) -> int:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise Boom("again")
        return x

    async def slow() -> int:
        await trio.sleep(100)
        return 0

    async def double(x: int) -> int:
        return 2 * x

    dag = td.DAG.from_nodes(
        "Opts",
        [
            td.Node("flaky", flaky, ("x",), retry=td.RetryPolicy(max_attempts=3, jitter="none")),
            td.Node("slow", slow, timeout=1.0),
            td.Node("doubled", double, {"x": "xs"}, map_over="x"),
            td.Node("doubled2", double, {"x": "xs"}, map_over="xs"),  # or the dep's name
        ],
        inputs=["x", "xs"],
    )
    with trio.fail_after(50), pytest.raises(td.RunFailed) as ei:
        await dag.run({"x": 7, "xs": [1, 2]}, on_failure="continue")
    r = ei.value.result
    assert r["flaky"] == 7
    assert r.attempts("flaky") == 3
    assert isinstance(r.errors["slow"], trio.TooSlowError)
    assert r["doubled"] == r["doubled2"] == [2, 4]


def test_node_option_errors() -> None:
    with pytest.raises(td.InvalidOptionError) as ei:
        td.DAG.from_nodes("O", [td.Node("n", echo_one, {"a": "x"}, map_over="b")], ["x"])
    check_message(ei.value, "O", "'n'", "map_over")
    with pytest.raises(td.InvalidOptionError, match="applies to map nodes only"):
        td.DAG.from_nodes(
            "O", [td.Node("n", echo_one, ("x",), on_element_failure="collect")], ["x"]
        )


# ---------------------------------------------------------------- extend


class Report(td.DAG):
    """A hand-written report."""

    day = td.input()
    supervisor = td.Supervisor(max_restarts=5, period=1.0)

    @td.node
    async def users(day: str) -> list[str]:
        return [f"ann@{day}", f"bob@{day}"]

    @td.node
    async def summary(users: list[str]) -> str:
        return ", ".join(users)


async def count(users: list[str]) -> int:
    return len(users)


async def line(summary: str, n: int, region: str) -> str:
    return f"{summary} ({n} in {region})"


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_extend_adds_generated_nodes_to_a_class_defined_dag(strategy: Any) -> None:
    Ext = Report.extend(
        "ReportPlus",
        [
            td.Node("count", count, ("users",)),
            td.Node("line", line, {"summary": "summary", "n": "count", "region": "region"}),
        ],
        inputs={"region": td.input(default="eu")},
    )
    assert Ext.graph.nodes == ("users", "summary", "count", "line")
    assert Ext.graph.inputs == ("day", "region")
    assert issubclass(Ext, Report)
    assert Ext.supervisor is Report.supervisor
    assert Ext.__name__ == "ReportPlus"
    assert Report.graph.nodes == ("users", "summary")  # unchanged
    with trio.fail_after(5):
        r = await Ext.run({"day": "d"}, strategy=strategy)
    assert r["line"] == "ann@d, bob@d (2 in eu)"
    assert r[Report.summary] == "ann@d, bob@d"  # the class's typed handles work on it


async def test_extend_an_extended_or_generated_dag() -> None:
    Ext = Report.extend("E1", [td.Node("count", count, ("users",))])
    Ext2 = Ext.extend("E2", [td.Node("twice", echo_one, ("count",))])
    Gen = td.DAG.from_nodes("G", [td.Node("a", fetch, ("u",))], ["u"])
    Gen2 = Gen.extend("G2", [td.Node("b", fetch, ("a",))])
    with trio.fail_after(5):
        assert (await Ext2.run({"day": "d"}))["twice"] == 2
        assert (await Gen2.run({"u": "x"}))["b"] == "<<x>>"


def test_made_dags_belong_to_the_callers_module_and_from_nodes_to_the_root() -> None:
    # from_nodes and extend live on DAG's base class: the class they make still
    # belongs to the module that called them (it pickles by that name), and
    # from_nodes makes a subclass of DAG itself, whichever DAG class it is called on.
    Gen = td.DAG.from_nodes("Gen", [td.Node("a", fetch, ("u",))], ["u"])
    Ext = Report.extend("Ext", [td.Node("count", count, ("users",))])
    Other = Report.from_nodes("Other", [td.Node("a", fetch, ("u",))], ["u"])
    assert (Gen.__module__, Ext.__module__, Other.__module__) == (__name__,) * 3
    assert Gen.__bases__ == Other.__bases__ == (td.DAG,)
    assert Ext.__bases__ == (Report,)


def test_extend_definition_errors() -> None:
    with pytest.raises(td.UnknownDependencyError) as ei:
        Report.extend("E", [td.Node("count", count, ("usres",))])
    assert ei.value.suggestion == "users"
    check_message(ei.value, "E", "'count'", "'usres'", "did you mean 'users'?")
    with pytest.raises(td.DuplicateNodeError, match="'summary' twice"):
        Report.extend("E", [td.Node("summary", count, ("users",))])
    with pytest.raises(td.DuplicateNodeError, match="input 'day' is declared by 'Report'"):
        Report.extend("E", [], inputs=["day"])
    with pytest.raises(td.InvalidNodeError, match="would shadow"):
        Report.extend("E", [td.Node("run", count, ("users",))])
    with pytest.raises(td.InvalidNodeError, match="non-empty string"):
        Report.extend("", [])
    with pytest.raises(td.CycleError):
        Report.extend("E", [td.Node("a", echo_one, ("b",)), td.Node("b", echo_one, ("a",))])
    Ext = Report.extend("E", [])
    with pytest.raises(td.DAGDefinitionError, match=r"E.extend\(name, nodes\)"):

        class Sub(Ext):  # type: ignore[valid-type, misc]
            pass


def test_node_repr_shows_keyword_deps_and_after() -> None:
    assert repr(td.Node("p", join, {"head": "a", "body": "b"}, after=("lint",))) == (
        "Node('p', deps={'head': 'a', 'body': 'b'}, after=('lint',))"
    )
    assert repr(td.Node("a", fetch, ("u",))) == "Node('a', deps=('u',))"


# ------------------------------------------- with composition and resources


async def test_included_nodes_keep_after_and_element_failure_options(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events: list[str] = []

    class Inner(td.DAG):
        xs = td.input()

        @td.node
        async def migrate() -> None:
            await trio.sleep(1)
            events.append("migrate")

        @td.node(after=("migrate",), map_over="xs", on_element_failure="collect")
        async def load(xs: int) -> int:
            events.append(f"load {xs}")
            if xs < 0:
                raise Boom("negative")
            return xs

    class Outer(td.DAG):
        xs = td.input()
        inner = td.include(Inner, inputs={"xs": "xs"})

    assert Outer.graph.dependencies("inner.load") == ("xs", "inner.migrate")
    with trio.fail_after(10):
        result = await Outer.run({"xs": [1, -1]})
    assert events[0] == "migrate"
    assert result["inner.load"] == [1]
    assert [e.index for e in result.element_errors("inner.load")] == [1]


async def test_extend_keeps_the_resources_of_the_dag_it_extends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @asynccontextmanager
    async def client() -> AsyncIterator[str]:
        yield "<client>"

    class WithClient(td.DAG):
        http = td.resource(client)

        @td.node
        async def page(http: str) -> str:
            return f"page via {http}"

    async def both(page: str, http: str) -> str:
        return f"{page}; {http}"

    Ext = WithClient.extend("Ext", [td.Node("both", both, ("page", "http"))])
    assert Ext.graph.resources == ("http",)
    with trio.fail_after(10):
        assert (await Ext.run())["both"] == "page via <client>; <client>"
