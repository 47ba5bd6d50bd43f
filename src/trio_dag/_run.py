"""The runtime: one run of a compiled graph under a strategy and a supervisor.

Hot-path rules (see DESIGN.md, "Performance model"): eager scheduling is
work-first (the task that finishes a node runs one dependent it made ready
itself and spawns tasks for the others); only the dependency
counters are copied per run; a node's failure is caught in its own task and
cancels the run's scope, so exception groups stay off the hot path; cancel
scopes, ``fail_after``, context variables and retry loops exist only for the
nodes that asked for retries, timeouts or mapping.

The run is one object whose class is cut along its concepts: ``_state.py``
(per-run state), ``_supervision.py`` (attempts and restarts), ``_maps.py``
(the map worker pool), ``_run_durable.py`` (runs with a store),
``_sequential.py`` (the Sequential loop) and, here, parallel scheduling and
the run's outcome.
"""

from __future__ import annotations

import functools
import math
import sys
from typing import TYPE_CHECKING, Any

import trio

from ._context import _current_run
from ._exceptions import ResourceError
from ._options import RunOptions
from ._resources import Resources, hold
from ._result import MISSING, RunFailed, RunInterrupted, RunResult, RunStatus
from ._sequential import SequentialRun
from ._state import INLINE_CHECKPOINT, _only_cancelled

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["execute"]


async def execute(
    graph: Graph, input_values: list[Any], partial: RunResult | None, options: RunOptions
) -> RunResult:
    """Run ``graph`` (resuming ``partial`` if given) and return its result."""
    if options.store is None:
        return await _Run(graph, input_values, partial, options).go(options.deadline)
    return await _Run.execute_durable(graph, input_values, partial, options)


class _Run(SequentialRun):
    """One run: scheduling and outcome (state and the rest come from the bases)."""

    # ------------------------------------------------------------ the run

    async def go(self, deadline: float | None) -> RunResult:
        if self.resources is None and self.graph.resources:  # a run of its own: hold them
            return await hold(self.graph, functools.partial(self._go_holding, deadline))
        token = _current_run.set(self)
        escaped: BaseException | None = None
        try:
            if self.emit:
                self.emit("run_started", self.graph.name, self.run_id)
            try:
                scope = self.scope  # a durable run's is made before it starts
                # (an eager run never restarts levels: such a supervisor needs levels)
                unscoped = scope is None and not self.level_restarts
                if unscoped and self.eager:
                    # The nursery's cancel scope is the run's: a second one costs a
                    # small run about a tenth of its time.
                    self.deadline = deadline
                    await self._eager()
                elif unscoped and self.sequential and deadline is None:
                    # Nothing runs beside the node that fails: fail-fast stops the loop
                    # through ``stopped``, and no cancel scope is needed.
                    await self._sequential()
                else:
                    if scope is None:
                        scope = self.scope = trio.CancelScope()
                    with scope:
                        if deadline is not None:
                            scope.deadline = trio.current_time() + deadline
                        if self.sequential:
                            await self._sequential()
                        elif self.eager:
                            await self._eager()
                        else:
                            await self._levels()
            except BaseException as exc:  # cancelled from outside, KeyboardInterrupt, SystemExit
                escaped = exc  # node failures never get here: they end in the node's task
            result = self._result(escaped)
            if self.emit:  # on every exit, in the run's context
                self.emit("run_finished", result)
        finally:
            _current_run.reset(token)
        # Break the cycles exception -> traceback -> frames -> run -> errors, so a
        # finished run leaves nothing for the cycle collector (values stay in result).
        if self.errors or self.last or self.elements:
            self.errors, self.last, self.elements = {}, {}, {}
        self.nurseries.clear()
        self.level_nursery = None
        status = result.status
        if escaped is not None:
            interrupt = _interrupt(escaped)
            try:
                if interrupt is not None:
                    raise RunInterrupted._wrap(interrupt, result) from escaped
                raise escaped  # trio's Cancelled (never swallowed), or whatever else escaped
            finally:
                escaped = interrupt = None
        if status is RunStatus.COMPLETED:
            return result
        errs = [e for _, e in sorted(result._errors.items())]
        cause: BaseException
        if not errs:
            cause = trio.TooSlowError(f"the run's deadline of {deadline} s passed")
        elif len(errs) == 1:
            cause = errs[0]
        else:
            cause = ExceptionGroup(f"{len(errs)} nodes failed", errs)  # type: ignore[type-var]
        try:
            raise RunFailed(result) from cause
        finally:
            del cause, errs

    async def _go_holding(self, deadline: float | None, table: Resources) -> RunResult:
        self.resources = table
        return await self.go(deadline)

    def _result(self, escaped: BaseException | None) -> RunResult:
        """The run's result (complete or partial), however the run ended."""
        if escaped is not None:
            status = RunStatus.CANCELLED if _only_cancelled(escaped) else RunStatus.INTERRUPTED
        elif self.halted:
            status = RunStatus.HALTED
        elif self.errors:
            status = RunStatus.FAILED
        elif self.scope is not None and self.scope.cancelled_caught and not self.stopped:
            status = RunStatus.TIMED_OUT
        else:
            status = RunStatus.COMPLETED
        values = self.values
        last = self.last
        if last:
            last = {i: e for i, e in last.items() if values[i] is MISSING}
        start, end = self._times()
        return RunResult(
            self.graph,
            values,
            start,
            end,
            self.errors,
            self.attempts,
            status,
            self._id,
            last,
            self.restored or None,
            self.elements,
        )

    async def _eager(self) -> None:
        async with trio.open_nursery() as nursery:
            if self.scope is None:  # the run's scope is the nursery's (see go)
                self.scope = scope = nursery.cancel_scope
                if self.deadline is not None:
                    scope.deadline = trio.current_time() + self.deadline
            self.nurseries.add(nursery)
            self.spawn = nursery.start_soon
            node, names = self._node, self.names
            for i in self.roots:
                nursery.start_soon(node, i, name=names[i])

    async def _levels(self) -> None:
        names, emit = self.names, self.emit
        node = self._scoped_node if self.level_restarts else self._node
        for li, level in enumerate(self.graph._level_ix):
            if self.journal is not None:  # write-through: this level's inputs are committed
                await self.journal.flush()
            if self.stopped:
                break
            if emit:
                emit("level_started", li, tuple(names[i] for i in level))
            members = self._members(level)
            try:
                async with trio.open_nursery() as nursery:
                    self.nurseries.add(nursery)
                    self.level_nursery = nursery
                    for i in members:
                        nursery.start_soon(node, i, name=names[i])
            finally:  # also when the run stops: every level_started gets its level_finished
                if emit:
                    emit("level_finished", li)
            self.nurseries.discard(nursery)

    # ------------------------------------------------------- one node

    async def _node(self, i: int) -> None:
        """Run node ``i`` to a value or a final failure; eager, then its ready dependents.

        Work-first (eager): of the dependents node ``i`` made ready, this task
        runs the first itself, in this loop, and spawns a task for each other
        one. It waits at a checkpoint after every ``INLINE_CHECKPOINT`` nodes it
        ran so, so a chain of nodes that never suspend does not starve other
        tasks. The task keeps the name of the node it began with;
        :func:`~trio_dag.current_attempt` reads the running node from ``i``
        (:meth:`RunState._task_node`): renaming the task would cost a
        ``current_task()`` call per node. A plain node run so starts when the
        node before it ended (``t``: one clock read serves both).

        A waiting node's memory is this coroutine's frame (twice: trio makes a
        frame object of it), so it keeps few locals, builds the arguments
        without a closure cell, and leaves the rarer branches to helpers.
        """
        if self.stopped:
            return
        t = 0.0  # when the node this task ran before node i ended (0.0: read the clock)
        k = 0  # nodes this task ran since it last suspended for a checkpoint
        while True:
            if self.fast[i]:  # plain, and the run has no max_concurrency nor node hooks
                self.start[i] = t or self.now()
                try:
                    self.values[i] = await self.fns[i](
                        *map(self.values.__getitem__, self.slot_deps[i])
                    )
                except BaseException:  # costs nothing unless raised; never swallowed
                    if self._raised(i, True):
                        return
                    raise
                self.end[i] = t = self.now()
            else:
                if self.plain[i]:
                    if self.slots is not None:
                        try:
                            self.slots.acquire_nowait()
                        except trio.WouldBlock:
                            await self._wait_slot(self.slots)
                            t = 0.0
                    self.start[i] = t or self.now()
                    if self.node_emit:
                        self.node_emit("node_started", self.names[i], 1)
                    try:
                        self.values[i] = await self.fns[i](
                            *map(self.values.__getitem__, self.slot_deps[i])
                        )
                    except BaseException:
                        if self.slots is not None:
                            self.slots.release()
                        if self._raised(i, True):
                            return
                        raise
                    if self.slots is not None:
                        self.slots.release()
                else:
                    try:
                        if not await self._supervised(i):
                            return  # a resource failed to enter: the node failed
                    except BaseException:
                        if self._raised(i, False):
                            return
                        raise
                self.end[i] = t = self.now()
                if self.node_emit:
                    self._finished_event(i)
            if self.stopped:
                return
            # Work-first: run the first dependent made ready here, spawn the others.
            # ``i`` turns negative (~i) until one is chosen: no local for it.
            remaining = self.remaining
            i = ~i
            for j in self.next_of[~i]:  # eager: the dependents; otherwise nothing
                remaining[j] -= 1
                if not remaining[j]:
                    if i < 0:
                        i = j
                    else:
                        self.spawn(self._node, j, name=self.names[j])
            if i < 0:
                return
            k += 1
            if k == INLINE_CHECKPOINT:
                await trio.lowlevel.checkpoint()
                k = 0
                t = 0.0

    async def _supervised(self, i: int) -> bool:
        """Node ``i`` off the plain path: resources, a map, or supervised attempts.

        Stores its value; ``False`` if a resource failed to enter (the node failed).
        """
        values = self.values
        args = [values[d] for d in self.slot_deps[i]]
        if self.needs[i] is not None:  # resources: entered before the node starts
            try:
                args = await self.resources.fill(i, args, values)  # type: ignore[union-attr]
            except ResourceError as exc:
                self.start[i] = self.now()
                if self.node_emit:
                    self.node_emit("node_started", self.names[i], 1)
                    self.node_emit("node_failed", self.names[i], exc, 1, False)
                self._failed(i, exc)
                return False
        if self.maps[i] is not None:
            self.start[i] = self.now()
            values[i] = await self._map(i, args)
        else:
            values[i] = await self._attempts(i, args, self.level_restarts)
        return True

    def _finished_event(self, i: int) -> None:
        self.node_emit("node_finished", self.names[i], self.end[i] - self.start[i])  # type: ignore[misc,operator]

    def _raised(self, i: int, plain: bool) -> bool:
        """Node ``i``'s body (``plain``) or attempts raised the exception being handled:
        whether the node failed of it here (its task ends) or it goes on (the caller
        re-raises). Read with ``sys.exception()``: an ``as`` name would be one more
        local in every waiting node's frame."""
        exc = sys.exception()
        assert exc is not None
        emit = self.node_emit
        if isinstance(exc, Exception):
            if emit and (plain or self.maps[i] is not None):
                if self._cancelled_by_restart(i):  # it failed as a restart cancelled it
                    self._cancelled_event(i, self._told_attempt(i))
                else:
                    emit("node_failed", self.names[i], exc, self._told_attempt(i), False)
            self._failed(i, exc)
            return True
        if plain and emit and _only_cancelled(exc):  # the attempt began: not a slot wait
            self._cancelled_event(i, 1)
        if isinstance(exc, trio.Cancelled):
            return self._stray(i, exc)
        if isinstance(exc, BaseExceptionGroup):  # trio.Cancelled mixed with real errors
            return self._group_ended(i, exc)
        return False  # KeyboardInterrupt, SystemExit: they stop the run

    def _stray(self, i: int, exc: BaseException) -> bool:
        """trio.Cancelled (alone or in a group) ended node ``i``: whether it was stray.

        Cancelled while the node's task is being cancelled (run stop, deadline,
        level restart, outside cancel) is the node's cancellation: the caller
        re-raises it. Otherwise it leaked from somewhere else: it becomes the
        node's failure, a :class:`NodeCancelled`, so a run never completes
        without a node's value.
        """
        if trio.current_effective_deadline() == -math.inf:
            # A map node's end; plain and supervised nodes tell theirs where the body
            # is awaited (_cancelled_event), so a node waiting for a slot tells nothing.
            if self.node_emit and self.maps[i] is not None:
                self.node_emit("node_cancelled", self.names[i], 1)  # as its node_started
            return False
        self._failed_event(i, self._stray_error(i, exc))
        return True

    def _group_ended(self, i: int, group: BaseExceptionGroup[BaseException]) -> bool:
        """A group that is not an Exception ended node ``i``: whether it is handled here.

        A group holding KeyboardInterrupt, SystemExit or another non-Exception
        stops the run (the caller re-raises it to ``go``). Only trio.Cancelled:
        as :meth:`_stray`. Cancelled with real errors (the node's nursery failed
        while being cancelled): the real errors are the node's failure, not
        retried; if a level restart cancelled the node, it reruns, so they are
        kept as its last error only.
        """
        errors, rest = group.split(Exception)
        if rest is not None and rest.split(trio.Cancelled)[1] is not None:
            return False
        if errors is None:
            return self._stray(i, group)
        if (
            self.level_restarts
            and not (self.scope is not None and self.scope.cancel_called)
            and trio.current_effective_deadline() == -math.inf
        ):
            self.last[i] = errors  # superseded by a restart (or cancelled from outside)
            if self.node_emit:
                self.node_emit("node_cancelled", self.names[i], self._told_attempt(i))
            return True
        self._failed_event(i, errors)
        return True


def _interrupt(exc: BaseException) -> BaseException | None:
    """The first KeyboardInterrupt or SystemExit in ``exc`` (or in its nested groups)."""
    stack = [exc]
    while stack:
        e = stack.pop()
        if isinstance(e, KeyboardInterrupt | SystemExit):
            return e
        if isinstance(e, BaseExceptionGroup):
            stack.extend(reversed(e.exceptions))
    return None
