"""Awaiting a :class:`concurrent.futures.Future` from trio: :func:`wait_future`.

A done-callback wakes the parked task through the trio token: no thread
waits for the future (the trio maintainers' idiom, trio issue 468).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
from collections.abc import Callable
from typing import Any

import outcome
import trio

from ._placement import OverrunCallback
from ._validate import check_choice

__all__ = ["await_future", "wait_future"]

_ABORT_OK = trio.lowlevel.Abort.SUCCEEDED
_ABORT_NO = trio.lowlevel.Abort.FAILED


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
    return await await_future(future, mode == "wait", None)


async def await_future(
    future: cf.Future[Any], wait: bool, on_overrun: OverrunCallback | None
) -> Any:
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
