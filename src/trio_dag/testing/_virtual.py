"""Runs in virtual time."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

if TYPE_CHECKING:
    from .._dag import DAG
    from .._result import RunResult

__all__ = ["run_virtual"]


def run_virtual(
    dag: type[DAG], inputs: Mapping[str, Any] | None = None, /, **options: Any
) -> RunResult:
    """Run ``dag`` to the end in virtual time and return its result.

    Like ``dag.run_sync(inputs, **options)``, but under a
    :class:`trio.testing.MockClock` with ``autojump_threshold=0``: whenever
    every task is waiting, the clock jumps to the next deadline, so
    ``trio.sleep``, retry backoffs, per-attempt timeouts and the run's
    ``deadline`` take no real time, and times in the result (``started_at``,
    ``finished_at``, ``duration``) are exact virtual seconds from 0.

    For use outside an async test; inside one (pytest-trio), ask for the
    ``autojump_clock`` fixture and ``await dag.run(...)`` instead.

    >>> import trio, trio_dag as td
    >>> from trio_dag.testing import run_virtual
    >>> class Slow(td.DAG):
    ...     @td.node
    ...     async def nap():
    ...         await trio.sleep(3600)
    ...         return "rested"
    >>> result = run_virtual(Slow)          # returns at once
    >>> result["nap"], result.finished_at("nap")
    ('rested', 3600.0)

    Args:
        dag: the DAG class to run.
        inputs: values of its inputs.
        **options: run options, as for :meth:`trio_dag.DAG.run` (``strategy``,
            ``retry``, ``seed``, ``deadline``, ...).

    Returns:
        The run's :class:`~trio_dag.RunResult`.

    Raises:
        RunFailed: as :meth:`~trio_dag.DAG.run` raises it.
    """
    clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(functools.partial(dag.run, inputs, **options), clock=clock)
