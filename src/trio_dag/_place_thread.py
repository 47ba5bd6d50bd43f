"""Placement in a thread: :class:`InThread`, ``trio.to_thread.run_sync``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, final

import trio

from ._placement import OverrunCallback, PlacedCall, Placement, check_limiter
from ._validate import check_choice

__all__ = ["InThread"]


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
        self.limiter = check_limiter(where, limiter)
        self._abandon = self.on_cancel == "abandon"

    def __repr__(self) -> str:
        lim = "" if self.limiter is None else f", limiter={self.limiter!r}"
        return f"InThread(on_cancel={self.on_cancel!r}{lim})"

    async def _run(self, call: PlacedCall, on_overrun: OverrunCallback | None) -> Any:
        """Run the call in a thread (see :meth:`Placement.call`)."""
        fn, args = call.target, call.args
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
