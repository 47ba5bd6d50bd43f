"""Compilation: validated node specs -> one frozen, integer-indexed :class:`Graph`.

The specs are the records of ``_nodespec.py``; a node's call adapter comes
from ``_adapters.py`` and the Mermaid/DOT text from ``_export.py``.

Every algorithm here is O(V + E) and iterative, so a 10,000-deep chain or a
100,000-node generated graph compiles without recursion.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, final

from ._adapters import by_name, positional
from ._exceptions import CycleError, InputError, option_error
from ._export import to_dot, to_mermaid
from ._nodespec import NO_DEFAULT, NodeSpec, ResourceSpec
from ._resolve import node_index, resource_index, resource_inputs, unknown, unknown_after
from ._validate import did_you_mean, reject

# The compiler's input records are defined in _nodespec; re-exported for the
# modules that build them.
__all__ = ["NO_DEFAULT", "Graph", "NodeSpec", "ResourceSpec"]


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
        index = node_index(name, specs, inputs)
        input_slot = {inp: n + k for k, inp in enumerate(inputs)}
        res_index = resource_index(name, resources, index, inputs)
        res_inputs = tuple(resource_inputs(name, r, index, inputs) for r in resources)
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
                            raise unknown(name, spec, k, dep, [*index, *inputs, *res_index])
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
                    raise unknown_after(name, spec, dep, index, input_slot)
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
            positional(s.fn, s.kwnames) if s.run_in is None else by_name(s.fn, s.kwnames)
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
            hint = did_you_mean(name, self.nodes)
            raise KeyError(f"DAG {self.name!r} has no node {name!r}{hint}") from None

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
        return to_mermaid(self.inputs, self.resources, self.nodes, self._specs)

    def to_dot(self) -> str:
        """The graph in Graphviz DOT; edges point from a dependency to its dependent.

        Inputs are ellipses, nodes boxes, resources (if any) hexagons.

        Names are quoted DOT strings, one statement per line: ``"`` and ``\\`` get a
        backslash, a newline is written ``\\n`` (a line break in the label), other
        control characters and ``&`` as HTML entities (``&#11;``, ``&amp;``).
        """
        return to_dot(self.name, self.inputs, self.resources, self.nodes, self._specs)


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
