"""Serialization and versions: what makes a stored value and a cache key (internal).

* A *serializer* turns a node's value into bytes and back: any object with
  ``dumps(obj) -> bytes`` and ``loads(data) -> obj``; the default is the
  standard ``pickle`` module itself.
* A *code version* names a node's code: the explicit ``version=`` string, or
  a hash of its function's code object (bytecode, constants recursively,
  names), its defaults and the values its closure holds. Helpers the node
  calls through module globals are not part of it (see the durability guide).
* A *data version* names a value: the hash of its serialized bytes. A node's
  *key* hashes the DAG's and node's names, its code version, the serializer
  and the data versions of its direct dependencies, so every hash covers
  short strings however long the chain above it, and a node whose inputs
  are byte-for-byte the same gets the same key.

Nothing here falls back to a weaker key: what cannot be hashed exactly (an
unpicklable closure value, a value that does not serialize) has no version,
and the store then neither caches nor restores it. Pickle is not canonical
(a set may pickle differently under another ``PYTHONHASHSEED``), which can
only turn a hit into a miss, never a miss into a hit.

A placed call to a worker process or a cluster is pickled elsewhere, in
``_place_pickle.py``: it is a placement's concern, not the store's.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["Serializer", "code_version", "data_version", "node_key", "serializer_id"]

_PY = f"py{sys.version_info[0]}.{sys.version_info[1]}".encode()


@runtime_checkable
class Serializer(Protocol):
    """What a store needs to turn values into bytes and back.

    The ``pickle`` module itself is one (the default). A serializer may
    have a ``name`` attribute (a string) that identifies its format; it is
    part of every key, so changing the serializer never reads bytes that
    another one wrote.
    """

    def dumps(self, obj: Any, /) -> bytes:
        """The bytes of ``obj``."""
        ...

    def loads(self, data: bytes, /) -> Any:
        """The object of ``data``."""
        ...


def serializer_id(serializer: Any) -> str:
    """A stable name of ``serializer``'s format: its ``name``, else its qualified name."""
    name = getattr(serializer, "name", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(serializer, types.ModuleType):
        return serializer.__name__
    t = type(serializer)
    return f"{t.__module__}.{t.__qualname__}"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()


def data_version(data: bytes) -> str:
    """The data version of a serialized value: the SHA-256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


def node_key(
    dag: str, node: str, code: str, serializer: str, deps: Sequence[str | None]
) -> str | None:
    """The key of one node: names, code version, serializer, its dependencies' data versions.

    ``None`` when a dependency has no data version (its value did not
    serialize): such a node has no key, so it is neither cached nor restored.
    The names are length-prefixed and the rest are hex digests, so different
    parts never run together.
    """
    if None in deps:
        return None
    names = f"{len(dag)}:{dag}|{len(node)}:{node}|{len(serializer)}:{serializer}"
    text = f"{names}|{code}|{'|'.join(deps)}"  # type: ignore[arg-type]
    return hashlib.sha256(text.encode()).hexdigest()


class _Unversionable(Exception):
    """A function holds something that cannot be hashed exactly."""


def code_version(fn: Callable[..., Any], version: str | None = None) -> str | None:
    """The code version of a node function, or ``None`` when it has none.

    ``version`` (the node's ``version=`` option) wins when given. Otherwise
    the hash covers the Python version, the function's code object
    (bytecode, constants, nested code, names, argument layout), its defaults
    and keyword defaults, and its closure's values: a function held there is
    hashed by its own code, any other value by its pickled bytes. A value
    that does not pickle leaves the function without a version (``None``),
    never with a weaker one.
    """
    if version is not None:
        return _digest(b"version", version.encode())
    h = hashlib.sha256(_PY)
    try:
        _feed_callable(h, fn, set())
    except _Unversionable:
        return None
    return h.hexdigest()


def _feed_callable(h: Any, fn: Any, seen: set[int]) -> None:
    if id(fn) in seen:  # a closure that refers to itself (recursion)
        h.update(b"<recursive>")
        return
    seen.add(id(fn))
    if isinstance(fn, functools.partial):
        h.update(b"partial")
        _feed_callable(h, fn.func, seen)
        _feed_value(h, fn.args, seen)
        _feed_value(h, sorted(fn.keywords.items()), seen)
        return
    if isinstance(fn, types.MethodType):
        h.update(b"method")
        _feed_callable(h, fn.__func__, seen)
        _feed_object(h, fn.__self__, seen)
        return
    if isinstance(fn, types.FunctionType):
        h.update(b"function")
        _feed_code(h, fn.__code__)
        _feed_value(h, fn.__defaults__, seen)
        _feed_value(h, sorted((fn.__kwdefaults__ or {}).items()), seen)
        for cell in fn.__closure__ or ():
            try:
                v = cell.cell_contents
            except ValueError:  # an empty cell
                h.update(b"<empty cell>")
                continue
            _feed_value(h, v, seen)
        return
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - want the type's method
    if isinstance(call, types.FunctionType):  # a callable object: its method and its state
        h.update(b"object")
        _feed_callable(h, call, seen)
        _feed_object(h, fn, seen)
        return
    raise _Unversionable(fn)


def _feed_object(h: Any, obj: Any, seen: set[int]) -> None:
    """An instance: its attributes, by value (functions by code), else its pickle."""
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict) and not isinstance(obj, type):
        h.update(f"{type(obj).__module__}.{type(obj).__qualname__}".encode())
        for k in sorted(state):
            h.update(k.encode())
            _feed_value(h, state[k], seen)
    else:
        _feed_pickled(h, obj)


def _feed_value(h: Any, v: Any, seen: set[int]) -> None:
    if isinstance(v, types.FunctionType | functools.partial | types.MethodType):
        _feed_callable(h, v, seen)
    elif isinstance(v, tuple | list) and any(callable(x) for x in v):
        h.update(b"seq%d" % len(v))
        for x in v:
            _feed_value(h, x, seen)
    else:
        _feed_pickled(h, v)


def _feed_pickled(h: Any, v: Any) -> None:
    try:
        data = pickle.dumps(v, protocol=5)
    except Exception as exc:
        raise _Unversionable(v) from exc
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def _feed_code(h: Any, code: types.CodeType) -> None:
    h.update(b"code")
    for part in (code.co_code, *(n.encode() for n in code.co_names)):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    h.update(repr(code.co_varnames).encode())
    h.update(repr(code.co_freevars).encode())
    h.update(
        b"%d,%d,%d,%d"
        % (code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags)
    )
    for c in code.co_consts:
        _feed_const(h, c)


def _feed_const(h: Any, c: Any) -> None:
    if isinstance(c, types.CodeType):
        _feed_code(h, c)
    elif isinstance(c, tuple):
        h.update(b"(%d" % len(c))
        for x in c:
            _feed_const(h, x)
    elif isinstance(c, frozenset):  # iteration order varies with PYTHONHASHSEED: sort
        subs = []
        for x in c:
            sub = hashlib.sha256()
            _feed_const(sub, x)
            subs.append(sub.digest())
        h.update(b"{%d" % len(c))
        for d in sorted(subs):
            h.update(d)
    else:  # None, bool, int, float, complex, str, bytes, Ellipsis
        r = f"{type(c).__name__}:{c!r}".encode()
        h.update(len(r).to_bytes(8, "little"))
        h.update(r)
