"""The compiled Graph: order, levels, queries, exports, scale and properties
(issue "Foundation", section 6)."""

from __future__ import annotations

import graphlib
import inspect
import itertools
import random
from collections.abc import Sequence
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trio_dag as td
from conftest import dag_deps

# ----------------------------------------------------------------- helpers


async def _star(*args: Any) -> int:
    return len(args)


def _ref_levels(deps: Sequence[Sequence[int]]) -> list[int]:
    """Longest-path depth by a plain DP; ``deps[i]`` only holds ids below ``i``."""
    level = [0] * len(deps)
    for i, ds in enumerate(deps):
        level[i] = 1 + max((level[j] for j in ds), default=-1)
    return level


def _build(
    deps: Sequence[Sequence[int]], definition: Sequence[int] | None = None, name: str = "R"
) -> type[td.DAG]:
    """A from_nodes DAG: node ``n{i}`` depends on ``n{j}`` for j in deps[i].

    ``definition`` is the order the nodes are handed over (a permutation of ids).
    """
    ids = range(len(deps)) if definition is None else definition
    return td.DAG.from_nodes(
        name, [td.Node(f"n{i}", _star, deps=tuple(f"n{j}" for j in deps[i])) for i in ids]
    )


def _id(name: str) -> int:
    return int(name[1:])


# -------------------------------------------------------------- small DAGs


class Shape(td.DAG):
    """Definition order deliberately differs from any topological order."""

    day = td.input()

    @td.node
    async def d(c: Any, b: Any) -> Any: ...

    @td.node
    async def b(a: Any) -> Any: ...

    @td.node
    async def a(day: Any) -> Any: ...

    @td.node
    async def c() -> Any: ...

    @td.node
    async def e(a: Any, d: Any) -> Any: ...


def test_levels_are_longest_path_depth_in_definition_order() -> None:
    g = Shape.graph
    assert g.nodes == ("d", "b", "a", "c", "e")
    assert g.inputs == ("day",)
    # a and c are roots; b depends on a; d on b (depth 2) though also on c; e on d
    assert g.levels == (("a", "c"), ("b",), ("d",), ("e",))
    assert [g.level_of(n) for n in "abcde"] == [0, 1, 0, 2, 3]


def test_order_is_levels_flattened() -> None:
    g = Shape.graph
    assert g.order == ("a", "c", "b", "d", "e")
    assert g.order == tuple(itertools.chain.from_iterable(g.levels))


def test_wide_level_keeps_definition_order() -> None:
    G = td.DAG.from_nodes(
        "Wide",
        [
            td.Node("z", _star, deps=("root",)),
            td.Node("root", _star),
            td.Node("m", _star, deps=("root",)),
            td.Node("a", _star, deps=("root",)),
        ],
    )
    assert G.graph.levels == (("root",), ("z", "m", "a"))
    assert G.graph.order == ("root", "z", "m", "a")


def test_dependencies_and_dependents() -> None:
    g = Shape.graph
    assert g.dependencies("d") == ("c", "b")  # argument order, not sorted
    assert g.dependencies("a") == ("day",)  # inputs included
    assert g.dependencies("c") == ()
    assert g.dependents("a") == ("b", "e")  # definition order
    assert g.dependents("b") == ("d",)
    assert g.dependents("e") == ()


@pytest.mark.parametrize("method", ["dependencies", "dependents", "level_of"])
def test_unknown_name_is_a_key_error_with_suggestion(method: str) -> None:
    g = td.DAG.from_nodes(
        "Named", [td.Node("users", _star), td.Node("orders", _star, deps=("users",))]
    ).graph
    with pytest.raises(KeyError, match=r"'Named' has no node 'usres'; did you mean 'users'\?"):
        getattr(g, method)("usres")
    with pytest.raises(KeyError) as ei:
        getattr(g, method)("zzzzzzzz")
    assert "did you mean" not in str(ei.value)
    assert "'zzzzzzzz'" in str(ei.value)


def test_an_input_is_not_a_node() -> None:
    with pytest.raises(KeyError, match="'day'"):
        Shape.graph.dependents("day")
    assert "day" not in Shape.graph
    assert "a" in Shape.graph


def test_container_protocol_and_repr() -> None:
    g = Shape.graph
    assert len(g) == 5
    assert list(g) == ["d", "b", "a", "c", "e"]
    assert repr(g) == "<Graph 'Shape': 5 nodes, 1 inputs, 4 levels>"
    assert isinstance(g, td.Graph)


def _mermaid_edges(text: str) -> set[tuple[str, str]]:
    labels: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    for line in lines[1:]:
        line = line.strip()
        if "-->" in line:
            src, dst = (p.strip() for p in line.split("-->"))
            edges.add((src, dst))
        elif line.endswith('"])'):
            key, label = line.split('(["')
            labels[key] = label[: -len('"])')]
        else:
            key, label = line.split('["')
            labels[key] = label[: -len('"]')]
    return {(labels[s], labels[d]) for s, d in edges}


def _expected_edges(g: td.Graph) -> set[tuple[str, str]]:
    return {(dep, n) for n in g.nodes for dep in g.dependencies(n)}


def test_to_mermaid_has_every_node_input_and_edge() -> None:
    g = Shape.graph
    text = g.to_mermaid()
    edges = _mermaid_edges(text)
    assert edges == _expected_edges(g)
    assert ("day", "a") in edges
    assert ("c", "d") in edges
    assert ("d", "e") in edges
    assert '(["day"])' in text  # inputs are rounded
    assert text.endswith("\n")


def test_to_dot_has_every_node_input_and_edge() -> None:
    g = Shape.graph
    text = g.to_dot()
    assert text.startswith('digraph "Shape" {')
    assert text.rstrip().endswith("}")
    assert '"day" [shape=ellipse];' in text
    for n in g.nodes:
        assert f'"{n}" [shape=box];' in text
    edges = {
        tuple(part.strip().strip(";").strip('"') for part in line.split("->"))
        for line in text.splitlines()
        if "->" in line
    }
    assert edges == _expected_edges(g)


def test_exports_escape_quotes() -> None:
    g = td.DAG.from_nodes(
        'we"ird', [td.Node('n"1', _star, deps=('in"p',))], inputs=('in"p',)
    ).graph
    dot = g.to_dot()
    assert 'digraph "we\\"ird" {' in dot
    assert '"in\\"p" -> "n\\"1";' in dot
    mermaid = g.to_mermaid()
    assert '"n#quot;1"' in mermaid
    assert 'n"1' not in mermaid


def test_empty_graph() -> None:
    class Empty(td.DAG):
        pass

    g = Empty.graph
    assert (g.nodes, g.inputs, g.order, g.levels) == ((), (), (), ())
    assert len(g) == 0
    assert repr(g) == "<Graph 'Empty': 0 nodes, 0 inputs, 0 levels>"
    assert g.to_mermaid() == "flowchart TD\n"
    assert g.to_dot() == 'digraph "Empty" {\n    rankdir=TB;\n}\n'
    with pytest.raises(KeyError):
        g.dependencies("x")


def test_one_node_graph() -> None:
    class One(td.DAG):
        @td.node
        async def only() -> int:
            return 1

    g = One.graph
    assert g.order == ("only",)
    assert g.levels == (("only",),)
    assert g.dependencies("only") == ()
    assert g.dependents("only") == ()
    assert g.level_of("only") == 0
    assert One.run_sync()["only"] == 1


# ------------------------------------------------------------------- scale


def test_ten_thousand_deep_chain_compiles_iteratively() -> None:
    n = 10_000
    C = td.DAG.from_nodes(
        "Chain", [td.Node(f"n{i}", _star, deps=(f"n{i - 1}",) if i else ()) for i in range(n)]
    )
    g = C.graph
    assert len(g.levels) == n
    assert g.order == tuple(f"n{i}" for i in range(n))
    assert g.level_of("n9999") == 9999
    assert g.dependents("n0") == ("n1",)


@pytest.mark.parametrize("strategy", [td.Sequential(), td.Parallel()])
async def test_ten_thousand_deep_chain_runs(strategy: Any) -> None:
    n = 10_000
    C = td.DAG.from_nodes(
        "Chain", [td.Node(f"n{i}", _star, deps=(f"n{i - 1}",) if i else ()) for i in range(n)]
    )
    with trio.fail_after(30):
        r = await C.run(strategy=strategy)
    assert r["n0"] == 0
    assert r[f"n{n - 1}"] == 1
    assert len(r) == n


def test_hundred_thousand_node_random_dag_shares_one_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n = 100_000
    rng = random.Random(20261126)
    deps: list[list[int]] = [[]]
    for i in range(1, n):
        k = rng.randint(0, 3)
        deps.append(sorted(rng.sample(range(max(0, i - 500), i), min(k, i))))
    calls = 0
    real = inspect.signature

    def counting(fn: Any, *args: Any, **kwargs: Any) -> inspect.Signature:
        nonlocal calls
        calls += 1
        return real(fn, *args, **kwargs)

    monkeypatch.setattr(inspect, "signature", counting)
    g = _build(deps, name="Big").graph
    monkeypatch.undo()
    assert calls == 1  # one function object: its signature is read once
    assert len(g) == n
    ref = _ref_levels(deps)
    assert len(g.levels) == max(ref) + 1
    for lv, names in enumerate(g.levels):
        assert [ref[_id(x)] for x in names] == [lv] * len(names)
        assert [_id(x) for x in names] == sorted(_id(x) for x in names)
    pos = {name: k for k, name in enumerate(g.order)}
    for i in range(0, n, 97):
        for j in deps[i]:
            assert pos[f"n{j}"] < pos[f"n{i}"]


# -------------------------------------------------------------- properties


def _descendants(deps: Sequence[Sequence[int]]) -> list[set[int]]:
    """For each id, the ids that depend on it, directly or transitively."""
    n = len(deps)
    desc: list[set[int]] = [set() for _ in range(n)]
    for i in reversed(range(n)):
        for j in deps[i]:
            desc[j].add(i)
            desc[j] |= desc[i]
    return desc


PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(data=st.data(), deps=dag_deps())
def test_order_levels_and_node_set_match_independent_references(
    data: st.DataObject, deps: list[list[int]]
) -> None:
    n = len(deps)
    definition = data.draw(st.permutations(range(n)), label="definition order")
    g = _build(deps, definition).graph
    position = {f"n{i}": k for k, i in enumerate(definition)}
    assert g.nodes == tuple(f"n{i}" for i in definition)

    # order respects every edge
    pos = {name: k for k, name in enumerate(g.order)}
    for i, ds in enumerate(deps):
        for j in ds:
            assert pos[f"n{j}"] < pos[f"n{i}"]

    # same node set as graphlib's topological sort
    ts = graphlib.TopologicalSorter({f"n{i}": [f"n{j}" for j in ds] for i, ds in enumerate(deps)})
    assert set(g.order) == set(ts.static_order())
    assert len(g.order) == n

    # levels = longest-path depth, each level in definition order
    ref = _ref_levels(deps)
    expected = [
        tuple(sorted((f"n{i}" for i in range(n) if ref[i] == lv), key=position.__getitem__))
        for lv in range(max(ref, default=-1) + 1)
    ]
    assert list(g.levels) == expected
    assert g.order == tuple(itertools.chain.from_iterable(expected))
    for i in range(n):
        assert g.level_of(f"n{i}") == ref[i]
        assert g.dependencies(f"n{i}") == tuple(f"n{j}" for j in deps[i])
        assert set(g.dependents(f"n{i}")) == {f"n{k}" for k in range(n) if i in deps[k]}


@PROPS
@given(deps=dag_deps())
def test_repeated_builds_give_identical_output(deps: list[list[int]]) -> None:
    g1 = _build(deps).graph
    g2 = _build(deps).graph
    assert g1 is not g2
    assert (g1.nodes, g1.order, g1.levels) == (g2.nodes, g2.order, g2.levels)
    assert g1.to_mermaid() == g2.to_mermaid()
    assert g1.to_dot() == g2.to_dot()
    assert repr(g1) == repr(g2)


@st.composite
def dags_with_back_edge(draw: st.DrawFn) -> tuple[list[list[int]], int, int]:
    """A random DAG plus one back edge: ``low`` also depends on its descendant ``high``."""
    deps = draw(dag_deps(max_nodes=20))
    if len(deps) < 2:
        deps = [[], [0]]
    desc = _descendants(deps)
    if not any(desc):
        deps[1] = [0]
        desc = _descendants(deps)
    low = draw(st.sampled_from([i for i, d in enumerate(desc) if d]))
    high = draw(st.sampled_from(sorted(desc[low])))
    deps = [list(d) for d in deps]
    deps[low].append(high)
    return deps, low, high


@PROPS
@given(data=st.data(), case=dags_with_back_edge())
def test_a_back_edge_is_reported_as_a_real_cycle(
    data: st.DataObject, case: tuple[list[list[int]], int, int]
) -> None:
    deps, low, high = case
    definition = data.draw(st.permutations(range(len(deps))), label="definition order")
    with pytest.raises(td.CycleError) as ei:
        _build(deps, definition, name="Cyclic")
    cycle = ei.value.cycle
    assert len(cycle) >= 2
    assert cycle[0] == cycle[-1]
    assert len(set(cycle)) == len(cycle) - 1
    for a, b in itertools.pairwise(cycle):
        assert _id(b) in deps[_id(a)], f"{a} does not depend on {b}"
    # every cycle must use the back edge, the only edge from a lower to a higher id
    assert any((_id(a), _id(b)) == (low, high) for a, b in itertools.pairwise(cycle)), cycle
    assert " -> ".join(cycle) in str(ei.value)
    assert "'Cyclic'" in str(ei.value)
