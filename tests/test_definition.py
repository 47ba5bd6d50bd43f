"""Definition-time checks and DSL semantics (issue "Foundation", sections 3 and 4).

Every invalid definition must fail when the ``class`` statement runs (or when
``DAG.from_nodes`` is called), with a subclass of ``td.DAGDefinitionError``
whose message names the DAG, the node and the bad value.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import types
from collections.abc import Callable
from typing import Any

import pytest
import trio

import trio_dag as td

# ----------------------------------------------------------------- helpers


async def _none() -> None:
    return None


async def _one(a: Any) -> Any:
    return a


async def _two(a: Any, b: Any) -> Any:
    return (a, b)


async def _one_or_two(a: Any, b: Any = 1) -> Any:
    return (a, b)


async def _star(*args: Any) -> int:
    return len(args)


def _dsl_dag(name: str, **members: Any) -> type[td.DAG]:
    """Build a DAG class whose body holds ``members`` (names a class body cannot spell)."""

    def body(ns: dict[str, Any]) -> None:
        for k, v in members.items():
            ns[k] = v

    return types.new_class(name, (td.DAG,), {}, body)


def _check_message(exc: td.DAGDefinitionError, dag: str, *parts: str) -> None:
    msg = str(exc)
    assert repr(dag) in msg, msg
    for p in parts:
        assert p in msg, f"{p!r} not in {msg!r}"
    assert exc.dag == dag


def _assert_real_cycle(cycle: list[str], deps: dict[str, tuple[str, ...]]) -> None:
    assert len(cycle) >= 2
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1
    for a, b in itertools.pairwise(cycle):
        assert b in deps[a], f"{a} does not depend on {b}"


# ------------------------------------------------------------------ cycles


def test_cycle_of_three_reports_the_path_as_data_and_text() -> None:
    with pytest.raises(td.CycleError) as ei:

        class Loop(td.DAG):
            @td.node
            async def a(b: Any) -> None: ...

            @td.node
            async def b(c: Any) -> None: ...

            @td.node
            async def c(a: Any) -> None: ...

    assert ei.value.cycle == ["a", "b", "c", "a"]
    _check_message(ei.value, "Loop", "a -> b -> c -> a")
    assert ei.value.node == "a"
    assert isinstance(ei.value, td.DAGDefinitionError)


def test_cycle_in_a_part_nothing_else_reaches() -> None:
    with pytest.raises(td.CycleError) as ei:

        class Island(td.DAG):
            x = td.input()

            @td.node
            async def root(x: Any) -> None: ...

            @td.node
            async def leaf(root: Any) -> None: ...

            @td.node
            async def a(b: Any) -> None: ...

            @td.node
            async def b(c: Any) -> None: ...

            @td.node
            async def c(a: Any) -> None: ...

            @td.node
            async def downstream(a: Any, leaf: Any) -> None: ...

    assert ei.value.cycle == ["a", "b", "c", "a"]
    _check_message(ei.value, "Island", "a -> b -> c -> a")


def test_cycle_with_downstream_node_defined_first_is_still_the_cycle_only() -> None:
    nodes = [
        td.Node("down", _one, deps=("b",)),
        td.Node("c", _one, deps=("a",)),
        td.Node("b", _one, deps=("c",)),
        td.Node("a", _one, deps=("b",)),
    ]
    with pytest.raises(td.CycleError) as ei:
        td.DAG.from_nodes("Rot", nodes)
    deps = {n.name: n.deps for n in nodes}
    _assert_real_cycle(ei.value.cycle, deps)
    assert "down" not in ei.value.cycle
    assert set(ei.value.cycle) == {"a", "b", "c"}
    # starts at the earliest-defined node of the cycle
    assert ei.value.cycle[0] == "c"
    _check_message(ei.value, "Rot", " -> ".join(ei.value.cycle))


def test_self_loop_by_parameter_name() -> None:
    with pytest.raises(td.CycleError) as ei:

        class Self(td.DAG):
            @td.node
            async def a(a: Any) -> None: ...

    assert ei.value.cycle == ["a", "a"]
    _check_message(ei.value, "Self", "a -> a")


def test_self_loop_by_get() -> None:
    with pytest.raises(td.CycleError) as ei:

        class SelfGet(td.DAG):
            @td.node
            async def a(me: Any = td.get("a")) -> None: ...

    assert ei.value.cycle == ["a", "a"]


def test_self_loop_from_nodes() -> None:
    with pytest.raises(td.CycleError) as ei:
        td.DAG.from_nodes("P", [td.Node("x", _none), td.Node("s", _one, deps=("s",))])
    assert ei.value.cycle == ["s", "s"]
    _check_message(ei.value, "P", "s -> s")


# ------------------------------------------------------ unknown dependency


def test_unknown_dependency_parameter_suggests_close_name() -> None:
    with pytest.raises(td.UnknownDependencyError) as ei:

        class Typo(td.DAG):
            @td.node
            async def users() -> None: ...

            @td.node
            async def summary(usres: Any) -> None: ...

    e = ei.value
    assert (e.node, e.dependency, e.suggestion) == ("summary", "usres", "users")
    _check_message(e, "Typo", "'summary'", "'usres'", "did you mean 'users'?")


def test_unknown_dependency_via_get_names_the_parameter() -> None:
    with pytest.raises(td.UnknownDependencyError) as ei:

        class TypoGet(td.DAG):
            day = td.input()

            @td.node
            async def summary(when: Any = td.get("dya")) -> None: ...

    e = ei.value
    assert (e.node, e.dependency, e.suggestion) == ("summary", "dya", "day")
    _check_message(e, "TypoGet", "'summary'", "'dya'", "'when'", "did you mean 'day'?")


def test_unknown_dependency_without_close_match_has_no_suggestion() -> None:
    with pytest.raises(td.UnknownDependencyError) as ei:

        class Far(td.DAG):
            @td.node
            async def users() -> None: ...

            @td.node
            async def summary(zzzzzz: Any) -> None: ...

    assert ei.value.suggestion is None
    assert "did you mean" not in str(ei.value)


def test_unknown_dependency_never_suggests_the_node_itself() -> None:
    with pytest.raises(td.UnknownDependencyError) as ei:

        class Selfish(td.DAG):
            @td.node
            async def users(user: Any) -> None: ...

    assert ei.value.suggestion is None
    assert "did you mean" not in str(ei.value)
    with pytest.raises(td.UnknownDependencyError) as ei:
        td.DAG.from_nodes(
            "Gen", [td.Node("users", _one, deps=("user",)), td.Node("usera", _one, deps=("x",))]
        )
    assert ei.value.suggestion == "usera"


def test_unknown_dependency_from_nodes() -> None:
    with pytest.raises(td.UnknownDependencyError) as ei:
        td.DAG.from_nodes(
            "Gen", [td.Node("users", _none), td.Node("s", _one, deps=("usr",))], inputs=("x",)
        )
    e = ei.value
    assert (e.node, e.dependency, e.suggestion) == ("s", "usr", "users")
    _check_message(e, "Gen", "'s'", "'usr'", "did you mean 'users'?")


# -------------------------------------------------------------- duplicates


def test_redefined_async_def_in_class_body() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:

        class Twice(td.DAG):
            @td.node
            async def a() -> None: ...

            @td.node  # type: ignore[no-redef]
            async def a() -> None: ...  # noqa: F811

    assert ei.value.node == "a"
    _check_message(ei.value, "Twice", "'a'", "twice")


def test_node_redefined_without_the_decorator_is_not_silently_dropped() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:

        class Forgot(td.DAG):
            @td.node
            async def a() -> None: ...

            async def a() -> None: ...  # type: ignore[no-redef]  # noqa: F811

    assert ei.value.node == "a"
    _check_message(ei.value, "Forgot", "'a' twice", "function")


def test_helper_redefined_as_a_node_is_fine() -> None:
    class Helper(td.DAG):
        async def a() -> int:  # type: ignore[misc]
            return 0

        a = td.node(a)

    assert Helper.graph.nodes == ("a",)


def test_same_node_object_under_two_names() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:

        class Alias(td.DAG):
            @td.node
            async def a() -> None: ...

            b = a

    _check_message(ei.value, "Alias", "'a'", "'b'")


def test_same_inherited_node_object_under_a_new_name() -> None:
    class Base(td.DAG):
        @td.node
        async def a() -> None: ...

    with pytest.raises(td.DuplicateNodeError) as ei:

        class Child(Base):
            b = Base.a

    _check_message(ei.value, "Child", "'a'", "'b'")


def test_duplicate_names_in_from_nodes() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:
        td.DAG.from_nodes("Gen", [td.Node("a", _none), td.Node("b", _none), td.Node("a", _none)])
    assert ei.value.node == "a"
    _check_message(ei.value, "Gen", "'a'", "twice")


def test_duplicate_inputs_in_from_nodes() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:
        td.DAG.from_nodes("Gen", [], inputs=("x", "y", "x"))
    _check_message(ei.value, "Gen", "'x'")


def test_node_named_like_an_input_in_class_body() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:

        class Clash(td.DAG):
            a = td.input()

            @td.node  # type: ignore[no-redef]
            async def a() -> None: ...  # noqa: F811

    _check_message(ei.value, "Clash", "'a'")


def test_input_named_like_a_node_in_class_body() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:

        class Clash2(td.DAG):
            @td.node
            async def a() -> None: ...

            a = td.input()  # type: ignore[no-redef]  # noqa: F811

    _check_message(ei.value, "Clash2", "'a'")


@pytest.mark.parametrize("inputs", [("a",), {"a": td.input(default=1)}])
def test_node_named_like_an_input_in_from_nodes(inputs: Any) -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:
        td.DAG.from_nodes("Gen", [td.Node("a", _none)], inputs=inputs)
    _check_message(ei.value, "Gen", "'a'", "input")


# ------------------------------------------------------------------- names


@pytest.mark.parametrize("bad", ["", 5, None, b"a"])
def test_from_nodes_rejects_empty_or_non_string_node_names(bad: Any) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Gen", [td.Node(bad, _none)])
    _check_message(ei.value, "Gen", repr(bad))


@pytest.mark.parametrize("bad", ["", 5])
def test_from_nodes_rejects_empty_or_non_string_input_names(bad: Any) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Gen", [], inputs=(bad,))
    _check_message(ei.value, "Gen", repr(bad))


@pytest.mark.parametrize("bad", ["", 7, None])
def test_from_nodes_rejects_bad_dag_name(bad: Any) -> None:
    with pytest.raises(td.InvalidNodeError, match=re.escape(repr(bad))):
        td.DAG.from_nodes(bad, [])


def test_from_nodes_rejects_non_node_items() -> None:
    with pytest.raises(td.InvalidNodeError, match=r"'Gen'.*'oops'"):
        td.DAG.from_nodes("Gen", ["oops"])  # type: ignore[list-item]


def test_from_nodes_rejects_non_string_deps() -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Gen", [td.Node("a", _none), td.Node("b", _one, deps=(3,))])  # type: ignore[arg-type]
    _check_message(ei.value, "Gen", "'b'", "3")


def test_from_nodes_rejects_input_mapping_values_that_are_not_inputs() -> None:
    with pytest.raises(td.DAGDefinitionError) as ei:
        td.DAG.from_nodes("Gen", [], inputs={"x": 5})  # type: ignore[dict-item]
    _check_message(ei.value, "Gen", "'x'", "5")


def test_from_nodes_accepts_names_that_are_not_identifiers() -> None:
    G = td.DAG.from_nodes("Gen", [td.Node("load-users", _one, deps=("the day",))], ["the day"])
    assert G.graph.nodes == ("load-users",)
    assert G.graph.inputs == ("the day",)
    assert G.run_sync({"the day": 3})["load-users"] == 3


def test_class_dsl_rejects_non_identifier_node_name() -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        _dsl_dag("Odd", **{"bad-name": td.node(_none)})
    assert ei.value.node == "bad-name"
    _check_message(ei.value, "Odd", "'bad-name'", "identifier")


def test_class_dsl_rejects_non_identifier_input_name() -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        _dsl_dag("Odd", **{"1st": td.input()})
    _check_message(ei.value, "Odd", "'1st'", "identifier")


def test_class_dsl_rejects_empty_node_name() -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        _dsl_dag("Empty", **{"": td.node(_none)})
    _check_message(ei.value, "Empty", "''")


RESERVED = ["run", "graph", "resume", "run_sync", "from_nodes", "supervisor", "stream"]


@pytest.mark.parametrize("name", RESERVED)
def test_class_dsl_rejects_node_named_like_dag_api(name: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        _dsl_dag("Api", **{name: td.node(_none)})
    assert ei.value.node == name
    _check_message(ei.value, "Api", repr(name), "API")


@pytest.mark.parametrize("name", RESERVED)
def test_class_dsl_rejects_input_named_like_dag_api(name: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        _dsl_dag("Api", **{name: td.input()})
    _check_message(ei.value, "Api", repr(name), "API")


@pytest.mark.parametrize("name", RESERVED)
def test_from_nodes_rejects_names_of_dag_api(name: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Api", [td.Node(name, _none)])
    _check_message(ei.value, "Api", repr(name))
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Api", [], inputs=(name,))
    _check_message(ei.value, "Api", repr(name))


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
    return _none()


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
    ("lambda", lambda: _none(), "async"),
    ("class with async __call__", _AsyncCall, "async"),
]


@pytest.mark.parametrize(("what", "fn", "says"), NOT_ASYNC, ids=[w for w, _, _ in NOT_ASYNC])
def test_class_dsl_rejects_non_async_nodes(what: str, fn: Any, says: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        _dsl_dag("Sync", n=td.node(fn))
    assert ei.value.node == "n"
    _check_message(ei.value, "Sync", "'n'", says)


@pytest.mark.parametrize(("what", "fn", "says"), NOT_ASYNC, ids=[w for w, _, _ in NOT_ASYNC])
def test_from_nodes_rejects_non_async_nodes(what: str, fn: Any, says: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Sync", [td.Node("n", fn)])
    _check_message(ei.value, "Sync", "'n'", says)


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
    Dsl = _dsl_dag("Ok", **{param: td.input(), "n": td.node(fn)})
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
        _dsl_dag("Params", a=td.input(), n=td.node(fn))
    _check_message(ei.value, "Params", "'n'", says)


@pytest.mark.parametrize(
    ("fn", "deps", "says"),
    [
        (_two, ("a",), "lists 1 deps ['a'], but its function takes 2 positional"),
        (_one, ("a", "b"), "takes 1 positional"),
        (_none, ("a",), "takes 0 positional"),
        (_one_or_two, ("a", "b", "c"), "takes 1 to 2 positional"),
    ],
)
def test_from_nodes_deps_must_fit_the_signature(
    fn: Callable[..., Any], deps: tuple[str, ...], says: str
) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Arity", [td.Node("n", fn, deps=deps)], inputs=("a", "b", "c"))
    _check_message(ei.value, "Arity", "'n'", says)


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
    _check_message(ei.value, "Kw", "'n'", "'k'")


def test_same_dependency_twice_in_class_body() -> None:
    with pytest.raises(td.InvalidNodeError) as ei:

        class Twice(td.DAG):
            a = td.input()

            @td.node
            async def n(a: Any, again: Any = td.get("a")) -> None: ...

    _check_message(ei.value, "Twice", "'n'", "'a' twice")


def test_same_dependency_twice_in_from_nodes() -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        td.DAG.from_nodes("Twice", [td.Node("n", _two, deps=("a", "a"))], inputs=("a",))
    _check_message(ei.value, "Twice", "'n'", "'a' twice")


# ----------------------------------------------------------------- options

BAD_OPTIONS: list[tuple[str, Any]] = [
    ("timeout", 0),
    ("timeout", -1),
    ("timeout", -0.5),
    ("timeout", math.nan),
    ("timeout", math.inf),
    ("timeout", True),
    ("timeout", "x"),
    ("retry", 0),
    ("retry", -2),
    ("retry", True),
    ("retry", "x"),
    ("retry", 2.0),
    ("map_over", "zz"),
    ("map_over", 3),
]


@pytest.mark.parametrize(("option", "value"), BAD_OPTIONS)
def test_class_dsl_rejects_bad_option_values(option: str, value: Any) -> None:
    with pytest.raises(td.InvalidOptionError) as ei:

        class Opts(td.DAG):
            a = td.input()

            @td.node(**{option: value})
            async def n(a: Any) -> None: ...

    e = ei.value
    assert (e.node, e.option) == ("n", option)
    assert e.value is value
    assert isinstance(e, ValueError)
    _check_message(e, "Opts", "'n'", option, repr(value))


@pytest.mark.parametrize(("option", "value"), BAD_OPTIONS)
def test_from_nodes_rejects_bad_option_values(option: str, value: Any) -> None:
    with pytest.raises(td.InvalidOptionError) as ei:
        td.DAG.from_nodes("Opts", [td.Node("n", _one, deps=("a",), **{option: value})], ["a"])
    e = ei.value
    assert (e.node, e.option) == ("n", option)
    _check_message(e, "Opts", "'n'", option, repr(value))


def test_map_over_naming_a_parameter_that_keeps_its_default_is_rejected() -> None:
    with pytest.raises(td.InvalidOptionError, match=r"map_over='b'.*\(a\)"):

        class M(td.DAG):
            a = td.input()

            @td.node(map_over="b")
            async def n(a: Any, b: Any = (1, 2)) -> None: ...


def test_good_option_values_are_accepted_and_normalised() -> None:
    class Opts(td.DAG):
        xs = td.input()

        @td.node(timeout=2, retry=3, map_over="items")
        async def n(items: Any = td.get("xs")) -> Any:
            return items * 2

    spec = Opts.graph._specs[0]
    assert spec.timeout == 2.0
    assert isinstance(spec.timeout, float)
    assert spec.retry == td.RetryPolicy(max_attempts=3)
    assert Opts.run_sync({"xs": [1, 2]})["n"] == [2, 4]


def test_unknown_option_to_node_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"'retries'.*retry, timeout, map_over"):
        td.node(retries=3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="'retries'"):
        td.node(_none, retries=3)  # type: ignore[call-overload]


def test_node_applied_twice_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="already a node"):
        td.node(td.node(_none))


@pytest.mark.parametrize("bad", ["", 3, None])
def test_get_needs_a_name(bad: Any) -> None:
    with pytest.raises(TypeError, match=re.escape(repr(bad))):
        td.get(bad)


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
    nd = td.Node("n", _one, deps="a")  # a lone string is one dependency
    assert nd.deps == ("a",)
    assert repr(nd) == "Node('n', deps=('a',))"


def test_from_nodes_single_input_string_and_supervisor() -> None:
    sup = td.Supervisor(strategy="one_for_all")
    G = td.DAG.from_nodes("One", [td.Node("n", _one, deps=("day",))], "day", supervisor=sup)
    assert G.graph.inputs == ("day",)
    assert G.supervisor is sup
    assert G.__name__ == "One"
    assert issubclass(G, td.DAG)
    assert G.run_sync({"day": 4})["n"] == 4
    with pytest.raises(td.InputError, match="'day'"):
        G.run_sync()
