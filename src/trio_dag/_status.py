"""What became of a run and of each node: the statuses, and a value slot's marker.

The vocabulary the runtime records and the results and reports read:
:data:`MISSING` (a node's value slot before the node completed),
:class:`NodeStatus`, :class:`RunStatus`, and the per-element outcome of a map
node (:class:`ElementError`, :class:`MapElements`). It imports nothing of
trio_dag, so every layer above may read it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final, final

__all__ = [
    "MISSING",
    "ElementError",
    "MapElements",
    "NodeStatus",
    "RunStatus",
    "error_text",
]


@final
class _Missing:
    """The type of :data:`MISSING`: a node's value slot before the node completed."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"

    def __reduce__(self) -> str:
        return "MISSING"  # pickles by name: unpickles to the one MISSING


MISSING: Final[Any] = _Missing()


class NodeStatus(enum.StrEnum):
    """What became of one node in a run.

    >>> import trio_dag as td
    >>> class Chain(td.DAG):
    ...     @td.node
    ...     async def a():
    ...         raise ValueError("no")
    ...
    ...     @td.node
    ...     async def b(a):
    ...         return a
    ...
    ...     @td.node
    ...     async def c():
    ...         return "c"
    >>> try:
    ...     Chain.run_sync(on_failure="continue")
    ... except td.RunFailed as exc:
    ...     print(exc.result.status, [str(s) for s in exc.result.statuses.values()])
    failed ['failed', 'skipped', 'completed']
    >>> td.NodeStatus.SKIPPED == "skipped"
    True

    Attributes:
        COMPLETED: It returned a value.
        FAILED: It raised, and its retry policy (if any) gave up.
        CANCELLED: It started but was cancelled (fail-fast, escalation, deadline).
        SKIPPED: It never started because a dependency failed or was skipped.
        NOT_STARTED: It never started because the run stopped first.
        RESTORED: Its value was restored from a durable run's journal (same ``run_key``),
            not run.
        CACHED: Its value came from the store's cache (same code and inputs), not run.
        RUNNING: It is running or waiting to retry (only in a snapshot of a run still going:
            :meth:`RunHandle.result <trio_dag.RunHandle.result>`).
    """

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    NOT_STARTED = "not_started"
    RESTORED = "restored"
    CACHED = "cached"
    RUNNING = "running"


class RunStatus(enum.StrEnum):
    """How a run ended: :attr:`RunResult.status <trio_dag.RunResult.status>`.

    It is a ``str`` enum, so it compares equal to its value:

    >>> import trio, trio_dag as td
    >>> class Nap(td.DAG):
    ...     @td.node
    ...     async def nap():
    ...         await trio.sleep(10)
    >>> try:
    ...     Nap.run_sync(deadline=0.01)
    ... except td.RunFailed as exc:
    ...     print(repr(exc.result.status), exc.result.status == "timed_out")
    <RunStatus.TIMED_OUT: 'timed_out'> True

    Attributes:
        COMPLETED: Every node completed.
        FAILED: At least one node failed.
        HALTED: Restart intensity was exceeded and the supervisor escalated.
        TIMED_OUT: The run's deadline passed.
        CANCELLED: The run was cancelled from outside (a cancel scope around it, or
            :meth:`RunHandle.cancel <trio_dag.RunHandle.cancel>`); trio's ``Cancelled`` went on,
            and instruments got this partial result.
        INTERRUPTED: ``KeyboardInterrupt`` or ``SystemExit`` stopped the run (see
            :class:`~trio_dag.RunInterrupted`).
        RUNNING: The run is still going: a snapshot taken by :meth:`RunHandle.result
            <trio_dag.RunHandle.result>`.
    """

    COMPLETED = "completed"
    FAILED = "failed"
    HALTED = "halted"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    RUNNING = "running"


@final
@dataclass(frozen=True, slots=True)
class ElementError:
    """One failed element of a map node: see :meth:`RunResult.element_errors`.

    >>> import trio_dag as td
    >>> class Parse(td.DAG):
    ...     rows = td.input()
    ...
    ...     @td.node(map_over="rows", on_element_failure="collect")
    ...     async def numbers(rows: str) -> int:
    ...         return int(rows)
    >>> result = Parse.run_sync({"rows": ["1", "x", "3"]})
    >>> result["numbers"]
    [1, 3]
    >>> [(e.index, e.element, type(e.error).__name__) for e in result.element_errors("numbers")]
    [(1, "'x'", 'ValueError')]

    Attributes:
        index: The element's position in the value mapped over, from 0.
        element: A short ``repr`` of the element (at most 60 characters).
        error: The exception of the element's last attempt.
    """

    index: int
    element: str
    error: BaseException

    def __str__(self) -> str:
        return f"element {self.index} ({self.element}): {error_text(self.error)}"


@final
class MapElements:
    """What became of each element of one map node (internal).

    Kept for a map node that failed (so ``resume`` reruns only the elements
    that have no value) or that collected failed elements.
    """

    __slots__ = ("errors", "items", "reprs", "values")

    def __init__(self, items: list[Any], values: list[Any]) -> None:
        self.items = items
        self.values = values  # MISSING where the element has no value
        self.errors: dict[int, BaseException] = {}
        self.reprs: dict[int, str] = {}

    def element_errors(self) -> tuple[ElementError, ...]:
        r = self.reprs
        return tuple(ElementError(k, r[k], e) for k, e in sorted(self.errors.items()))


def error_text(e: BaseException) -> str:
    """``Type: message`` of one exception (``Type`` alone when the message is empty)."""
    return f"{type(e).__qualname__}: {e}" if str(e) else type(e).__qualname__
