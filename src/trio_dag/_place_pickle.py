"""Placed calls pickled once: what a worker process or a cluster receives (internal).

A call placed in another process or on a cluster travels as one ``bytes``
payload, pickled here once (:func:`pickle_call`); the worker runs
:func:`run_pickled` on it and sends back the pickled result
(:func:`unpickle_result`). pickle goes first (fast, C) and cloudpickle,
when installed, takes over where pickle cannot (:func:`pickler`).

Whatever does not pickle, on either side, becomes a
:class:`~trio_dag.SerializationError` that names the node and the part:
the function, an argument, a map element (with its index), the call as the
worker unpickled it, or the result (a chunk's first failing element).

Stored values and cache keys are pickled elsewhere, by a store's serializer
(``_serialize.py``).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pickle
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ._exceptions import SerializationError

__all__ = [
    "RemoteSerializationError",
    "main_is_importable",
    "pickle_call",
    "pickler",
    "remote_error",
    "run_pickled",
    "unpickle_result",
]


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
