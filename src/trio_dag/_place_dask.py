"""The calls of an :class:`~trio_dag.InExecutor` on a Dask client (internal).

The client's own futures, not its ``ClientExecutor``'s: the calls made in one
pass of the event loop are submitted together, with one ``client.map``, as
with Dask's own ``client.map`` + ``gather``. Each call then runs ONE
coroutine on the client's event loop, ``client.gather([future])``, which
waits for the task and fetches its value; Dask merges the gathers that
overlap into one request. Its completion wakes the trio task through the
trio token (``_place_future``): no thread and no second hop per call (a Dask
``Future.add_done_callback`` would run in a thread of its own, and a fetch
after it would cross to the client's loop again).

A retry is a new task: every call has a key of its own (Dask's default,
``pure=True``, would give a retry of the same call the failed task back).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import outcome
import trio

from ._place_future import await_future
from ._serialize import run_pickled

__all__ = ["dask_call", "is_dask_executor"]


def is_dask_executor(executor: object) -> bool:
    """Whether ``executor`` is ``distributed.Client.get_executor()``'s."""
    cls = type(executor)
    return cls.__module__.startswith("distributed.") and cls.__name__ == "ClientExecutor"


async def dask_call(executor: Any, payload: bytes, *, node: str | None) -> Any:
    """Run ``run_pickled(payload)`` as a task of the Dask client behind ``executor``.

    Returns its value, or raises its error (with its type). A cancelled call
    releases its task: a pending one never runs, a running one finishes on
    its worker and Dask drops its result (Dask futures never say that their
    task runs, so the call returns at once either way).
    """
    batches = _DaskSubmissions.of(executor)
    future = await batches.submit(payload, f"{node or 'trio_dag'}-{uuid.uuid4().hex}")
    client = batches.client
    gather = client.gather([future], asynchronous=True)
    settled = asyncio.run_coroutine_threadsafe(gather, client.loop.asyncio_loop)
    done = False
    try:
        (value,) = await await_future(settled, False, None)
        done = True
    finally:
        if not done and future.status == "pending":  # cancelled: release the task
            _cancel_soon(client, [future])
    return value


def _cancel_soon(client: Any, futures: list[Any]) -> None:
    """Cancel Dask tasks without blocking the trio thread (on the client's loop)."""
    with contextlib.suppress(Exception):  # a closed client: nothing left to cancel
        asyncio.run_coroutine_threadsafe(
            client.cancel(futures, asynchronous=True), client.loop.asyncio_loop
        )


class _Submission:
    __slots__ = ("key", "payload", "taken", "task")

    def __init__(self, payload: bytes, key: str, task: trio.lowlevel.Task) -> None:
        self.payload = payload
        self.key = key
        self.task: trio.lowlevel.Task | None = task  # None: its caller was cancelled
        self.taken = False  # in a batch under way


class _DaskSubmissions:
    """Calls to one Dask ``ClientExecutor``, submitted in batches (one per executor and run).

    A system task of the run submits every call queued since its last batch
    with one ``client.map`` (explicit keys, ``pure=False``) and wakes each
    caller with its future; a caller cancelled meanwhile gets nothing, and
    the task submitted for it is cancelled.
    """

    __slots__ = ("_executor", "_queue", "_wake", "client")

    def __init__(self, executor: Any) -> None:
        self._executor = executor
        self.client = executor._client
        self._queue: list[_Submission] = []
        self._wake = trio.Event()
        trio.lowlevel.spawn_system_task(self._submitter, name="trio_dag Dask submissions")

    @classmethod
    def of(cls, executor: Any) -> _DaskSubmissions:
        """The submissions of ``executor`` in this trio run."""
        try:
            per_run = _DASK_SUBMISSIONS.get()
        except LookupError:
            per_run = {}
            _DASK_SUBMISSIONS.set(per_run)
        batches = per_run.get(id(executor))
        if batches is None or batches._executor is not executor:
            batches = per_run[id(executor)] = cls(executor)
        return batches

    async def submit(self, payload: bytes, key: str) -> Any:
        """The Dask future of ``run_pickled(payload)``, submitted with the next batch."""
        entry = _Submission(payload, key, trio.lowlevel.current_task())
        self._queue.append(entry)
        self._wake.set()

        def abort(_: Any) -> trio.lowlevel.Abort:
            if entry.taken:
                entry.task = None  # the submitter cancels its task
            else:
                self._queue.remove(entry)
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    async def _submitter(self) -> None:
        kwargs = {**self._executor._kwargs, "pure": False}
        client = self.client
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            # Let the tasks that are ready queue their calls too: a map node's workers
            # start one another, one per pass of the loop; submit when a pass adds none.
            queued = 0
            while len(self._queue) != queued:
                queued = len(self._queue)
                await trio.lowlevel.checkpoint()
            batch, self._queue = self._queue, []
            for entry in batch:
                entry.taken = True
            try:
                if len(batch) == 1:  # submit() costs less than map() of one
                    first = batch[0]
                    futures = [client.submit(run_pickled, first.payload, key=first.key, **kwargs)]
                else:
                    payloads, keys = [e.payload for e in batch], [e.key for e in batch]
                    futures = client.map(run_pickled, payloads, key=keys, **kwargs)
            except Exception as exc:
                for entry in batch:
                    if entry.task is not None:
                        trio.lowlevel.reschedule(entry.task, outcome.Error(exc))
                continue
            orphans = []
            for entry, future in zip(batch, futures, strict=True):
                if entry.task is None:
                    orphans.append(future)
                else:
                    trio.lowlevel.reschedule(entry.task, outcome.Value(future))
            if orphans:
                _cancel_soon(client, orphans)


_DASK_SUBMISSIONS: trio.lowlevel.RunVar[dict[int, _DaskSubmissions]] = trio.lowlevel.RunVar(
    "trio_dag.dask_submissions"
)
