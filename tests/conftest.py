"""Helpers shared by the test modules, e.g. ``from conftest import Boom, dag_deps``.

pytest puts this directory on ``sys.path`` (the default "prepend" import mode,
``tests/`` being no package), so the test modules import these by name.
"""

from __future__ import annotations

import gc
import types
from pathlib import Path
from typing import Any

import trio
from hypothesis import strategies as st

import trio_dag as td


class Boom(Exception):
    """The error a test's node raises on purpose."""


@st.composite
def dag_deps(
    draw: st.DrawFn,
    *,
    min_nodes: int = 0,
    max_nodes: int = 25,
    max_deps: int = 4,
    shuffled: bool = True,
) -> list[list[int]]:
    """Random DAGs as dependency lists: node ``i`` depends only on ids below ``i``.

    Every drawn graph is acyclic without filtering. With ``shuffled`` each
    node's dependencies come in a random order (they are the arguments'
    order), otherwise in ascending order.

    Args:
        draw: supplied by Hypothesis.
        min_nodes: fewest nodes.
        max_nodes: most nodes.
        max_deps: most dependencies of one node.
        shuffled: draw the order of each node's dependencies too.
    """
    n = draw(st.integers(min_nodes, max_nodes))
    deps: list[list[int]] = []
    for i in range(n):
        if i == 0:
            deps.append([])
            continue
        chosen = sorted(draw(st.sets(st.integers(0, i - 1), max_size=min(i, max_deps))))
        deps.append(draw(st.permutations(chosen)) if shuffled else chosen)
    return deps


# ------------------------------------------------------ definition tests


async def nothing() -> None:
    """A node body with no dependencies and no value."""
    return None


async def echo(a: Any) -> Any:
    """A node body with one dependency, returning its value."""
    return a


def dsl_dag(name: str, **members: Any) -> type[td.DAG]:
    """Build a DAG class whose body holds ``members`` (names a class body cannot spell)."""

    def body(ns: dict[str, Any]) -> None:
        for k, v in members.items():
            ns[k] = v

    return types.new_class(name, (td.DAG,), {}, body)


def check_message(exc: td.DAGDefinitionError, dag: str, *parts: str) -> None:
    """``exc`` is about DAG ``dag`` and its message names it and holds every part."""
    msg = str(exc)
    assert repr(dag) in msg, msg
    for p in parts:
        assert p in msg, f"{p!r} not in {msg!r}"
    assert exc.dag == dag


# the instrument tests (logging, OpenTelemetry, trace, timeline, progress) cancel it
class Cut(td.DAG):
    """Cancelled from outside 2.5 s in: each's element 1 and side are still running."""

    @td.node
    async def first() -> list[int]:
        await trio.sleep(1)
        return [1, 3]

    @td.node(map_over="first")
    async def each(first: int) -> int:
        await trio.sleep(first)  # element 0 ends 2 s into the run, element 1 would at 4 s
        return first

    @td.node
    async def side(first: list[int]) -> int:  # not started under Sequential (each runs first)
        await trio.sleep(10)
        return 0

    @td.node
    async def last(each: list[int], side: int) -> int:
        return side


# ------------------------------------------------------ reference cycles


_OWN_PACKAGES = ("trio_dag", "trio", "outcome")


def own_garbage() -> list[str]:
    """Run the cycle collector; what it freed of trio's, trio_dag's and the tests' own.

    Other threads of the process may make cyclic garbage meanwhile (the event
    loop of a Dask client an earlier test module started and closed can still
    be finishing its coroutines), so only the objects of these packages count:
    their instances, and frames, coroutines and functions of their code or of
    the tests'. A cycle that trio_dag makes always has some of those in it.
    """
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
    finally:
        gc.set_debug(0)
    garbage, gc.garbage[:] = list(gc.garbage), []
    return [repr(type(o)) for o in garbage if _is_own(o)]


def _is_own(obj: object) -> bool:
    if (type(obj).__module__ or "").partition(".")[0] in _OWN_PACKAGES:
        return True
    code = getattr(obj, "f_code", None) or getattr(obj, "cr_code", None)
    code = code or getattr(obj, "__code__", None)
    if not isinstance(code, types.CodeType):
        return False
    path = Path(code.co_filename).parts
    return any(p in path for p in _OWN_PACKAGES) or Path(code.co_filename).parent == _TESTS


_TESTS = Path(__file__).resolve().parent
