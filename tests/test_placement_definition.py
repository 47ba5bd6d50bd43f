"""Placed nodes at definition time (issue 11): ``run_in=``, ``limiter=``, ``chunk_size=``.

A plain ``def`` node is legal exactly when it has ``run_in``; every bad value
is an :class:`~trio_dag.InvalidOptionError` naming the node, the option and
the value, raised when the class statement runs (or ``from_nodes`` is called).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import trio_dag as td
from conftest import check_message, dsl_dag, echo, nothing


def _sync(a: Any) -> Any:
    return a


def _gen(a: Any) -> Any:
    yield a


async def _agen(a: Any) -> Any:
    yield a


class _AsyncCall:
    async def __call__(self, a: Any) -> Any:
        return a


class _SyncCall:
    def __call__(self, a: Any) -> Any:
        return a


def test_a_def_node_without_run_in_says_how_to_fix_it() -> None:
    with pytest.raises(td.InvalidNodeError) as info:
        dsl_dag("Sync", a=td.input(), n=td.node(_sync))
    check_message(info.value, "Sync", "'n'", "'async def'", "run_in=trio_dag.InThread()")
    with pytest.raises(td.InvalidNodeError, match=r"run_in=trio_dag\.InProcess\(\)"):
        td.DAG.from_nodes("Gen", [td.Node("n", _sync, deps=("a",))], inputs=("a",))


@pytest.mark.parametrize(
    ("fn", "says"),
    [
        (echo, "is async but has run_in="),
        (_AsyncCall(), "is async but has run_in="),
        (_agen, "async generator"),
        (_gen, "generator function"),
        (42, "must be a plain function ('def'), got 42"),
    ],
    ids=["async def", "async __call__", "async generator", "generator", "not callable"],
)
def test_a_placed_node_must_be_a_plain_function(fn: Any, says: str) -> None:
    with pytest.raises(td.InvalidNodeError) as info:
        dsl_dag("Placed", a=td.input(), n=td.node(run_in=td.InThread())(fn))
    assert info.value.node == "n"
    check_message(info.value, "Placed", "'n'", says)
    with pytest.raises(td.InvalidNodeError, match=re.escape(says)):
        td.DAG.from_nodes("Gen", [td.Node("n", fn, deps=("a",), run_in="t")], inputs=("a",))


@pytest.mark.parametrize(
    "fn", [_sync, _SyncCall(), lambda a: a], ids=["def", "sync __call__", "lambda"]
)
def test_placed_sync_callables_are_accepted_by_both_front_doors(fn: Any) -> None:
    D = dsl_dag("Ok", a=td.input(), n=td.node(run_in="pool")(fn))
    G = td.DAG.from_nodes("Ok", [td.Node("n", fn, deps=("a",), run_in="pool")], inputs=("a",))
    for dag in (D, G):
        spec = dag.graph._specs[0]
        assert spec.run_in == "pool"
        assert dag.graph._placement_names == frozenset({"pool"})
        assert dag.graph._plain == (False,)


def test_one_function_may_serve_placed_and_unplaced_generated_nodes() -> None:
    # the signature cache of from_nodes is per (function, placed)
    with pytest.raises(td.InvalidNodeError, match=r"'b'.*'async def'"):
        td.DAG.from_nodes(
            "Mixed",
            [td.Node("a", _sync, deps=("x",), run_in="t"), td.Node("b", _sync, ("x",))],
            ["x"],
        )


BAD: list[tuple[dict[str, Any], str, str, type[Exception]]] = [
    ({"run_in": 3}, "run_in", "run_in must be a placement", TypeError),
    ({"run_in": " "}, "run_in", "run_in must be a non-empty placement name", ValueError),
    ({"run_in": td.InThread, "map_over": "a"}, "run_in", "run_in must be a placement", TypeError),
    ({"run_in": "t", "limiter": ""}, "limiter", "limiter must be the name of a limit", ValueError),
    ({"run_in": "t", "limiter": 4}, "limiter", "own limiter=", TypeError),
    ({"run_in": "t", "map_over": "a", "chunk_size": 0}, "chunk_size", ">= 1, got 0", ValueError),
    ({"run_in": "t", "map_over": "a", "chunk_size": True}, "chunk_size", "got True", TypeError),
    ({"run_in": "t", "chunk_size": 5}, "chunk_size", "needs map_over=", ValueError),
]


@pytest.mark.parametrize(
    ("options", "option", "says", "kind"), BAD, ids=[f"{o}-{s}" for _, o, s, _ in BAD]
)
def test_bad_placement_options_name_node_option_and_value(
    options: dict[str, Any], option: str, says: str, kind: type[Exception]
) -> None:
    with pytest.raises(td.InvalidOptionError) as info:
        dsl_dag("Opts", a=td.input(), n=td.node(**options)(_sync))
    e = info.value
    assert isinstance(e, kind)
    assert isinstance(e, td.DAGDefinitionError)
    assert (e.node, e.option) == ("n", option)
    check_message(e, "Opts", "'n'", says)
    with pytest.raises(td.InvalidOptionError, match=re.escape(says)):
        td.DAG.from_nodes("Opts", [td.Node("n", _sync, deps=("a",), **options)], inputs=("a",))


def test_chunk_size_needs_a_placement_too() -> None:
    with pytest.raises(td.InvalidOptionError, match=r"chunk_size=3 needs run_in="):

        class Chunk(td.DAG):
            xs = td.input()

            @td.node(map_over="xs", chunk_size=3)
            async def n(xs: Any) -> Any:
                return xs


def test_options_are_stored_in_the_graph() -> None:
    thread = td.InThread()

    class Stored(td.DAG):
        xs = td.input()

        @td.node(run_in=thread, map_over="xs", chunk_size=10, limiter="db")
        def a(xs: int) -> int:
            return xs

        @td.node(limiter="db")
        async def b(a: list[int]) -> int:
            return len(a)

        @td.node
        async def c(b: int) -> int:
            return b

    g = Stored.graph
    assert g._placements == (thread, None, None)
    assert g._limiters == ("db", "db", None)
    assert g._chunks == (10, None, None)
    assert g._placed == (True, True, False)
    assert g._limiter_names == frozenset({"db"})
    assert g._placement_names == frozenset()
    assert g._plain == (False, False, True)
    # a DAG without placed or limited nodes carries no per-node tuples at all
    plain = dsl_dag("Plain", n=td.node(nothing))
    assert plain.graph._placements is plain.graph._placed is plain.graph._chunks is None


def test_node_and_node_function_accept_the_options() -> None:
    n = td.Node("n", _sync, deps=("a",), run_in="t", limiter="db", chunk_size=2, map_over="a")
    assert n.options == {"map_over": "a", "run_in": "t", "limiter": "db", "chunk_size": 2}
    assert td.Node("m", echo).options == {}
    with pytest.raises(TypeError, match=r"'runin'.*run_in, limiter, chunk_size"):
        td.node(runin="t")  # type: ignore[call-overload]


def test_chunk_size_and_collected_element_failures_do_not_mix() -> None:
    with pytest.raises(td.InvalidOptionError, match="on_element_failure='collect'") as info:

        class Both(td.DAG):
            xs = td.input()

            @td.node(run_in="t", map_over="xs", chunk_size=2, on_element_failure="collect")
            def n(xs: Any) -> Any:
                return xs

    assert (info.value.node, info.value.option) == ("n", "chunk_size")
