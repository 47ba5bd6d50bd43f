"""Placement in worker processes: :class:`InProcess`, ``trio_parallel.run_sync``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, final

import trio

from ._place_pickle import main_is_importable, pickler, run_pickled
from ._placement import OverrunCallback, PlacedCall, Placement, check_limiter, run_remote
from ._validate import check_choice

__all__ = ["InProcess"]


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
        self.limiter = check_limiter(where, limiter)
        try:
            trio_parallel = importlib.import_module("trio_parallel")
        except ImportError as exc:
            raise ImportError(
                f"{where} needs the trio-parallel package: pip install 'trio-dag[process]'"
            ) from exc
        self._run_sync: Callable[..., Any] = trio_parallel.run_sync
        self._dumps = pickler(not main_is_importable())[0]

    def __repr__(self) -> str:
        lim = "" if self.limiter is None else f", limiter={self.limiter!r}"
        return f"InProcess(on_cancel={self.on_cancel!r}{lim})"

    async def _run(self, call: PlacedCall, on_overrun: OverrunCallback | None) -> Any:
        """Run the call in a worker process (see :meth:`Placement.call`)."""
        return await run_remote(self, call, self._dumps, self._send)

    async def _send(self, payload: bytes) -> bytes:
        raw: bytes = await self._run_sync(
            run_pickled, payload, kill_on_cancel=True, limiter=self.limiter
        )
        return raw
