r"""Spec building: both front doors' nodes turned into checked ``NodeSpec``\ s.

The class body (:func:`spec_from_function`) and ``DAG.from_nodes``
(:func:`specs_from_nodes`) go through the same checks with the same error
policy, and hand :class:`~trio_dag._graph.Graph` the same ``NodeSpec``
records; everything a definition can get wrong is found here or in the
graph compiler, before a DAG class exists.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from ._declare import Get, Node, NodeFunction
from ._exceptions import InvalidNodeError, option_error
from ._graph import NodeSpec
from ._retry import RetryPolicy
from ._validate import check_bool, check_number, reject

__all__ = ["check_name", "spec_from_function", "specs_from_nodes"]

_EMPTY = inspect.Parameter.empty
_P = inspect.Parameter


def check_name(
    dag: str, name: object, what: str, *, identifier: bool, reserved: Collection[str]
) -> str:
    """Return ``name`` if it can name a node or input of DAG ``dag``, else raise."""
    if not isinstance(name, str) or not name:
        raise InvalidNodeError(
            f"DAG {dag!r}: a {what} name must be a non-empty string, got {name!r}", dag=dag
        )
    if identifier and not name.isidentifier():
        raise InvalidNodeError(
            f"DAG {dag!r}: {what} name {name!r} is not a valid Python identifier",
            dag=dag,
            node=name,
        )
    if name in reserved or name.startswith("__"):
        public = sorted(n for n in reserved if not n.startswith("_"))
        raise InvalidNodeError(
            f"DAG {dag!r}: {what} name {name!r} would shadow the DAG's own API "
            f"({', '.join(public)}, and names starting with '_' that the DAG class "
            f"uses itself); choose another name",
            dag=dag,
            node=name,
        )
    return name


def _check_async(dag: str, name: str, fn: object) -> None:
    if not callable(fn):
        raise InvalidNodeError(
            f"node {name!r} of DAG {dag!r} must be an async function, got {fn!r}",
            dag=dag,
            node=name,
        )
    if inspect.isasyncgenfunction(fn):
        raise InvalidNodeError(
            f"node {name!r} of DAG {dag!r} is an async generator; a node must return "
            f"one value: use 'async def' with 'return'",
            dag=dag,
            node=name,
        )
    if inspect.iscoroutinefunction(fn):
        return
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - want the type's method
    if not inspect.isfunction(fn) and inspect.iscoroutinefunction(call):
        return
    raise InvalidNodeError(
        f"node {name!r} of DAG {dag!r} must be an async function ('async def'), got "
        f"{fn!r}; a plain function, even one that returns a coroutine, is not accepted: "
        f"wrap it, or run blocking code with trio.to_thread.run_sync",
        dag=dag,
        node=name,
    )


def _signature(dag: str, name: str, fn: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError) as exc:  # pragma: no cover - builtins only
        raise InvalidNodeError(
            f"node {name!r} of DAG {dag!r}: cannot read the signature of {fn!r}: {exc}",
            dag=dag,
            node=name,
        ) from exc


def _node_options(
    dag: str, name: str, options: Mapping[str, Any], params: Sequence[str]
) -> dict[str, Any]:
    """Validate option values; return NodeSpec keyword arguments."""
    out: dict[str, Any] = {}
    where = f"node {name!r} of DAG {dag!r}"
    ctx: dict[str, Any] = {"dag": dag, "node": name, "definition": True}
    if "retry" in options:
        out["retry"] = RetryPolicy.coerce(options["retry"], where, **ctx)
    t = options.get("timeout")
    if t is not None:
        out["timeout"] = check_number(where, "timeout", t, positive=True, allow_zero=False, **ctx)
    m = options.get("map_over")
    if m is not None:
        if m not in params:
            raise option_error(
                f"{where}: map_over={m!r} names none of its dependencies "
                f"({', '.join(params) or 'it has none'})",
                option="map_over",
                value=m,
                **ctx,
            )
        out["map_over"] = list(params).index(m)
    if "cache" in options:
        out["cache"] = check_bool(where, "cache", options["cache"], **ctx)
    v = options.get("version")
    if v is not None:
        if not isinstance(v, str) or not v:
            bad_type = not isinstance(v, str)
            reject(where, "version", v, "a non-empty str", wrong_type=bad_type, **ctx)
        out["version"] = v
    return out


def _check_unique_deps(dag: str, name: str, deps: Sequence[str]) -> None:
    seen: set[str] = set()
    for d in deps:
        if d in seen:
            raise InvalidNodeError(
                f"node {name!r} of DAG {dag!r} lists dependency {d!r} twice; "
                f"list each dependency once",
                dag=dag,
                node=name,
            )
        seen.add(d)


def spec_from_function(dag: str, name: str, nf: NodeFunction, known: Collection[str]) -> NodeSpec:
    """Turn a class-body node into a NodeSpec, resolving its parameters."""
    _check_async(dag, name, nf.fn)
    sig = _signature(dag, name, nf.fn)
    deps: list[str] = []
    kwnames: list[str] = []
    via: list[str] = []
    positional = True  # can the deps be passed positionally, in order?
    for i, p in enumerate(sig.parameters.values()):
        if p.kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD):
            star = "*" if p.kind is _P.VAR_POSITIONAL else "**"
            raise InvalidNodeError(
                f"node {name!r} of DAG {dag!r} has parameter {star}{p.name}; a node's "
                f"parameters name its dependencies, so *args and **kwargs cannot be one",
                dag=dag,
                node=name,
            )
        if p.kind is _P.POSITIONAL_ONLY:
            raise InvalidNodeError(
                f"node {name!r} of DAG {dag!r} has positional-only parameter {p.name!r}; "
                f"dependencies are passed by name, so remove the '/'",
                dag=dag,
                node=name,
            )
        if isinstance(p.default, Get):
            target, how = p.default.name, f" (parameter {p.name!r} via trio_dag.get)"
        elif p.default is _EMPTY or p.name in known:
            target, how = p.name, ""
        else:
            continue  # keeps its default
        if p.kind is _P.KEYWORD_ONLY or len(deps) != i:
            positional = False
        deps.append(target)
        kwnames.append(p.name)
        via.append(how)
    _check_unique_deps(dag, name, deps)
    opts = _node_options(dag, name, nf.options, kwnames)
    if not getattr(nf, "takes_slot", True):  # DAG.as_node: its inner nodes take the slots
        opts["takes_slot"] = False
    return NodeSpec(
        name,
        nf.fn,
        tuple(deps),
        None if positional else tuple(kwnames),
        tuple(via),
        **opts,
    )


def specs_from_nodes(dag: str, nodes: Iterable[Node], reserved: Collection[str]) -> list[NodeSpec]:
    """Turn ``Node`` objects into NodeSpecs; signatures read once per function."""
    arity: dict[int, tuple[Callable[..., Any], int, float]] = {}
    specs: list[NodeSpec] = []
    for nd in nodes:
        if not isinstance(nd, Node):
            raise InvalidNodeError(
                f"DAG {dag!r}: from_nodes() takes trio_dag.Node objects, got {nd!r}", dag=dag
            )
        name = check_name(dag, nd.name, "node", identifier=False, reserved=reserved)
        fn = nd.fn
        cached = arity.get(id(fn))
        if cached is None or cached[0] is not fn:
            _check_async(dag, name, fn)
            lo, hi = _positional_arity(dag, name, _signature(dag, name, fn))
            cached = arity[id(fn)] = (fn, lo, hi)
        _, lo, hi = cached
        deps = nd.deps
        if not lo <= len(deps) <= hi:
            want = f"{lo}" if lo == hi else f"{lo} to {hi:.0f}" if hi != math.inf else f"{lo}+"
            raise InvalidNodeError(
                f"node {name!r} of DAG {dag!r} lists {len(deps)} deps {list(deps)!r}, "
                f"but its function takes {want} positional arguments",
                dag=dag,
                node=name,
            )
        for d in deps:
            if not isinstance(d, str):
                raise InvalidNodeError(
                    f"node {name!r} of DAG {dag!r}: deps must be names (str), got {d!r}",
                    dag=dag,
                    node=name,
                )
        _check_unique_deps(dag, name, deps)
        opts = _node_options(dag, name, nd.options, deps) if nd.options else {}
        specs.append(NodeSpec(name, fn, deps, None, None, **opts))
    return specs


def _positional_arity(dag: str, name: str, sig: inspect.Signature) -> tuple[int, float]:
    lo, hi = 0, 0.0
    for p in sig.parameters.values():
        if p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD):
            hi += 1
            if p.default is _EMPTY:
                lo += 1
        elif p.kind is _P.VAR_POSITIONAL:
            hi = math.inf
        elif p.kind is _P.KEYWORD_ONLY and p.default is _EMPTY:
            raise InvalidNodeError(
                f"node {name!r} of DAG {dag!r}: its function has required keyword-only "
                f"parameter {p.name!r}, which positional deps cannot fill",
                dag=dag,
                node=name,
            )
    return lo, hi
