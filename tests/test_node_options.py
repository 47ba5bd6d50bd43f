"""Node options (``retry``, ``timeout``, ``map_over``) and misuse of the markers.

A bad option value is a ``td.InvalidOptionError`` (also a ``ValueError``) naming
the DAG, the node, the option and the value, from either front door.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

import trio_dag as td
from conftest import check_message, echo, nothing

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
    ("on_element_failure", "skip"),
    ("on_element_failure", 3),
    ("after", 3),
    ("after", ("a",)),  # a dependency already
    ("after", ("",)),
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
    check_message(e, "Opts", "'n'", option, repr(value))


@pytest.mark.parametrize(("option", "value"), BAD_OPTIONS)
def test_from_nodes_rejects_bad_option_values(option: str, value: Any) -> None:
    with pytest.raises(td.InvalidOptionError) as ei:
        td.DAG.from_nodes("Opts", [td.Node("n", echo, deps=("a",), **{option: value})], ["a"])
    e = ei.value
    assert (e.node, e.option) == ("n", option)
    check_message(e, "Opts", "'n'", option, repr(value))


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
        td.node(nothing, retries=3)  # type: ignore[call-overload]


def test_node_applied_twice_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="already a node"):
        td.node(td.node(nothing))


@pytest.mark.parametrize("bad", ["", 3, None])
def test_get_needs_a_name(bad: Any) -> None:
    with pytest.raises(TypeError, match=re.escape(repr(bad))):
        td.get(bad)
