"""Supervision at run time: attempts, retries, timeouts, restart intensity, level restarts.

A node's :class:`~trio_dag.RetryPolicy` decides whether and when it is tried
again (:meth:`Supervision._attempts`); the supervisor's strategy decides what
restarts with it (:meth:`Supervision._restart_level`); restart intensity
decides when to give up on the whole run (:meth:`Supervision._escalates`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import trio

from ._context import _current_attempt
from ._state import RunState, _only_cancelled

__all__ = ["Supervision"]


class Supervision(RunState):
    """The supervision operations of a run (see the module docstring)."""

    async def _scoped_node(self, i: int, generation: int = 0) -> None:
        """``_node`` in a cancel scope of its own, for level-restarting supervisors."""
        if generation != self.generation[i]:
            return  # a restart superseded this task before it began: the restart runs it
        with trio.CancelScope() as cs:
            self.node_scopes[i] = cs
            try:
                await self._node(i)
            finally:
                if self.node_scopes[i] is cs:
                    self.node_scopes[i] = None

    async def _attempts(
        self,
        i: int,
        args: list[Any],
        level_restart: bool,
        index: int = 0,
        chunk: list[Any] | None = None,
    ) -> Any:
        """Attempts of node ``i`` (or of its map element ``index``) as its policy allows.

        ``chunk``: the elements, from ``index`` on, of one placed call of a
        map node with ``chunk_size`` (its value is then their results' list).
        """
        policy = self.policies[i]
        timeout = self.timeouts[i]
        slots = self.slots if self.takes_slot[i] else None  # as_node: its inner nodes take them
        placed = self.placed is not None and self.placed[i]  # run_in= or limiter=
        own = self.maps[i] is None  # not a map element
        emit = self.node_emit if own else self.element_emit
        name = self.names[i]
        attempt = gen = 0
        if level_restart:
            # A node restarted with its level makes a new attempt, as a restarted child
            # does in OTP: its count goes on, and its policy bounds its own retries
            # whatever restarts its level-mates cause.
            gen = self.generation[i]
            attempt = self.attempts.get(i, 0 if self.start[i] is None else 1)
        while True:
            attempt += 1
            token = _current_attempt.set((self, i, attempt)) if attempt > 1 else None
            try:
                if slots is not None:
                    try:
                        slots.acquire_nowait()
                    except trio.WouldBlock:
                        await self._wait_slot(slots)
                # Counted as the body begins: attempts are body calls. A first attempt
                # costs no bookkeeping: RunResult counts a started node as one attempt,
                # and current_attempt() finds attempt 1 from the task. Map elements
                # count every call.
                if own:  # a node's times are those of its last attempt, without slot waits
                    if attempt > 1:
                        self.attempts[i] = attempt
                    self.start[i] = self.now()
                else:
                    self.attempts[i] = self.attempts.get(i, 0) + 1
                if emit:
                    if own:
                        emit("node_started", name, attempt)
                    else:
                        emit("element_started", name, index, attempt)
                try:
                    if placed:
                        return await self._placed_call(i, attempt, args, timeout, index, chunk)
                    if timeout is None:
                        return await self.fns[i](*args)
                    with trio.fail_after(timeout):
                        return await self.fns[i](*args)
                except (trio.Cancelled, BaseExceptionGroup) as exc:  # free unless raised
                    if own and emit and _only_cancelled(exc):  # not stray: see _node
                        self._cancelled_event(i, attempt)
                    raise
                finally:
                    if slots is not None:
                        slots.release()
            except Exception as exc:
                if level_restart and self.generation[i] != gen:
                    # A level restart cancelled this attempt as it failed (its scope is
                    # cancelled): the restart runs the node again; end as cancelled.
                    if own and emit:
                        self._cancelled_event(i, attempt)
                    await trio.lowlevel.checkpoint()
                again = policy is not None and policy.should_retry(exc, attempt)
                if again and self._escalates():
                    again = False
                if emit:
                    if own:
                        emit("node_failed", name, exc, attempt, again)
                    else:
                        emit("element_failed", name, index, exc, attempt, again)
                if not again:
                    raise
                self.last[i] = exc  # kept if the run stops before the retry ends
                delay = policy.delay(attempt, self.rng)  # type: ignore[union-attr]
            finally:
                if token is not None:
                    _current_attempt.reset(token)
            if level_restart:
                await self._restart_level(i, delay)
            else:
                await trio.sleep(delay)

    async def _placed_call(
        self,
        i: int,
        attempt: int,
        args: list[Any],
        timeout: float | None,
        index: int,
        chunk: list[Any] | None,
    ) -> Any:
        """One attempt of a node with ``run_in=`` or ``limiter=``.

        The named limiter is held around the call, outside its timeout (the wait
        for a token is not the attempt's time); the placement runs the body.
        """
        limiters = self.limiters
        limiter = None if limiters is None else limiters[i]
        if limiter is not None:
            try:
                limiter.acquire_nowait()
            except trio.WouldBlock:
                await limiter.acquire()
        try:
            if timeout is None:
                return await self._placed_body(i, attempt, args, index, chunk)
            with trio.fail_after(timeout):
                return await self._placed_body(i, attempt, args, index, chunk)
        finally:
            if limiter is not None:
                limiter.release()

    async def _placed_body(
        self, i: int, attempt: int, args: list[Any], index: int, chunk: list[Any] | None
    ) -> Any:
        placement = self.placements[i]  # type: ignore[index]  # set when a node is placed
        if placement is None:  # an async node with a named limiter only
            return await self.fns[i](*args)
        on_overrun = functools.partial(self._overran, i, attempt) if self.watch_overrun else None
        if chunk is None:
            return await placement.call(
                self.fns[i], args, node=self.names[i], on_overrun=on_overrun
            )
        m = self.maps[i]
        assert m is not None
        return await placement.call_chunk(
            self.fns[i], args, m, chunk, first=index, node=self.names[i], on_overrun=on_overrun
        )

    def _overran(self, i: int, attempt: int, action: str) -> None:
        """A placed attempt's cancellation could not interrupt its body: tell the instruments."""
        if self.emit:
            self.emit("node_overran", self.names[i], attempt, action)

    def _escalates(self) -> bool:
        """Count one restart; whether the supervisor's intensity is now exceeded."""
        intensity = self.intensity
        if intensity is None or not intensity.exceeded_by_one_more(trio.current_time()):
            return False
        self.halted = True
        return True

    async def _restart_level(self, i: int, delay: float) -> None:
        """Restart failed node ``i`` and level-mates as the supervisor says, after ``delay``.

        ``one_for_all`` restarts the whole level, ``rest_for_one`` ``i`` and the
        nodes after it. Under ``Sequential`` the caller retries ``i`` when this
        returns (nodes after ``i`` have not run yet; ``one_for_all`` reruns those
        before it). Otherwise every restarted node, ``i`` included, is cancelled
        and a new task runs it after ``delay``, and this task ends cancelled. The
        delay is a task of the level's own, so a later restart of the same nodes
        (which cancels the node tasks) supersedes it instead of losing it.
        """
        members = self.level_members
        pos = members.index(i)
        one_for_all = self.supervisor.strategy == "one_for_all"
        if self.sequential:
            await trio.sleep(delay)
            if one_for_all:
                for q in members[:pos]:
                    if self.stopped:
                        break
                    self._clear(q)
                    self.seq_current = q
                    await self._node(q)
                self.seq_current = i
                await trio.lowlevel.checkpoint_if_cancelled()  # a rerun may have stopped the run
            return
        if self.stopped:  # a failed map node is unwinding: the run stops, nothing restarts
            await trio.sleep_forever()
        restart = members if one_for_all else members[pos:]
        generation, scopes = self.generation, self.node_scopes
        for q in restart:
            cs = scopes[q]
            if cs is not None:
                cs.cancel()
                scopes[q] = None
            self._clear(q)
            generation[q] += 1
        nursery = self.level_nursery
        assert nursery is not None
        nursery.start_soon(
            self._respawn, restart, [generation[q] for q in restart], delay, name="level restart"
        )
        await trio.lowlevel.checkpoint()  # i's own scope is cancelled: this task ends here

    async def _respawn(self, restart: Sequence[int], generations: list[int], delay: float) -> None:
        """After ``delay``, start the nodes of one level restart that no later one took over."""
        await trio.sleep(delay)
        nursery = self.level_nursery
        assert nursery is not None
        for q, g in zip(restart, generations, strict=True):
            if self.generation[q] == g:
                nursery.start_soon(self._scoped_node, q, g, name=self.names[q])
