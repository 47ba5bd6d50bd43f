"""How a DAG class comes to be: ``DAGMeta`` compiling a class body, and the
graphs of ``DAG.from_nodes`` and ``DAG.extend``, built from
:class:`~trio_dag.Node` specs.

Each way ends the same: specs (``_specs.py``, ``_compose.py``), one compiled
:class:`~trio_dag.Graph`, and the type check of its edges
(``_typecheck.py``). The methods that call this (``from_nodes``,
``extend``) are on ``DAGMaking`` (``_dag_make.py``), the base class of the
facade's ``DAG`` (``_dag.py``), the class ``DAGMeta`` makes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from ._compose import Expansion, check_wiring, expand_include, resource_spec
from ._declare import Include, Input, Resource
from ._exceptions import DAGDefinitionError, DuplicateNodeError, InvalidNodeError
from ._graph import Graph
from ._node import Node, NodeFunction
from ._nodespec import NO_DEFAULT, NodeSpec, ResourceSpec
from ._specs import check_name, spec_from_function, specs_from_nodes
from ._supervise import Supervisor
from ._typecheck import check_types

__all__ = ["DAGMeta", "dag_extended", "dag_from_nodes", "dag_root"]

D = TypeVar("D", bound=type)


class DAGMeta(type):
    """Metaclass of :class:`~trio_dag.DAG`: validates and compiles the class body."""

    @classmethod
    def __prepare__(mcs, name: str, bases: tuple[type, ...], /, **kw: Any) -> _Namespace:
        return _Namespace(name)

    def __new__(
        mcs,
        name: str,
        bases: tuple[type, ...],
        ns: dict[str, Any],
        /,
        *,
        compiled: Graph | None = None,
        **kw: Any,
    ) -> Any:
        cls = super().__new__(mcs, name, bases, dict(ns), **kw)
        if compiled is None:
            compiled = _compile_body(cls, name, ns, reserved_names(bases))
        else:  # from_nodes(), extend(): the graph is compiled already
            cls._dsl_nodes = None  # type: ignore[attr-defined]  # a class body cannot extend it
        compiled._owner = (cls.__module__, cls.__qualname__)  # results pickle by this reference
        cls.graph = compiled  # type: ignore[attr-defined]
        return cls

    def __init__(
        cls, name: str, bases: tuple[type, ...], ns: dict[str, Any], /, **kw: Any
    ) -> None:
        kw.pop("compiled", None)
        super().__init__(name, bases, ns, **kw)


def dag_root(cls: type) -> type:
    """The root DAG class of ``cls`` (:class:`~trio_dag.DAG`): the last class of
    its MRO that ``DAGMeta`` made."""
    return [k for k in cls.__mro__ if isinstance(k, DAGMeta)][-1]


def reserved_names(bases: tuple[type, ...]) -> frozenset[str]:
    """Names a node or input of a DAG class with these bases may not take.

    They would shadow the DAG class's own API: the names of the root class
    (:class:`~trio_dag.DAG`), public ones and private ones such as
    ``_dsl_nodes`` that the class uses. None while the root itself is made.
    """
    roots = [k for b in bases for k in b.__mro__ if isinstance(k, DAGMeta)]
    return _api_names(roots[-1]) if roots else frozenset()


@functools.cache
def _api_names(root: type) -> frozenset[str]:
    return frozenset(n for n in dir(root) if not n.startswith("__")) | {"graph"}


class _Namespace(dict[str, Any]):
    """Class-body namespace that refuses to redefine a node or input silently."""

    def __init__(self, dag: str) -> None:
        super().__init__()
        self.dag = dag

    def __setitem__(self, key: str, value: Any) -> None:
        old = self.get(key)
        if isinstance(old, _MEMBERS):
            # also a node redefined without @node: it would vanish without a word
            then = "" if isinstance(value, _MEMBERS) else f" (then as {value!r})"
            raise DuplicateNodeError(
                f"DAG {self.dag!r} defines {key!r} twice{then}; "
                f"node and input names must be unique",
                dag=self.dag,
                node=key,
            )
        super().__setitem__(key, value)


_MEMBERS = (NodeFunction, Input, Include, Resource)


def _compile_body(cls: type, name: str, ns: Mapping[str, Any], reserved: frozenset[str]) -> Graph:
    """The graph of DAG class ``cls`` defined by the class body ``ns``.

    The members of its bases come first, those of the body replace them by
    name; they are kept on the class (``_dsl_nodes``, ...) for its subclasses.

    Raises:
        DAGDefinitionError: (a subclass of it) the class body is invalid.
    """
    nodes: dict[str, NodeFunction[Any, Any]] = {}
    inputs: dict[str, Input] = {}
    includes: dict[str, Include] = {}
    resources: dict[str, Resource] = {}
    members: list[dict[str, Any]] = [nodes, inputs, includes, resources]
    for base in reversed(cls.__mro__[1:]):
        if getattr(base, "_dsl_nodes", {}) is None:
            raise DAGDefinitionError(
                f"DAG {name!r} subclasses {base.__name__!r}, which was built by "
                f"DAG.from_nodes() or extend(); its nodes are not class attributes, so "
                f"a class body cannot extend them: add nodes with "
                f"{base.__name__}.extend(name, nodes) instead",
                dag=name,
            )
        nodes.update(getattr(base, "_dsl_nodes", {}))
        inputs.update(getattr(base, "_dsl_inputs", {}))
        includes.update(getattr(base, "_dsl_includes", {}))
        resources.update(getattr(base, "_dsl_resources", {}))
    seen: dict[int, str] = {id(v): k for k, v in nodes.items()}
    for key, value in ns.items():
        if isinstance(value, NodeFunction):
            if id(value) in seen and seen[id(value)] != key:
                raise DuplicateNodeError(
                    f"DAG {name!r} registers the same node function under two names, "
                    f"{seen[id(value)]!r} and {key!r}; define each node once",
                    dag=name,
                    node=key,
                )
            seen[id(value)] = key
            check_name(name, key, "node", identifier=True, reserved=reserved)
            _own(members, nodes, key, value)
        elif isinstance(value, Input):
            check_name(name, key, "input", identifier=True, reserved=reserved)
            _own(members, inputs, key, value)
        elif isinstance(value, Include):
            check_name(name, key, "inclusion", identifier=True, reserved=reserved)
            _own(members, includes, key, value)
        elif isinstance(value, Resource):
            check_name(name, key, "resource", identifier=True, reserved=reserved)
            _own(members, resources, key, value)
    sup = ns.get("supervisor", getattr(cls, "supervisor", None))
    if not isinstance(sup, Supervisor):
        raise DAGDefinitionError(
            f"DAG {name!r}: supervisor must be a trio_dag.Supervisor, got {sup!r}", dag=name
        )
    known = set(nodes) | set(inputs) | set(resources)
    specs = [spec_from_function(name, k, v, known) for k, v in nodes.items()]
    res_specs = [resource_spec(name, k, v, inputs, nodes) for k, v in resources.items()]
    if includes:
        _include(name, specs, res_specs, nodes, inputs, resources, includes)
    cls._dsl_nodes = nodes  # type: ignore[attr-defined]
    cls._dsl_inputs = inputs  # type: ignore[attr-defined]
    cls._dsl_includes = includes  # type: ignore[attr-defined]
    cls._dsl_resources = resources  # type: ignore[attr-defined]
    return _compiled(name, specs, {k: v.default for k, v in inputs.items()}, res_specs)


def dag_from_nodes(
    root: D,
    module: str,
    name: str,
    nodes: Iterable[Node],
    inputs: Iterable[str] | Mapping[str, Input],
    supervisor: Supervisor | None,
    resources: Mapping[str, Any] | None,
) -> D:
    """The class ``DAG.from_nodes(name, nodes, inputs, ...)`` returns: a subclass
    of ``root`` (``DAG``) that belongs to module ``module``.

    Raises:
        DAGDefinitionError: (a subclass of it) the graph is invalid.
    """
    _check_dag_name(name, "from_nodes()")
    reserved = reserved_names((root,))
    declared = _declared_inputs(name, inputs, reserved)
    if supervisor is not None and not isinstance(supervisor, Supervisor):
        raise DAGDefinitionError(
            f"DAG {name!r}: supervisor must be a trio_dag.Supervisor, got {supervisor!r}",
            dag=name,
        )
    res_specs = []
    for k, v in (resources or {}).items():
        if not isinstance(v, Resource):
            raise DAGDefinitionError(
                f"DAG {name!r}: resource {k!r} must be declared with trio_dag.resource(), "
                f"got {v!r}",
                dag=name,
            )
        check_name(name, k, "resource", identifier=False, reserved=reserved)
        res_specs.append(resource_spec(name, k, v, declared))
    graph = _compiled(name, specs_from_nodes(name, nodes, reserved), declared, res_specs)
    ns: dict[str, Any] = {"__qualname__": name, "__module__": module}
    if supervisor is not None:
        ns["supervisor"] = supervisor
    return DAGMeta(name, (root,), ns, compiled=graph)  # type: ignore[return-value]


def dag_extended(
    base: D,
    module: str,
    name: str,
    nodes: Iterable[Node],
    inputs: Iterable[str] | Mapping[str, Input],
) -> D:
    """The class ``base.extend(name, nodes, inputs)`` returns: a subclass of
    ``base`` with its nodes and inputs plus the new ones, in module ``module``.

    Raises:
        DAGDefinitionError: (a subclass of it) the extended graph is invalid.
    """
    _check_dag_name(name, f"{base.__name__}.extend()")
    reserved = reserved_names((base,))
    old: Graph = base.graph  # type: ignore[attr-defined]
    declared = dict(zip(old.inputs, old._defaults, strict=True))
    for k, v in _declared_inputs(name, inputs, reserved).items():
        if k in declared:
            raise DuplicateNodeError(
                f"DAG {name!r}: input {k!r} is declared by {base.__name__!r} already",
                dag=name,
                node=k,
            )
        declared[k] = v
    specs = [*old._specs, *specs_from_nodes(name, nodes, reserved)]
    ns = {"__qualname__": name, "__doc__": base.__doc__, "__module__": module}
    graph = _compiled(name, specs, declared, old._resources)
    return DAGMeta(name, (base,), ns, compiled=graph)  # type: ignore[return-value]


def _check_dag_name(name: object, where: str) -> None:
    """A DAG name given to ``where`` must be a non-empty string."""
    if not isinstance(name, str) or not name:
        raise InvalidNodeError(
            f"{where}: the DAG name must be a non-empty string, got {name!r}", dag=str(name)
        )


def _compiled(
    name: str,
    specs: list[NodeSpec],
    inputs: dict[str, Any],
    resources: list[ResourceSpec] | tuple[ResourceSpec, ...],
) -> Graph:
    graph = Graph(name, specs, inputs, resources)
    check_types(name, graph._specs)
    return graph


def _own(members: list[dict[str, Any]], kind: dict[str, Any], key: str, value: Any) -> None:
    """A class-body member ``key`` replaces whatever a base declared under that name
    (keeping its place when it is of the same kind)."""
    for m in members:
        if m is not kind:
            m.pop(key, None)
    kind[key] = value


def _include(
    dag: str,
    specs: list[Any],
    res_specs: list[Any],
    nodes: dict[str, NodeFunction[Any, Any]],
    inputs: dict[str, Input],
    resources: dict[str, Resource],
    includes: dict[str, Include],
) -> None:
    """Append the inclusions' nodes and resources to ``specs`` and ``res_specs``."""
    taken = {k: "node" for k in nodes} | {k: "input" for k in inputs}
    taken |= {k: "resource" for k in resources}
    expansions: list[Expansion] = [
        expand_include(dag, attr, inc, taken) for attr, inc in includes.items()
    ]
    values = set(nodes) | set(inputs)
    res_names = set(resources)
    for ex in expansions:
        values.update(s.name for s in ex.specs)
        res_names.update(r.name for r in ex.resources)
    check_wiring(dag, expansions, values, res_names, taken)
    for ex in expansions:
        specs.extend(ex.specs)
        res_specs.extend(ex.resources)


def _declared_inputs(
    name: str, inputs: Iterable[str] | Mapping[str, Input], reserved: frozenset[str]
) -> dict[str, Any]:
    """Input names (all required) or declarations, checked: name -> default."""
    declared: dict[str, Any] = {}
    if isinstance(inputs, Mapping):
        for k, v in inputs.items():
            if not isinstance(v, Input):
                raise DAGDefinitionError(
                    f"DAG {name!r}: input {k!r} must be declared with trio_dag.input(), got {v!r}",
                    dag=name,
                )
            declared[check_name(name, k, "input", identifier=False, reserved=reserved)] = v.default
        return declared
    if isinstance(inputs, str):
        inputs = (inputs,)
    for k in inputs:
        check_name(name, k, "input", identifier=False, reserved=reserved)
        if k in declared:
            raise DuplicateNodeError(f"DAG {name!r} declares input {k!r} twice", dag=name, node=k)
        declared[k] = NO_DEFAULT
    return declared
