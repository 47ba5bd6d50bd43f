"""Retry policies: whether and when a failed node is tried again."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, final

from ._exceptions import SerializationError
from ._validate import check_choice, check_int, check_number, reject

__all__ = ["RetryPolicy"]

ExcTypes = type[Exception] | tuple[type[Exception], ...]


def _exc_types(option: str, value: object) -> tuple[type[Exception], ...]:
    items = value if isinstance(value, tuple) else (value,)
    for t in items:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            reject(
                "RetryPolicy", option, t, "an exception type or a tuple of them", wrong_type=True
            )
        if not issubclass(t, Exception):
            reject(
                "RetryPolicy",
                option,
                t,
                "Exception subclasses only (a BaseException such as trio.Cancelled or "
                "KeyboardInterrupt is never retried)",
            )
    return tuple(items)


@final
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Whether and when a failed node is tried again.

    A node with no policy is tried once. Delays grow exponentially,
    ``initial_delay * backoff ** (n - 1)`` before attempt ``n + 1``, capped by
    ``max_delay``; with ``jitter="full"`` the actual delay is drawn uniformly
    from ``[0, that]`` ("full jitter", as in AWS's exponential backoff and
    jitter), reproducibly when the run is given a ``seed``.

    ``trio.Cancelled``, ``KeyboardInterrupt`` and other ``BaseException``\\ s
    are never retried, whatever the policy says; nor is a
    :class:`~trio_dag.SerializationError` (a placed call that cannot be
    pickled fails the same way every time).

    Args:
        max_attempts: total attempts, 1 meaning no retry.
        initial_delay: seconds before the second attempt (before jitter).
        backoff: factor by which the delay grows, at least 1.
        max_delay: cap on any one delay, or ``None`` for no cap.
        jitter: ``"full"`` or ``"none"``.
        retry_on: exception type(s) that may be retried.
        give_up_on: exception type(s) never retried, even if ``retry_on`` matches.
        predicate: optional ``f(exc) -> bool``; when given, it must also
            return true for the exception to be retried.

    Raises:
        InvalidOptionError: a value is of the wrong type or out of range.

    >>> RetryPolicy(max_attempts=4, initial_delay=1.0, jitter="none").delays()
    (1.0, 2.0, 4.0)
    """

    max_attempts: int = 3
    initial_delay: float = 0.1
    backoff: float = 2.0
    max_delay: float | None = None
    jitter: Literal["full", "none"] = "full"
    retry_on: ExcTypes = Exception
    give_up_on: ExcTypes = ()
    predicate: Callable[[Exception], bool] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        w = "RetryPolicy"
        check_int(w, "max_attempts", self.max_attempts, minimum=1)
        set_ = object.__setattr__
        set_(
            self,
            "initial_delay",
            check_number(w, "initial_delay", self.initial_delay, positive=True),
        )
        backoff = check_number(w, "backoff", self.backoff)
        if backoff < 1:
            reject(w, "backoff", self.backoff, "a finite number >= 1")
        set_(self, "backoff", backoff)
        if self.max_delay is not None:
            md = check_number(w, "max_delay", self.max_delay, positive=True)
            if md < self.initial_delay:
                reject(
                    w, "max_delay", self.max_delay, f">= initial_delay ({self.initial_delay!r})"
                )
            set_(self, "max_delay", md)
        check_choice(w, "jitter", self.jitter, ("full", "none"))
        set_(self, "retry_on", _exc_types("retry_on", self.retry_on))
        set_(self, "give_up_on", _exc_types("give_up_on", self.give_up_on))
        if self.predicate is not None and not callable(self.predicate):
            reject(w, "predicate", self.predicate, "callable or None", wrong_type=True)

    def should_retry(self, exc: Exception, attempt: int) -> bool:
        """Whether ``exc``, raised by attempt number ``attempt``, gets another attempt."""
        return (
            attempt < self.max_attempts
            and not isinstance(exc, SerializationError)
            and isinstance(exc, self.retry_on)
            and not isinstance(exc, self.give_up_on)
            and (self.predicate is None or bool(self.predicate(exc)))
        )

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        With full jitter (the default) the delay is drawn uniformly below the
        computed one, from ``rng`` when given (a run passes its seeded one):

        >>> import random, trio_dag as td
        >>> p = td.RetryPolicy(max_attempts=5, initial_delay=1, max_delay=5, jitter="none")
        >>> [p.delay(a) for a in (1, 2, 3, 4)]
        [1.0, 2.0, 4.0, 5.0]
        >>> 0 <= td.RetryPolicy(initial_delay=1).delay(3, random.Random(7)) <= 4
        True
        """
        if not self.initial_delay:
            return 0.0
        try:
            d = self.initial_delay * self.backoff ** (attempt - 1)
        except OverflowError:  # thousands of attempts: the cap (if any) decides
            d = math.inf
        if self.max_delay is not None and d > self.max_delay:
            d = self.max_delay
        if self.jitter == "full":
            return (rng or random).uniform(0.0, d)
        return d

    def delays(self, rng: random.Random | None = None) -> tuple[float, ...]:
        """Every delay this policy would wait if all attempts failed, in order."""
        return tuple(self.delay(a, rng) for a in range(1, self.max_attempts))

    @classmethod
    def coerce(cls, value: RetryPolicy | int | None, where: str, **ctx: Any) -> RetryPolicy | None:
        """Accept a policy, an int ``n`` (``RetryPolicy(max_attempts=n)``) or None.

        This is how ``retry=3`` on a node or a run becomes a policy:

        >>> import trio_dag as td
        >>> td.RetryPolicy.coerce(3, "retry").max_attempts
        3
        >>> td.RetryPolicy.coerce(None, "retry") is None
        True
        >>> td.RetryPolicy.coerce(0, "node 'fetch'")
        Traceback (most recent call last):
          ...
        trio_dag.InvalidOptionError: node 'fetch': retry must be an int >= 1, got 0

        Raises:
            InvalidOptionError: anything else, or an int below 1.
        """
        if value is None or isinstance(value, RetryPolicy):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(max_attempts=check_int(where, "retry", value, minimum=1, **ctx))
        reject(where, "retry", value, "a RetryPolicy or an int >= 1", wrong_type=True, **ctx)
