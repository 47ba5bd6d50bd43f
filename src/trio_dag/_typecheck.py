"""The definition-time type check: a dependency's declared return type against
the annotation of the parameter that receives it.

It decides only what it can decide without a false positive. Both
annotations must be *plain classes*; everything else is allowed:

- no annotation, ``Any``, ``object``, a ``TypeVar``, a ``NewType``, a union or
  ``Optional``, ``Literal``, a string that cannot be resolved;
- a class whose ``issubclass`` is not plain ``type``'s: every ABC (``register``
  may make any class a virtual subclass, later) and so every ``Protocol``,
  ``collections.abc.Iterable`` and friends, and classes of other custom
  metaclasses; ``TypedDict`` classes (``issubclass`` refuses them);
- the parameter a map node maps over (it receives one element, not the value);
- a callable that is not a plain function (its annotations are not read).

A parametrized generic of a plain class is compared by that class:
``list[int]`` as ``list`` (its parameters are not checked). A map node's value
is a ``list``. Two plain classes are compatible when either is a subclass of
the other (a value declared ``int`` may be a ``bool``), and by the numeric
promotions of PEP 484 (an ``int`` where ``float`` or ``complex`` is declared,
a ``float`` where ``complex`` is, a ``bytearray`` or ``memoryview`` where
``bytes`` is). Anything else is a :class:`~trio_dag.TypeMismatchError`, as
mypy or pyright would report the same call written by hand.

Annotations are read once per function (generated graphs reuse one function
for many nodes) and each pair of classes is decided once.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from ._exceptions import TypeMismatchError

if typing.TYPE_CHECKING:
    from ._nodespec import NodeSpec

__all__ = ["check_types"]

_UNDECIDED: Any = object()  # an annotation that could not be resolved

# What the check reads of one function: its return class (or None), the
# class of each parameter by name, the classes of its positional parameters
# in order, and the class of *args (or None).
_Hints = tuple[type | None, dict[str, type | None], list[type | None], type | None]


def check_types(dag: str, specs: Sequence[NodeSpec]) -> None:
    """Raise :class:`~trio_dag.TypeMismatchError` for the first edge whose
    annotations are plain classes that cannot match (see the module doc)."""
    index = {s.name: i for i, s in enumerate(specs)}
    hints: dict[int, tuple[Callable[..., Any], _Hints | None]] = {}
    decided: dict[tuple[type, type], bool] = {}

    def read(fn: Callable[..., Any]) -> _Hints | None:
        got = hints.get(id(fn))
        if got is None or got[0] is not fn:
            got = hints[id(fn)] = (fn, _read_hints(fn))
        return got[1]

    returns: list[type | None] = []
    for s in specs:
        h = read(s.fn)
        returns.append(list if s.map_over is not None else (h[0] if h else None))
    if not any(returns):
        return
    for s in specs:
        h = None
        for k, dep in enumerate(s.deps):
            j = index.get(dep)
            if j is None or k == s.map_over:
                continue  # an input (not annotated), or one element at a time
            got = returns[j]
            if got is None:
                continue
            if h is None:
                h = read(s.fn)
                if h is None:
                    break
            param, want = _param(s, k, h)
            if want is None:
                continue
            ok = decided.get((got, want))
            if ok is None:
                ok = decided[got, want] = _compatible(got, want)
            if not ok:
                raise TypeMismatchError(
                    dag,
                    s.name,
                    param,
                    dep,
                    expected=want,
                    got=got,
                    map_node=specs[j].map_over is not None,
                )


def _param(spec: NodeSpec, k: int, h: _Hints) -> tuple[str, type | None]:
    """The parameter that receives dependency ``k`` of ``spec``, and its class."""
    _, by_name, positional, star = h
    if spec.kwnames is not None:
        name = spec.kwnames[k]
        return name, by_name.get(name)
    if k < len(positional):
        p = positional[k]
        return _positional_name(spec.fn, k), p
    return "*args", star


def _positional_name(fn: Callable[..., Any], k: int) -> str:
    return str(fn.__code__.co_varnames[k])


def _read_hints(fn: Callable[..., Any]) -> _Hints | None:
    """The plain classes of ``fn``'s annotations, or None if there is nothing to check."""
    if not inspect.isfunction(fn):
        return None  # partials, callable objects, builtins: not read
    ann = getattr(fn, "__annotations__", None)
    if not ann:
        return None
    try:
        resolved: dict[str, Any] = typing.get_type_hints(fn)
    except Exception:  # one unresolvable name: resolve the others one by one
        resolved = {k: _resolve(v, fn) for k, v in ann.items()}
    plain = {k: _plain(v) for k, v in resolved.items()}
    # the parameters from the code object (no second inspect.signature per function)
    code = fn.__code__
    n_pos, n_kw = code.co_argcount, code.co_kwonlyargcount
    names = code.co_varnames
    positional = [plain.get(p) for p in names[:n_pos]]
    by_name = {p: plain.get(p) for p in names[: n_pos + n_kw]}
    star = plain.get(names[n_pos + n_kw]) if code.co_flags & inspect.CO_VARARGS else None
    return plain.get("return"), by_name, positional, star


def _resolve(annotation: Any, fn: Callable[..., Any]) -> Any:
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, getattr(fn, "__globals__", {}))  # as get_type_hints does
    except Exception:
        return _UNDECIDED


def _plain(t: Any) -> type | None:
    """``t`` as a plain class the check can decide on, or None."""
    if t is None:
        return type(None)
    if t is _UNDECIDED:
        return None
    if typing.get_origin(t) is typing.Annotated:
        t = t.__origin__
    origin = typing.get_origin(t)
    if origin is not None:
        if not isinstance(origin, type) or origin is types.UnionType:
            return None  # Union, Optional, Literal, Callable[...] of typing, ...
        t = origin  # list[int] -> list
    if not isinstance(t, type) or t is object:
        return None  # Any (a class since 3.11 is filtered below), TypeVar, NewType, strings
    if t.__module__ in ("typing", "typing_extensions"):
        return None  # Any, Protocol, Generic, NamedTuple and the like
    meta = type(t)
    if meta is not type and (
        meta.__subclasscheck__ is not type.__subclasscheck__
        or meta.__instancecheck__ is not type.__instancecheck__
    ):
        return None  # ABCs (register), Protocols, TypedDict, custom metaclasses
    return t


_PROMOTIONS: dict[type, tuple[type, ...]] = {
    float: (int,),
    complex: (int, float),
    bytes: (bytearray, memoryview),
}


def _compatible(got: type, want: type) -> bool:
    """Whether a value declared ``got`` may be passed where ``want`` is declared."""
    # both plain classes of plain metaclasses (see _plain): issubclass cannot raise
    if issubclass(got, want) or issubclass(want, got):
        return True
    promoted = _PROMOTIONS.get(want)
    return promoted is not None and issubclass(got, promoted)
