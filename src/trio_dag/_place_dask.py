"""The calls of an :class:`~trio_dag.InExecutor` on a Dask client (internal).

The client's own futures, not its ``ClientExecutor``'s, in batches, as with
Dask's own ``client.map`` + ``gather``: the calls made in one pass of the
event loop are submitted together (one ``client.map`` from the trio
thread), and their futures are watched on the client's own event loop,
which fetches the results of the tasks that finished meanwhile with one
``client.gather`` and hands them to their callers with one wake-up of trio.
No thread and no cross-thread hop per call. The design before this one (a
done-callback per future, which Dask runs in a thread of its own pool and
which then woke trio, and a ``gather`` per handful of results) cost the
client process, which also runs a ``LocalCluster``'s scheduler, about 1.4 ms
more CPU per call than Dask's own ``client.map`` + ``gather`` (1,000 tiny
tasks: 3.2 s of CPU against 1.8 s); this one costs about 0.5 ms more.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import traceback
import uuid
from collections.abc import Sized
from typing import Any

import outcome
import trio

from ._place_pickle import run_pickled

__all__ = ["dask_call", "is_dask_executor"]


def is_dask_executor(executor: object) -> bool:
    """Whether ``executor`` is ``distributed.Client.get_executor()``'s."""
    cls = type(executor)
    return cls.__module__.startswith("distributed.") and cls.__name__ == "ClientExecutor"


async def dask_call(executor: Any, payload: bytes, *, node: str | None) -> Any:
    """Run ``run_pickled(payload)`` as a task of the Dask client behind ``executor``.

    Submitted with the next batch (see :class:`_DaskBatches`); a retry is a
    new task: a key of its own (Dask's default, ``pure=True``, would give a
    retry of the same call the failed task back). If the caller is
    cancelled, its task is cancelled: a pending task never runs, a running
    one finishes on its worker and Dask drops its result (Dask futures never
    say that their task runs, so the call always returns at once).
    """
    call = _Call(payload, f"{node or 'trio_dag'}-{uuid.uuid4().hex}")
    value = await _DaskBatches.of(executor).run(call)
    if value is not _ALONE:
        return value
    # an error (kept with its type), a task cancelled by someone else, a failed gather;
    # abandoned if cancelled: a future of a client closed meanwhile may never end
    return await trio.to_thread.run_sync(_result_of, call, node, abandon_on_cancel=True)


def _result_of(call: _Call, node: str | None) -> Any:
    """``call``'s future's result, or what it raises, holding no reference to it.

    An error's traceback keeps its frames, and Dask's hold the future, which
    keeps the task's key on the cluster for as long as the error lives (in a
    result's ``errors``, say): the frames are cleared of their locals.

    Raises:
        RuntimeError: the client was closed while the call waited (Dask's
            ``result()`` would then wait for ever).
    """
    future, call.future = call.future, None
    if future.client.status in ("closing", "closed"):
        of = f"node {node!r}" if node else "a placed call"
        raise RuntimeError(
            f"{of}: the Dask client was closed while the call waited for its task "
            f"{future.key!r}; close the client only after the run"
        )
    try:
        return future.result()
    except BaseException as exc:
        del future
        traceback.clear_frames(exc.__traceback__)
        raise


_ALONE: Any = object()
"""Delivered instead of a value when the task did not finish or the gather failed."""


class _Call:
    __slots__ = ("future", "key", "payload", "task")

    def __init__(self, payload: bytes, key: str) -> None:
        self.payload = payload
        self.key = key
        self.task: trio.lowlevel.Task | None = None  # None once woken or cancelled
        self.future: Any = None  # once submitted


class _DaskBatches:
    """Calls to one Dask ``ClientExecutor`` in batches (one per executor and trio run).

    A system task of the run submits every call queued since its last batch
    with one ``client.map`` (explicit keys, ``pure=False``) and hands the
    futures to the client's event loop. There each future is watched (a
    task awaiting its state, as Dask's own ``gather`` does), and a fetcher
    takes every call whose task finished since its last look, fetches the
    values of the finished ones with one ``client.gather``, and wakes their
    callers with one call into trio. While more than ``_BUSY`` calls are in
    flight, the fetcher first lets results gather for ``_WINDOW`` seconds
    (see there). A caller cancelled meanwhile gets nothing; its task is
    cancelled, with the others cancelled at the same time, in one request.

    Thread rules: ``_submit`` and a call's ``task`` belong to the trio
    thread, and so does ``_cancels``; ``_ready``, ``_fetching`` and
    ``_in_flight`` belong to the client's loop.
    """

    __slots__ = (
        "_cancels",
        "_client",
        "_executor",
        "_fetching",
        "_in_flight",
        "_ready",
        "_submit",
        "_submit_wake",
        "_token",
    )

    def __init__(self, executor: Any) -> None:
        self._executor = executor
        self._client = executor._client
        self._token = trio.lowlevel.current_trio_token()
        self._submit: list[_Call] = []
        self._submit_wake = trio.Event()
        self._ready: list[_Call] = []  # finished, to fetch
        self._fetching: asyncio.Task[None] | None = None  # kept: the loop holds tasks weakly
        self._in_flight = 0  # watched, not yet delivered
        self._cancels: list[Any] = []  # to cancel, once this pass's aborts are done
        trio.lowlevel.spawn_system_task(self._submitter, name="trio_dag Dask submissions")

    @classmethod
    def of(cls, executor: Any) -> _DaskBatches:
        """The batches of ``executor`` in this trio run."""
        try:
            per_run = _DASK_BATCHES.get()
        except LookupError:
            per_run = {}
            _DASK_BATCHES.set(per_run)
        batches = per_run.get(id(executor))
        if batches is None or batches._executor is not executor:
            batches = per_run[id(executor)] = cls(executor)
        return batches

    # ------------------------------------------------------------ trio thread

    async def run(self, call: _Call) -> Any:
        """The raw result of ``call`` (or ``_ALONE``), submitted with the next batch."""
        call.task = trio.lowlevel.current_task()
        self._submit.append(call)
        self._submit_wake.set()

        def abort(_: Any) -> trio.lowlevel.Abort:
            call.task = None  # a queued call is skipped, a delivered value dropped
            if call.future is not None:
                self._cancel(call.future)
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    def _cancel(self, future: Any) -> None:
        """Cancel ``future``'s task, with the others cancelled in this pass (one request).

        A cancel scope aborts all its waiting tasks at once, in the trio
        thread, before trio runs its queued callbacks: they all go together.
        """
        self._cancels.append(future)
        if len(self._cancels) == 1:
            self._token.run_sync_soon(self._send_cancels)

    def _send_cancels(self) -> None:  # in the trio thread, after this pass's aborts
        futures, self._cancels = self._cancels, []
        self._client.loop.add_callback(self._cancel_on_loop, futures)

    async def _submitter(self) -> None:
        kwargs = {**self._executor._kwargs, "pure": False}
        while True:
            await self._submit_wake.wait()
            self._submit_wake = trio.Event()
            # Let the tasks that are ready queue their calls too: a map node's workers
            # start one another, one per pass of the loop (see _settle).
            await _settle(self._submit)
            batch = [call for call in self._submit if call.task is not None]
            self._submit = []
            if batch:  # else cancelled, or taken by the batch before (their wake came late)
                self._send(batch, kwargs)

    def _send(self, batch: list[_Call], kwargs: dict[str, Any]) -> None:
        """Submit ``batch`` in one request; its futures then live on the client's loop."""
        client = self._client
        try:
            if len(batch) == 1:  # submit() costs less than map() of one
                call = batch[0]
                futures = [client.submit(run_pickled, call.payload, key=call.key, **kwargs)]
            else:
                futures = client.map(
                    run_pickled,
                    [call.payload for call in batch],
                    key=[call.key for call in batch],
                    **kwargs,
                )
        except Exception as exc:
            for call in batch:
                task, call.task = call.task, None
                trio.lowlevel.reschedule(task, outcome.Error(exc))  # type: ignore[arg-type]
            return
        for call, future in zip(batch, futures, strict=True):
            call.future = future
            call.payload = b""  # sent: not kept for the wait
        # No future stays here (a local of a frame that lives on): each is
        # released on the client's loop once its value is delivered.
        client.loop.add_callback(self._watch, batch)

    def _wake(self, delivered: list[tuple[_Call, Any]]) -> None:
        """Hand the values to their callers (those not cancelled meanwhile)."""
        for call, value in delivered:
            task = call.task
            if task is not None:
                call.task = None
                trio.lowlevel.reschedule(task, outcome.Value(value))

    # ---------------------------------------------------------- client's loop

    def _watch(self, batch: list[_Call]) -> None:
        """Watch the futures of ``batch`` until their tasks end."""
        self._in_flight += len(batch)
        create_task = asyncio.get_running_loop().create_task
        for call in batch:
            # FutureState.wait: what Dask's own gather and as_completed await
            watch = create_task(call.future._state.wait())
            watch.add_done_callback(functools.partial(self._finished, call))

    def _finished(self, call: _Call, watch: asyncio.Task[Any]) -> None:
        if watch.cancelled():  # the client's loop is shutting down: no fetcher would run
            # (a client closed under a waiting call cancels its futures instead: they
            # end as "cancelled", are delivered as _ALONE, and _result_of says so)
            self._in_flight -= 1
            self._deliver([(call, _ALONE)])
            return
        self._ready.append(call)
        if self._fetching is None:
            self._fetching = asyncio.get_running_loop().create_task(self._fetcher())

    async def _fetcher(self) -> None:
        """Until no call is ready: fetch what finished, in one gather, and deliver it.

        A call's ``future`` is dropped here once its value is delivered, so
        that it is released on this loop.
        """
        calls: list[_Call] = []
        try:
            while self._ready:
                if self._in_flight > _BUSY:
                    await asyncio.sleep(_WINDOW)
                calls, self._ready = self._ready, []
                finished = [c.future for c in calls if c.future.status == "finished"]
                values: dict[str, Any] = {}
                if finished:
                    # errors="skip": a task cancelled since (its caller gave up) comes back
                    # as None, not as its stored FutureCancelledError raised here, whose
                    # traceback would then hold this batch's futures in a reference
                    # cycle (and their results on the cluster) until the cycle collector
                    # runs. Results are pickled bytes: None is never a value.
                    with contextlib.suppress(Exception):  # then each caller asks its own
                        got = await self._client.gather(finished, errors="skip", asynchronous=True)
                        values = {
                            f.key: v for f, v in zip(finished, got, strict=True) if v is not None
                        }
                del finished
                delivered = []
                for call in calls:
                    value = values.get(call.key, _ALONE)
                    if value is not _ALONE:
                        call.future = None  # released here, on the client's loop
                    delivered.append((call, value))
                self._in_flight -= len(calls)
                calls = []
                self._deliver(delivered)
        finally:
            self._fetching = None
            rest, self._ready = [*calls, *self._ready], []
            if rest:  # cancelled: the client's loop is closing; callers ask their futures
                self._in_flight -= len(rest)
                self._deliver([(call, _ALONE) for call in rest])

    def _deliver(self, delivered: list[tuple[_Call, Any]]) -> None:
        with contextlib.suppress(trio.RunFinishedError):  # the run is gone: nobody waits
            self._token.run_sync_soon(self._wake, delivered)

    async def _cancel_on_loop(self, futures: list[Any]) -> None:
        with contextlib.suppress(Exception):  # a closing client cancels them itself
            await self._client.cancel(futures, asynchronous=True)


_BUSY = 64
"""More calls in flight than this on one client: results are fetched in windows."""

_WINDOW = 0.02
"""How long the fetcher lets results gather while the client is busy, in seconds.

A cluster busy with many tiny tasks finishes them in a stream; fetching each
handful as it comes costs the scheduler (in the client's process, for a
``LocalCluster``) a ``gather`` each: on 1,000 tiny tasks, 200 of them made
the run 1.25x Dask's own ``client.map`` + ``gather``, and about 55 (one per
window) 1.05x. A result then waits at most this long more, behind more than
``_BUSY`` tasks of its own run on the cluster; with few calls in flight, each
is fetched as soon as it finishes.
"""

_MAX_PASSES = 256
"""How many passes of the event loop a batch may wait for more calls, at most."""


async def _settle(queue: Sized) -> None:
    """Let the tasks that are ready add to ``queue`` before it is sent as one batch.

    Waits pass by pass until two passes in a row added nothing to it and left
    no task runnable (one quiet pass is not enough: trio runs a pass's tasks
    in a random order, so the task that would add may come after this one),
    for at most ``_MAX_PASSES`` passes, so that a busy program delays a batch
    by a bounded number of passes.
    """
    size = len(queue)
    quiet = 0
    stats = trio.lowlevel.current_statistics
    for _ in range(_MAX_PASSES):
        await trio.lowlevel.checkpoint()
        if len(queue) == size and not stats().tasks_runnable:
            quiet += 1
            if quiet == 2:
                return
        else:
            quiet = 0
            size = len(queue)


_DASK_BATCHES: trio.lowlevel.RunVar[dict[int, _DaskBatches]] = trio.lowlevel.RunVar(
    "trio_dag.dask_batches"
)
