"""Instruments: hooks told of every run event (progress bars, logging, tracing)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
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
    "node_cancelled",
    "element_started",
    "element_finished",
    "element_failed",
    "node_overran",
    "run_finished",
)
NODE_HOOKS = ("node_started", "node_finished", "node_failed", "node_cancelled")
ELEMENT_HOOKS = ("element_started", "element_finished", "element_failed")


class Instrument:
    """Base class of run instruments; override the hooks you need.

    Hooks are called synchronously, in the task where the event happens and
    in the run's context (so :func:`trio_dag.current_run_id` works in every
    hook), so keep them quick and never let them block. A hook must be a
    plain ``def``: an ``async def`` hook is rejected with :class:`TypeError`
    when the run starts. A hook that raises is logged (logger
    ``"trio_dag"``) and its instrument is removed from the run, as trio does
    with its own instruments; the run itself is unaffected. A hook that no
    instrument of a run overrides costs that run nothing; per-node hooks
    cost nothing per node unless one of them is overridden, and map element
    hooks nothing per element unless one of those is.

    Events come in this order: ``run_started``; for each node
    ``node_started`` (once per attempt), then exactly one of
    ``node_finished``, ``node_failed`` (``will_retry`` tells whether another
    attempt follows) or ``node_cancelled`` (the run stopped, its deadline
    passed, it was cancelled from outside, or a level restart cancelled the
    attempt; a per-attempt timeout is a failure, not this; a node cancelled
    while it waits for a ``max_concurrency`` slot or for its next attempt
    has no attempt running and gets no event); for a map node
    the ``element_*`` events of its elements between its ``node_started``
    and its end event; under level scheduling
    ``level_started``/``level_finished`` around each level's nodes;
    ``run_finished`` last, always, whatever way the run ends (completed,
    failed, cancelled from outside, interrupted), with the result, complete
    or partial. A placed attempt (``run_in=``) whose cancellation could not
    interrupt its body also gets ``node_overran`` before its end event.
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

    def node_cancelled(self, node: str, attempt: int) -> None:
        """Attempt ``attempt`` of ``node`` was cancelled before it ended."""

    def element_started(self, node: str, index: int, attempt: int) -> None:
        """Attempt ``attempt`` of element ``index`` (0-based) of map node ``node`` is starting."""

    def element_finished(self, node: str, index: int, elapsed: float) -> None:
        """Element ``index`` of map node ``node`` returned a value.

        ``elapsed`` is the time since the element's first attempt started
        (retries and their delays included).
        """

    def element_failed(
        self, node: str, index: int, error: BaseException, attempt: int, will_retry: bool
    ) -> None:
        """Attempt ``attempt`` of element ``index`` of map node ``node`` raised ``error``."""

    def node_overran(self, node: str, attempt: int, action: str) -> None:
        """Attempt ``attempt`` of placed ``node`` (or of one of its map elements or
        chunks) was cancelled (its timeout, fail_fast, a restart, the run's deadline)
        but its body, outside the event loop, could not be interrupted.

        ``action`` says what became of the body: ``"wait"``, the attempt waited for
        it to return and discarded its result (a timeout then ends the attempt late,
        as timed out); ``"abandon"``, the attempt ended at once and the body goes on
        running, its result thrown away. A killed worker process and a cancelled
        pending future are interruptions and are not reported. Runs whose
        instruments do not override this hook do not watch for it.
        """

    def run_finished(self, result: RunResult) -> None:
        """The run has ended, however it ended; ``result`` is complete or partial."""


def _overrides(ins: Instrument, hook: str) -> bool:
    """Whether ``ins`` has its own ``hook`` (as trio checks its own instruments)."""
    return getattr(type(ins), hook) is not getattr(Instrument, hook) or hook in getattr(
        ins, "__dict__", ()
    )


class Emitter:
    """Calls one hook on the instruments that override it, dropping one whose hook raises.

    Per hook name it keeps the instruments overriding that hook, so a hook
    nobody overrides is an empty loop, and the runtime can ask :meth:`wants`
    once per run to skip whole groups of events.
    """

    __slots__ = ("hooks",)

    def __init__(self, instruments: Iterable[Instrument], dag: str) -> None:
        where = f"DAG {dag!r}"
        instruments = list(instruments)  # once: a generator or map() is read here only
        for ins in instruments:
            if not isinstance(ins, Instrument):
                raise TypeError(
                    f"{where}: instruments must be trio_dag.Instrument objects, got {ins!r}"
                )
        self.hooks: dict[str, tuple[Instrument, ...]] = {}
        for hook in HOOKS:
            users = tuple(ins for ins in instruments if _overrides(ins, hook))
            for ins in users:
                fn = getattr(ins, hook)
                if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
                    raise TypeError(
                        f"{where}: instrument {ins!r} defines {hook}() as an async function; "
                        f"instrument hooks are called synchronously and must be plain functions "
                        f"(start background work from them with a nursery you own)"
                    )
            self.hooks[hook] = users

    @classmethod
    def build(cls, instruments: Iterable[Instrument], dag: str) -> Emitter | None:
        """An emitter for ``instruments`` of a run of DAG ``dag``, or ``None`` if none listens."""
        emitter = cls(instruments, dag)
        return emitter if any(emitter.hooks.values()) else None

    def wants(self, hooks: Iterable[str]) -> bool:
        """Whether some instrument overrides one of ``hooks``."""
        return any(self.hooks[h] for h in hooks)

    def __call__(self, hook: str, *args: Any) -> None:
        for ins in self.hooks[hook]:
            try:
                getattr(ins, hook)(*args)
            except Exception:
                logger.exception("instrument %r raised in %s; removing it", ins, hook)
                self.hooks = {
                    h: tuple(x for x in v if x is not ins) for h, v in self.hooks.items()
                }
