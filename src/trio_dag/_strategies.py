"""Strategies: how a run schedules its nodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, final

from ._validate import check_choice, check_int

__all__ = ["Parallel", "Sequential", "Strategy"]


@final
@dataclass(frozen=True, slots=True)
class Sequential:
    """Run one node at a time, in ``graph.order`` (the levels, flattened).

    No task is spawned per node; the run stays cancellable through one cheap
    cancellation check per node.
    """


@final
@dataclass(frozen=True, slots=True)
class Parallel:
    """Run nodes concurrently, one trio task per running node.

    Args:
        max_concurrency: the most node bodies (and map elements) that run at
            once, enforced by a :class:`trio.Semaphore`; ``None`` for no
            bound.
        schedule: ``"eager"`` starts a node the moment its last dependency has
            finished (the makespan is then the critical path); ``"levels"``
            runs each level in its own nursery, the next level starting when
            the whole level has finished.

    Raises:
        InvalidOptionError: ``max_concurrency`` is not a positive int, or
            ``schedule`` is not one of the two above.
    """

    max_concurrency: int | None = None
    schedule: Literal["eager", "levels"] = "eager"

    def __post_init__(self) -> None:
        if self.max_concurrency is not None:
            check_int("Parallel", "max_concurrency", self.max_concurrency, minimum=1)
        check_choice("Parallel", "schedule", self.schedule, ("eager", "levels"))


Strategy = Sequential | Parallel
