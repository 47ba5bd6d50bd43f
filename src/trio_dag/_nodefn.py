"""Nodes of the class DSL: the typed handle :class:`NodeFunction` (and
:class:`MapNodeFunction` for a map node) that ``@trio_dag.node`` makes of a
function, and the decorators ``@trio_dag.node(...)`` returns.

The handle records the function and its options; the checks happen when the
specs are built (``_specs.py``). :func:`trio_dag.node` itself, with its typed
overloads, is in ``_declare.py``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, TypeVar, final

from ._exceptions import option_error

__all__ = ["MapNodeDecorator", "MapNodeFunction", "NodeDecorator", "NodeFunction", "make"]

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
