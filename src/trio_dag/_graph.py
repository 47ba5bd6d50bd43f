"""Compilation: validated node specs -> one frozen, integer-indexed :class:`Graph`.

Every algorithm here is O(V + E) and iterative, so a 10,000-deep chain or a
100,000-node generated graph compiles without recursion.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import keyword
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final

from ._exceptions import (
    CycleError,
    DAGDefinitionError,
    DuplicateNodeError,
    InputError,
    InvalidNodeError,
    UnknownDependencyError,
    option_error,
)
from ._validate import reject

if TYPE_CHECKING:
    from ._placement import Placement
    from ._retry import RetryPolicy

__all__ = ["Graph", "NodeSpec", "ResourceSpec"]


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


@final
class Graph:
    """The compiled, immutable form of a DAG.

    Nodes are numbered in definition order. Inputs occupy the value slots
    after the nodes, so a node's arguments are read from one flat list.

    Attributes:
        name: the DAG's name.
        nodes: node names in definition order.
        inputs: declared input names.
        order: the levels flattened; each level in definition order. This is
            the order sequential runs use.
        levels: tuples of node names; a node's level is the length of the
            longest dependency path from a root to it.
        resources: declared resource names (see :func:`trio_dag.resource`);
            not nodes, and not in the results.
    """

    __slots__ = (
        "_cached",
        "_chunks",
        "_code_versions",
        "_collect",
        "_defaults",
        "_dependents",
        "_fns",
        "_indegree",
        "_index",
        "_input_set",
        "_level_ix",
        "_level_of",
        "_limiter_names",
        "_limiters",
        "_maps",
        "_needs",
        "_node_deps",
        "_order_ix",
        "_owner",
        "_placed",
        "_placement_names",
        "_placements",
        "_plain",
        "_policies",
        "_res_inputs",
        "_resources",
        "_roots",
        "_slot_deps",
        "_specs",
        "_takes_slot",
        "_timeouts",
        "inputs",
        "levels",
        "name",
        "nodes",
        "order",
        "resources",
    )

    name: str
    nodes: tuple[str, ...]
    inputs: tuple[str, ...]
    order: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    resources: tuple[str, ...]

    def __init__(
        self,
        name: str,
        specs: Sequence[NodeSpec],
        inputs: dict[str, Any] | None = None,
        resources: Sequence[ResourceSpec] = (),
    ) -> None:
        inputs = inputs or {}
        n = len(specs)
        index: dict[str, int] = {}
        for i, spec in enumerate(specs):
            if spec.name in index:
                raise DuplicateNodeError(
                    f"DAG {name!r} defines node {spec.name!r} twice; node names must be unique",
                    dag=name,
                    node=spec.name,
                )
            if spec.name in inputs:
                raise DuplicateNodeError(
                    f"node {spec.name!r} of DAG {name!r} has the name of a declared input; "
                    f"rename the node or the input",
                    dag=name,
                    node=spec.name,
                )
            index[spec.name] = i
        input_slot = {inp: n + k for k, inp in enumerate(inputs)}
        res_index = _resource_index(name, resources, index, inputs)
        res_inputs = tuple(_resource_inputs(name, r, index, inputs) for r in resources)
        needs: list[tuple[tuple[int, int], ...] | None] = [None] * n

        slot_deps: list[tuple[int, ...]] = []
        node_deps: list[tuple[int, ...]] = []
        dependents: list[list[int]] = [[] for _ in range(n)]
        for i, spec in enumerate(specs):
            slots = []
            nd = []
            for k, dep in enumerate(spec.deps):
                j = index.get(dep)
                if j is None:
                    s = input_slot.get(dep)
                    if s is None:
                        r = res_index.get(dep)
                        if r is None:
                            raise _unknown(name, spec, k, dep, [*index, *inputs, *res_index])
                        needs[i] = (*(needs[i] or ()), (k, r))
                        if spec.map_over == k:
                            raise option_error(
                                f"node {spec.name!r} of DAG {name!r}: map_over names "
                                f"{dep!r}, a resource; map over a node or an input",
                                option="map_over",
                                value=dep,
                                dag=name,
                                node=spec.name,
                                definition=True,
                            )
                        continue
                    slots.append(s)
                else:
                    slots.append(j)
                    nd.append(j)
                    dependents[j].append(i)
            for dep in spec.after:  # order-only: waited for, never read
                j = index.get(dep)
                if j is None:
                    raise _unknown_after(name, spec, dep, index, input_slot)
                nd.append(j)
                dependents[j].append(i)
            slot_deps.append(tuple(slots))
            node_deps.append(tuple(nd))

        indegree = [len(d) for d in node_deps]
        level_of = _levels_or_cycle(name, specs, node_deps, dependents, indegree)
        depth = max(level_of, default=-1) + 1
        buckets: list[list[int]] = [[] for _ in range(depth)]
        for i, lv in enumerate(level_of):
            buckets[lv].append(i)

        names = tuple(s.name for s in specs)
        self.name = name
        self.nodes = names
        self.inputs = tuple(inputs)
        self._input_set = frozenset(inputs)
        self._defaults = tuple(inputs.values())
        self._specs = tuple(specs)
        self._index = index
        self._slot_deps = tuple(slot_deps)
        self._node_deps = tuple(node_deps)
        self._dependents = tuple(tuple(d) for d in dependents)
        self._indegree = tuple(indegree)
        self._roots = tuple(i for i in range(n) if not indegree[i])
        self._level_of = tuple(level_of)
        self._level_ix = tuple(tuple(b) for b in buckets)
        self._order_ix = tuple(i for b in buckets for i in b)
        # what the runtime reads per node, as flat tuples
        self._fns = tuple(
            _positional(s.fn, s.kwnames) if s.run_in is None else _by_name(s.fn, s.kwnames)
            for s in specs
        )
        self._policies = tuple(s.retry for s in specs)
        self._timeouts = tuple(s.timeout for s in specs)
        self._maps = tuple(s.map_over for s in specs)
        self._collect = tuple(s.collect for s in specs)
        # placement, limiter and chunks: None everywhere when no node asked for them
        placed = any(s.run_in is not None or s.limiter is not None for s in specs)
        self._placements = tuple(s.run_in for s in specs) if placed else None
        self._limiters = tuple(s.limiter for s in specs) if placed else None
        self._chunks = tuple(s.chunk_size for s in specs) if placed else None
        self._placed = (
            tuple(s.run_in is not None or s.limiter is not None for s in specs) if placed else None
        )
        self._placement_names = frozenset(s.run_in for s in specs if isinstance(s.run_in, str))
        self._limiter_names = frozenset(s.limiter for s in specs if s.limiter is not None)
        self._plain = tuple(
            s.retry is None
            and s.timeout is None
            and s.map_over is None
            and nd is None
            and s.takes_slot
            and s.run_in is None
            and s.limiter is None
            for s, nd in zip(specs, needs, strict=True)
        )
        self._takes_slot = tuple(s.takes_slot for s in specs)
        # resources: what the runtime reads (nothing per node for a node without any)
        self.resources = tuple(r.name for r in resources)
        self._resources = tuple(resources)
        self._res_inputs = res_inputs
        self._needs = tuple(needs)
        self.levels = tuple(tuple(names[i] for i in b) for b in buckets)
        self.order = tuple(names[i] for i in self._order_ix)
        # durability: read only by runs with a store
        self._cached = tuple(s.cache for s in specs)
        self._code_versions: tuple[str | None, ...] | None = None  # computed on first use
        self._owner: tuple[str, str] | None = None  # (module, qualname) of its DAG class

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by reference: the importable DAG class that owns the graph.

        Node functions (lambdas, closures) need not pickle; unpickling finds
        the DAG class by module and qualified name and takes its graph.
        """
        owner = self._owner
        if owner is None or _find_graph(*owner) is not self:
            where = "no DAG class" if owner is None else f"{owner[0]}.{owner[1]}"
            raise pickle.PicklingError(
                f"cannot pickle the graph of DAG {self.name!r}: it pickles by reference "
                f"to its DAG class, and {where} does not lead back to it; define the "
                f"DAG class (or assign the class DAG.from_nodes() returns to a name of "
                f"the same spelling) at module level"
            )
        return (_load_graph, owner)

    def __repr__(self) -> str:
        return (
            f"<Graph {self.name!r}: {len(self.nodes)} nodes, {len(self.inputs)} inputs, "
            f"{len(self.levels)} levels>"
        )

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def _ix(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            hint = difflib.get_close_matches(str(name), self.nodes, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            raise KeyError(f"DAG {self.name!r} has no node {name!r}{extra}") from None

    def bind_inputs(self, inputs: Mapping[str, Any] | None) -> list[Any]:
        """The run's input values in declaration order, defaults filled in (internal).

        Raises:
            InputError: a required input is missing or an unknown one is given.
            InvalidOptionError: ``inputs`` is not a mapping.
        """
        given: Any = {} if inputs is None else inputs
        if type(given) is not dict and not isinstance(given, Mapping):
            reject(
                f"DAG {self.name!r}",
                "inputs",
                given,
                "a mapping of input names to values",
                wrong_type=True,
            )
        names, defaults = self.inputs, self._defaults
        if len(given) == len(names) and all(k in given for k in names):
            return [given[k] for k in names]  # every input given: the common case
        unknown = [k for k in given if k not in self._input_set]
        missing = [
            k for k, d in zip(names, defaults, strict=True) if d is NO_DEFAULT and k not in given
        ]
        if unknown or missing:
            parts = []
            if missing:
                parts.append(f"missing required input(s) {', '.join(map(repr, missing))}")
            if unknown:
                parts.append(f"unknown input(s) {', '.join(map(repr, unknown))}")
            declared = ", ".join(
                f"{k}" + ("" if d is NO_DEFAULT else "=" + repr(d))
                for k, d in zip(names, defaults, strict=True)
            )
            raise InputError(
                f"DAG {self.name!r}: {'; '.join(parts)} (declared inputs: {declared or 'none'})",
                missing=missing,
                unknown=unknown,
            )
        return [given.get(k, d) for k, d in zip(names, defaults, strict=True)]

    def dependencies(self, name: str) -> tuple[str, ...]:
        """Names a node depends on: those it reads, nodes and inputs, in argument
        order, then the nodes it only runs after (``after=``).

        Raises:
            KeyError: ``name`` is not a node of this graph.
        """
        spec = self._specs[self._ix(name)]
        return spec.deps + spec.after if spec.after else spec.deps

    def dependents(self, name: str) -> tuple[str, ...]:
        """Names of the nodes that depend directly on node ``name``.

        Raises:
            KeyError: ``name`` is not a node of this graph.
        """
        return tuple(self.nodes[j] for j in self._dependents[self._ix(name)])

    def level_of(self, name: str) -> int:
        """The level (longest path from a root) of node ``name``."""
        return self._level_of[self._ix(name)]

    def to_mermaid(self) -> str:
        """The graph as a Mermaid flowchart (``flowchart TD``), inputs as rounded nodes.

        Resources, if any, are drawn as hexagons, with an edge to each node
        that uses one.

        Each node and input is defined on its own line, with its name as a quoted
        label; characters a label cannot hold raw (``"``, ``#``, brackets, ``|``,
        ``<``, ``>``, backslashes, newlines and other control characters) are
        written as Mermaid entity codes, ``#quot;`` or ``#<decimal>;``.
        """
        ids = {name: f"n{i}" for i, name in enumerate(self.nodes)}
        ids.update({inp: f"i{k}" for k, inp in enumerate(self.inputs)})
        ids.update({res: f"r{k}" for k, res in enumerate(self.resources)})
        lines = ["flowchart TD"]
        lines += [f'    {ids[inp]}(["{_esc_mermaid(inp)}"])' for inp in self.inputs]
        lines += [f'    {ids[res]}{{{{"{_esc_mermaid(res)}"}}}}' for res in self.resources]
        lines += [f'    {ids[name]}["{_esc_mermaid(name)}"]' for name in self.nodes]
        for spec in self._specs:
            lines += [f"    {ids[dep]} --> {ids[spec.name]}" for dep in spec.deps]
            lines += [f"    {ids[dep]} -.-> {ids[spec.name]}" for dep in spec.after]
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """The graph in Graphviz DOT; edges point from a dependency to its dependent.

        Inputs are ellipses, nodes boxes, resources (if any) hexagons.

        Names are quoted DOT strings, one statement per line: ``"`` and ``\\`` get a
        backslash, a newline is written ``\\n`` (a line break in the label), other
        control characters and ``&`` as HTML entities (``&#11;``, ``&amp;``).
        """
        lines = [f"digraph {_esc_dot(self.name)} {{", "    rankdir=TB;"]
        lines += [f"    {_esc_dot(inp)} [shape=ellipse];" for inp in self.inputs]
        lines += [f"    {_esc_dot(res)} [shape=hexagon];" for res in self.resources]
        lines += [f"    {_esc_dot(name)} [shape=box];" for name in self.nodes]
        for spec in self._specs:
            lines += [f"    {_esc_dot(dep)} -> {_esc_dot(spec.name)};" for dep in spec.deps]
            lines += [
                f"    {_esc_dot(dep)} -> {_esc_dot(spec.name)} [style=dashed];"
                for dep in spec.after
            ]
        lines.append("}")
        return "\n".join(lines) + "\n"


def _find_graph(module: str, qualname: str) -> Graph | None:
    """The graph of the DAG class ``module.qualname``, or ``None`` if there is none."""
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    graph = getattr(obj, "graph", None)
    return graph if isinstance(graph, Graph) else None


def _load_graph(module: str, qualname: str) -> Graph:
    """Unpickle a graph: the graph of DAG class ``module.qualname``."""
    graph = _find_graph(module, qualname)
    if graph is None:
        raise pickle.UnpicklingError(
            f"cannot unpickle a trio_dag graph: there is no DAG class {module}.{qualname} "
            f"in this process; import the module that defines it"
        )
    return graph


def _positional(fn: Callable[..., Any], kwnames: tuple[str, ...] | None) -> Callable[..., Any]:
    """``fn`` itself, or an adapter taking the deps positionally and passing them by name.

    The adapter is compiled for the names (``lambda _0, _1: fn(a=_0, b=_1)``),
    about three times as fast per call as building a dict; names that cannot
    be spelt as keywords (``deps={"not an id": ...}`` into ``**kwargs``) fall
    back to the dict.
    """
    if kwnames is None:
        return fn
    if all(k.isidentifier() and not keyword.iskeyword(k) for k in kwnames):
        params = ", ".join(f"_{k}" for k in range(len(kwnames)))
        call = ", ".join(f"{name}=_{k}" for k, name in enumerate(kwnames))
        try:
            adapter: Callable[..., Any] = eval(f"lambda {params}: fn({call})", {"fn": fn})
        except SyntaxError:  # pragma: no cover - e.g. __debug__
            pass
        else:
            return adapter
    return lambda *args: fn(**dict(zip(kwnames, args, strict=True)))


def _by_name(fn: Callable[..., Any], kwnames: tuple[str, ...] | None) -> Callable[..., Any]:
    """As :func:`_positional`, for a placed node: the adapter pickles (by reference to ``fn``)."""
    return fn if kwnames is None else ByName(fn, kwnames)


@final
class ByName:
    """Call ``fn`` with positional arguments passed as the keywords ``kwnames`` (internal).

    A placed node's adapter: unlike a lambda it pickles, as ``fn`` (by
    reference where ``fn`` can be) and the names. Its signature lists the
    names as positional parameters, so a :class:`~trio_dag.SerializationError`
    names an argument by its parameter.
    """

    __slots__ = ("fn", "kwnames")

    def __init__(self, fn: Callable[..., Any], kwnames: tuple[str, ...]) -> None:
        self.fn = fn
        self.kwnames = kwnames

    def __call__(self, *args: Any) -> Any:
        return self.fn(**dict(zip(self.kwnames, args, strict=True)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (ByName, (self.fn, self.kwnames))

    @property
    def __signature__(self) -> inspect.Signature:
        p = inspect.Parameter
        return inspect.Signature([p(k, p.POSITIONAL_OR_KEYWORD) for k in self.kwnames])

    def __repr__(self) -> str:
        return f"ByName({self.fn!r}, {self.kwnames!r})"


# Characters Python's str.splitlines() breaks a line at, besides the C0 controls.
_LINE_BREAKS = "\x85\u2028\u2029"
_CONTROLS = [chr(c) for c in (*range(0x20), 0x7F)] + list(_LINE_BREAKS)

# Mermaid decodes ``#quot;`` and ``#<decimal>;`` in a label. Escaped: the escape
# character ``#``; what ends or confuses a quoted label or its markdown form
# (``"`` ``[`` ``]`` ``|`` ``<`` ``>`` `````` ``\``); ``&``, as labels are HTML;
# and every control or line-break character, so one node stays on one line.
_MERMAID = str.maketrans(
    {c: f"#{ord(c)};" for c in ["#", "&", "\\", "[", "]", "|", "<", ">", "`", *_CONTROLS]}
    | {'"': "#quot;"}
)
# In a DOT quoted string only ``"`` needs a backslash; labels then read ``\\`` as
# ``\``, ``\n``/``\r`` as line breaks and HTML entities such as ``&#11;``.
_DOT = str.maketrans(
    {c: f"&#{ord(c)};" for c in _CONTROLS}
    | {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "&": "&amp;"}
)


def _esc_mermaid(s: str) -> str:
    return s.translate(_MERMAID)


def _esc_dot(s: str) -> str:
    return '"' + s.translate(_DOT) + '"'


def _resource_index(
    dag: str,
    resources: Sequence[ResourceSpec],
    index: Mapping[str, int],
    inputs: Mapping[str, Any],
) -> dict[str, int]:
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
            raise DuplicateNodeError(
                f"resource {res.name!r} of DAG {dag!r} has the name of {what}; "
                f"node, input and resource names must be unique",
                dag=dag,
                node=res.name,
            )
        out[res.name] = r
    return out


def _resource_inputs(
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


def _unknown(
    dag: str, spec: NodeSpec, k: int, dep: str, known: list[str]
) -> UnknownDependencyError:
    # never suggest the node itself: that would be a self-loop
    close = difflib.get_close_matches(dep, [x for x in known if x != spec.name], n=1)
    via = spec.via[k] if spec.via else ""
    return UnknownDependencyError(dag, spec.name, dep, close[0] if close else None, via=via)


def _unknown_after(
    dag: str, spec: NodeSpec, dep: str, index: Mapping[str, int], inputs: Mapping[str, int]
) -> DAGDefinitionError:
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


def _levels_or_cycle(
    dag: str,
    specs: Sequence[NodeSpec],
    node_deps: Sequence[tuple[int, ...]],
    dependents: Sequence[list[int]],
    indegree: Sequence[int],
) -> list[int]:
    """Kahn's algorithm: the level of every node, or a CycleError with the path."""
    n = len(specs)
    remaining = list(indegree)
    level = [0] * n
    queue = [i for i in range(n) if not remaining[i]]
    head = 0
    while head < len(queue):
        i = queue[head]
        head += 1
        li = level[i] + 1
        for j in dependents[i]:
            if level[j] < li:
                level[j] = li
            remaining[j] -= 1
            if not remaining[j]:
                queue.append(j)
    if len(queue) == n:
        return level
    # Every node left over still has a dependency that is left over, so
    # following such dependencies from any of them must come back to a node
    # already on the path: that stretch of the path is a cycle.
    start = next(i for i in range(n) if remaining[i])
    pos: dict[int, int] = {}
    path: list[int] = []
    i = start
    while i not in pos:
        pos[i] = len(path)
        path.append(i)
        i = next(j for j in node_deps[i] if remaining[j])
    cycle = path[pos[i] :]
    first = cycle.index(min(cycle))  # start from the earliest-defined node
    cycle = cycle[first:] + cycle[:first]
    raise CycleError(dag, [specs[c].name for c in [*cycle, cycle[0]]])
