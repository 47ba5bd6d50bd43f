"""Resources at run time: entered lazily, each in a task of its own, exited in reverse order.

A resource's async context manager is entered and exited in one dedicated
task (a *keeper*), as trio requires of context managers that open cancel
scopes or nurseries. A node that needs a resource asks the run's
:class:`Resources` table for it before the node starts: the first request
starts the keeper, later ones wait for the same entry. When the run (or the
stream) ends, :func:`hold` waits for entries still in progress, then releases
the keepers one by one, last entered first; each keeper exits its context
manager with the exception that ended the run (``None`` when it completed),
as a hand-written ``async with`` around the run would.

Nothing here runs for a DAG without resources, and nothing per node for a
node that needs none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, final

import outcome
import trio

from ._exceptions import ResourceError

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["Resources", "hold", "holding"]

T = TypeVar("T")


@final
class _Held:
    """One resource of one run: its entry, its value, its release."""

    __slots__ = ("args", "done", "entering", "error", "exc", "ready", "release", "value")

    def __init__(self, args: tuple[Any, ...]) -> None:
        self.args = args
        self.entering = trio.CancelScope()  # cancelled if the run ends before the entry
        self.ready = trio.Event()  # entered, or failed to
        self.release = trio.Event()  # the run is over: exit
        self.done = trio.Event()  # exited
        self.value: Any = None
        self.error: BaseException | None = None
        self.exc: BaseException | None = None  # what ended the run, for __aexit__


@final
class Resources:
    """The resources of one run, or of one stream (internal)."""

    __slots__ = ("entered", "exit_errors", "graph", "held", "nursery")

    def __init__(self, graph: Graph, nursery: trio.Nursery) -> None:
        self.graph = graph
        self.nursery = nursery
        self.held: list[_Held | None] = [None] * len(graph.resources)
        self.entered: list[int] = []  # in order of entry
        self.exit_errors: list[ResourceError] = []

    async def fill(self, node: int, args: list[Any], values: list[Any]) -> list[Any]:
        """``args`` of ``node`` with the values of the resources it needs inserted.

        ``values`` is the run's value list (its inputs after the nodes).

        Raises:
            ResourceError: a resource could not be entered.
        """
        needs = self.graph._needs[node]
        assert needs is not None
        for pos, r in needs:
            args.insert(pos, await self.get(r, values))
        return args

    async def get(self, r: int, values: list[Any]) -> Any:
        """The entered value of resource ``r``, entering it on first use."""
        g = self.graph
        n = len(g.nodes)
        spec = g._resources[r]
        args = tuple(values[n + k] for k in g._res_inputs[r])
        h = self.held[r]
        if h is None:
            h = self.held[r] = _Held(args)
            self.nursery.start_soon(self._keep, r, h, name=f"resource {spec.name}")
        elif args and not all(a is b or a == b for a, b in zip(args, h.args, strict=True)):
            given = ", ".join(f"{k}={v!r}" for k, v in zip(spec.deps, args, strict=True))
            was = ", ".join(f"{k}={v!r}" for k, v in zip(spec.deps, h.args, strict=True))
            raise ResourceError(
                f"resource {spec.name!r} of DAG {g.name!r} was entered once for the whole "
                f"stream with {was}; this item has {given}: a stream's resource may only "
                f"read inputs that are the same for every item",
                resource=spec.name,
                dag=g.name,
                phase="enter",
            )
        if not h.ready.is_set():
            await h.ready.wait()
        if h.error is not None:
            raise ResourceError(
                f"resource {spec.name!r} of DAG {g.name!r} could not be entered: "
                f"{type(h.error).__qualname__}: {h.error}",
                resource=spec.name,
                dag=g.name,
                phase="enter",
            ) from h.error
        return h.value

    async def _keep(self, r: int, h: _Held) -> None:
        """Enter resource ``r``, hold it until released, exit it: all in this task.

        ``h.entering`` encloses it all (a context manager may open a nursery or
        a cancel scope that lives until its exit), but :meth:`close` cancels it
        only while the entry is still in progress.
        """
        spec = self.graph._resources[r]
        with h.entering:
            try:
                cm = spec.factory(**dict(zip(spec.kwnames, h.args, strict=True)))
                try:
                    enter = type(cm).__aenter__
                    leave = type(cm).__aexit__
                except AttributeError:
                    raise TypeError(
                        f"its factory {spec.factory!r} returned {cm!r}, which is not an "
                        f"async context manager (no __aenter__/__aexit__)"
                    ) from None
                h.value = await enter(cm)
            except BaseException as exc:  # Cancelled and KeyboardInterrupt go on, below
                h.error = exc
                h.ready.set()
                h.done.set()
                if isinstance(exc, Exception):
                    return
                raise
            self.entered.append(r)
            h.ready.set()
            try:
                with trio.CancelScope(shield=True):  # released in order by close()
                    await h.release.wait()
                ended = h.exc
                try:
                    await leave(
                        cm,
                        type(ended) if ended else None,
                        ended,
                        ended.__traceback__ if ended else None,
                    )
                except Exception as err:
                    if err is ended:  # the context manager re-raised what it was given
                        return
                    e = ResourceError(
                        f"resource {spec.name!r} of DAG {self.graph.name!r} failed to exit: "
                        f"{type(err).__qualname__}: {err}",
                        resource=spec.name,
                        dag=self.graph.name,
                        phase="exit",
                    )
                    e.__cause__ = err
                    self.exit_errors.append(e)
            finally:
                h.done.set()

    async def close(self, ended: outcome.Outcome[Any]) -> None:
        """Exit every entered resource, last entered first; cancel entries in progress.

        The entries still in progress are cancelled, not awaited: the run is
        over, so a slow (or hung) ``__aenter__`` cannot hold it past its end.
        """
        exc = ended.error if isinstance(ended, outcome.Error) else None
        with trio.CancelScope(shield=True):
            for h in self.held:
                if h is not None and not h.ready.is_set():
                    h.entering.cancel()
                    await h.ready.wait()
            for r in reversed(self.entered):
                h = self.held[r]
                assert h is not None
                h.exc = exc
                h.release.set()
                await h.done.wait()


async def hold(graph: Graph, body: Callable[[Resources], Awaitable[T]]) -> T:
    """Run ``body`` with a fresh resource table; exit what it entered when it ends.

    What ``body`` raises leaves as itself (never in an exception group): it is
    captured, the resources are exited, and it is raised again.
    """
    async with trio.open_nursery() as nursery:
        table = Resources(graph, nursery)
        ended = await outcome.acapture(body, table)
        await table.close(ended)
    _exit_errors(table, ended)
    return ended.unwrap()


@asynccontextmanager
async def holding(graph: Graph) -> AsyncIterator[Resources]:
    """:func:`hold` as an async context manager, for a stream."""
    ended: outcome.Outcome[None]
    async with trio.open_nursery() as nursery:
        table = Resources(graph, nursery)
        try:
            yield table
        except BaseException as exc:  # raised again below, as itself, once exited
            ended = outcome.Error(exc)
        else:
            ended = outcome.Value(None)
        await table.close(ended)
    _exit_errors(table, ended)
    ended.unwrap()


def _exit_errors(table: Resources, ended: outcome.Outcome[Any]) -> None:
    """Raise an exit failure after a completed run; note it on anything else."""
    if not table.exit_errors:
        return
    if isinstance(ended, outcome.Error):
        for e in table.exit_errors:
            ended.error.add_note(str(e))
        return
    first = table.exit_errors[0]
    first.result = ended.unwrap()
    for e in table.exit_errors[1:]:
        first.add_note(str(e))
    raise first
