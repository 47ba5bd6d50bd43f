"""Fault injection and node replacement: a new DAG class from a compiled graph."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, final

import trio

from .._context import current_attempt
from .._dag import DAG
from .._dag_build import DAGMeta
from .._exceptions import InvalidOptionError
from .._graph import Graph
from .._validate import check_int, reject

if TYPE_CHECKING:
    from .._nodespec import NodeSpec

__all__ = ["InjectedFault", "fail", "hang", "replace"]


@final
class InjectedFault(Exception):
    """The error :func:`fail` raises when no other exception is given.

    Attributes:
        node: the node it was injected into.
        attempt: the attempt it failed (from 1; for a map node, the element's
            attempt).
    """

    def __init__(self, node: str, attempt: int) -> None:
        super().__init__(f"injected fault: node {node!r}, attempt {attempt}")
        self.node = node
        self.attempt = attempt

    def __reduce__(self) -> tuple[Any, ...]:
        return (InjectedFault, (self.node, self.attempt))


def replace(
    dag: type[DAG],
    bodies: Mapping[str, Callable[..., Any]] | None = None,
    /,
    **more: Callable[..., Any],
) -> type[DAG]:
    """A copy of ``dag`` in which the named nodes run other bodies.

    A replacement is called exactly as the original body would be: with the
    same arguments (by parameter name for a node defined in a class body,
    positionally in ``deps`` order for a :class:`~trio_dag.Node`), under the
    node's own retry policy, timeout and map. It must be a function of the
    same kind (``async def`` for an ``async def`` node). Dependencies do not
    change; a replacement that needs fewer values may take ``**kwargs`` or
    ``*args``.

    >>> import trio_dag as td
    >>> from trio_dag import testing as tdt
    >>> class Report(td.DAG):
    ...     @td.node
    ...     async def orders():
    ...         raise ConnectionError("no database in a unit test")
    ...
    ...     @td.node
    ...     async def total(orders):
    ...         return sum(orders)
    >>> async def fake_orders():
    ...     return [12.5, 30.0]
    >>> tdt.run_virtual(tdt.replace(Report, orders=fake_orders))["total"]
    42.5

    Args:
        dag: the DAG class to copy; it is not changed.
        bodies: node name -> replacement, for names that are not identifiers
            (nodes built with :meth:`~trio_dag.DAG.from_nodes`).
        **more: node name -> replacement.

    Returns:
        A new DAG class, a subclass of ``dag``.

    Raises:
        InvalidOptionError: a name is not a node of ``dag``, or a replacement
            is not callable, or is sync for an async node (or async for a
            sync one).
    """
    wanted = {**(bodies or {}), **more}
    where = f"trio_dag.testing.replace({_name(dag)})"
    checked: dict[str, Callable[..., Any]] = {}
    for node, body in wanted.items():
        spec = _spec(dag, node, where)
        if not callable(body):
            reject(where, node, body, "a callable", wrong_type=True, node=node)
        if _is_async(body) != _is_async(spec.fn):
            kind = "an async function" if _is_async(spec.fn) else "a sync function"
            reject(where, node, body, f"{kind}, like the body it replaces", node=node)
        checked[node] = body
    return _rebuild(dag, checked, "replace")


def fail(
    dag: type[DAG],
    node: str,
    /,
    exc: BaseException | type[BaseException] | None = None,
    *,
    times: int | None = None,
) -> type[DAG]:
    """A copy of ``dag`` in which ``node`` raises on its first ``times`` attempts.

    The failing attempts raise before the real body is called; later
    attempts run it. Attempts are counted per run and per node, as
    :func:`trio_dag.current_attempt` counts them (a level restart is an
    attempt; for a map node each element counts its own), so every run of
    the returned class fails the same way.

    >>> import trio_dag as td
    >>> from trio_dag import testing as tdt
    >>> class Nightly(td.DAG):
    ...     @td.node(retry=td.RetryPolicy(max_attempts=3, initial_delay=5))
    ...     async def fetch():
    ...         return "rows"
    >>> Flaky = tdt.fail(Nightly, "fetch", ConnectionError("reset"), times=2)
    >>> result = tdt.run_virtual(Flaky)
    >>> result["fetch"], result.attempts("fetch")
    ('rows', 3)
    >>> tdt.run_virtual(tdt.fail(Nightly, "fetch"))   # every attempt fails
    Traceback (most recent call last):
      ...
    trio_dag.RunFailed: ...

    Args:
        dag: the DAG class to copy; it is not changed.
        node: the node to fail; its body must be ``async def``.
        exc: what to raise: an exception (raised as it is, on every failing
            attempt), an exception class (instantiated with a message naming
            the node and the attempt), or ``None`` for an
            :class:`InjectedFault`.
        times: how many attempts fail (an int >= 1); ``None``: every attempt.

    Returns:
        A new DAG class, a subclass of ``dag``.

    Raises:
        InvalidOptionError: ``node`` is not a node of ``dag``, its body is
            sync, or ``exc`` or ``times`` is invalid.
    """
    where = f"trio_dag.testing.fail({_name(dag)}, {node!r})"
    spec = _spec(dag, node, where)
    limit = _times(where, times, node)
    kind = exc if isinstance(exc, type) else type(exc)
    if exc is not None and not issubclass(kind, BaseException):
        reject(where, "exc", exc, "an exception, an exception class or None", node=node)
    if issubclass(kind, trio.Cancelled):
        reject(where, "exc", exc, "not trio.Cancelled (only trio may raise it)", node=node)

    def error(attempt: int) -> BaseException:
        if exc is None:
            return InjectedFault(node, attempt)
        if isinstance(exc, type):
            return exc(f"injected fault: node {node!r}, attempt {attempt}")
        return exc

    body = spec.fn
    if not _is_async(body):
        reject(where, "node", node, "a node with an async body", node=node)

    @functools.wraps(body)
    async def failing(*args: Any, **kwargs: Any) -> Any:
        attempt = current_attempt().attempt
        if limit is None or attempt <= limit:
            raise error(attempt)
        return await body(*args, **kwargs)

    return _rebuild(dag, {node: failing}, "fail")


def hang(dag: type[DAG], node: str, /, *, times: int | None = None) -> type[DAG]:
    """A copy of ``dag`` in which ``node`` blocks on its first ``times`` attempts.

    A hanging attempt waits (``trio.sleep_forever``) until it is cancelled:
    by the node's timeout (the attempt then fails with
    :class:`trio.TooSlowError` and may be retried), by the run's
    ``deadline``, by ``fail_fast`` after another node failed, or by leaving
    a :meth:`~trio_dag.DAG.start` block. Later attempts run the real body.
    Use it with virtual time (:func:`run_virtual`, ``autojump_clock``), where
    a timeout of an hour passes at once.

    >>> import trio_dag as td
    >>> from trio_dag import testing as tdt
    >>> class Nightly(td.DAG):
    ...     @td.node(timeout=60, retry=td.RetryPolicy(max_attempts=2, initial_delay=0))
    ...     async def fetch():
    ...         return "rows"
    >>> result = tdt.run_virtual(tdt.hang(Nightly, "fetch", times=1))
    >>> result["fetch"], result.finished_at("fetch")  # a 60 s timeout, then a good attempt
    ('rows', 60.0)

    Args:
        dag: the DAG class to copy; it is not changed.
        node: the node to block; its body must be ``async def`` (a sync body
            in a thread or a process could not be cancelled).
        times: how many attempts block (an int >= 1); ``None``: every attempt.

    Returns:
        A new DAG class, a subclass of ``dag``.

    Raises:
        InvalidOptionError: ``node`` is not a node of ``dag``, its body is
            sync, or ``times`` is invalid.
    """
    where = f"trio_dag.testing.hang({_name(dag)}, {node!r})"
    spec = _spec(dag, node, where)
    limit = _times(where, times, node)
    body = spec.fn
    if not _is_async(body):
        reject(where, "node", node, "a node with an async body", node=node)

    @functools.wraps(body)
    async def hanging(*args: Any, **kwargs: Any) -> Any:
        if limit is None or current_attempt().attempt <= limit:
            await trio.sleep_forever()
        return await body(*args, **kwargs)

    return _rebuild(dag, {node: hanging}, "hang")


# -- helpers -------------------------------------------------------------------


def _name(dag: Any) -> str:
    if not (isinstance(dag, type) and issubclass(dag, DAG)) or dag is DAG:
        raise InvalidOptionError(
            f"trio_dag.testing: dag must be a trio_dag.DAG subclass, got {dag!r}",
            option="dag",
            value=dag,
        )
    return dag.__name__


def _spec(dag: type[DAG], node: str, where: str) -> NodeSpec:
    graph = dag.graph
    if node not in graph:
        names = ", ".join(map(repr, graph.nodes))
        reject(where, "node", node, f"a node of DAG {graph.name!r} ({names})", dag=graph.name)
    return graph._specs[graph._ix(node)]


def _times(where: str, times: Any, node: str) -> int | None:
    if times is None:
        return None
    return check_int(where, "times", times, minimum=1, node=node)


def _is_async(fn: Callable[..., Any]) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - a callable object's async __call__
    )


def _rebuild(dag: type[DAG], bodies: dict[str, Callable[..., Any]], what: str) -> type[DAG]:
    """A subclass of ``dag`` whose graph has the same specs but ``bodies``."""
    graph = dag.graph
    # A new body gets no explicit code version: its version is its own code's,
    # so a store's cache never serves the original's values to a fake or a
    # fault, nor stores theirs for the original.
    specs = [
        dataclasses.replace(spec, fn=bodies[spec.name], version=None)
        if spec.name in bodies
        else spec
        for spec in graph._specs
    ]
    inputs = dict(zip(graph.inputs, graph._defaults, strict=True))
    compiled = Graph(graph.name, specs, inputs, graph._resources)
    ns: dict[str, Any] = {
        "__qualname__": dag.__qualname__,
        "__module__": dag.__module__,
        "__doc__": f"{dag.__name__} with {what}: {', '.join(map(repr, bodies))}.",
    }
    return DAGMeta(dag.__name__, (dag,), ns, compiled=compiled)  # type: ignore[return-value]
