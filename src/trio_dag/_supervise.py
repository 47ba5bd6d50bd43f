"""Supervisors: what restarts with a failed node, and when to give up on the run."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Literal, final

from ._validate import check_choice, check_int, check_number

__all__ = ["RestartIntensity", "Supervisor"]

STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")


@final
@dataclass(frozen=True, slots=True)
class Supervisor:
    """An OTP-style supervisor for a run.

    A node's :class:`~trio_dag.RetryPolicy` decides *whether and when* it runs
    again; the supervisor decides *what* restarts with it and *when to give
    up* on the whole run.

    Args:
        strategy: ``"one_for_one"``: the node alone is retried in place.
            ``"one_for_all"``: its whole level is cancelled and, after the
            policy's delay, every node of the level starts again.
            ``"rest_for_one"``: the same for the node and the nodes after it
            in its level (in ``graph.order``); the ones before keep running.
            Results of earlier levels are always kept and reused.
        max_restarts: restart intensity. More than this many restarts within
            ``period`` seconds escalates: the run is cancelled and halts, with
            every completed value kept. ``None`` means no bound.
        period: the window, in seconds, for ``max_restarts``.

    Raises:
        InvalidOptionError: a value is of the wrong type or out of range.
    """

    strategy: Literal["one_for_one", "one_for_all", "rest_for_one"] = "one_for_one"
    max_restarts: int | None = None
    period: float = 5.0

    def __post_init__(self) -> None:
        check_choice("Supervisor", "strategy", self.strategy, STRATEGIES)
        if self.max_restarts is not None:
            check_int("Supervisor", "max_restarts", self.max_restarts, minimum=0)
        p = check_number("Supervisor", "period", self.period, positive=True, allow_zero=False)
        object.__setattr__(self, "period", p)

    @property
    def needs_levels(self) -> bool:
        """Whether this strategy restarts whole levels (and so needs level scheduling)."""
        return self.strategy != "one_for_one"


class RestartIntensity:
    """A supervisor's restart intensity during one run (internal).

    Every restart in a run counts (a node retried in place, or a level
    restarted); more than ``max_restarts`` of them within ``period`` seconds
    means the supervisor escalates, as in OTP.
    """

    __slots__ = ("max_restarts", "period", "times")

    def __init__(self, supervisor: Supervisor) -> None:
        assert supervisor.max_restarts is not None
        self.max_restarts = supervisor.max_restarts
        self.period = supervisor.period
        self.times: collections.deque[float] = collections.deque()

    def exceeded_by_one_more(self, now: float) -> bool:
        """Count a restart at time ``now``; whether the intensity is now exceeded."""
        times = self.times
        times.append(now)
        while times[0] <= now - self.period:
            times.popleft()
        return len(times) > self.max_restarts
