"""Dask's local schedulers on the task-graph dict ``{key: (func, *dep_keys)}``.

``prepare_sync`` uses ``dask.get`` (``dask.local.get_sync``, the
single-threaded synchronous scheduler, Dask's fastest for tiny tasks);
``prepare_threaded`` uses ``dask.threaded.get`` (a thread pool of as many
workers as cores). Every node calls :func:`peers.const`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask.local
import dask.threaded

from peers import Parents, Runner, const, name, sync_runner


def task_graph(parents: Parents) -> dict[str, tuple[Any, ...]]:
    """The Dask graph of ``parents``."""
    return {name(i): (const, *(name(p) for p in ps)) for i, ps in enumerate(parents)}


def _prepare(parents: Parents, get: Callable[..., Any]) -> Runner:
    dsk = task_graph(parents)
    keys = [name(i) for i in range(len(parents))]
    return sync_runner(lambda: list(get(dsk, keys)))


def prepare_sync(parents: Parents) -> Runner:
    """``dask.get`` (synchronous scheduler) runner of ``parents``."""
    return _prepare(parents, dask.local.get_sync)


def prepare_threaded(parents: Parents) -> Runner:
    """``dask.threaded.get`` runner of ``parents``."""
    return _prepare(parents, dask.threaded.get)
