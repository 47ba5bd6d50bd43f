"""Sequential scheduling: one node at a time, in the run's own task (internal).

``Sequential()`` spawns no task per node: the run's task awaits each node in
``graph.order`` (the levels, flattened), with one cancellation check before
each. A plain node (no retry, timeout, map, resource or placement) runs
inline here, without a coroutine of its own; the others go through
``_Run._node``. See :class:`SequentialRun`.
"""

from __future__ import annotations

import trio

from ._run_durable import Durable

__all__ = ["SequentialRun"]


class SequentialRun(Durable):
    """The Sequential loop of a run (``_Run`` in ``_run.py`` builds on it)."""

    async def _sequential(self) -> None:
        checkpoint = trio.lowlevel.checkpoint_if_cancelled
        node = self._node
        # current_attempt() finds the node from this task (no ContextVar set per node)
        self.seq_task = task = trio.lowlevel.current_task()
        self.seq_outer = len(task.child_nurseries)
        journal = self.journal
        # A plain node runs inline, as _node would run it, without a coroutine of its
        # own; and with one clock read: it starts when the node before it ended
        # (nothing between them waits). Events, slots and a store take _node.
        inline = journal is None and self.node_emit is None and self.slots is None
        plain, fns, slot_deps, values = self.plain, self.fns, self.slot_deps, self.values
        start, end, now = self.start, self.end, self.now
        t = now()
        for level in self.graph._level_ix:
            if journal is not None:  # write-through: this level's inputs are committed
                await journal.flush()
            for i in self._members(level):
                await checkpoint()
                if self.stopped:  # fail-fast: a run without a cancel scope stops here
                    return
                self.seq_current = i
                if not (inline and plain[i]):
                    await node(i)
                    t = now()
                    continue
                start[i] = t
                try:
                    v = await fns[i](*[values[d] for d in slot_deps[i]])
                except Exception as exc:
                    self._failed(i, exc)
                    t = now()
                    continue
                except trio.Cancelled as exc:  # costs nothing unless raised
                    if not self._stray(i, exc):
                        raise
                    t = now()
                    continue
                except BaseExceptionGroup as group:  # trio.Cancelled mixed with real errors
                    if not self._group_ended(i, group):
                        raise
                    t = now()
                    continue
                end[i] = t = now()
                values[i] = v
