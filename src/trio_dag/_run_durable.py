"""Runs with a store: restore, journal and cache around a run (internal).

:class:`Durable` is the part of the runtime a run with a store adds: the
journal around :meth:`~trio_dag._run._Run.go`, and ``_journaled_node``,
which takes every node's place (a cache lookup first, write-through after).
A run without a store pays nothing per node for it. The runtime's layers:
``_run`` (scheduling) -> this -> ``_maps`` -> ``_supervision`` -> ``_state``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from ._durable import Journal
from ._maps import MapPool
from ._options import RunOptions
from ._result import MISSING, NodeStatus, RunFailed, RunResult, RunStatus

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["Durable"]


class Durable(MapPool):
    """A run's durability: the journal around the run, and the journaled node."""

    async def go(self, deadline: float | None) -> RunResult:
        """Run to the end (the scheduler's, in ``_run.py``)."""
        raise NotImplementedError

    @classmethod
    async def execute_durable(
        cls, graph: Graph, input_values: list[Any], partial: RunResult | None, options: RunOptions
    ) -> RunResult:
        """A run with a store: restore, journal and cache around :meth:`go`.

        The journal's writer task runs beside the run, outside its cancel scope;
        whatever ends the run, what was added is committed and the run key's
        lease given back (shielded) before the outcome leaves.
        """
        assert options.store is not None
        journal = Journal(
            graph, options.store, options.run_key, options.rerun_changed, input_values
        )
        status: RunStatus | None = None
        error: Exception | None = None
        result: RunResult | None = None
        try:
            values = await journal.open()
            if values is not None:
                n = len(graph.nodes)
                partial = RunResult(
                    graph,
                    values,
                    [None] * n,
                    [None] * n,
                    {},
                    {},
                    RunStatus.FAILED,
                    "",
                    None,
                    dict(journal.restored),
                )
            run = cls(graph, input_values, partial, options)
            run._use_journal(journal)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(journal.writer)
                try:
                    result = await run.go(options.deadline)
                    status = result.status
                except RunFailed as exc:
                    status = exc.result.status
                    error = exc
                finally:  # commits what is left and ends the writer task
                    with trio.CancelScope(shield=True):
                        await journal.close(None if journal.failure else status)
        finally:
            if not journal.closed:  # open() failed, or cancelled before the writer ran
                with trio.CancelScope(shield=True):
                    await journal.close(None)
        if journal.failure is not None:
            raise journal.store_error() from journal.failure
        journal.emit_warnings()
        if error is not None:
            raise error
        assert result is not None
        return result

    def _use_journal(self, journal: Journal) -> None:
        """Run with a store: every node goes through :meth:`_journaled_node`.

        The plain path stays as it is: a run without a store pays nothing per
        node for durability.
        """
        self.journal = journal
        self.scope = trio.CancelScope()  # the writer may stop the run at any time
        self.next_of = ((),) * len(self.names)  # _journaled_node starts them, after the commit
        journal.on_failure = self._store_failed
        self._node = self._journaled_node  # type: ignore[method-assign]

    def _store_failed(self) -> None:
        """Committing to the store failed: stop the run (it raises StoreError)."""
        self.stopped = True
        assert self.scope is not None  # made by _use_journal
        self.scope.cancel()

    async def _journaled_node(self, i: int, looked_up: bool = False) -> None:
        """``_node`` in a run with a store: a cache lookup first, write-through after.

        ``looked_up``: the cache had no value for this node
        (:meth:`_start_dependents` asked already).
        """
        journal = self.journal
        assert journal is not None
        if self.stopped:
            return
        if journal.cached[i] and not looked_up:
            hit = await journal.lookup(i)
            if hit is not MISSING:  # committed already: the body does not run
                self.values[i] = hit
                self.restored[i] = NodeStatus.CACHED  # no node events: it did not run
                if self.eager and not self.stopped:
                    await self._start_dependents(i)
                return
        await type(self)._node(self, i)  # the class's: self._node is this method
        v = self.values[i]
        if v is MISSING:  # failed, or the run stopped
            return
        if journal.track[i]:
            journal.add(i, v)
            if self.eager:  # write-through: no dependent starts before the commit
                await journal.batch_done.wait()
        if self.eager and not self.stopped:
            if journal.any_cached:
                await self._start_dependents(i)
            else:  # nothing to look up: start the ready dependents as _node does
                remaining, spawn, names = self.remaining, self.spawn, self.names
                for j in self.dependents[i]:
                    r = remaining[j] - 1
                    remaining[j] = r
                    if not r:
                        spawn(self._node, j, name=names[j])

    async def _start_dependents(self, i: int) -> None:
        """Node ``i`` is committed: start each dependent whose last dependency it was.

        A ready dependent with ``cache=True`` is looked up from this task, all
        of them in one batch: a hit is done without a task of its own (and its
        own ready dependents are handled the same way), a miss gets a task
        that runs its body.
        """
        journal = self.journal
        assert journal is not None
        remaining, spawn, names, cached = self.remaining, self.spawn, self.names, journal.cached
        node = self._journaled_node
        done = [i]
        while done and not self.stopped:
            asked: list[int] = []
            for k in done:
                for j in self.dependents[k]:
                    r = remaining[j] - 1
                    remaining[j] = r
                    if not r:
                        if cached[j]:
                            journal.ask(j)
                            asked.append(j)
                        else:
                            spawn(node, j, name=names[j])
            if not asked:
                return
            await journal.batch_done.wait()
            done = []
            for j in asked:
                hit = journal.hits.pop(j, MISSING)
                if hit is MISSING:
                    spawn(node, j, True, name=names[j])
                else:
                    self.values[j] = hit
                    self.restored[j] = NodeStatus.CACHED
                    done.append(j)
