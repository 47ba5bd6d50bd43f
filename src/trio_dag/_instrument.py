"""Instruments: hooks told of every run event (progress bars, logging, tracing)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._result import RunResult

__all__ = ["Instrument"]

logger = logging.getLogger("trio_dag")

HOOKS = (
    "run_started",
    "level_started",
    "level_finished",
    "node_started",
    "node_finished",
    "node_failed",
    "node_overran",
    "run_finished",
)


class Instrument:
    """Base class of run instruments; override the hooks you need.

    Hooks are called synchronously, in the task where the event happens, so
    keep them quick and never let them block. A hook that raises is logged
    (logger ``"trio_dag"``) and its instrument is removed from the run, as
    trio does with its own instruments; the run itself is unaffected.

    Events come in this order: ``run_started``; for each node
    ``node_started`` (once per attempt), then ``node_finished`` or
    ``node_failed`` (``will_retry`` tells whether another attempt follows);
    under level scheduling ``level_started``/``level_finished`` around each
    level's nodes; ``run_finished`` last, with the result (complete or
    partial). A cancelled attempt gets ``node_started`` and no end event;
    a placed attempt (``run_in=``) whose cancellation could not interrupt its
    body also gets ``node_overran``.
    """

    def run_started(self, dag: str, run_id: str) -> None:
        """A run of DAG ``dag`` is starting."""

    def level_started(self, level: int, nodes: tuple[str, ...]) -> None:
        """Level number ``level`` (0-based) is starting (level schedules only)."""

    def level_finished(self, level: int) -> None:
        """Every node of level ``level`` has finished, or the run stopped."""

    def node_started(self, node: str, attempt: int) -> None:
        """Attempt number ``attempt`` (1-based) of ``node`` is starting."""

    def node_finished(self, node: str, elapsed: float) -> None:
        """``node`` returned a value, ``elapsed`` seconds after its attempt started."""

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        """Attempt ``attempt`` of ``node`` raised ``error``."""

    def node_overran(self, node: str, attempt: int, action: str) -> None:
        """Attempt ``attempt`` of placed ``node`` was cancelled (its timeout, fail_fast,
        a restart, the run's deadline) but its body, outside the event loop, could not
        be interrupted.

        ``action`` says what became of the body: ``"wait"``, the attempt waited for
        it to return and discarded its result (a timeout then ends the attempt late,
        as timed out); ``"abandon"``, the attempt ended at once and the body goes on
        running, its result thrown away. A killed worker process and a cancelled
        pending future are interruptions and are not reported. Only runs whose
        instruments override this hook pay for watching.
        """

    def run_finished(self, result: RunResult) -> None:
        """The run has ended; ``result`` is complete or partial."""


class Emitter:
    """Calls one hook on every instrument, dropping an instrument whose hook raises."""

    __slots__ = ("instruments",)

    def __init__(self, instruments: Sequence[Instrument]) -> None:
        for ins in instruments:
            if not isinstance(ins, Instrument):
                raise TypeError(f"instruments must be trio_dag.Instrument objects, got {ins!r}")
        self.instruments = list(instruments)

    def __call__(self, hook: str, *args: Any) -> None:
        for ins in list(self.instruments):
            try:
                getattr(ins, hook)(*args)
            except Exception:
                logger.exception("instrument %r raised in %s; removing it", ins, hook)
                self.instruments.remove(ins)
