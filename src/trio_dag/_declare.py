"""Declaration: the markers used in DAG class bodies and programmatic specs.

``input``, ``get`` and ``node`` mark a class body's inputs, explicit
dependencies and nodes; ``include`` copies another DAG's nodes in and
``resource`` declares a run-scoped resource; :class:`Node` describes one
node of a generated graph. They only record what was declared: every check happens when the
specs are built (``_specs.py``), as the ``class`` statement runs or
``DAG.from_nodes`` is called. The typed handle ``node`` makes of a function
(:class:`~trio_dag.NodeFunction`) and :class:`Node` are in ``_node.py``
(re-exported here).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, final, overload

from ._exceptions import option_error
from ._graph import Graph
from ._node import MapNodeDecorator, MapNodeFunction, Node, NodeDecorator, NodeFunction, make
from ._nodespec import NO_DEFAULT
from ._retry import RetryPolicy
from ._validate import reject

if TYPE_CHECKING:
    from ._placement import Placement

__all__ = [
    "OPTIONS",
    "Get",
    "Include",
    "Input",
    "MapNodeDecorator",
    "MapNodeFunction",
    "Node",
    "NodeDecorator",
    "NodeFunction",
    "Resource",
    "get",
    "include",
    "input",
    "node",
    "resource",
]


# ---------------------------------------------------------------- markers


@final
class Input:
    """A declared run input; create with :func:`trio_dag.input`.

    It stays in the class body as the attribute it was declared as:

    >>> import trio_dag as td
    >>> class Greeting(td.DAG):
    ...     who = td.input()
    ...     punctuation = td.input(default="!")
    ...
    ...     @td.node
    ...     async def text(who, punctuation):
    ...         return f"hello, {who}{punctuation}"
    >>> Greeting.who.required, Greeting.punctuation.required
    (True, False)
    >>> Greeting.punctuation
    trio_dag.input(default='!')
    >>> Greeting.run_sync({"who": "ann"})["text"]
    'hello, ann!'
    """

    __slots__ = ("default", "name")

    def __init__(self, default: Any = NO_DEFAULT) -> None:
        self.default = default
        self.name: str | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def required(self) -> bool:
        """Whether a run must be given this input."""
        return self.default is NO_DEFAULT

    def __repr__(self) -> str:
        d = "" if self.required else f"default={self.default!r}"
        return f"trio_dag.input({d})"


def input(default: Any = NO_DEFAULT) -> Any:
    """Declare a run input in a DAG class body.

    ``day = trio_dag.input()`` is required; ``trio_dag.input(default=...)`` is
    optional. Nodes depend on an input by naming it as a parameter.
    """
    return Input(default)


@final
class Get:
    """A dependency under another name; create with :func:`trio_dag.get`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            reject("trio_dag.get()", "name", name, "a node or input name", wrong_type=True)
        self.name = name

    def __repr__(self) -> str:
        return f"trio_dag.get({self.name!r})"


def get(name: str) -> Any:
    """Declare, as a parameter default, a dependency on ``name``.

    ``async def summary(users, when=trio_dag.get("day"))`` makes ``summary``
    depend on ``day`` and receive its value as ``when``.
    """
    return Get(name)


# ------------------------------------------------------------------ nodes

OPTIONS = (
    "retry",
    "timeout",
    "map_over",
    "cache",
    "version",
    "on_element_failure",
    "after",
    "run_in",
    "limiter",
    "chunk_size",
)
"""The options a node takes (checked when the DAG is defined)."""

P = ParamSpec("P")
R = TypeVar("R")


@overload
def node(fn: Callable[P, Awaitable[R]], /) -> NodeFunction[P, R]: ...
# A placed node's body is a plain ``def``: its return type is the node's value type.
# (The overloads repeat the options on purpose: one per shape a type checker must
# tell apart, placed or not, mapped or not.)
@overload
def node(
    *,
    run_in: Placement | str,
    map_over: str,
    on_element_failure: Literal["fail", "collect"] = "fail",
    retry: RetryPolicy | int | None = None,
    timeout: float | None = None,
    cache: bool = False,
    version: str | None = None,
    after: Iterable[str] = (),
    limiter: str | None = None,
    chunk_size: int | None = None,
) -> Callable[[Callable[P, R]], MapNodeFunction[P, R]]: ...
@overload
def node(
    *,
    run_in: Placement | str,
    retry: RetryPolicy | int | None = None,
    timeout: float | None = None,
    map_over: None = None,
    cache: bool = False,
    version: str | None = None,
    after: Iterable[str] = (),
    limiter: str | None = None,
) -> Callable[[Callable[P, R]], NodeFunction[P, R]]: ...
@overload
def node(
    *,
    map_over: str,
    on_element_failure: Literal["fail", "collect"] = "fail",
    retry: RetryPolicy | int | None = None,
    timeout: float | None = None,
    cache: bool = False,
    version: str | None = None,
    after: Iterable[str] = (),
    run_in: None = None,
    limiter: str | None = None,
    chunk_size: int | None = None,
) -> MapNodeDecorator: ...
@overload
def node(
    *,
    retry: RetryPolicy | int | None = None,
    timeout: float | None = None,
    map_over: None = None,
    cache: bool = False,
    version: str | None = None,
    after: Iterable[str] = (),
    run_in: None = None,
    limiter: str | None = None,
) -> NodeDecorator: ...
def node(
    fn: Callable[..., Any] | None = None,
    /,
    **options: Any,
) -> Any:
    """Mark an ``async def`` in a DAG class body as a node (or a ``def``, with ``run_in``).

    Use bare (``@trio_dag.node``) or with options
    (``@trio_dag.node(retry=3, timeout=5.0)``). Each parameter names a
    dependency: a node or a declared input of the same name, or the name given
    with ``param=trio_dag.get("name")``. A parameter with an ordinary default
    that names no node or input keeps its default.

    A node's body is an ``async def`` run by the event loop, unless the node
    has ``run_in=``: then it is a plain ``def`` run where the placement says
    (a thread, a worker process, an executor or a Dask cluster), and the
    event loop never blocks on it. Every other option works the same on
    placed nodes.
    The result is a typed handle on the node (:class:`NodeFunction`, or
    :class:`MapNodeFunction` with ``map_over``): ``result[Report.summary]``
    has the function's return type.

    Args:
        retry: a :class:`~trio_dag.RetryPolicy`, or an int ``n`` for
            ``RetryPolicy(max_attempts=n)``.
        timeout: seconds allowed per attempt (``trio.fail_after`` inside the
            attempt's own task).
        map_over: the parameter to map over: the function runs once per
            element of that dependency's value, and the node's value is the
            list of results in input order.
        run_in: where the body of a ``def`` node runs: a placement
            (:class:`~trio_dag.InThread`, :class:`~trio_dag.InProcess`,
            :class:`~trio_dag.InExecutor`) or the name of one, bound when the
            run starts (``run(..., placements={"cluster": ...})``).
        limiter: the name of a capacity limit shared by every node that names
            it, bound when the run starts (``run(..., limiters={"db": 4})``);
            an attempt holds one of its tokens while it runs.
        chunk_size: with ``map_over`` and ``run_in``: send this many elements
            per call to the placement (one call per chunk); the results are
            flattened in order.
        cache: in a run with a ``store``, reuse the value stored for the same
            key (DAG and node name, code version, the data versions of its
            dependencies) instead of running the body; see :doc:`durability`.
        version: the node's code version, instead of the hash of its code:
            change it to invalidate the node's cache entries and journal records.
        on_element_failure: for a map node, what a failed element does:
            ``"fail"`` (the default) fails the node, keeping the elements that
            completed for ``resume``; ``"collect"`` completes the node with
            the values of the elements that succeeded and reports the failed
            ones in :meth:`RunResult.element_errors
            <trio_dag.RunResult.element_errors>`.
        after: names of nodes that must complete before this one starts,
            without passing their values (order-only dependencies).
    """
    unknown = set(options) - set(OPTIONS)
    if unknown:
        bad = sorted(unknown)[0]
        raise option_error(
            f"trio_dag.node() got an unknown option {bad!r}; the options are {', '.join(OPTIONS)}",
            option=bad,
            value=options[bad],
            wrong_type=True,
        )
    if fn is None:
        if options.get("map_over") is not None:
            return MapNodeDecorator(options)
        return NodeDecorator(options)
    result: NodeFunction[Any, Any] = make(fn, options, NodeFunction)
    return result


# ------------------------------------------------------------ composition


@final
class Include:
    """Another DAG's nodes, copied into a DAG class body; create with :func:`trio_dag.include`."""

    __slots__ = ("dag", "inputs", "name", "prefix")

    def __init__(self, dag: Any, inputs: dict[str, str], prefix: str | None) -> None:
        self.dag = dag
        self.inputs = inputs
        self.prefix = prefix
        self.name: str | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        p = "" if self.prefix is None else f", prefix={self.prefix!r}"
        return f"trio_dag.include({self.dag.__name__}, inputs={self.inputs!r}{p})"


def include(
    dag: Any, inputs: Mapping[str, str] | None = None, *, prefix: str | None = None
) -> Any:
    """Copy the nodes of DAG class ``dag`` into the DAG class being defined.

    ``etl = trio_dag.include(Etl, inputs={"day": "day"})`` adds every node
    ``x`` of ``Etl`` as ``etl.x`` (the attribute name is the prefix;
    ``prefix=`` overrides it), with its options. The result is one graph,
    run by one scheduler under one supervisor. Downstream nodes read an
    included value with ``trio_dag.get("etl.x")``.

    Args:
        dag: a :class:`~trio_dag.DAG` subclass.
        inputs: wiring, inner input name to the outer name that feeds it: an
            input or node of the outer DAG (``"etl2.summary"`` for a node of
            another inclusion). An inner resource may be wired to an outer
            resource too, to share it. Inner inputs with a default may be
            left unwired: they keep the default. Inner resources left
            unwired become resources of the outer DAG, prefixed like nodes.
        prefix: the prefix of the copied names, instead of the attribute name.

    Raises:
        InvalidOptionError: ``dag`` is not a DAG class, or ``inputs`` or
            ``prefix`` has the wrong type. Wiring that names nothing, a
            required input left unwired, a prefix that collides and a cycle
            through the inclusion are :class:`~trio_dag.DAGDefinitionError`\\ s
            raised when the outer class is defined.
    """
    where = "trio_dag.include()"
    if not (isinstance(dag, type) and isinstance(getattr(dag, "graph", None), Graph)):
        reject(where, "dag", dag, "a trio_dag.DAG subclass", wrong_type=True)
    wiring: dict[str, str] = {}
    if inputs is not None:
        if not isinstance(inputs, Mapping):
            reject(
                where,
                "inputs",
                inputs,
                "a mapping of inner input names to outer names",
                wrong_type=True,
            )
        for k, v in inputs.items():
            if not isinstance(k, str) or not isinstance(v, str) or not v:
                reject(
                    where,
                    "inputs",
                    {k: v},
                    "entries 'inner input name': 'outer name' (str)",
                    wrong_type=True,
                )
            wiring[k] = v
    if prefix is not None and (not isinstance(prefix, str) or not prefix):
        reject(where, "prefix", prefix, "a non-empty string or None", wrong_type=True)
    return Include(dag, wiring, prefix)


@final
class Resource:
    """A run-scoped resource; create with :func:`trio_dag.resource`."""

    __slots__ = ("factory", "name")

    def __init__(self, factory: Callable[..., Any]) -> None:
        self.factory = factory
        self.name: str | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"trio_dag.resource({getattr(self.factory, '__qualname__', self.factory)!r})"


def resource(factory: Callable[..., Any]) -> Any:
    """Declare, in a DAG class body, a resource the run opens and closes.

    ``client = trio_dag.resource(lambda: httpx.AsyncClient())``: ``factory``
    returns an async context manager, or is an
    :func:`~contextlib.asynccontextmanager` function. A node that names
    ``client`` as a parameter receives the value its ``__aenter__`` returned.
    The factory's parameters may name inputs of the DAG, resolved like a
    node's (a parameter with an ordinary default keeps it).

    A resource is entered at most once per run (once per stream), lazily,
    just before the first node that needs it starts, in a task of its own;
    and exited when the run ends, however it ends, in reverse order of
    entry (an entry still in progress then is cancelled). It is not a node
    and not in the results. A resource no running node needs is never
    entered. When entering fails, every node that needs
    it fails with a :class:`~trio_dag.ResourceError` naming it (the
    factory's exception is its ``__cause__``).

    Raises:
        InvalidOptionError: ``factory`` is not callable.
    """
    if not callable(factory):
        reject(
            "trio_dag.resource()",
            "factory",
            factory,
            "a callable returning an async context manager",
            wrong_type=True,
        )
    return Resource(factory)
