"""Where the calling code runs: the run and node context of a trio_dag run.

A run sets ``_current_run`` in its own task (inherited by every task and
thread it starts); a node's second and later attempts set
``_current_attempt``. :func:`current_attempt` and :func:`current_run_id`
read them, walking the task tree for a first attempt, which sets nothing.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

import trio

if TYPE_CHECKING:
    from ._state import RunState

__all__ = ["Attempt", "current_attempt", "current_run_id"]

_current_run: ContextVar[RunState] = ContextVar("trio_dag.run")
"""The run whose code is running (set by the run, inherited by its tasks and threads)."""
_current_attempt: ContextVar[tuple[RunState, int, int]] = ContextVar("trio_dag.attempt")
"""(run, node, attempt) from a node's second attempt on (the first costs nothing)."""


@final
@dataclass(frozen=True, slots=True)
class Attempt:
    """Where the calling code runs: which node, which attempt, which run.

    Use it to make side effects idempotent: a key such as
    ``f"{a.run_id}/{a.node}"`` is the same for every attempt of a run (a
    resumed run gets a new ``run_id``, so a key that must also survive
    ``resume`` should be built from the work itself, e.g. the node's inputs).

    >>> import trio_dag as td
    >>> class Payment(td.DAG):
    ...     @td.node(retry=td.RetryPolicy(max_attempts=2, initial_delay=0))
    ...     async def charge():
    ...         a = td.current_attempt()
    ...         if a.attempt == 1:
    ...             raise ConnectionError("reset")
    ...         return f"{a.node}, attempt {a.attempt}, key {a.run_id == td.current_run_id()}"
    >>> Payment.run_sync()["charge"]
    'charge, attempt 2, key True'

    Attributes:
        node: The node's name.
        attempt: The attempt number, from 1 (for a map node: the element's attempt). A node
            restarted with its level continues its count: a restart is an attempt.
        run_id: An id unique to the run (a resumed run gets a new one).
    """

    node: str
    attempt: int
    run_id: str


def current_attempt() -> Attempt:
    """The :class:`Attempt` of the node whose code calls this.

    Works in a node's own task, in tasks it spawns while it runs, and in
    threads it starts with :func:`trio.to_thread.run_sync`.

    Raises:
        RuntimeError: called outside a node of a trio_dag run, or from a task
            or thread that cannot be traced to a node (a task still running in
            a nursery outside the run after its node finished, a thread that
            trio did not start).
    """
    run = _current_run.get(None)
    if run is None:
        raise RuntimeError("trio_dag.current_attempt() must be called from inside a node")
    att = _current_attempt.get(None)
    if att is not None and att[0] is run:
        return Attempt(run.graph.nodes[att[1]], att[2], run.run_id)
    try:
        task: Any = trio.lowlevel.current_task()
    except RuntimeError:  # not trio's thread: a worker thread of a node, perhaps
        task = _thread_host_task()
    seq_task = run.seq_task
    via: Any = None  # the nursery through which the walk reached ``task``
    while task is not None:  # find the node task: its parent nursery is the run's
        if seq_task is not None and task is seq_task:  # Sequential: nodes run in one task
            # A nursery opened since the run began is the running node's; one opened
            # before holds tasks of any earlier node, which cannot be told apart.
            if via is None or via in seq_task.child_nurseries[run.seq_outer :]:
                return Attempt(run.graph.nodes[run.seq_current], 1, run.run_id)
            break
        parent = task.parent_nursery
        if parent is None:
            break
        if parent in run.nurseries:  # a node's task: work-first, it may run several
            return Attempt(run._task_node(task), 1, run.run_id)
        via = parent
        task = parent.parent_task
    raise RuntimeError(
        "trio_dag.current_attempt() must be called from inside a node: this task is "
        "neither a node's task nor one started by a node that is still running "
        "(call it in the node and pass the Attempt on)"
    )


def _thread_host_task() -> Any:
    """The task whose ``trio.to_thread.run_sync`` call runs this thread.

    A thread's context is a copy of its task's, which names the run but, on a
    node's first attempt, not the node (the plain path sets no ContextVar).
    ``trio.from_thread.run_sync`` would run in a system task when the thread was
    started with ``abandon_on_cancel=True``, so read trio's record of the
    waiting task instead (a private name of trio 0.35; the tests of
    current_attempt() in threads fail if it changes); ``None`` once the task
    abandoned the thread.
    """
    try:
        return trio._threads.PARENT_TASK_DATA.task_register[0]
    except AttributeError:
        raise RuntimeError(
            "trio_dag.current_attempt() was called from a thread that "
            "trio.to_thread.run_sync did not start, so it cannot tell which node the "
            "thread works for: call current_attempt() in the node and pass the Attempt "
            "to the thread"
        ) from None


def current_run_id() -> str:
    """The ``run_id`` of the trio_dag run whose code calls this.

    Works in a node, in tasks it spawns, and in every
    :class:`~trio_dag.Instrument` hook (hooks run in the run's context); in a
    run started from inside a node, it is the inner run's id.

    Raises:
        RuntimeError: called outside a trio_dag run.
    """
    run = _current_run.get(None)
    if run is None:
        raise RuntimeError(
            "trio_dag.current_run_id() must be called from inside a run "
            "(a node, a task it spawns, or an instrument hook)"
        )
    return run.run_id
