"""Placement on any :class:`concurrent.futures.Executor`: :class:`InExecutor`."""

from __future__ import annotations

import concurrent.futures as cf
import functools
from typing import Any, final

from ._place_dask import dask_call, is_dask_executor
from ._place_future import await_future
from ._place_pickle import main_is_importable, pickler, run_pickled
from ._placement import OverrunCallback, PlacedCall, Placement, run_remote
from ._validate import check_choice

__all__ = ["InExecutor"]


@final
class InExecutor(Placement):
    """Run a node's body on any :class:`concurrent.futures.Executor`.

    ``ThreadPoolExecutor``, ``ProcessPoolExecutor``, loky, mpi4py's
    ``MPIPoolExecutor``, and a Dask cluster through
    ``distributed.Client(...).get_executor()`` (extra ``trio-dag[dask]``;
    the synchronous ``Client``: ``Client(asynchronous=True)`` does not run
    under trio). The call is submitted from the trio thread and awaited with
    a done-callback: no thread per call. On Dask every call is a new task
    (a unique key named after the node), so a retry really runs again; the
    calls made in one pass of the event loop are submitted to the client in
    one batch, their futures are watched on the client's own loop, and the
    results of the tasks that finished meanwhile are fetched with one
    ``gather`` (while more than 64 calls are in flight, at most one per
    20 ms) and handed over with one wake-up of trio.
    Calls to anything but a ``ThreadPoolExecutor`` are pickled here (see
    ``serialize``); workers must be able to import trio_dag.

    Args:
        executor: the executor; trio_dag never shuts it down.
        on_cancel: what a cancelled or timed-out call does. Either way a
            future that has not started is cancelled and never runs.
            ``"abandon"`` (the default): a running one is left to finish,
            its result thrown away, and the call returns at once.
            ``"wait"``: the call waits for it, then discards its result and
            raises ``Cancelled``. Dask futures never report that they run:
            cancelling always releases the task (one already running on a
            worker finishes there), so both choices return at once.
        serialize: whether to pickle calls here. ``None`` (the default):
            ``False`` for a ``ThreadPoolExecutor``, ``True`` for any other
            executor.

    Raises:
        TypeError: ``executor`` is not an Executor, or ``serialize`` is not
            a bool or ``None``.
        ValueError: ``on_cancel`` is not one of the choices.
    """

    __slots__ = ("_dask", "_dumps", "_wait", "executor", "on_cancel", "serializes")

    def __init__(
        self, executor: cf.Executor, on_cancel: str = "abandon", serialize: bool | None = None
    ) -> None:
        where = "trio_dag.InExecutor"
        if not isinstance(executor, cf.Executor):
            hint = (
                "; for a Dask cluster pass client.get_executor()"
                if type(executor).__name__ == "Client"
                else ""
            )
            raise TypeError(
                f"{where}: executor must be a concurrent.futures.Executor, got {executor!r}{hint}"
            )
        if serialize is not None and not isinstance(serialize, bool):
            raise TypeError(f"{where}: serialize must be True, False or None, got {serialize!r}")
        self.executor = executor
        self.on_cancel = check_choice(where, "on_cancel", on_cancel, ("abandon", "wait"))
        self._wait = self.on_cancel == "wait"
        self.serializes = (
            not isinstance(executor, cf.ThreadPoolExecutor) if serialize is None else serialize
        )
        self._dask = is_dask_executor(executor)
        self._dumps = pickler(self._dask or not main_is_importable())[0]

    def __repr__(self) -> str:
        return f"InExecutor({self.executor!r}, on_cancel={self.on_cancel!r})"

    async def _run(self, call: PlacedCall, on_overrun: OverrunCallback | None) -> Any:
        """Submit the call and await its future (see :meth:`Placement.call`)."""
        if not self.serializes:
            future = self.executor.submit(call.target, *call.args)
            return await await_future(future, self._wait, on_overrun)
        if self._dask:
            dask = functools.partial(dask_call, self.executor, node=call.node)
            return await run_remote(self, call, self._dumps, dask)

        async def send(payload: bytes) -> bytes:
            future = self.executor.submit(run_pickled, payload)
            raw: bytes = await await_future(future, self._wait, on_overrun)
            return raw

        return await run_remote(self, call, self._dumps, send)
