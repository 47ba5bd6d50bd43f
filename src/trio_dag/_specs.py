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

from ._declare import Get
from ._exceptions import InvalidNodeError, option_error
from ._node import Node, NodeFunction
from ._nodespec import NodeSpec
from ._placement import check_run_in
from ._retry import RetryPolicy
from ._validate import check_bool, check_choice, check_int, check_number, did_you_mean, reject

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


def _is_async(fn: object) -> bool:
    """Whether calling ``fn`` gives a coroutine: an ``async def`` or an async ``__call__``."""
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - want the type's method
    return not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


def _check_callable(dag: str, name: str, fn: object, placed: bool) -> None:
    """An unplaced node must be async; a placed one (``run_in=``) must be sync."""
    # alike raises on purpose: one per way a callable is wrong, each saying what would be right
    what = "a plain function ('def')" if placed else "an async function"
    if not callable(fn):
        raise InvalidNodeError(
            f"node {name!r} of DAG {dag!r} must be {what}, got {fn!r}",
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
    if placed:
        if _is_async(fn):
            raise InvalidNodeError(
                f"node {name!r} of DAG {dag!r} is async but has run_in=: a placed node's "
                f"body runs outside the event loop, so it must be a plain 'def'; drop "
                f"run_in= to run the 'async def' on the loop",
                dag=dag,
                node=name,
            )
        if inspect.isgeneratorfunction(fn):
            raise InvalidNodeError(
                f"node {name!r} of DAG {dag!r} is a generator function; a node must "
                f"return one value: use 'return' (a list, for many values)",
                dag=dag,
                node=name,
            )
        return
    if _is_async(fn):
        return
    raise InvalidNodeError(
        f"node {name!r} of DAG {dag!r} must be an async function ('async def'), got "
        f"{fn!r}; a plain function, even one that returns a coroutine, is not accepted "
        f"on the event loop: make it 'async def', or place its body elsewhere with "
        f"run_in=trio_dag.InThread() (blocking I/O) or run_in=trio_dag.InProcess() "
        f"(CPU work)",
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
    dag: str,
    name: str,
    options: Mapping[str, Any],
    params: Sequence[str],
    deps: Sequence[str] = (),
) -> dict[str, Any]:
    """Validate option values; return NodeSpec keyword arguments.

    ``params`` are the names ``map_over`` may give (parameter names, or the
    deps of a positional ``Node``); ``deps`` are the dependency names, which
    ``after`` must not repeat.
    """
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
        if m in params:
            out["map_over"] = list(params).index(m)
        else:
            raise option_error(
                f"{where}: map_over={m!r} names none of its dependencies "
                f"({', '.join(params) or 'it has none'})",
                option="map_over",
                value=m,
                **ctx,
            )
        out["map_over"] = list(params).index(m)
    r = options.get("run_in")
    if r is not None:
        out["run_in"] = check_run_in(where, r, **ctx)
    lim = options.get("limiter")
    if lim is not None:
        if not isinstance(lim, str) or not lim.strip():
            reject(
                where,
                "limiter",
                lim,
                "the name of a limit (a non-empty str) bound by run(..., limiters=...); "
                "to bound the threads or processes of a placement use its own limiter=",
                wrong_type=not isinstance(lim, str),
                **ctx,
            )
        out["limiter"] = lim
    c = options.get("chunk_size")
    if c is not None:
        out["chunk_size"] = check_int(where, "chunk_size", c, minimum=1, **ctx)
        if m is None or r is None:
            missing = "map_over=" if m is None else "run_in="
            raise option_error(
                f"{where}: chunk_size={c!r} needs {missing}: it sends a map node's "
                f"elements to its placement in chunks",
                option="chunk_size",
                value=c,
                **ctx,
            )
    if "cache" in options:
        out["cache"] = check_bool(where, "cache", options["cache"], **ctx)
    v = options.get("version")
    if v is not None:
        if not isinstance(v, str) or not v:
            bad_type = not isinstance(v, str)
            reject(where, "version", v, "a non-empty str", wrong_type=bad_type, **ctx)
        out["version"] = v
    f = options.get("on_element_failure")
    if f is not None:
        check_choice(where, "on_element_failure", f, ("fail", "collect"), **ctx)
        if m is None:
            raise option_error(
                f"{where}: on_element_failure={f!r} applies to map nodes only; "
                f"give map_over too, or remove it",
                option="on_element_failure",
                value=f,
                **ctx,
            )
        out["collect"] = f == "collect"
    after = options.get("after")
    if after is not None and after != ():
        out["after"] = _check_after(where, after, deps, ctx)
    if out.get("collect") and "chunk_size" in out:
        raise option_error(
            f"{where}: chunk_size cannot be combined with on_element_failure='collect': "
            f"a chunk stops at its first failing element, so the elements after it "
            f"would have no outcome; drop one of the two",
            option="chunk_size",
            value=out["chunk_size"],
            **ctx,
        )
    return out


def _check_after(
    where: str, after: Any, deps: Sequence[str], ctx: dict[str, Any]
) -> tuple[str, ...]:
    what = "node names (an iterable of str)"
    if isinstance(after, str):
        after = (after,)
    try:
        names = tuple(after)
    except TypeError:
        reject(where, "after", after, what, wrong_type=True, **ctx)
    seen: set[str] = set()
    for a in names:
        if not isinstance(a, str) or not a:
            reject(where, "after", after, what, wrong_type=True, **ctx)
        if a in seen:
            reject(where, "after", after, f"{what} without repeats ({a!r} is there twice)", **ctx)
        if a in deps:
            reject(
                where,
                "after",
                after,
                f"{what} that are not already dependencies ({a!r} is one: it is "
                f"waited for already)",
                **ctx,
            )
        seen.add(a)
    return names


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


def spec_from_function(
    dag: str, name: str, nf: NodeFunction[Any, Any], known: Collection[str]
) -> NodeSpec:
    """Turn a class-body node into a NodeSpec, resolving its parameters."""
    _check_callable(dag, name, nf.fn, nf.options.get("run_in") is not None)
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
        if p.kind is _P.POSITIONAL_ONLY:  # as for a resource factory (_compose), own words
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
    opts = _node_options(dag, name, nf.options, kwnames, deps)
    if not getattr(nf, "takes_slot", True):  # DAG.as_node: its inner nodes take the slots
        opts["takes_slot"] = False
    # a placed node calls the NodeFunction: it pickles by reference (module.Class.node)
    return NodeSpec(
        name,
        nf if "run_in" in opts else nf.fn,
        tuple(deps),
        None if positional else tuple(kwnames),
        tuple(via),
        **opts,
    )


def specs_from_nodes(dag: str, nodes: Iterable[Node], reserved: Collection[str]) -> list[NodeSpec]:
    """Turn ``Node`` objects into NodeSpecs; signatures read once per function."""
    arity: dict[tuple[int, bool], tuple[Callable[..., Any], int, float]] = {}
    params: dict[tuple[int, bool], tuple[Callable[..., Any], inspect.Signature]] = {}
    specs: list[NodeSpec] = []
    for nd in nodes:
        if not isinstance(nd, Node):
            raise InvalidNodeError(
                f"DAG {dag!r}: from_nodes() takes trio_dag.Node objects, got {nd!r}", dag=dag
            )
        name = check_name(dag, nd.name, "node", identifier=False, reserved=reserved)
        fn = nd.fn
        deps = nd.deps
        for d in deps:
            if not isinstance(d, str):
                raise InvalidNodeError(
                    f"node {name!r} of DAG {dag!r}: deps must be names (str), got {d!r}",
                    dag=dag,
                    node=name,
                )
        kwnames = nd.kwnames
        options: Mapping[str, Any] = nd.options
        if nd.after != ():
            options = {**options, "after": nd.after}
        placed = nd.options.get("run_in") is not None  # then fn is a plain (sync) callable
        if kwnames is None:
            cached = arity.get((id(fn), placed))
            if cached is None or cached[0] is not fn:
                _check_callable(dag, name, fn, placed)
                lo, hi = _positional_arity(dag, name, _signature(dag, name, fn))
                cached = arity[id(fn), placed] = (fn, lo, hi)
            _, lo, hi = cached
            if not lo <= len(deps) <= hi:
                want = f"{lo}" if lo == hi else f"{lo} to {hi:.0f}" if hi != math.inf else f"{lo}+"
                raise InvalidNodeError(
                    f"node {name!r} of DAG {dag!r} lists {len(deps)} deps {list(deps)!r}, "
                    f"but its function takes {want} positional arguments",
                    dag=dag,
                    node=name,
                )
            names: Sequence[str] = deps
        else:
            got = params.get((id(fn), placed))
            if got is None or got[0] is not fn:
                _check_callable(dag, name, fn, placed)
                got = params[id(fn), placed] = (fn, _signature(dag, name, fn))
            _check_keywords(dag, name, got[1], kwnames)
            names = kwnames
            m = options.get("map_over")
            if m is not None and m not in kwnames and m in deps:
                options = {**options, "map_over": kwnames[deps.index(m)]}
        _check_unique_deps(dag, name, deps)
        opts = _node_options(dag, name, options, names, deps) if options else {}
        specs.append(NodeSpec(name, fn, deps, kwnames, None, **opts))
    return specs


def _check_keywords(dag: str, name: str, sig: inspect.Signature, kwnames: Sequence[str]) -> None:
    """Keyword ``deps``: every key a parameter, every required parameter given."""
    where = f"node {name!r} of DAG {dag!r}"
    ps = sig.parameters
    takes_any = any(p.kind is _P.VAR_KEYWORD for p in ps.values())
    for k in kwnames:
        if not isinstance(k, str):
            raise InvalidNodeError(
                f"{where}: the keys of deps name parameters (str), got {k!r}", dag=dag, node=name
            )
        p = ps.get(k)
        if p is None and not takes_any:
            hint = did_you_mean(k, ps)
            raise InvalidNodeError(
                f"{where}: deps passes {k!r}, which is not a parameter of its function "
                f"({', '.join(ps) or 'it takes none'}){hint}",
                dag=dag,
                node=name,
            )
        if p is not None and p.kind in (_P.POSITIONAL_ONLY, _P.VAR_POSITIONAL):
            raise InvalidNodeError(
                f"{where}: deps passes {k!r} by keyword, but it is a positional-only "
                f"parameter of its function",
                dag=dag,
                node=name,
            )
    missing = [
        p.name
        for p in ps.values()
        if p.default is _EMPTY
        and p.kind in (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY, _P.POSITIONAL_ONLY)
        and p.name not in kwnames
    ]
    if missing:
        raise InvalidNodeError(
            f"{where}: its function's required parameter(s) {', '.join(map(repr, missing))} "
            f"are not in deps; map each to a node or input: deps={{{missing[0]!r}: ...}}",
            dag=dag,
            node=name,
        )


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
