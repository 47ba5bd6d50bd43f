r"""Composition at definition time: inclusions flattened, resources' specs.

``td.include(Etl, ...)`` in a class body is pure graph rewriting: every
``NodeSpec`` of ``Etl.graph`` is copied under the prefix, its dependencies
renamed (inner nodes prefixed, inner inputs replaced by the outer names wired
to them, unwired inputs with a default bound as constants), so the outer
DAG compiles one flat :class:`~trio_dag.Graph`: one scheduler, one
supervisor, nothing added per node at run time. ``td.resource(factory)``
becomes a :class:`~trio_dag._nodespec.ResourceSpec` whose factory parameters
are resolved to inputs here, once.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any, final

from ._declare import Get, Include, Resource
from ._exceptions import (
    DAGDefinitionError,
    DuplicateNodeError,
    InvalidNodeError,
    UnknownDependencyError,
    option_error,
)
from ._nodespec import NO_DEFAULT, NodeSpec, ResourceSpec
from ._validate import did_you_mean

__all__ = ["Expansion", "check_wiring", "expand_include", "resource_spec"]

_P = inspect.Parameter


def resource_spec(
    dag: str, name: str, res: Resource, inputs: Collection[str], nodes: Collection[str] = ()
) -> ResourceSpec:
    """Resolve a resource factory's parameters to the DAG's inputs.

    A parameter with ``trio_dag.get("x")`` as default reads input ``x``; one
    named after an input reads it; one with an ordinary default keeps it;
    ``*args``/``**kwargs`` are left alone. Anything else is an error.
    """
    try:
        params = list(inspect.signature(res.factory).parameters.values())
    except (TypeError, ValueError):  # pragma: no cover - some builtins have none
        params = []
    deps: list[str] = []
    kwnames: list[str] = []
    for p in params:
        if p.kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD):
            continue
        if isinstance(p.default, Get):
            target = p.default.name
        elif p.name in inputs:
            target = p.name
        elif p.default is not _P.empty:
            continue
        elif p.name in nodes:
            raise UnknownDependencyError(
                dag,
                name,
                p.name,
                None,
                what="resource",
                via=" (a parameter of its factory)",
                known="a node: a resource is entered before nodes run, so its factory "
                "may read inputs only",
            )
        else:
            close = difflib.get_close_matches(p.name, list(inputs), n=1)
            raise UnknownDependencyError(
                dag,
                name,
                p.name,
                close[0] if close else None,
                what="resource",
                via=" (a parameter of its factory)",
                known="not a declared input (a resource's factory may read inputs only)",
            )
        if p.kind is _P.POSITIONAL_ONLY:
            raise InvalidNodeError(
                f"resource {name!r} of DAG {dag!r}: factory parameter {p.name!r} is "
                f"positional-only; inputs are passed by name, so remove the '/'",
                dag=dag,
                node=name,
            )
        deps.append(target)
        kwnames.append(p.name)
    return ResourceSpec(name, res.factory, tuple(deps), tuple(kwnames))


@final
class _Bound:
    """A positional node function with some arguments fixed (unwired inner inputs)."""

    __slots__ = ("consts", "fn", "n")

    def __init__(self, fn: Callable[..., Any], n: int, consts: dict[int, Any]) -> None:
        self.fn = fn
        self.n = n
        self.consts = consts

    def __call__(self, *args: Any) -> Any:
        it = iter(args)
        consts = self.consts
        return self.fn(*[consts[k] if k in consts else next(it) for k in range(self.n)])

    def __repr__(self) -> str:
        return f"<{self.fn!r} with arguments {self.consts!r} fixed>"


@dataclasses.dataclass(slots=True)
class Expansion:
    """One inclusion, expanded (internal).

    Attributes:
        attr: the class attribute that declared it.
        prefix: the prefix of its names.
        dag: the included DAG's name.
        specs: its nodes, renamed.
        resources: its own resources (those not wired to outer ones), renamed.
        wiring: inner input or resource name to the outer name wired to it.
        resource_keys: the inner resources among ``wiring``'s keys.
    """

    attr: str
    prefix: str
    dag: str
    specs: list[NodeSpec]
    resources: list[ResourceSpec]
    wiring: dict[str, str]
    resource_keys: frozenset[str]

    @property
    def where(self) -> str:
        """How error messages name the inclusion."""
        return f"inclusion {self.prefix!r} (of DAG {self.dag!r})"


def expand_include(dag: str, attr: str, inc: Include, outer: Collection[str]) -> Expansion:
    """Copy ``inc.dag``'s nodes and resources under the inclusion's prefix.

    ``outer`` is the outer DAG's own nodes, inputs and resources, for the
    "did you mean" of a required input left unwired.

    Raises:
        DAGDefinitionError: the wiring names something the included DAG does
            not declare, or leaves a required input unwired.
    """
    inner = inc.dag.graph
    prefix = inc.prefix if inc.prefix is not None else attr
    where = f"DAG {dag!r}: inclusion {prefix!r} of DAG {inner.name!r}"
    defaults = dict(zip(inner.inputs, inner._defaults, strict=True))
    inner_res = set(inner.resources)
    wiring = dict(inc.inputs)
    for k in wiring:
        if k not in defaults and k not in inner_res:
            choices = [*defaults, *inner.resources]
            hint = did_you_mean(k, choices)
            raise DAGDefinitionError(
                f"{where}: inputs= wires {k!r}, which is not an input (nor a resource) of "
                f"DAG {inner.name!r} (it declares: {', '.join(choices) or 'none'}){hint}",
                dag=dag,
                node=prefix,
            )
    for k, d in defaults.items():
        if d is NO_DEFAULT and k not in wiring:
            close = difflib.get_close_matches(k, list(outer), n=1)
            hint = f"; did you mean inputs={{{k!r}: {close[0]!r}}}?" if close else ""
            raise DAGDefinitionError(
                f"{where}: required input {k!r} of DAG {inner.name!r} is not wired; "
                f"wire it to an input or node of DAG {dag!r} with "
                f"inputs={{{k!r}: ...}}{hint}",
                dag=dag,
                node=prefix,
            )
    rename = {x: f"{prefix}.{x}" for x in inner.nodes}
    rename.update({x: f"{prefix}.{x}" for x in inner.resources})
    rename.update(wiring)
    constants = {k: d for k, d in defaults.items() if k not in wiring}
    specs = [_copy(dag, spec, rename, constants, prefix) for spec in inner._specs]
    resources = [
        _copy_resource(r, rename, constants, prefix)
        for r in inner._resources
        if r.name not in wiring
    ]
    return Expansion(
        attr, prefix, inner.name, specs, resources, wiring, frozenset(inner_res & set(wiring))
    )


def _copy(
    dag: str, spec: NodeSpec, rename: Mapping[str, str], constants: Mapping[str, Any], prefix: str
) -> NodeSpec:
    """``spec`` under its new name, its dependencies renamed or bound as constants."""
    name = f"{prefix}.{spec.name}"
    fixed = [k for k, d in enumerate(spec.deps) if d in constants]
    if not fixed:
        return dataclasses.replace(
            spec,
            name=name,
            deps=tuple(rename[d] for d in spec.deps),
            via=None,
            after=tuple(rename[a] for a in spec.after),
        )
    keep = [k for k in range(len(spec.deps)) if k not in fixed]
    m = spec.map_over
    if m is not None:
        if m in fixed:
            raise option_error(
                f"DAG {dag!r}: node {name!r} maps over input {spec.deps[m]!r} of the "
                f"included DAG, which is not wired; wire it (inputs={{{spec.deps[m]!r}: ...}})",
                option="map_over",
                value=spec.deps[m],
                dag=dag,
                node=name,
                definition=True,
            )
        m = keep.index(m)
    fn: Callable[..., Any]
    if spec.kwnames is not None:
        kw = spec.kwnames
        fn = functools.partial(spec.fn, **{kw[k]: constants[spec.deps[k]] for k in fixed})
        kwnames: tuple[str, ...] | None = tuple(kw[k] for k in keep)
    else:
        fn = _Bound(spec.fn, len(spec.deps), {k: constants[spec.deps[k]] for k in fixed})
        kwnames = None
    return dataclasses.replace(
        spec,
        name=name,
        fn=fn,
        deps=tuple(rename[spec.deps[k]] for k in keep),
        kwnames=kwnames,
        via=None,
        map_over=m,
        after=tuple(rename[a] for a in spec.after),
    )


def _copy_resource(
    r: ResourceSpec, rename: Mapping[str, str], constants: Mapping[str, Any], prefix: str
) -> ResourceSpec:
    fixed = {kw: constants[d] for d, kw in zip(r.deps, r.kwnames, strict=True) if d in constants}
    pairs = [(rename[d], kw) for d, kw in zip(r.deps, r.kwnames, strict=True) if kw not in fixed]
    return ResourceSpec(
        f"{prefix}.{r.name}",
        functools.partial(r.factory, **fixed) if fixed else r.factory,
        tuple(d for d, _ in pairs),
        tuple(kw for _, kw in pairs),
    )


def check_wiring(
    dag: str,
    expansions: list[Expansion],
    values: Collection[str],
    resources: Collection[str],
    taken: Mapping[str, str],
) -> None:
    """Check every inclusion's prefix and wiring against the whole outer DAG.

    Args:
        dag: the outer DAG's name.
        expansions: the inclusions, expanded.
        values: every name a node can read: nodes (included ones too) and inputs.
        resources: every resource name (included ones too).
        taken: the outer DAG's own node, input and resource names, each with
            what it is (``"node"``, ``"input"``, ``"resource"``).

    Raises:
        DuplicateNodeError: a prefix is another's, or the name of a node,
            input or resource; or a copied name is taken.
        UnknownDependencyError: the wiring names no outer input, node or resource.
    """
    owner: dict[str, str] = {k: f"{v} {k!r}" for k, v in taken.items()}
    prefixes: dict[str, Expansion] = {}
    for ex in expansions:
        if ex.prefix in prefixes or ex.prefix in taken:
            other = (
                prefixes[ex.prefix].where + f" (attribute {prefixes[ex.prefix].attr!r})"
                if ex.prefix in prefixes
                else owner[ex.prefix]
            )
            raise DuplicateNodeError(
                f"DAG {dag!r}: {ex.where} (attribute {ex.attr!r}) uses prefix "
                f"{ex.prefix!r}, which is taken by {other}; give one of them "
                f"another prefix (prefix=...)",
                dag=dag,
                node=ex.prefix,
            )
        prefixes[ex.prefix] = ex
        for name in [s.name for s in ex.specs] + [r.name for r in ex.resources]:
            if name in owner:
                raise DuplicateNodeError(
                    f"DAG {dag!r}: {ex.where} copies a node or resource as {name!r}, "
                    f"which is already {owner[name]}; give the inclusion another "
                    f"prefix (prefix=...)",
                    dag=dag,
                    node=name,
                )
            owner[name] = f"copied by {ex.where}"
    for ex in expansions:
        for k, v in ex.wiring.items():
            is_res = k in ex.resource_keys
            pool = resources if is_res else values
            if v not in pool:
                close = difflib.get_close_matches(v, list(pool), n=1)
                raise UnknownDependencyError(
                    dag,
                    ex.prefix,
                    v,
                    close[0] if close else None,
                    what="inclusion",
                    via=f" (wired to its {'resource' if is_res else 'input'} {k!r})",
                    known="not a resource of the DAG"
                    if is_res
                    else "neither a node nor a declared input",
                )
