"""Small argument checks shared by the value types (internal)."""

from __future__ import annotations

import math
from typing import Any


def check_number(
    where: str, option: str, value: Any, *, positive: bool = False, allow_zero: bool = True
) -> float:
    """Return ``value`` as a float, or raise naming ``option`` and the value.

    Rejects bools, non-numbers, NaN and infinities; with ``positive`` also
    negative numbers and (unless ``allow_zero``) zero.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{where}: {option} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where}: {option} must be finite, got {value!r}")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{where}: {option} must be {bound}, got {value!r}")
    return float(value)


def check_int(where: str, option: str, value: Any, *, minimum: int) -> int:
    """Return ``value`` if it is an int (not a bool) >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: {option} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {option} must be an int >= {minimum}, got {value!r}")
    return value


def check_choice(where: str, option: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    if value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{where}: {option} must be one of {opts}, got {value!r}")
    return str(value)
