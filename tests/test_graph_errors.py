"""A graph that cannot exist: dependency cycles, unknown dependencies, duplicate names.

Every invalid definition must fail when the ``class`` statement runs (or when
``DAG.from_nodes`` is called), with a subclass of ``td.DAGDefinitionError``
whose message names the DAG, the node and the bad value.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import trio_dag as td
from conftest import check_message, echo, nothing

# ----------------------------------------------------------------- helpers


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
    check_message(ei.value, "Loop", "a -> b -> c -> a")
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
    check_message(ei.value, "Island", "a -> b -> c -> a")


def test_cycle_with_downstream_node_defined_first_is_still_the_cycle_only() -> None:
    nodes = [
        td.Node("down", echo, deps=("b",)),
        td.Node("c", echo, deps=("a",)),
        td.Node("b", echo, deps=("c",)),
        td.Node("a", echo, deps=("b",)),
    ]
    with pytest.raises(td.CycleError) as ei:
        td.DAG.from_nodes("Rot", nodes)
    deps = {n.name: n.deps for n in nodes}
    _assert_real_cycle(ei.value.cycle, deps)
    assert "down" not in ei.value.cycle
    assert set(ei.value.cycle) == {"a", "b", "c"}
    # starts at the earliest-defined node of the cycle
    assert ei.value.cycle[0] == "c"
    check_message(ei.value, "Rot", " -> ".join(ei.value.cycle))


def test_self_loop_by_parameter_name() -> None:
    with pytest.raises(td.CycleError) as ei:

        class Self(td.DAG):
            @td.node
            async def a(a: Any) -> None: ...

    assert ei.value.cycle == ["a", "a"]
    check_message(ei.value, "Self", "a -> a")


def test_self_loop_by_get() -> None:
    with pytest.raises(td.CycleError) as ei:

        class SelfGet(td.DAG):
            @td.node
            async def a(me: Any = td.get("a")) -> None: ...

    assert ei.value.cycle == ["a", "a"]


def test_self_loop_from_nodes() -> None:
    with pytest.raises(td.CycleError) as ei:
        td.DAG.from_nodes("P", [td.Node("x", nothing), td.Node("s", echo, deps=("s",))])
    assert ei.value.cycle == ["s", "s"]
    check_message(ei.value, "P", "s -> s")


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
    check_message(e, "Typo", "'summary'", "'usres'", "did you mean 'users'?")


def test_unknown_dependency_via_get_names_the_parameter() -> None:
    with pytest.raises(td.UnknownDependencyError) as ei:

        class TypoGet(td.DAG):
            day = td.input()

            @td.node
            async def summary(when: Any = td.get("dya")) -> None: ...

    e = ei.value
    assert (e.node, e.dependency, e.suggestion) == ("summary", "dya", "day")
    check_message(e, "TypoGet", "'summary'", "'dya'", "'when'", "did you mean 'day'?")


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
            "Gen", [td.Node("users", echo, deps=("user",)), td.Node("usera", echo, deps=("x",))]
        )
    assert ei.value.suggestion == "usera"


def test_unknown_dependency_from_nodes() -> None:
    with pytest.raises(td.UnknownDependencyError) as ei:
        td.DAG.from_nodes(
            "Gen", [td.Node("users", nothing), td.Node("s", echo, deps=("usr",))], inputs=("x",)
        )
    e = ei.value
    assert (e.node, e.dependency, e.suggestion) == ("s", "usr", "users")
    check_message(e, "Gen", "'s'", "'usr'", "did you mean 'users'?")


# -------------------------------------------------------------- duplicates


def test_redefined_async_def_in_class_body() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:

        class Twice(td.DAG):
            @td.node
            async def a() -> None: ...

            @td.node  # type: ignore[no-redef]
            async def a() -> None: ...  # noqa: F811

    assert ei.value.node == "a"
    check_message(ei.value, "Twice", "'a'", "twice")


def test_node_redefined_without_the_decorator_is_not_silently_dropped() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:

        class Forgot(td.DAG):
            @td.node
            async def a() -> None: ...

            async def a() -> None: ...  # type: ignore[no-redef]  # noqa: F811

    assert ei.value.node == "a"
    check_message(ei.value, "Forgot", "'a' twice", "function")


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

    check_message(ei.value, "Alias", "'a'", "'b'")


def test_same_inherited_node_object_under_a_new_name() -> None:
    class Base(td.DAG):
        @td.node
        async def a() -> None: ...

    with pytest.raises(td.DuplicateNodeError) as ei:

        class Child(Base):
            b = Base.a

    check_message(ei.value, "Child", "'a'", "'b'")


def test_duplicate_names_in_from_nodes() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:
        td.DAG.from_nodes(
            "Gen", [td.Node("a", nothing), td.Node("b", nothing), td.Node("a", nothing)]
        )
    assert ei.value.node == "a"
    check_message(ei.value, "Gen", "'a'", "twice")


def test_duplicate_inputs_in_from_nodes() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:
        td.DAG.from_nodes("Gen", [], inputs=("x", "y", "x"))
    check_message(ei.value, "Gen", "'x'")


def test_node_named_like_an_input_in_class_body() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:

        class Clash(td.DAG):
            a = td.input()

            @td.node  # type: ignore[no-redef]
            async def a() -> None: ...  # noqa: F811

    check_message(ei.value, "Clash", "'a'")


def test_input_named_like_a_node_in_class_body() -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:

        class Clash2(td.DAG):
            @td.node
            async def a() -> None: ...

            a = td.input()  # type: ignore[no-redef]  # noqa: F811

    check_message(ei.value, "Clash2", "'a'")


@pytest.mark.parametrize("inputs", [("a",), {"a": td.input(default=1)}])
def test_node_named_like_an_input_in_from_nodes(inputs: Any) -> None:
    with pytest.raises(td.DuplicateNodeError) as ei:
        td.DAG.from_nodes("Gen", [td.Node("a", nothing)], inputs=inputs)
    check_message(ei.value, "Gen", "'a'", "input")
