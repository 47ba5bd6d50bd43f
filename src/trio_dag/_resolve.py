"""Name resolution at compile time: every name a node or resource gives, to
a node, input or resource position, and the errors when a name is taken twice
or names nothing (with a "did you mean").
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from ._exceptions import (
    DAGDefinitionError,
    DuplicateNodeError,
    InvalidNodeError,
    UnknownDependencyError,
)
from ._nodespec import NodeSpec, ResourceSpec

__all__ = ["node_index", "resource_index", "resource_inputs", "unknown", "unknown_after"]


def node_index(dag: str, specs: Sequence[NodeSpec], inputs: Mapping[str, Any]) -> dict[str, int]:
    """Node name -> position in ``specs``; a name used twice, or an input's name,
    is a :class:`~trio_dag.DuplicateNodeError`."""
    index: dict[str, int] = {}
    for i, spec in enumerate(specs):
        if spec.name in index:
            raise _clash(
                dag,
                spec.name,
                f"DAG {dag!r} defines node {spec.name!r} twice; node names must be unique",
            )
        if spec.name in inputs:
            raise _clash(
                dag,
                spec.name,
                f"node {spec.name!r} of DAG {dag!r} has the name of a declared input; "
                f"rename the node or the input",
            )
        index[spec.name] = i
    return index


def _clash(dag: str, name: str, message: str) -> DuplicateNodeError:
    return DuplicateNodeError(message, dag=dag, node=name)


def resource_index(
    dag: str,
    resources: Sequence[ResourceSpec],
    index: Mapping[str, int],
    inputs: Mapping[str, Any],
) -> dict[str, int]:
    """Resource name -> position; a name taken by a node, an input or another
    resource is a :class:`~trio_dag.DuplicateNodeError`."""
    out: dict[str, int] = {}
    for r, res in enumerate(resources):
        if res.name in index or res.name in inputs or res.name in out:
            what = (
                "a node"
                if res.name in index
                else "an input"
                if res.name in inputs
                else "another resource"
            )
            raise _clash(
                dag,
                res.name,
                f"resource {res.name!r} of DAG {dag!r} has the name of {what}; "
                f"node, input and resource names must be unique",
            )
        out[res.name] = r
    return out


def resource_inputs(
    dag: str, res: ResourceSpec, index: Mapping[str, int], inputs: Mapping[str, Any]
) -> tuple[int, ...]:
    """Positions, among the run's input values, of the inputs resource ``res`` reads."""
    order = {inp: k for k, inp in enumerate(inputs)}
    out = []
    for dep in res.deps:
        k = order.get(dep)
        if k is None:
            if dep in index:
                raise UnknownDependencyError(
                    dag,
                    res.name,
                    dep,
                    None,
                    what="resource",
                    known="a node: a resource is entered before nodes run, so its "
                    "factory may read inputs only",
                )
            close = difflib.get_close_matches(dep, list(inputs), n=1)
            raise UnknownDependencyError(
                dag,
                res.name,
                dep,
                close[0] if close else None,
                what="resource",
                known="not a declared input (a resource's factory may read inputs only)",
            )
        out.append(k)
    return tuple(out)


def unknown(
    dag: str, spec: NodeSpec, k: int, dep: str, known: list[str]
) -> UnknownDependencyError:
    """The error for dependency ``k`` of ``spec``, ``dep``, which names nothing ``known``."""
    # never suggest the node itself: that would be a self-loop
    close = difflib.get_close_matches(dep, [x for x in known if x != spec.name], n=1)
    via = spec.via[k] if spec.via else ""
    return UnknownDependencyError(dag, spec.name, dep, close[0] if close else None, via=via)


def unknown_after(
    dag: str, spec: NodeSpec, dep: str, index: Mapping[str, int], inputs: Mapping[str, int]
) -> DAGDefinitionError:
    """The error for ``dep`` in ``spec``'s ``after=``, which names no node."""
    if dep in inputs:
        return InvalidNodeError(
            f"node {spec.name!r} of DAG {dag!r} lists input {dep!r} in after=; after= "
            f"names nodes to wait for, and an input is there before any node starts: "
            f"remove it (or read it as a dependency)",
            dag=dag,
            node=spec.name,
        )
    close = difflib.get_close_matches(dep, [x for x in index if x != spec.name], n=1)
    return UnknownDependencyError(
        dag, spec.name, dep, close[0] if close else None, via=" (in after=)", known="not a node"
    )
