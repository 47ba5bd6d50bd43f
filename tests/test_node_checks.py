"""What a node may be: its name, an async callable, parameters that can be dependencies.

Both front doors (the class body and ``DAG.from_nodes``) refuse a bad node when
the DAG is defined, with a ``td.InvalidNodeError`` naming the DAG and the node.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import pytest
import trio

import trio_dag as td
from conftest import check_message, dsl_dag, echo, nothing

# ----------------------------------------------------------------- helpers


async def _two(a: Any, b: Any) -> Any:
    return (a, b)


async def _one_or_two(a: Any, b: Any = 1) -> Any:
    return (a, b)


async def _star(*args: Any) -> int:
    return len(args)


# ------------------------------------------------------------------- names


@pytest.mark.parametrize("bad", ["", 5, None, b"a"])
def test_from_nodes_rejects_empty_or_non_string_node_names(bad: Any) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Gen", [td.Node(bad, nothing)])
    check_message(ei.value, "Gen", repr(bad))


@pytest.mark.parametrize("bad", ["", 5])
def test_from_nodes_rejects_empty_or_non_string_input_names(bad: Any) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Gen", [], inputs=(bad,))
    check_message(ei.value, "Gen", repr(bad))


@pytest.mark.parametrize("bad", ["", 7, None])
def test_from_nodes_rejects_bad_dag_name(bad: Any) -> None:
    with pytest.raises(td.InvalidNodeError, match=re.escape(repr(bad))):
        td.DAG.from_nodes(bad, [])


def test_from_nodes_rejects_non_node_items() -> None:
    with pytest.raises(td.InvalidNodeError, match=r"'Gen'.*'oops'"):
        td.DAG.from_nodes("Gen", ["oops"])  # type: ignore[list-item]


def test_from_nodes_rejects_non_string_deps() -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Gen", [td.Node("a", nothing), td.Node("b", echo, deps=(3,))])  # type: ignore[arg-type]
    check_message(ei.value, "Gen", "'b'", "3")


def test_from_nodes_rejects_input_mapping_values_that_are_not_inputs() -> None:
    with pytest.raises(td.DAGDefinitionError) as ei:
        td.DAG.from_nodes("Gen", [], inputs={"x": 5})  # type: ignore[dict-item]
    check_message(ei.value, "Gen", "'x'", "5")


def test_from_nodes_accepts_names_that_are_not_identifiers() -> None:
    G = td.DAG.from_nodes("Gen", [td.Node("load-users", echo, deps=("the day",))], ["the day"])
    assert G.graph.nodes == ("load-users",)
    assert G.graph.inputs == ("the day",)
    assert G.run_sync({"the day": 3})["load-users"] == 3


def test_class_dsl_rejects_non_identifier_node_name() -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        dsl_dag("Odd", **{"bad-name": td.node(nothing)})
    assert ei.value.node == "bad-name"
    check_message(ei.value, "Odd", "'bad-name'", "identifier")


def test_class_dsl_rejects_non_identifier_input_name() -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        dsl_dag("Odd", **{"1st": td.input()})
    check_message(ei.value, "Odd", "'1st'", "identifier")


def test_class_dsl_rejects_empty_node_name() -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        dsl_dag("Empty", **{"": td.node(nothing)})
    check_message(ei.value, "Empty", "''")


RESERVED = ["run", "graph", "resume", "run_sync", "from_nodes", "supervisor", "stream"]


@pytest.mark.parametrize("name", RESERVED)
def test_class_dsl_rejects_node_named_like_dag_api(name: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        dsl_dag("Api", **{name: td.node(nothing)})
    assert ei.value.node == name
    check_message(ei.value, "Api", repr(name), "API")


@pytest.mark.parametrize("name", RESERVED)
def test_class_dsl_rejects_input_named_like_dag_api(name: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        dsl_dag("Api", **{name: td.input()})
    check_message(ei.value, "Api", repr(name), "API")


@pytest.mark.parametrize("name", RESERVED)
def test_from_nodes_rejects_names_of_dag_api(name: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Api", [td.Node(name, nothing)])
    check_message(ei.value, "Api", repr(name))
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Api", [], inputs=(name,))
    check_message(ei.value, "Api", repr(name))


def test_node_named_run_in_class_body_is_rejected() -> None:
    with pytest.raises(td.InvalidNodeError, match="'run'"):

        class Shadow(td.DAG):
            @td.node
            async def run() -> None: ...  # type: ignore[override]


def test_non_supervisor_in_class_body_is_rejected() -> None:
    with pytest.raises(td.DAGDefinitionError, match=r"'Sup'.*supervisor.*'one_for_all'"):

        class Sup(td.DAG):
            supervisor = "one_for_all"  # type: ignore[assignment]


def test_from_nodes_rejects_non_supervisor() -> None:
    with pytest.raises(td.DAGDefinitionError, match=r"'Gen'.*supervisor"):
        td.DAG.from_nodes("Gen", [], supervisor="one_for_all")  # type: ignore[arg-type]


# --------------------------------------------------------------- not async


def _plain() -> int:
    return 1


def _returns_coroutine() -> Any:
    return nothing()


async def _agen() -> Any:
    yield 1


class _SyncCall:
    def __call__(self) -> int:
        return 1


class _AsyncCall:
    async def __call__(self, x: Any) -> Any:
        return ("called", x)


NOT_ASYNC: list[tuple[str, Any, str]] = [
    ("plain def", _plain, "async"),
    ("sync returning a coroutine", _returns_coroutine, "async"),
    ("async generator", _agen, "async generator"),
    ("non-callable", 42, "42"),
    ("sync __call__", _SyncCall(), "async"),
    ("lambda", lambda: nothing(), "async"),
    ("class with async __call__", _AsyncCall, "async"),
]


@pytest.mark.parametrize(("what", "fn", "says"), NOT_ASYNC, ids=[w for w, _, _ in NOT_ASYNC])
def test_class_dsl_rejects_non_async_nodes(what: str, fn: Any, says: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        dsl_dag("Sync", n=td.node(fn))
    assert ei.value.node == "n"
    check_message(ei.value, "Sync", "'n'", says)


@pytest.mark.parametrize(("what", "fn", "says"), NOT_ASYNC, ids=[w for w, _, _ in NOT_ASYNC])
def test_from_nodes_rejects_non_async_nodes(what: str, fn: Any, says: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Sync", [td.Node("n", fn)])
    check_message(ei.value, "Sync", "'n'", says)


def test_plain_def_in_class_body_is_rejected() -> None:
    with pytest.raises(td.InvalidNodeError, match=r"'n' of DAG 'Sync'.*async"):

        class Sync(td.DAG):
            @td.node
            def n() -> int:
                return 1


@pytest.mark.parametrize(
    "fn", [_AsyncCall(), functools.partial(_two, b=10)], ids=["async __call__", "partial"]
)
async def test_async_callable_objects_and_partials_are_accepted(fn: Any) -> None:
    # the DSL reads the callable's signature: one dependency, named after its parameter
    param = "x" if isinstance(fn, _AsyncCall) else "a"
    Dsl = dsl_dag("Ok", **{param: td.input(), "n": td.node(fn)})
    assert Dsl.graph.dependencies("n") == (param,)
    P = td.DAG.from_nodes("Ok", [td.Node("n", fn, deps=("v",))], inputs=("v",))
    with trio.fail_after(5):
        r1 = await Dsl.run({param: 5})
        r2 = await P.run({"v": 5})
    expected = ("called", 5) if isinstance(fn, _AsyncCall) else (5, 10)
    assert r1["n"] == r2["n"] == expected


# -------------------------------------------------------- parameter shapes


async def _varargs(*args: Any) -> None: ...
async def _varkw(**kw: Any) -> None: ...
async def _posonly(a: Any, /) -> None: ...


@pytest.mark.parametrize(
    ("fn", "says"),
    [(_varargs, "*args"), (_varkw, "**kw"), (_posonly, "positional-only parameter 'a'")],
    ids=["*args", "**kwargs", "positional-only"],
)
def test_class_dsl_rejects_star_and_positional_only_parameters(fn: Any, says: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        dsl_dag("Params", a=td.input(), n=td.node(fn))
    check_message(ei.value, "Params", "'n'", says)


@pytest.mark.parametrize(
    ("fn", "deps", "says"),
    [
        (_two, ("a",), "lists 1 deps ['a'], but its function takes 2 positional"),
        (echo, ("a", "b"), "takes 1 positional"),
        (nothing, ("a",), "takes 0 positional"),
        (_one_or_two, ("a", "b", "c"), "takes 1 to 2 positional"),
    ],
)
def test_from_nodes_deps_must_fit_the_signature(
    fn: Callable[..., Any], deps: tuple[str, ...], says: str
) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Arity", [td.Node("n", fn, deps=deps)], inputs=("a", "b", "c"))
    check_message(ei.value, "Arity", "'n'", says)


def test_from_nodes_deps_fit_defaults_and_varargs() -> None:
    G = td.DAG.from_nodes(
        "Arity",
        [
            td.Node("short", _one_or_two, deps=("a",)),
            td.Node("full", _one_or_two, deps=("a", "b")),
            td.Node("many", _star, deps=("a", "b", "c")),
            td.Node("none", _star),
        ],
        inputs=("a", "b", "c"),
    )
    r = G.run_sync({"a": 1, "b": 2, "c": 3})
    assert dict(r) == {"short": (1, 1), "full": (1, 2), "many": 3, "none": 0}


def test_from_nodes_rejects_required_keyword_only_parameter() -> None:
    async def kwonly(a: Any, *, k: Any) -> None: ...

    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Kw", [td.Node("n", kwonly, deps=("a",))], inputs=("a",))
    check_message(ei.value, "Kw", "'n'", "'k'")


def test_same_dependency_twice_in_class_body() -> None:
    with pytest.raises(td.InvalidNodeError) as ei:

        class Twice(td.DAG):
            a = td.input()

            @td.node
            async def n(a: Any, again: Any = td.get("a")) -> None: ...

    check_message(ei.value, "Twice", "'n'", "'a' twice")


def test_same_dependency_twice_in_from_nodes() -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Twice", [td.Node("n", _two, deps=("a", "a"))], inputs=("a",))
    check_message(ei.value, "Twice", "'n'", "'a' twice")
