"""Placement: where a node body runs, outside the event loop's thread.

A placement turns one call of a plain (sync) function into something a trio
task can await without blocking the loop:

* :class:`InThread`: ``trio.to_thread.run_sync`` (trio's thread cache).
* :class:`InProcess`: ``trio_parallel.run_sync`` worker processes (extra
  ``trio-dag[process]``); cancellation kills the worker.
* :class:`InExecutor`: any :class:`concurrent.futures.Executor`
  (``ThreadPoolExecutor``, ``ProcessPoolExecutor``, loky, mpi4py, and Dask's
  ``Client.get_executor()``), awaited with a done-callback that wakes the
  parked task through the trio token: no thread per call.

The runtime calls one method per attempt: ``await placement.call(fn, args,
node=name, on_overrun=cb)``, or, for a chunk of map elements,
``await placement.call_chunk(fn, args, map_index, elements, first=k, node=name)``.

Process and cluster calls are pickled here, once, into one ``bytes``
payload (pickle, or cloudpickle where pickle cannot): a failure is then known
to be ours and is reported as a :class:`~trio_dag.SerializationError` naming
the node and the argument; the worker pickles the return value itself, so an
unpicklable result is named too (on Dask it would otherwise hang the
client). Thread placements never pickle.

``on_overrun``, when given, is how the runtime learns that an attempt's
cancellation (its timeout, fail_fast, the run's deadline) could not
interrupt the body: it is called once, in the trio thread, with
``"abandon"`` when the call gives up on a body that goes on running (the
call returns at once), or ``"wait"`` when the call waited for a body that
ignored the cancellation (its result or error is then discarded and the
call raises ``Cancelled``, so a ``fail_after`` around it raises
``TooSlowError``). Kills and cancelled pending futures are interruptions and
are not reported.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import functools
import importlib
import inspect
import pickle
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, final

import outcome
import trio

from ._exceptions import InputError, SerializationError
from ._validate import check_choice, check_int, reject

__all__ = [
    "InExecutor",
    "InProcess",
    "InThread",
    "Placement",
    "bind_limiters",
    "bind_placements",
    "check_run_in",
    "wait_future",
]

OverrunCallback = Callable[[str], None]
"""``on_overrun(action)``, ``action`` being ``"abandon"`` or ``"wait"``."""

_ABORT_OK = trio.lowlevel.Abort.SUCCEEDED
_ABORT_NO = trio.lowlevel.Abort.FAILED


class Placement:
    """Where a node's body runs: the base of :class:`InThread`,
    :class:`InProcess` and :class:`InExecutor`.

    The two methods are the interface the runtime calls once per attempt;
    they may also be called directly, from trio code:

    >>> import trio, trio_dag as td
    >>> where = td.InThread()
    >>> isinstance(where, td.Placement)
    True
    >>> trio.run(where.call, sum, [[1, 2, 3]])          # sum([1, 2, 3]) in a thread
    6
    >>> trio.run(where.call_chunk, divmod, [None, 10], 0, [17, 23])   # divmod(e, 10) per e
    [(1, 7), (2, 3)]

    Attributes:
        serializes: Whether calls cross a process boundary (arguments and results are
            pickled).
    """

    __slots__ = ()

    serializes: bool = False

    async def call(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        *,
        node: str | None = None,
        on_overrun: OverrunCallback | None = None,
    ) -> Any:
        """Run ``fn(*args)`` here and return its value or raise its exception.

        Args:
            fn: a synchronous callable.
            args: its positional arguments.
            node: the node's name, for error messages (and Dask task keys).
            on_overrun: called if a cancellation could not interrupt the body
                (see the module's description).

        Raises:
            SerializationError: a process or cluster call could not be pickled.
        """
        raise NotImplementedError

    async def call_chunk(
        self,
        fn: Callable[..., Any],
        fixed_args: Sequence[Any],
        map_index: int,
        elements: Sequence[Any],
        *,
        first: int = 0,
        node: str | None = None,
        on_overrun: OverrunCallback | None = None,
    ) -> list[Any]:
        """Run ``fn`` once per element of ``elements`` in ONE call; results in order.

        Each element takes the place of ``fixed_args[map_index]``. The chunk
        stops at the first element that raises; its exception is raised
        unchanged, with a note naming the element's index (``first`` plus
        its position in the chunk) and ``node``.

        Args:
            fn: a synchronous callable.
            fixed_args: its positional arguments; the one at ``map_index`` is
                replaced by each element.
            map_index: the position of the mapped argument.
            elements: this chunk's elements.
            first: the index of ``elements[0]`` in the whole map.
            node: the node's name, for messages and notes.
            on_overrun: as for :meth:`call`.
        """
        raise NotImplementedError


# ------------------------------------------------------------------ threads


@final
class InThread(Placement):
    """Run a node's body in a thread: ``trio.to_thread.run_sync``.

    For blocking I/O and for code that releases the GIL. CPU-bound pure
    Python code gains nothing from threads: use :class:`InProcess`.

    Args:
        on_cancel: ``"wait"`` (the default): a cancelled or timed-out call
            waits for the body to return, then discards its result and raises
            ``Cancelled`` (nothing is left running). ``"abandon"``: the call
            returns at once and the body goes on running in its thread,
            its result thrown away.
        limiter: bounds the threads running at once: a
            :class:`trio.CapacityLimiter`, an int (a new limiter of that many
            tokens) or ``None`` for trio's default thread limiter (40).

    Raises:
        ValueError: ``on_cancel`` is not one of the choices, or ``limiter`` < 1.
        TypeError: ``limiter`` is not a limiter, an int or ``None``.
    """

    __slots__ = ("_abandon", "limiter", "on_cancel")

    def __init__(
        self, on_cancel: str = "wait", limiter: trio.CapacityLimiter | int | None = None
    ) -> None:
        where = "trio_dag.InThread"
        self.on_cancel = check_choice(where, "on_cancel", on_cancel, ("wait", "abandon"))
        self.limiter = _check_limiter(where, limiter)
        self._abandon = self.on_cancel == "abandon"

    def __repr__(self) -> str:
        lim = "" if self.limiter is None else f", limiter={self.limiter!r}"
        return f"InThread(on_cancel={self.on_cancel!r}{lim})"

    async def call(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        *,
        node: str | None = None,
        on_overrun: OverrunCallback | None = None,
    ) -> Any:
        """Run ``fn(*args)`` in a thread (see :meth:`Placement.call`)."""
        if self._abandon:
            return await self._abandon_watched(fn, args, on_overrun)
        # "wait": to_thread returns the body's outcome even when a cancel came
        # meanwhile; the checkpoint turns that late outcome into Cancelled.
        try:
            value = await trio.to_thread.run_sync(_guarded, fn, args, limiter=self.limiter)
        except Exception:
            await _discard_if_cancelled(on_overrun)
            raise
        await _discard_if_cancelled(on_overrun)
        return value

    async def _abandon_watched(
        self, fn: Callable[..., Any], args: Sequence[Any], on_overrun: OverrunCallback | None
    ) -> Any:
        state = [0]  # 1: the body is running, 2: it has returned or raised, 3: abandoned
        lock = threading.Lock()

        def body() -> Any:  # in the worker thread
            with lock:  # a cancel delivered before the body begins: it never does
                trio.from_thread.check_cancelled()
                state[0] = 1
            try:
                return fn(*args)
            finally:
                state[0] = 2

        try:
            return await trio.to_thread.run_sync(
                body, abandon_on_cancel=True, limiter=self.limiter
            )
        finally:
            with lock:
                running = state[0] == 1
                state[0] = 3
            if running and on_overrun is not None:  # cancelled while the body runs
                on_overrun("abandon")

    async def call_chunk(
        self,
        fn: Callable[..., Any],
        fixed_args: Sequence[Any],
        map_index: int,
        elements: Sequence[Any],
        *,
        first: int = 0,
        node: str | None = None,
        on_overrun: OverrunCallback | None = None,
    ) -> list[Any]:
        """Run a chunk of map elements in one thread call (see :meth:`Placement.call_chunk`)."""
        result: list[Any] = await self.call(
            _chunk, (fn, fixed_args, map_index, elements, first, node), on_overrun=on_overrun
        )
        return result


def _guarded(fn: Callable[..., Any], args: Sequence[Any]) -> Any:
    """Run ``fn(*args)`` in a worker thread, unless the call was cancelled before it began."""
    trio.from_thread.check_cancelled()
    return fn(*args)


async def _discard_if_cancelled(on_overrun: OverrunCallback | None) -> None:
    """Raise ``Cancelled`` if a cancel arrived while a body that ignores it ran."""
    try:
        await trio.lowlevel.checkpoint_if_cancelled()
    except trio.Cancelled:
        if on_overrun is not None:
            on_overrun("wait")
        raise


# ---------------------------------------------------------------- processes


@final
class InProcess(Placement):
    """Run a node's body in a worker process of ``trio-parallel``.

    For CPU-bound Python code. Needs the extra ``trio-dag[process]``
    (trio-parallel, and cloudpickle so that closures and lambdas pickle).
    Workers are cached and reused; the first call starts one (0.3-1 s).
    The function, its arguments and its return value are pickled; a failure
    raises :class:`~trio_dag.SerializationError` naming what failed.

    Args:
        on_cancel: ``"kill"`` (the only choice): a cancelled or timed-out
            call kills its worker process (SIGKILL) and returns at once;
            nothing is left running.
        limiter: bounds the worker processes busy at once: a
            :class:`trio.CapacityLimiter`, an int, or ``None`` for
            trio-parallel's default (one per CPU).

    Raises:
        ValueError: ``on_cancel`` is not ``"kill"``, or ``limiter`` < 1.
        TypeError: ``limiter`` is not a limiter, an int or ``None``.
        ImportError: trio-parallel is not installed.
    """

    __slots__ = ("_dumps", "_run_sync", "limiter", "on_cancel")
    serializes = True

    def __init__(
        self, on_cancel: str = "kill", limiter: trio.CapacityLimiter | int | None = None
    ) -> None:
        where = "trio_dag.InProcess"
        self.on_cancel = check_choice(where, "on_cancel", on_cancel, ("kill",))
        self.limiter = _check_limiter(where, limiter)
        try:
            trio_parallel = importlib.import_module("trio_parallel")
        except ImportError as exc:
            raise ImportError(
                f"{where} needs the trio-parallel package: pip install 'trio-dag[process]'"
            ) from exc
        self._run_sync: Callable[..., Any] = trio_parallel.run_sync
        self._dumps = _pickler(not _main_is_importable())[0]

    def __repr__(self) -> str:
        lim = "" if self.limiter is None else f", limiter={self.limiter!r}"
        return f"InProcess(on_cancel={self.on_cancel!r}{lim})"

    async def call(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        *,
        node: str | None = None,
        on_overrun: OverrunCallback | None = None,
    ) -> Any:
        """Run ``fn(*args)`` in a worker process (see :meth:`Placement.call`)."""
        payload = _payload(self._dumps, self, node, fn, args, (fn, tuple(args)))
        try:
            raw = await self._run_sync(
                _run_pickled, payload, kill_on_cancel=True, limiter=self.limiter
            )
        except _RemoteSerializationError as exc:
            raise _remote_error(exc, self, node) from exc
        return _unpickle_result(raw, self, node)

    async def call_chunk(
        self,
        fn: Callable[..., Any],
        fixed_args: Sequence[Any],
        map_index: int,
        elements: Sequence[Any],
        *,
        first: int = 0,
        node: str | None = None,
        on_overrun: OverrunCallback | None = None,
    ) -> list[Any]:
        """Run a chunk of map elements in one worker call (see :meth:`Placement.call_chunk`)."""
        job = (_chunk, (fn, tuple(fixed_args), map_index, list(elements), first, node))
        payload = _payload(
            self._dumps, self, node, fn, fixed_args, job, map_index, elements, first
        )
        try:
            raw = await self._run_sync(
                _run_pickled, payload, kill_on_cancel=True, limiter=self.limiter
            )
        except _RemoteSerializationError as exc:
            raise _remote_error(exc, self, node) from exc
        result: list[Any] = _unpickle_result(raw, self, node)
        return result


# ---------------------------------------------------------------- executors


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
    one batch, and the results of tasks that finished meanwhile fetched in
    one ``gather`` (the executor's own ``submit`` would fetch each alone).
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
        cls = type(executor)
        self._dask = cls.__module__.startswith("distributed.") and cls.__name__ == "ClientExecutor"
        self._dumps = _pickler(self._dask or not _main_is_importable())[0]

    def __repr__(self) -> str:
        return f"InExecutor({self.executor!r}, on_cancel={self.on_cancel!r})"

    async def _call_pickled(
        self, payload: bytes, node: str | None, on_overrun: OverrunCallback | None
    ) -> Any:
        """Submit a pickled call, await it, unpickle its result."""
        try:
            if self._dask:
                raw = await _dask_call(self.executor, payload, node)
            else:
                future = self.executor.submit(_run_pickled, payload)
                raw = await _wait(future, self._wait, on_overrun)
        except _RemoteSerializationError as exc:
            raise _remote_error(exc, self, node) from exc
        return _unpickle_result(raw, self, node)

    async def call(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        *,
        node: str | None = None,
        on_overrun: OverrunCallback | None = None,
    ) -> Any:
        """Submit ``fn(*args)`` and await its future (see :meth:`Placement.call`)."""
        if not self.serializes:
            return await _wait(self.executor.submit(fn, *args), self._wait, on_overrun)
        payload = _payload(self._dumps, self, node, fn, args, (fn, tuple(args)))
        return await self._call_pickled(payload, node, on_overrun)

    async def call_chunk(
        self,
        fn: Callable[..., Any],
        fixed_args: Sequence[Any],
        map_index: int,
        elements: Sequence[Any],
        *,
        first: int = 0,
        node: str | None = None,
        on_overrun: OverrunCallback | None = None,
    ) -> list[Any]:
        """Submit a chunk of map elements as one task (see :meth:`Placement.call_chunk`)."""
        job_args = (fn, tuple(fixed_args), map_index, list(elements), first, node)
        if not self.serializes:
            future = self.executor.submit(_chunk, *job_args)
            chunk: list[Any] = await _wait(future, self._wait, on_overrun)
            return chunk
        payload = _payload(
            self._dumps, self, node, fn, fixed_args, (_chunk, job_args), map_index, elements, first
        )
        result: list[Any] = await self._call_pickled(payload, node, on_overrun)
        return result


async def wait_future(future: cf.Future[Any], on_cancel: str = "abandon") -> Any:
    """Await a :class:`concurrent.futures.Future` without blocking the event loop.

    No thread waits for it: a done-callback wakes the task through the trio
    token. If the waiting task is cancelled, ``future.cancel()`` is called:
    a future that has not started never runs. One that is running is left
    to finish with ``on_cancel="abandon"`` (the default; the wait ends at
    once), or waited for with ``"wait"`` (then its result is discarded and
    ``Cancelled`` raised).

    >>> import concurrent.futures, trio, trio_dag as td
    >>> async def main():
    ...     with concurrent.futures.ThreadPoolExecutor(2) as pool:
    ...         return await td.wait_future(pool.submit(sum, [1, 2, 3]))
    >>> trio.run(main)
    6

    Args:
        future: the future, e.g. from ``executor.submit(...)``.
        on_cancel: ``"abandon"`` or ``"wait"``.

    Returns:
        The future's result.

    Raises:
        Exception: whatever the future raises.
        TypeError: ``future`` is not a ``concurrent.futures.Future``.
        ValueError: ``on_cancel`` is not one of the choices.
    """
    if not isinstance(future, cf.Future):
        raise TypeError(
            f"trio_dag.wait_future: future must be a concurrent.futures.Future, got {future!r}"
            + (
                "; for Dask use client.get_executor().submit(...)"
                if type(future).__module__.startswith("distributed")
                else ""
            )
        )
    mode = check_choice("trio_dag.wait_future", "on_cancel", on_cancel, ("abandon", "wait"))
    return await _wait(future, mode == "wait", None)


async def _wait(future: cf.Future[Any], wait: bool, on_overrun: OverrunCallback | None) -> Any:
    """Park the task until ``future`` is done; cancellation as ``wait_future`` says."""
    if future.done():
        await trio.lowlevel.checkpoint()
        return future.result()
    task = trio.lowlevel.current_task()
    run_sync_soon = trio.lowlevel.current_trio_token().run_sync_soon
    parked = True
    pending_cancel: Callable[[], Any] | None = None

    def resume() -> None:  # in the trio thread
        nonlocal parked
        if not parked:
            return  # the wait was aborted already
        parked = False
        if pending_cancel is None:
            trio.lowlevel.reschedule(task)
            return
        if on_overrun is not None:
            on_overrun("wait")
        trio.lowlevel.reschedule(task, outcome.capture(pending_cancel))

    def on_done(_: cf.Future[Any]) -> None:  # in whichever thread completed the future
        with contextlib.suppress(trio.RunFinishedError):  # the run is gone: nobody waits
            run_sync_soon(resume)

    def abort(raise_cancel: Callable[[], Any]) -> trio.lowlevel.Abort:
        nonlocal parked, pending_cancel
        if future.cancel():  # it had not started: it never will
            parked = False
            return _ABORT_OK
        if not wait or future.done():
            if on_overrun is not None and not future.done():
                on_overrun("abandon")
            parked = False
            return _ABORT_OK
        pending_cancel = raise_cancel
        return _ABORT_NO

    future.add_done_callback(on_done)
    await trio.lowlevel.wait_task_rescheduled(abort)
    return future.result()


# --------------------------------------------------------------------- Dask


async def _dask_call(executor: Any, payload: bytes, node: str | None) -> Any:
    """Run ``_run_pickled(payload)`` as a task of the Dask client behind ``executor``.

    The client's own futures, not the ``ClientExecutor``'s, and in batches
    (see :class:`_DaskBatches`): the calls made in one pass of the event loop
    are submitted together, and the results of the tasks that finished
    meanwhile come back in one ``client.gather``, as with Dask's own
    ``client.map`` + ``gather`` (the ``ClientExecutor`` submits, and fetches
    every result, with a request of its own). A retry is a new task: a key
    of its own (Dask's default, ``pure=True``, would give a retry of the same
    call the failed task back).
    """
    batches = _DaskBatches.of(executor)
    future = await batches.submit(payload, f"{node or 'trio_dag'}-{uuid.uuid4().hex}")
    await _dask_done(future)
    if future.status == "finished":
        value = await batches.fetch(future)
        if value is not _ALONE:
            return value
    # an error (kept with its type), a task cancelled by someone else, a failed batch
    return await trio.to_thread.run_sync(future.result)


async def _dask_done(future: Any) -> None:
    """Park until a Dask future is done; if cancelled, cancel the task.

    Dask futures never say that their task runs, so a cancel always ends the
    wait at once: a pending task never runs, a running one finishes on its
    worker and Dask drops its result.
    """
    if future.done():
        await trio.lowlevel.checkpoint()
        return
    task = trio.lowlevel.current_task()
    run_sync_soon = trio.lowlevel.current_trio_token().run_sync_soon
    parked = [True]

    def resume() -> None:  # in the trio thread
        if parked[0]:
            parked[0] = False
            trio.lowlevel.reschedule(task)

    def on_done(_: Any) -> None:  # in Dask's callback thread
        with contextlib.suppress(trio.RunFinishedError):  # the run is gone: nobody waits
            run_sync_soon(resume)

    def abort(_: Any) -> trio.lowlevel.Abort:
        parked[0] = False
        future.cancel()
        return _ABORT_OK

    future.add_done_callback(on_done)
    await trio.lowlevel.wait_task_rescheduled(abort)


_ALONE: Any = object()
"""Delivered instead of a value when a batch failed: fetch this result alone."""


class _Submission:
    __slots__ = ("key", "payload", "taken", "task")

    def __init__(self, payload: bytes, key: str, task: trio.lowlevel.Task) -> None:
        self.payload = payload
        self.key = key
        self.task: trio.lowlevel.Task | None = task  # None: its caller was cancelled
        self.taken = False  # in a batch under way


class _DaskBatches:
    """Calls to one Dask ``ClientExecutor`` in batches (one per executor and trio run).

    Two system tasks of the run serve it: one submits every call queued since
    its last batch with one ``client.map`` (explicit keys, ``pure=False``),
    one fetches every result asked for since its last batch with one
    ``client.gather`` in a thread (abandoned if the run ends first). Each
    wakes the waiting tasks with what they asked for; a caller cancelled
    meanwhile gets nothing, and a task submitted for it is cancelled.
    """

    __slots__ = ("_client", "_executor", "_fetch", "_fetch_wake", "_submit", "_submit_wake")

    def __init__(self, executor: Any) -> None:
        self._executor = executor
        self._client = executor._client
        self._submit: list[_Submission] = []
        self._submit_wake = trio.Event()
        self._fetch: dict[Any, trio.lowlevel.Task] = {}  # future -> its parked task
        self._fetch_wake = trio.Event()
        trio.lowlevel.spawn_system_task(self._submitter, name="trio_dag Dask submissions")
        trio.lowlevel.spawn_system_task(self._fetcher, name="trio_dag Dask results")

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

    async def submit(self, payload: bytes, key: str) -> Any:
        """The Dask future of ``_run_pickled(payload)``, submitted with the next batch."""
        entry = _Submission(payload, key, trio.lowlevel.current_task())
        self._submit.append(entry)
        self._submit_wake.set()

        def abort(_: Any) -> trio.lowlevel.Abort:
            if entry.taken:
                entry.task = None  # the submitter cancels its task
            else:
                self._submit.remove(entry)
            return _ABORT_OK

        return await trio.lowlevel.wait_task_rescheduled(abort)

    async def fetch(self, future: Any) -> Any:
        """The value of a finished ``future`` (or ``_ALONE``), fetched with the next batch."""
        self._fetch[future] = trio.lowlevel.current_task()
        self._fetch_wake.set()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._fetch.pop(future, None)  # a batch under way delivers to nobody
            return _ABORT_OK

        return await trio.lowlevel.wait_task_rescheduled(abort)

    async def _submitter(self) -> None:
        kwargs = {**self._executor._kwargs, "pure": False}
        while True:
            await self._submit_wake.wait()
            self._submit_wake = trio.Event()
            # Let the tasks that are ready queue their calls too: a map node's workers
            # start one another, one per pass of the loop; submit when a pass adds none.
            queued = 0
            while len(self._submit) != queued:
                queued = len(self._submit)
                await trio.lowlevel.checkpoint()
            batch, self._submit = self._submit, []
            for entry in batch:
                entry.taken = True
            try:
                if len(batch) == 1:  # submit() costs less than map() of one
                    futures = [
                        self._client.submit(
                            _run_pickled, batch[0].payload, key=batch[0].key, **kwargs
                        )
                    ]
                else:
                    futures = self._client.map(
                        _run_pickled,
                        [e.payload for e in batch],
                        key=[e.key for e in batch],
                        **kwargs,
                    )
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
                with contextlib.suppress(Exception):
                    await trio.to_thread.run_sync(
                        self._client.cancel, orphans, abandon_on_cancel=True
                    )

    async def _fetcher(self) -> None:
        while True:
            await self._fetch_wake.wait()
            self._fetch_wake = trio.Event()
            batch = list(self._fetch)
            try:
                # on the client's own event loop, awaited with a done-callback: no thread
                client = self._client
                gather = client.gather(batch, asynchronous=True)
                values = await _wait(
                    asyncio.run_coroutine_threadsafe(gather, client.loop.asyncio_loop),
                    False,
                    None,
                )
            except Exception:
                values = [_ALONE] * len(batch)
            for future, value in zip(batch, values, strict=True):
                task = self._fetch.pop(future, None)
                if task is not None:
                    trio.lowlevel.reschedule(task, outcome.Value(value))


_DASK_BATCHES: trio.lowlevel.RunVar[dict[int, _DaskBatches]] = trio.lowlevel.RunVar(
    "trio_dag.dask_batches"
)


# ------------------------------------------------- chunks and serialization


def _chunk(
    fn: Callable[..., Any],
    fixed_args: Sequence[Any],
    map_index: int,
    elements: Iterable[Any],
    first: int,
    node: str | None,
) -> list[Any]:
    """``fn`` on each element in place of ``fixed_args[map_index]`` (runs where placed)."""
    a = list(fixed_args)
    out: list[Any] = []
    k = first
    try:
        for x in elements:
            a[map_index] = x
            out.append(fn(*a))
            k += 1
    except Exception as exc:
        of = f" of node {node!r}" if node else ""
        exc.add_note(f"trio_dag: raised by map element {k}{of}")
        raise
    return out


@functools.cache
def _pickler(
    main_by_value: bool = False,
) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    """(dumps, loads): pickle first (fast, C), cloudpickle when pickle cannot.

    cloudpickle (when installed) takes over when pickle fails (lambdas,
    closures, local classes) and, with ``main_by_value``, when pickle would
    refer to ``__main__``, which the worker may not have: a Dask worker
    never has ours, and a spawned process has it only when ``__main__`` is
    a file it can import again (not a notebook or a REPL). Dask decides
    the same way.
    """
    fast = functools.partial(pickle.dumps, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        cloudpickle = importlib.import_module("cloudpickle")
    except ImportError:  # pragma: no cover - cloudpickle comes with the extras
        return fast, pickle.loads
    slow: Callable[[Any], bytes] = functools.partial(
        cloudpickle.dumps, protocol=pickle.HIGHEST_PROTOCOL
    )

    def dumps(obj: Any) -> bytes:
        try:
            out = fast(obj)
        except Exception:
            return slow(obj)
        return slow(obj) if main_by_value and b"__main__" in out else out

    return dumps, pickle.loads


def _main_is_importable() -> bool:
    """Whether a spawned worker can import our ``__main__`` again (it is a file)."""
    return getattr(sys.modules.get("__main__"), "__file__", None) is not None


class _RemoteSerializationError(Exception):
    """Raised in a worker: the call could not be unpickled or its result pickled.

    ``args``: ``(part, detail, index)``; the caller turns it into a
    :class:`SerializationError` naming the node.
    """


def _run_pickled(payload: bytes) -> bytes:
    """The function a worker runs: unpickle ``(fn, args)``, call, pickle the result."""
    dumps, loads = _pickler()
    try:
        fn, args = loads(payload)
    except Exception as exc:
        raise _RemoteSerializationError("call", f"{type(exc).__name__}: {exc}", None) from None
    result = fn(*args)
    try:
        return dumps(result)
    except Exception as exc:
        index = None
        exc_type = type(result).__name__
        if fn is _chunk:  # name the first element whose result does not pickle
            for k, r in enumerate(result):
                try:
                    dumps(r)
                except Exception:
                    index = args[4] + k
                    exc_type = type(r).__name__
                    break
        detail = f"a {exc_type}: {type(exc).__name__}: {exc}"
        raise _RemoteSerializationError("result", detail, index) from None


def _payload(
    dumps: Callable[[Any], bytes],
    placement: Placement,
    node: str | None,
    fn: Callable[..., Any],
    args: Sequence[Any],
    job: tuple[Any, Any],
    map_index: int | None = None,
    elements: Sequence[Any] = (),
    first: int = 0,
) -> bytes:
    """Pickle ``job``; on failure find and name the culprit."""
    try:
        return dumps(job)
    except Exception as exc:
        raise _diagnose(exc, dumps, placement, node, fn, args, map_index, elements, first) from exc


def _where(node: str | None) -> str:
    return f"node {node!r}" if node else "a placed call"


def _diagnose(
    exc: Exception,
    dumps: Callable[[Any], bytes],
    placement: Placement,
    node: str | None,
    fn: Callable[..., Any],
    args: Sequence[Any],
    map_index: int | None,
    elements: Sequence[Any],
    first: int,
) -> SerializationError:
    """The :class:`SerializationError` naming which part of a call does not pickle."""

    def fails(obj: Any) -> Exception | None:
        try:
            dumps(obj)
        except Exception as e:
            return e
        return None

    where, how = _where(node), f"for {placement!r}"
    err = fails(fn)
    if err is not None:
        name = getattr(fn, "__qualname__", repr(fn))
        return SerializationError(
            f"{where}: its function {name} (or a value its closure holds) cannot be "
            f"pickled {how}: {type(err).__name__}: {err}; define the function at module "
            f"level and keep locks, sockets, open files and clients out of its closure",
            node=node,
            part="function",
        )
    names = _param_names(fn)
    for k, a in enumerate(args):
        name = names[k] if k < len(names) else f"#{k}"
        if k == map_index:
            for j, x in enumerate(elements):
                err = fails(x)
                if err is not None:
                    return SerializationError(
                        f"{where}: element {first + j} of argument {name!r} "
                        f"(a {type(x).__name__}) cannot be pickled {how}: "
                        f"{type(err).__name__}: {err}",
                        node=node,
                        part="element",
                        argument=name,
                        index=first + j,
                    )
            continue
        err = fails(a)
        if err is not None:
            return SerializationError(
                f"{where}: argument {name!r} (a {type(a).__name__}) cannot be pickled {how}: "
                f"{type(err).__name__}: {err}; a node that runs in a process or on a "
                f"cluster needs picklable arguments",
                node=node,
                part="argument",
                argument=name,
            )
    return SerializationError(  # pragma: no cover - every part pickles alone but not together
        f"{where}: its call cannot be pickled {how}: {type(exc).__name__}: {exc}",
        node=node,
        part="call",
    )


def _remote_error(
    exc: _RemoteSerializationError, placement: Placement, node: str | None
) -> SerializationError:
    part, detail, index = exc.args
    where, how = _where(node), f"{placement!r}"
    if part == "result":
        what = "its return value" if index is None else f"the result of map element {index}"
        return SerializationError(
            f"{where}: {what} ({detail}) cannot be pickled to come back from {how}; "
            f"return picklable data (plain values, lists, dicts, dataclasses)",
            node=node,
            part="result",
            index=index,
        )
    return SerializationError(
        f"{where}: the worker of {how} could not unpickle the call: {detail}; the function "
        f"and the classes of its arguments must be importable in the worker",
        node=node,
        part="call",
    )


def _unpickle_result(raw: bytes, placement: Placement, node: str | None) -> Any:
    try:
        return _pickler()[1](raw)
    except Exception as exc:
        raise SerializationError(
            f"{_where(node)}: its return value could not be unpickled here, coming back "
            f"from {placement!r}: {type(exc).__name__}: {exc}",
            node=node,
            part="result",
        ) from exc


def _param_names(fn: Callable[..., Any]) -> list[str]:
    """Names of ``fn``'s positional parameters (for messages), or ``[]``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]


# ----------------------------------------------- options and run bindings


def _check_limiter(where: str, value: Any) -> trio.CapacityLimiter | None:
    if value is None or isinstance(value, trio.CapacityLimiter):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return trio.CapacityLimiter(check_int(where, "limiter", value, minimum=1))
    reject(
        where, "limiter", value, "a trio.CapacityLimiter, a positive int or None", wrong_type=True
    )


def check_run_in(where: str, value: Any, **ctx: Any) -> Placement | str:
    """Check a node's ``run_in=`` option: a placement, or a placement name.

    Args:
        where: the prefix of error messages, e.g. ``"node 'a' of DAG 'D'"``.
        value: the option's value.
        ctx: ``dag=``, ``node=``, ``definition=`` for the error (see ``_validate``).

    Raises:
        InvalidOptionError: (also a ``TypeError``) neither a :class:`Placement`
            nor a str; (a ``ValueError``) an empty or blank name.
    """
    if isinstance(value, Placement):
        return value
    if not isinstance(value, str):
        reject(
            where,
            "run_in",
            value,
            "a placement (trio_dag.InThread(), InProcess(), InExecutor(executor)) "
            "or the name of one",
            wrong_type=True,
            **ctx,
        )
    if not value.strip():
        reject(where, "run_in", value, "a non-empty placement name", **ctx)
    return value


def bind_placements(
    where: str, needed: Iterable[str], given: Mapping[str, Placement] | None
) -> dict[str, Placement]:
    """Resolve placement names at run start.

    Args:
        where: the prefix of error messages, e.g. ``"DAG 'Nightly': run"``.
        needed: the names the DAG's nodes declared with ``run_in="name"``.
        given: the run's ``placements=`` mapping (extra names are allowed:
            one mapping may serve several DAGs).

    Raises:
        InvalidOptionError: (also a ``TypeError``) ``given`` is not a mapping,
            or a value is not a placement.
        InputError: a needed name has no placement.
    """
    if given is None:
        given = {}
    elif not isinstance(given, Mapping):
        reject(where, "placements", given, "a mapping of names to placements", wrong_type=True)
    for name, p in given.items():
        if not isinstance(p, Placement):
            reject(
                where,
                f"placements[{name!r}]",
                p,
                "a trio_dag placement (InThread(), InProcess(), InExecutor(executor))",
                wrong_type=True,
            )
    missing = sorted(set(needed) - given.keys())
    if missing:
        raise InputError(
            f"{where}: no placement for run_in name(s) {', '.join(map(repr, missing))}; "
            f"pass placements={{{missing[0]!r}: trio_dag.InExecutor(...)}} to the run",
            missing=missing,
        )
    return dict(given)


def bind_limiters(
    where: str, needed: Iterable[str], given: Mapping[str, trio.CapacityLimiter | int] | None
) -> dict[str, trio.CapacityLimiter]:
    """Resolve named capacity limits at run start (call it inside the run).

    Args:
        where: the prefix of error messages.
        needed: the names the DAG's nodes declared with ``limiter="name"``.
        given: the run's ``limiters=`` mapping: a positive int (a new
            :class:`trio.CapacityLimiter` for this run) or a limiter (shared
            with whoever else holds it).

    Raises:
        InvalidOptionError: ``given`` is not a mapping, a value is neither an
            int nor a limiter (also a ``TypeError``), or an int < 1.
        InputError: a needed name has no limit.
    """
    if given is None:
        given = {}
    elif not isinstance(given, Mapping):
        reject(where, "limiters", given, "a mapping of names to limits", wrong_type=True)
    out: dict[str, trio.CapacityLimiter] = {}
    for name, value in given.items():
        option = f"limiters[{name!r}]"
        if isinstance(value, trio.CapacityLimiter):
            out[name] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            out[name] = trio.CapacityLimiter(check_int(where, option, value, minimum=1))
        else:
            reject(
                where, option, value, "a trio.CapacityLimiter or a positive int", wrong_type=True
            )
    missing = sorted(set(needed) - out.keys())
    if missing:
        raise InputError(
            f"{where}: no limit for limiter name(s) {', '.join(map(repr, missing))}; "
            f"pass limiters={{{missing[0]!r}: 4}} to the run",
            missing=missing,
        )
    return out
