"""Argument checks: the one error policy for every bad value trio_dag is given (internal).

Every check raises :class:`~trio_dag.InvalidOptionError` (a ``ValueError``,
and also a ``TypeError`` when the value's type is wrong) with a message that
names where the value was given, the option and the value. ``ctx`` carries
``dag=``, ``node=`` and ``definition=True`` for node options, which makes the
error a :class:`~trio_dag.DAGDefinitionError` too.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any, NoReturn

from ._exceptions import option_error


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` naming the choice closest to ``word``, or ``""``."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def is_finite(value: float) -> bool:
    """``math.isfinite`` that says ``False`` for an int too large for a float.

    ``math.isfinite(10**400)`` raises ``OverflowError``; no option of trio_dag
    can use such a number, so it is rejected like an infinity.
    """
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def shown(value: Any) -> str:
    """``repr(value)`` for an error message; an int too large for a float is
    described by its size instead of hundreds (or thousands) of digits."""
    if isinstance(value, int) and not isinstance(value, bool) and not is_finite(value):
        digits = int(math.log10(abs(value))) + 1
        sign = "a negative" if value < 0 else "an"
        return f"{sign} int of {digits} digits (too large for a float)"
    return repr(value)


def reject(
    where: str, option: str, value: Any, what: str, *, wrong_type: bool = False, **ctx: Any
) -> NoReturn:
    """Raise the error for ``value`` given as ``option``: ``what`` says what is expected."""
    raise option_error(
        f"{where}: {option} must be {what}, got {shown(value)}",
        option=option,
        value=value,
        wrong_type=wrong_type,
        **ctx,
    )


def check_number(
    where: str,
    option: str,
    value: Any,
    *,
    positive: bool = False,
    allow_zero: bool = True,
    **ctx: Any,
) -> float:
    """Return ``value`` as a float, or raise naming ``option`` and the value.

    Rejects bools, non-numbers, NaN, infinities and ints too large for a
    float; with ``positive`` also negative numbers and (unless ``allow_zero``)
    zero.
    """
    bound = "" if not positive else " >= 0" if allow_zero else " > 0"
    what = f"a finite number{bound}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        reject(where, option, value, what, wrong_type=True, **ctx)
    if not is_finite(value) or (positive and (value < 0 or (value == 0 and not allow_zero))):
        reject(where, option, value, what, **ctx)
    return float(value)


def check_int(where: str, option: str, value: Any, *, minimum: int, **ctx: Any) -> int:
    """Return ``value`` if it is an int (not a bool) >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        reject(where, option, value, f"an int >= {minimum}", wrong_type=True, **ctx)
    if value < minimum:
        reject(where, option, value, f"an int >= {minimum}", **ctx)
    return value


def check_choice(where: str, option: str, value: Any, choices: tuple[str, ...], **ctx: Any) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    if value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        reject(where, option, value, f"one of {opts}", **ctx)
    return str(value)


def check_bool(where: str, option: str, value: Any, **ctx: Any) -> bool:
    """Return ``value`` if it is a bool, else raise."""
    if not isinstance(value, bool):
        reject(where, option, value, "a bool", wrong_type=True, **ctx)
    return value
