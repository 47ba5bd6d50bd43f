"""Calling conventions: a node's function called with its dependencies' values.

The runtime calls every node the same way, ``fn(*values)`` in ``deps`` order;
a node whose parameters receive the values by name gets an adapter, compiled
once per node when the graph is built.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable
from typing import Any, final

__all__ = ["ByName", "by_name", "positional"]


def positional(fn: Callable[..., Any], kwnames: tuple[str, ...] | None) -> Callable[..., Any]:
    """``fn`` itself, or an adapter taking the deps positionally and passing them by name.

    The adapter is compiled for the names (``lambda _0, _1: fn(a=_0, b=_1)``),
    about three times as fast per call as building a dict; names that cannot
    be spelt as keywords (``deps={"not an id": ...}`` into ``**kwargs``) fall
    back to the dict.
    """
    if kwnames is None:
        return fn
    if all(k.isidentifier() and not keyword.iskeyword(k) for k in kwnames):
        params = ", ".join(f"_{k}" for k in range(len(kwnames)))
        call = ", ".join(f"{name}=_{k}" for k, name in enumerate(kwnames))
        try:
            adapter: Callable[..., Any] = eval(f"lambda {params}: fn({call})", {"fn": fn})
        except SyntaxError:  # pragma: no cover - e.g. __debug__
            pass
        else:
            return adapter
    return lambda *args: fn(**dict(zip(kwnames, args, strict=True)))


def by_name(fn: Callable[..., Any], kwnames: tuple[str, ...] | None) -> Callable[..., Any]:
    """As :func:`positional`, for a placed node: the adapter pickles (by reference to ``fn``)."""
    return fn if kwnames is None else ByName(fn, kwnames)


@final
class ByName:
    """Call ``fn`` with positional arguments passed as the keywords ``kwnames`` (internal).

    A placed node's adapter: unlike a lambda it pickles, as ``fn`` (by
    reference where ``fn`` can be) and the names. Its signature lists the
    names as positional parameters, so a :class:`~trio_dag.SerializationError`
    names an argument by its parameter.
    """

    __slots__ = ("fn", "kwnames")

    def __init__(self, fn: Callable[..., Any], kwnames: tuple[str, ...]) -> None:
        self.fn = fn
        self.kwnames = kwnames

    def __call__(self, *args: Any) -> Any:
        return self.fn(**dict(zip(self.kwnames, args, strict=True)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (ByName, (self.fn, self.kwnames))

    @property
    def __signature__(self) -> inspect.Signature:
        p = inspect.Parameter
        return inspect.Signature([p(k, p.POSITIONAL_OR_KEYWORD) for k in self.kwnames])

    def __repr__(self) -> str:
        return f"ByName({self.fn!r}, {self.kwnames!r})"
