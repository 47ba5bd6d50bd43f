"""Declaration: the markers used in DAG class bodies and programmatic specs.

``input``, ``get`` and ``node`` mark a class body's inputs, explicit
dependencies and nodes; :class:`Node` describes one node of a generated
graph. They only record what was declared: every check happens when the
specs are built (``_specs.py``), as the ``class`` statement runs or
``DAG.from_nodes`` is called.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Generic, Literal, ParamSpec, TypeVar, final, overload

from ._exceptions import option_error
from ._graph import NO_DEFAULT
from ._retry import RetryPolicy
from ._validate import reject

__all__ = [
    "OPTIONS",
    "Get",
    "Input",
    "MapNodeDecorator",
    "MapNodeFunction",
    "Node",
    "NodeDecorator",
    "NodeFunction",
    "get",
    "input",
    "node",
]


# ---------------------------------------------------------------- markers


@final
class Input:
    """A declared run input; create with :func:`trio_dag.input`."""

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

OPTIONS = ("retry", "timeout", "map_over", "on_element_failure", "after")
"""The options a node takes (checked when the DAG is defined)."""

P = ParamSpec("P")
R = TypeVar("R")


class NodeFunction(Generic[P, R]):
    """A node of the class DSL: the async function plus its options.

    ``Report.summary`` is a typed handle on the node: generic in the
    function's parameters ``P`` and its return type ``R``. Indexing a
    :class:`~trio_dag.RunResult` with it, ``result[Report.summary]``, gives
    an ``R`` to mypy and pyright (a string key gives ``Any``). A map node is a
    :class:`MapNodeFunction`, whose value is a ``list[R]``.

    It stays callable as the plain async function, typed from its signature,
    so a node can be unit tested on its own:
    ``await Pipeline.summary(users=..., orders=...)``.

    Attributes:
        fn: the decorated async function.
        options: the options given to :func:`node`.
        name: the node's name: the class attribute it was assigned to
            (``None`` until the class body that holds it is executed).
    """

    __slots__ = ("__dict__", "__wrapped__", "fn", "name", "options")

    def __init__(self, fn: Callable[P, Awaitable[R]], options: dict[str, Any]) -> None:
        self.fn = fn
        self.options = options
        self.name: str | None = None
        self.__wrapped__ = fn
        functools.update_wrapper(self, fn, updated=())

    def __set_name__(self, owner: type, name: str) -> None:
        if self.name is None:
            self.name = name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<trio_dag node {getattr(self.fn, '__qualname__', self.fn)!r}>"


class MapNodeFunction(NodeFunction[P, R]):
    """A map node of the class DSL (``@trio_dag.node(map_over=...)``).

    The function is called once per element, so calling the handle is typed
    as the function (one element in, an ``R`` out), while the node's value
    in a :class:`~trio_dag.RunResult` is the list of the results:
    ``result[Report.pages]`` is a ``list[R]``.
    """

    __slots__ = ()


def _make(fn: Any, options: dict[str, Any], cls: type[NodeFunction[Any, Any]]) -> Any:
    if isinstance(fn, NodeFunction):
        raise option_error(
            f"{fn!r} is already a node; apply @trio_dag.node once",
            option="fn",
            value=fn,
            wrong_type=True,
        )
    return cls(fn, options)


@final
class NodeDecorator:
    """What ``@trio_dag.node(...)`` returns: applied to a function, makes the node."""

    __slots__ = ("options",)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def __call__(self, fn: Callable[P, Awaitable[R]], /) -> NodeFunction[P, R]:
        result: NodeFunction[P, R] = _make(fn, self.options, NodeFunction)
        return result


@final
class MapNodeDecorator:
    """What ``@trio_dag.node(map_over=...)`` returns: makes a :class:`MapNodeFunction`."""

    __slots__ = ("options",)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def __call__(self, fn: Callable[P, Awaitable[R]], /) -> MapNodeFunction[P, R]:
        result: MapNodeFunction[P, R] = _make(fn, self.options, MapNodeFunction)
        return result


@overload
def node(fn: Callable[P, Awaitable[R]], /) -> NodeFunction[P, R]: ...
@overload
def node(
    *,
    map_over: str,
    on_element_failure: Literal["fail", "collect"] = "fail",
    retry: RetryPolicy | int | None = None,
    timeout: float | None = None,
    after: Iterable[str] = (),
) -> MapNodeDecorator: ...
@overload
def node(
    *,
    retry: RetryPolicy | int | None = None,
    timeout: float | None = None,
    map_over: None = None,
    after: Iterable[str] = (),
) -> NodeDecorator: ...
def node(
    fn: Callable[..., Any] | None = None,
    /,
    **options: Any,
) -> NodeFunction[Any, Any] | NodeDecorator | MapNodeDecorator:
    """Mark an ``async def`` in a DAG class body as a node.

    Use bare (``@trio_dag.node``) or with options
    (``@trio_dag.node(retry=3, timeout=5.0)``). Each parameter names a
    dependency: a node or a declared input of the same name, or the name given
    with ``param=trio_dag.get("name")``. A parameter with an ordinary default
    that names no node or input keeps its default.

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
    result: NodeFunction[Any, Any] = _make(fn, options, NodeFunction)
    return result


@final
class Node:
    """A node of the programmatic form, for :meth:`DAG.from_nodes` and :meth:`DAG.extend`.

    ``deps`` is a sequence of names, passed to the function positionally in
    that order (so one function object can serve 100,000 generated nodes), or
    a mapping of parameter name to node or input name, passed by keyword.

    Args:
        name: the node's name (any non-empty string).
        fn: the async callable.
        deps: names of the nodes or inputs it reads, positionally; or a
            mapping ``{"param": "name", ...}`` to pass them by keyword.
        after: names of nodes that must complete before this one starts,
            without passing their values (order-only dependencies).
        retry: as for :func:`node`.
        timeout: as for :func:`node`.
        map_over: what to map over, as for :func:`node`: one of ``deps``
            (with keyword ``deps``, the parameter's name or the dependency's).
        on_element_failure: as for :func:`node`.
    """

    __slots__ = ("after", "deps", "fn", "kwnames", "name", "options")

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        deps: Iterable[str] | Mapping[str, str] = (),
        *,
        after: Iterable[str] = (),
        retry: RetryPolicy | int | None = None,
        timeout: float | None = None,
        map_over: str | None = None,
        on_element_failure: Literal["fail", "collect"] | None = None,
    ) -> None:
        self.name = name
        self.fn = fn
        self.kwnames: tuple[str, ...] | None = None
        if isinstance(deps, Mapping):
            self.kwnames = tuple(deps.keys())
            self.deps: tuple[str, ...] = tuple(deps.values())
        else:
            self.deps = tuple(deps) if not isinstance(deps, str) else (deps,)
        self.after = after  # checked with the other options, as the DAG is defined
        self.options = {
            k: v
            for k, v in (
                ("retry", retry),
                ("timeout", timeout),
                ("map_over", map_over),
                ("on_element_failure", on_element_failure),
            )
            if v is not None
        }

    def __repr__(self) -> str:
        deps: object = self.deps
        if self.kwnames is not None:
            deps = dict(zip(self.kwnames, self.deps, strict=True))
        after = f", after={self.after!r}" if self.after else ""
        return f"Node({self.name!r}, deps={deps!r}{after})"
