"""A node as declared, by either front door.

In a class body, ``@trio_dag.node`` makes the typed handle
:class:`NodeFunction` (:class:`MapNodeFunction` for a map node) of a
function, through the decorators ``@trio_dag.node(...)`` returns; for a
generated graph, :class:`Node` is one node of ``DAG.from_nodes`` and
``DAG.extend``. Both only record the function and its options: the checks
happen when the specs are built (``_specs.py``). :func:`trio_dag.node`
itself, with its typed overloads, is in ``_declare.py``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypeVar, final

from ._exceptions import option_error
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from ._placement import Placement

__all__ = ["MapNodeDecorator", "MapNodeFunction", "Node", "NodeDecorator", "NodeFunction", "make"]

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

    A node with ``run_in=`` is a plain ``def`` instead (see :func:`node`).
    It pickles by reference (as ``module.Class.node``) when it can be found
    there, so a placed node's function crosses to a worker process or a Dask
    worker as a name, not as its code; otherwise (a DAG class defined in a
    function, or in a ``__main__`` that a worker cannot import) as its
    function (which cloudpickle then copies by value), without its options.

    >>> import trio, trio_dag as td
    >>> class Shop(td.DAG):
    ...     prices = td.input()
    ...
    ...     @td.node(timeout=5.0)
    ...     async def total(prices):
    ...         return sum(prices)
    >>> Shop.total
    <trio_dag node 'Shop.total'>
    >>> trio.run(Shop.total, [1.5, 2.5])
    4.0
    >>> Shop.total.options
    {'timeout': 5.0}
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

    def __reduce__(self) -> str | tuple[Any, ...]:
        module = getattr(self, "__module__", None)
        qualname = getattr(self, "__qualname__", None)
        if module is not None and module != "__main__" and isinstance(qualname, str):
            found: Any = sys.modules.get(module)
            for part in qualname.split("."):
                found = getattr(found, part, None)
            if found is self:
                return qualname  # pickle stores "module.qualname" and checks it back
        return (type(self), (self.fn, {}))


class MapNodeFunction(NodeFunction[P, R]):
    """A map node of the class DSL (``@trio_dag.node(map_over=...)``).

    The function is called once per element, so calling the handle is typed
    as the function (one element in, an ``R`` out), while the node's value
    in a :class:`~trio_dag.RunResult` is the list of the results:
    ``result[Report.pages]`` is a ``list[R]``.

    >>> import trio_dag as td
    >>> class Book(td.DAG):
    ...     chapters = td.input()
    ...
    ...     @td.node(map_over="chapters")
    ...     async def pages(chapters: str) -> int:
    ...         return len(chapters)
    >>> isinstance(Book.pages, td.MapNodeFunction)
    True
    >>> Book.run_sync({"chapters": ["ab", "cde"]})[Book.pages]
    [2, 3]
    """

    __slots__ = ()


def make(fn: Any, options: dict[str, Any], cls: type[NodeFunction[Any, Any]]) -> Any:
    if isinstance(fn, NodeFunction):
        raise option_error(
            f"{fn!r} is already a node; apply @trio_dag.node once",
            option="fn",
            value=fn,
            wrong_type=True,
        )
    return cls(fn, options)


class _Decorator:
    """What ``@trio_dag.node(...)`` returns, holding the options until it is applied.

    Two final subclasses, so that the ``node()`` overloads can type what each makes.
    """

    __slots__ = ("options",)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options


@final
class NodeDecorator(_Decorator):
    """What ``@trio_dag.node(...)`` returns: applied to a function, makes the node."""

    __slots__ = ()

    def __call__(self, fn: Callable[P, Awaitable[R]], /) -> NodeFunction[P, R]:
        result: NodeFunction[P, R] = make(fn, self.options, NodeFunction)
        return result


@final
class MapNodeDecorator(_Decorator):
    """What ``@trio_dag.node(map_over=...)`` returns: makes a :class:`MapNodeFunction`."""

    __slots__ = ()

    def __call__(self, fn: Callable[P, Awaitable[R]], /) -> MapNodeFunction[P, R]:
        # NodeDecorator's twin: one class per return type, so node()'s overloads type the handle
        result: MapNodeFunction[P, R] = make(fn, self.options, MapNodeFunction)
        return result


@final
class Node:
    """A node of the programmatic form, for :meth:`DAG.from_nodes` and :meth:`DAG.extend`.

    ``deps`` is a sequence of names, passed to the function positionally in
    that order (so one function object can serve 100,000 generated nodes), or
    a mapping of parameter name to node or input name, passed by keyword.

    Args:
        name: the node's name: any non-empty string (not only identifiers),
            except the names of the DAG class's own API (``run``, ``graph``,
            ...), which are refused.
        fn: the async callable.
        deps: names of the nodes or inputs it reads, positionally; or a
            mapping ``{"param": "name", ...}`` to pass them by keyword.
        after: names of nodes that must complete before this one starts,
            without passing their values (order-only dependencies).
        retry: as for :func:`node`.
        timeout: as for :func:`node`.
        map_over: what to map over, as for :func:`node`: one of ``deps``
            (with keyword ``deps``, the parameter's name or the dependency's).
        cache: as for :func:`node`.
        version: as for :func:`node`.
        on_element_failure: as for :func:`node`.
        run_in: a placement or a placement name, as for :func:`node`; ``fn``
            is then a plain (sync) callable.
        limiter: a limit name, as for :func:`node`.
        chunk_size: elements per placed call of a map node, as for :func:`node`.
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
        cache: bool = False,
        version: str | None = None,
        on_element_failure: Literal["fail", "collect"] | None = None,
        run_in: Placement | str | None = None,
        limiter: str | None = None,
        chunk_size: int | None = None,
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
        given = (
            ("retry", retry),
            ("timeout", timeout),
            ("map_over", map_over),
            ("cache", None if cache is False else cache),
            ("version", version),
            ("on_element_failure", on_element_failure),
            ("run_in", run_in),
            ("limiter", limiter),
            ("chunk_size", chunk_size),
        )
        self.options = {k: v for k, v in given if v is not None}

    def __repr__(self) -> str:
        deps: object = self.deps
        if self.kwnames is not None:
            deps = dict(zip(self.kwnames, self.deps, strict=True))
        after = f", after={self.after!r}" if self.after else ""
        return f"Node({self.name!r}, deps={deps!r}{after})"
