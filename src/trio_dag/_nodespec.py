"""The records the front doors hand to the compiler: one :class:`NodeSpec` per
node, one :class:`ResourceSpec` per resource, and :data:`NO_DEFAULT`, the mark
of a required input.

The class body (``_specs.py``), :class:`~trio_dag.Node` lists and
:func:`~trio_dag.include` (``_compose.py``) all produce these; the compiler
(``_graph.py``) reads nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._placement import Placement
    from ._retry import RetryPolicy

__all__ = ["NO_DEFAULT", "NodeSpec", "ResourceSpec"]


class _NoDefault:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<required>"


NO_DEFAULT: Final[Any] = _NoDefault()
"""Marks a declared input without a default (a required input)."""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node as the front doors hand it to the compiler (internal).

    Attributes:
        name: the node's name.
        fn: the async callable.
        deps: dependency names, in the order the arguments are built.
        kwnames: parameter names to pass the deps as keywords, or ``None`` to
            pass them positionally in ``deps`` order.
        via: for error messages, how each dependency was declared.
        retry: the node's retry policy, if any.
        timeout: seconds per attempt, if any.
        map_over: index into ``deps`` of the dependency to map over, if any.
        after: names of the nodes it runs after without reading them
            (order-only dependencies).
        collect: for a map node, whether failed elements are collected
            (``on_element_failure="collect"``) instead of failing the node.
        cache: whether a run with a store caches the node's value by key.
        version: the node's explicit code version, if any.
        run_in: the placement of a ``def`` node's body, or its name, if any.
        limiter: the name of the capacity limit the node's attempts hold, if any.
        chunk_size: elements per placed call of a map node, if any.
        takes_slot: whether an attempt takes a ``max_concurrency`` slot; false
            for a node that runs a whole DAG (``DAG.as_node``), whose inner
            nodes take slots themselves.
    """

    name: str
    fn: Callable[..., Any]
    deps: tuple[str, ...]
    kwnames: tuple[str, ...] | None = None
    via: tuple[str, ...] | None = None
    retry: RetryPolicy | None = None
    timeout: float | None = None
    map_over: int | None = None
    after: tuple[str, ...] = ()
    collect: bool = False
    cache: bool = False
    version: str | None = None
    run_in: Placement | str | None = None
    limiter: str | None = None
    chunk_size: int | None = None
    takes_slot: bool = True


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """One resource as the front doors hand it to the compiler (internal).

    Attributes:
        name: the resource's name; nodes name it as a parameter.
        factory: called with the input values named by ``deps``, as the
            keyword arguments ``kwnames``; returns an async context manager.
        deps: names of the inputs the factory reads.
        kwnames: the factory's parameter names for ``deps``, in order.
    """

    name: str
    factory: Callable[..., Any]
    deps: tuple[str, ...] = ()
    kwnames: tuple[str, ...] = ()
