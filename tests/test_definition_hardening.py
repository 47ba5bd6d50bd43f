"""Definition-time holes (defect 18): each test here failed before its fix.

- a class attribute ``_prebuilt`` no longer turns compilation off;
- a node or input may not shadow any attribute of the DAG class, private ones too;
- ``to_mermaid()`` and ``to_dot()`` keep every name on one line, reversibly escaped;
- a number too large for a float is a clear option error, never an ``OverflowError``;
- a long cycle's message is shortened, while ``CycleError.cycle`` keeps the whole path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import trio_dag as td
from conftest import dsl_dag, nothing
from trio_dag.interop import wfformat

WORKFLOWS = Path(__file__).resolve().parents[1] / "data" / "workflows"


async def _star(*args: Any) -> tuple[Any, ...]:
    return args


# ------------------------------------------------ the from_nodes() marker


class Parent(td.DAG):
    @td.node
    async def a() -> int:
        return 1


def test_a_prebuilt_class_attribute_does_not_skip_compilation() -> None:
    class Child(Parent):
        _prebuilt = True

        @td.node
        async def b(a: int) -> int:
            return a + 1

    assert Child.graph is not Parent.graph
    assert Child.graph.nodes == ("a", "b")
    assert Child.run_sync()["b"] == 2


def test_a_prebuilt_class_attribute_does_not_skip_validation() -> None:
    with pytest.raises(td.CycleError):

        class Loop(td.DAG):
            _prebuilt = True

            @td.node
            async def a(b: Any) -> None: ...

            @td.node
            async def b(a: Any) -> None: ...


def test_subclassing_a_from_nodes_dag_is_refused_not_emptied() -> None:
    gen = td.DAG.from_nodes("Gen", [td.Node("a", nothing)])
    with pytest.raises(td.DAGDefinitionError, match=r"'Sub' subclasses 'Gen'.*from_nodes"):

        class Sub(gen):  # type: ignore[valid-type,misc]
            pass

    assert gen.graph.nodes == ("a",)


def test_from_nodes_leaves_no_marker_attribute_behind() -> None:
    gen = td.DAG.from_nodes("Gen", [td.Node("a", nothing)])
    assert gen.graph.nodes == ("a",)
    assert not hasattr(gen, "_prebuilt")
    assert [k for k in vars(gen) if "prebuilt" in k] == []


# ------------------------------------- names of the DAG class's own attributes

# every attribute the DAG class machinery has, private ones included (the
# metaclass's graph, _dsl_nodes, _dsl_inputs)
MACHINERY = sorted(n for n in dir(td.DAG) if not n.startswith("__"))


def test_the_machinery_list_holds_the_private_names_that_broke_runs() -> None:
    assert {"_dsl_nodes", "_dsl_inputs", "graph", "run"} <= set(MACHINERY)


@pytest.mark.parametrize("name", MACHINERY)
def test_class_dsl_rejects_a_node_shadowing_the_dag_machinery(name: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        dsl_dag("Shadow", **{name: td.node(nothing)})
    assert (ei.value.dag, ei.value.node) == ("Shadow", name)
    assert repr(name) in str(ei.value)
    assert "'Shadow'" in str(ei.value)


@pytest.mark.parametrize("name", MACHINERY)
def test_class_dsl_rejects_an_input_shadowing_the_dag_machinery(name: str) -> None:
    with pytest.raises(td.InvalidNodeError) as ei:
        dsl_dag("Shadow", **{name: td.input()})
    assert (ei.value.dag, ei.value.node) == ("Shadow", name)
    assert repr(name) in str(ei.value)


@pytest.mark.parametrize("name", MACHINERY)
def test_from_nodes_rejects_names_of_the_dag_machinery(name: str) -> None:
    with pytest.raises(td.InvalidNodeError, match=re.escape(repr(name))):
        td.DAG.from_nodes("Shadow", [td.Node(name, nothing)])
    with pytest.raises(td.InvalidNodeError, match=re.escape(repr(name))):
        td.DAG.from_nodes("Shadow", [], inputs=(name,))


def test_a_node_named_input_values_runs() -> None:
    # It used to make every run() fail with an unrelated TypeError: it shadowed the
    # class's own input binding, which now lives on the compiled Graph instead.
    class Fine(td.DAG):
        @td.node
        async def _input_values() -> int:
            return 1

    assert Fine.run_sync()["_input_values"] == 1


def test_other_single_underscore_names_are_still_fine() -> None:
    class Private(td.DAG):
        @td.node
        async def _helper() -> int:
            return 2

        @td.node
        async def total(_helper: int) -> int:
            return _helper + 1

    assert Private.run_sync()["total"] == 3


# -------------------------------------------------------- Mermaid and DOT

WEIRD = [
    "plain",
    'q"uote',
    "back\\slash",
    "new\nline",
    "carriage\rreturn",
    "br]ack[et",
    "pi|pe",
    "<angle>",
    "#hash#quot;",
    "amp&amp;",
    "`tick`",
    "tab\tvt\x0bff\x0cfs\x1c",
    "nel\x85ls\u2028ps\u2029",
    "back\\n not a newline",
]


def _weird_graph() -> td.Graph:
    """Every weird name as an input, a node depending on it, and a chain of nodes."""
    inputs = [f"in {w}" for w in WEIRD]
    nodes = [td.Node(w, _star, deps=(i,)) for w, i in zip(WEIRD, inputs, strict=True)]
    nodes.append(td.Node("all", _star, deps=WEIRD))
    return td.DAG.from_nodes('dag "name"\n', nodes, inputs=inputs).graph


def _expected_edges(g: td.Graph) -> set[tuple[str, str]]:
    return {(dep, n) for n in g.nodes for dep in g.dependencies(n)}


def _mermaid_unescape(label: str) -> str:
    # as Mermaid does: #quot; and #<decimal>; are entity codes
    return re.sub(r"#(\d+|quot);", lambda m: '"' if m[1] == "quot" else chr(int(m[1])), label)


def test_to_mermaid_keeps_each_definition_on_one_line_and_round_trips_names() -> None:
    g = _weird_graph()
    text = g.to_mermaid()
    lines = text.split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert text.splitlines() == lines  # no other line break hides in a name
    assert lines[0] == "flowchart TD"
    node_def = re.compile(r'^    (n\d+)\["([^"\[\]|<>\\`]*)"\]$')
    input_def = re.compile(r'^    (i\d+)\(\["([^"\[\]|<>\\`]*)"\]\)$')
    edge = re.compile(r"^    ([ni]\d+) --> (n\d+)$")
    labels: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()
    for line in lines[1:]:
        m = node_def.match(line) or input_def.match(line)
        if m:
            assert m[1] not in labels
            labels[m[1]] = _mermaid_unescape(m[2])
            continue
        m = edge.match(line)
        assert m, f"line is neither a definition nor an edge: {line!r}"
        edges.add((m[1], m[2]))
    assert sorted(labels.values()) == sorted([*g.nodes, *g.inputs])
    assert {(labels[a], labels[b]) for a, b in edges} == _expected_edges(g)
    assert '    n0["plain"]' in lines  # ordinary names are written as they are


_DOT_STRING = r'"((?:[^"\\]|\\.)*)"'


def _dot_unescape(s: str) -> str:
    # as Graphviz shows a label: \\ -> \, \" -> ", \n and \r break lines, entities decoded
    s = re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), s)
    return re.sub(r"&(#\d+|amp);", lambda m: "&" if m[1] == "amp" else chr(int(m[1][1:])), s)


def test_to_dot_keeps_each_statement_on_one_line_and_round_trips_names() -> None:
    g = _weird_graph()
    text = g.to_dot()
    lines = text.split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert text.splitlines() == lines
    header = re.fullmatch(rf"digraph {_DOT_STRING} {{", lines[0])
    assert header
    assert _dot_unescape(header[1]) == 'dag "name"\n'
    assert lines[1] == "    rankdir=TB;"
    assert lines[-1] == "}"
    node_def = re.compile(rf"^    {_DOT_STRING} \[shape=(box|ellipse)\];$")
    edge = re.compile(rf"^    {_DOT_STRING} -> {_DOT_STRING};$")
    shapes: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()
    for line in lines[2:-1]:
        m = node_def.match(line)
        if m:
            shapes[_dot_unescape(m[1])] = m[2]
            continue
        m = edge.match(line)
        assert m, f"line is neither a definition nor an edge: {line!r}"
        edges.add((_dot_unescape(m[1]), _dot_unescape(m[2])))
    assert shapes == {**dict.fromkeys(g.nodes, "box"), **dict.fromkeys(g.inputs, "ellipse")}
    assert edges == _expected_edges(g)
    assert '    "plain" [shape=box];' in lines


# ------------------------------------------------ numbers too large for a float

HUGE = [10**400, -(10**400), 10**5000]
HUGE_IDS = ["1e400", "-1e400", "1e5000"]  # pytest cannot str() a 5001-digit int


@pytest.mark.parametrize("big", HUGE, ids=HUGE_IDS)
def test_huge_node_timeout_is_an_invalid_option(big: int) -> None:
    with pytest.raises(td.InvalidOptionError) as ei:

        class Slow(td.DAG):
            @td.node(timeout=big)
            async def n() -> None: ...

    e = ei.value
    assert (e.dag, e.node, e.option) == ("Slow", "n", "timeout")
    assert e.value is big
    assert "timeout must be a finite number" in str(e)
    assert "too large for a float" in str(e)
    assert len(str(e)) < 200  # not hundreds of digits
    with pytest.raises(td.InvalidOptionError, match="timeout"):
        td.DAG.from_nodes("Slow", [td.Node("n", nothing, timeout=big)])


@pytest.mark.parametrize("big", HUGE, ids=HUGE_IDS)
async def test_huge_run_deadline_is_a_value_error(big: int) -> None:
    calls: list[int] = []

    async def body() -> None:
        calls.append(1)

    dag = td.DAG.from_nodes("D", [td.Node("a", body)])
    with pytest.raises(ValueError, match="deadline must be a finite number") as ei:
        await dag.run(deadline=big)
    assert "too large for a float" in str(ei.value)
    with pytest.raises(ValueError, match="deadline"):
        async with dag.stream([{}], deadline=big) as results:
            async for _ in results:  # pragma: no cover - nothing is delivered
                pass
    assert calls == []


@pytest.mark.parametrize(
    ("make", "option"),
    [
        (lambda b: td.Supervisor(period=b), "period"),
        (lambda b: td.RetryPolicy(initial_delay=b), "initial_delay"),
        (lambda b: td.RetryPolicy(backoff=b), "backoff"),
        (lambda b: td.RetryPolicy(max_delay=b), "max_delay"),
    ],
    ids=["Supervisor.period", "initial_delay", "backoff", "max_delay"],
)
@pytest.mark.parametrize("big", HUGE, ids=HUGE_IDS)
def test_huge_supervisor_and_retry_numbers_are_value_errors(
    make: Any, option: str, big: int
) -> None:
    with pytest.raises(ValueError, match=f"{option} must be a finite number") as ei:
        make(big)
    assert "too large for a float" in str(ei.value)


def test_huge_numbers_in_a_workflow_file_are_value_errors(tmp_path: Path) -> None:
    small = WORKFLOWS / "montage-chameleon-2mass-01d-001.json"
    with pytest.raises(ValueError, match="speed must be a finite number >= 0, got an int of 401"):
        wfformat.info(small, speed=10**400)
    doc = {"schemaVersion": "1.5", "workflow": {
        "specification": {"tasks": [{"id": "a", "parents": []}]},
        "execution": {"makespanInSeconds": 10**400,
                      "tasks": [{"id": "a", "runtimeInSeconds": 1}]}}}  # fmt: skip
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(doc))
    assert wfformat.info(path).recorded_makespan is None  # not a usable makespan
    doc["workflow"]["execution"]["tasks"][0]["runtimeInSeconds"] = 10**400  # type: ignore[index]
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="runtimeInSeconds must be a finite number >= 0"):
        wfformat.info(path)


def test_huge_int_below_an_int_minimum_is_a_readable_value_error() -> None:
    # repr() of an int past 4300 digits raises: the message must not need it
    with pytest.raises(ValueError, match=r"max_attempts must be an int >= 1, got a negative int"):
        td.RetryPolicy(max_attempts=-(10**5000))


def test_large_but_representable_numbers_are_still_accepted() -> None:
    assert td.Supervisor(period=10**300).period == 1e300
    assert td.RetryPolicy(max_delay=1e300).max_delay == 1e300

    class Patient(td.DAG):
        @td.node(timeout=10**300)
        async def n() -> int:
            return 1

    assert Patient.graph._specs[0].timeout == 1e300
    assert Patient.run_sync(deadline=10**300)["n"] == 1


# ------------------------------------------------------------- long cycles


def _ring(n: int) -> list[td.Node]:
    """n nodes, each depending on the next, the last on the first."""
    return [td.Node(f"n{i}", _star, deps=(f"n{(i + 1) % n}",)) for i in range(n)]


def test_a_long_cycle_message_is_abbreviated_but_the_path_is_whole() -> None:
    n = 100_000
    with pytest.raises(td.CycleError) as ei:
        td.DAG.from_nodes("Ring", _ring(n))
    e = ei.value
    assert e.cycle == [*(f"n{i}" for i in range(n)), "n0"]
    msg = str(e)
    assert len(msg) < 500
    first = " -> ".join(f"n{i}" for i in range(10))
    last = " -> ".join([*(f"n{i}" for i in range(n - 9, n)), "n0"])
    assert f"{first} -> ... ({n + 1 - 20} more) ... -> {last}" in msg
    assert "'Ring'" in msg


@pytest.mark.parametrize("n", [2, 19, 20])
def test_a_short_cycle_message_shows_the_whole_path(n: int) -> None:
    with pytest.raises(td.CycleError) as ei:
        td.DAG.from_nodes("Ring", _ring(n))
    path = " -> ".join([*(f"n{i}" for i in range(n)), "n0"])
    assert f"cycle: {path} (each node depends on the next)" in str(ei.value)
    assert "more" not in str(ei.value)
