"""Small argument checks shared by the value types (internal)."""

from __future__ import annotations

import math
from typing import Any


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


def check_number(
    where: str, option: str, value: Any, *, positive: bool = False, allow_zero: bool = True
) -> float:
    """Return ``value`` as a float, or raise naming ``option`` and the value.

    Rejects bools, non-numbers, NaN, infinities and ints too large for a float
    (``ValueError``, like an infinity); with ``positive`` also negative numbers
    and (unless ``allow_zero``) zero.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{where}: {option} must be a number, got {value!r}")
    if not is_finite(value):
        raise ValueError(f"{where}: {option} must be finite, got {shown(value)}")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{where}: {option} must be {bound}, got {value!r}")
    return float(value)


def check_int(where: str, option: str, value: Any, *, minimum: int) -> int:
    """Return ``value`` if it is an int (not a bool) >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: {option} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {option} must be an int >= {minimum}, got {shown(value)}")
    return value


def check_choice(where: str, option: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    if value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{where}: {option} must be one of {opts}, got {value!r}")
    return str(value)
