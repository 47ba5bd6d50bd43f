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

A placed call to a worker process or a cluster is pickled here too, once, into
one ``bytes`` payload (:func:`pickle_call`, :func:`run_pickled`): a failure is then
a :class:`~trio_dag.SerializationError` naming the node and the part that does not pickle.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import pickle
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ._exceptions import SerializationError

__all__ = [
    "RemoteSerializationError",
    "Serializer",
    "code_version",
    "data_version",
    "main_is_importable",
    "node_key",
    "pickle_call",
    "pickler",
    "remote_error",
    "run_pickled",
    "serializer_id",
    "unpickle_result",
]

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


# ------------------------------------------- placed calls: pickled once, here


@functools.cache
def pickler(
    main_by_value: bool = False,
) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    """(dumps, loads) of placed calls: pickle first (fast, C), cloudpickle when pickle cannot.

    cloudpickle (when installed) takes over when pickle fails (lambdas,
    closures, local classes) and, with ``main_by_value``, when pickle would
    refer to ``__main__``, which the worker may not have: a Dask worker
    never has ours, and a spawned process has it only when ``__main__`` is
    a file it can import again (not a notebook or a REPL). Dask decides
    the same way.
    """
    fast = functools.partial(pickle.dumps, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        cloudpickle = importlib.import_module("cloudpickle")
    except ImportError:  # pragma: no cover - cloudpickle comes with the extras
        return fast, pickle.loads
    slow: Callable[[Any], bytes] = functools.partial(
        cloudpickle.dumps, protocol=pickle.HIGHEST_PROTOCOL
    )

    def dumps(obj: Any) -> bytes:
        try:
            out = fast(obj)
        except Exception:
            return slow(obj)
        return slow(obj) if main_by_value and b"__main__" in out else out

    return dumps, pickle.loads


def main_is_importable() -> bool:
    """Whether a spawned worker can import our ``__main__`` again (it is a file)."""
    return getattr(sys.modules.get("__main__"), "__file__", None) is not None


class RemoteSerializationError(Exception):
    """In a worker: the call did not unpickle, or its result did not pickle.

    ``args``: ``(part, detail, index)``; see :func:`remote_error`."""


def run_pickled(payload: bytes) -> bytes:
    """The function a worker runs: unpickle ``(fn, args, first)``, call, pickle the result.

    ``first`` is ``None`` for one call, or the index of a chunk's first map
    element (its result is then a list, one value per element).
    """
    dumps, loads = pickler()
    try:
        fn, args, first = loads(payload)
    except Exception as exc:
        raise RemoteSerializationError("call", f"{type(exc).__name__}: {exc}", None) from None
    result = fn(*args)
    try:
        return dumps(result)
    except Exception as exc:
        index = None
        exc_type = type(result).__name__
        if first is not None:  # a chunk: name the first element whose result does not pickle
            for k, r in enumerate(result):
                try:
                    dumps(r)
                except Exception:
                    index = first + k
                    exc_type = type(r).__name__
                    break
        detail = f"a {exc_type}: {type(exc).__name__}: {exc}"
        raise RemoteSerializationError("result", detail, index) from None


def pickle_call(
    dumps: Callable[[Any], bytes],
    where: object,
    node: str | None,
    job: tuple[Callable[..., Any], Sequence[Any], int | None],
    fn: Callable[..., Any],
    args: Sequence[Any],
    map_index: int | None = None,
    elements: Sequence[Any] = (),
) -> bytes:
    """``job``, ``(callable, args, first)`` as :func:`run_pickled` reads it, pickled.

    On failure, a :class:`SerializationError` names what does not pickle: ``fn``
    (the node function), one of ``args``, or one of a chunk's ``elements``
    (which stand at ``args[map_index]``); ``where`` (the placement) is named too.
    """
    try:
        return dumps(job)
    except Exception as exc:
        first = job[2] or 0
        raise _diagnose(exc, dumps, where, node, fn, args, map_index, elements, first) from exc


def _where(node: str | None) -> str:
    return f"node {node!r}" if node else "a placed call"


def _diagnose(
    exc: Exception,
    dumps: Callable[[Any], bytes],
    placement: object,
    node: str | None,
    fn: Callable[..., Any],
    args: Sequence[Any],
    map_index: int | None,
    elements: Sequence[Any],
    first: int,
) -> SerializationError:
    """The :class:`SerializationError` naming which part of a call does not pickle."""

    def fails(obj: Any) -> Exception | None:
        try:
            dumps(obj)
        except Exception as e:
            return e
        return None

    where, how = _where(node), f"for {placement!r}"
    err = fails(fn)
    if err is not None:
        name = getattr(fn, "__qualname__", repr(fn))
        return SerializationError(
            f"{where}: its function {name} (or a value its closure holds) cannot be "
            f"pickled {how}: {type(err).__name__}: {err}; define the function at module "
            f"level and keep locks, sockets, open files and clients out of its closure",
            node=node,
            part="function",
        )
    names = _param_names(fn)
    for k, a in enumerate(args):
        name = names[k] if k < len(names) else f"#{k}"
        if k == map_index:
            for j, x in enumerate(elements):
                err = fails(x)
                if err is not None:
                    return SerializationError(
                        f"{where}: element {first + j} of argument {name!r} "
                        f"(a {type(x).__name__}) cannot be pickled {how}: "
                        f"{type(err).__name__}: {err}",
                        node=node,
                        part="element",
                        argument=name,
                        index=first + j,
                    )
            continue
        err = fails(a)
        if err is not None:
            return SerializationError(
                f"{where}: argument {name!r} (a {type(a).__name__}) cannot be pickled {how}: "
                f"{type(err).__name__}: {err}; a node that runs in a process or on a "
                f"cluster needs picklable arguments",
                node=node,
                part="argument",
                argument=name,
            )
    return SerializationError(  # pragma: no cover - every part pickles alone but not together
        f"{where}: its call cannot be pickled {how}: {type(exc).__name__}: {exc}",
        node=node,
        part="call",
    )


def remote_error(
    exc: RemoteSerializationError, placement: object, node: str | None
) -> SerializationError:
    """The :class:`SerializationError` for what a worker could not (un)pickle."""
    part, detail, index = exc.args
    where, how = _where(node), f"{placement!r}"
    if part == "result":
        what = "its return value" if index is None else f"the result of map element {index}"
        return SerializationError(
            f"{where}: {what} ({detail}) cannot be pickled to come back from {how}; "
            f"return picklable data (plain values, lists, dicts, dataclasses)",
            node=node,
            part="result",
            index=index,
        )
    return SerializationError(
        f"{where}: the worker of {how} could not unpickle the call: {detail}; the function "
        f"and the classes of its arguments must be importable in the worker",
        node=node,
        part="call",
    )


def unpickle_result(raw: bytes, placement: object, node: str | None) -> Any:
    """A worker's pickled return value, or a :class:`SerializationError` naming the node."""
    try:
        return pickler()[1](raw)
    except Exception as exc:
        raise SerializationError(
            f"{_where(node)}: its return value could not be unpickled here, coming back "
            f"from {placement!r}: {type(exc).__name__}: {exc}",
            node=node,
            part="result",
        ) from exc


def _param_names(fn: Callable[..., Any]) -> list[str]:
    """Names of ``fn``'s positional parameters (for messages), or ``[]``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in params if p.kind in positional]
