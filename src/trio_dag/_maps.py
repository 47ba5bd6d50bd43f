"""The map worker pool: a map node's elements, run by at most ``max_concurrency`` workers."""

from __future__ import annotations

import math
import types
from typing import Any

import trio

from ._exceptions import MapError
from ._supervision import Supervision

__all__ = ["MapPool"]


class MapPool(Supervision):
    """Runs map nodes (see :meth:`_map`)."""

    async def _map(self, i: int, args: list[Any]) -> list[Any]:
        m = self.maps[i]
        assert m is not None
        name = self.names[i]
        source = args[m]
        try:
            it = iter(source)
        except TypeError as exc:
            raise MapError(
                f"map node {name!r} of DAG {self.graph.name!r} maps over "
                f"{self.graph._specs[i].deps[m]!r}, whose value is not iterable: "
                f"{_short_repr(source)}"
            ) from exc
        if it is not source:
            items = list(it)
        else:  # a one-shot iterator (a generator, a file): read it once, keep the list
            if isinstance(source, types.GeneratorType) and source.gi_frame is None:
                raise MapError(
                    f"map node {name!r} of DAG {self.graph.name!r} maps over "
                    f"{self.graph._specs[i].deps[m]!r}, whose value is a generator that "
                    f"was already consumed (by another node, or by an earlier attempt "
                    f"that failed while reading it); give it a list instead"
                )
            items = list(it)
            # A rerun of this node (level restart, resume) then sees the same elements.
            self.values[self.slot_deps[i][m]] = items
        if self.emit:
            self.emit("node_started", name, 1)
        n = len(items)
        results: list[Any] = [None] * n
        errors: list[Exception] = []
        slots = self.slots if self.takes_slot[i] else None  # as_node: its inner nodes take them
        supervised = (
            self.policies[i] is not None
            or self.timeouts[i] is not None
            or (self.placed is not None and self.placed[i])  # every placed call: _attempts
        )
        fn = self.fns[i]
        emit, now = self.element_emit, self.now
        step = (self.chunks[i] if self.chunks is not None else None) or 1
        units = -(-n // step)  # calls: elements, or chunks of ``step`` elements
        width = units if slots is None else min(units, self.max_concurrency)
        next_k = calls = 0
        workers = 1

        async def worker() -> None:
            # Workers take elements in turn. Each new worker first starts the
            # next one (up to ``width``), so a worker exists for every element
            # that is waiting, never more than max_concurrency (none parked on
            # the bound), and elements that never wait run back to back in one task.
            nonlocal calls, next_k, workers
            if workers < width and next_k < n:
                workers += 1
                nursery.start_soon(worker, name=name)
            a = list(args)
            while next_k < n:
                k = next_k
                next_k += step
                a[m] = items[k]
                try:
                    if step > 1:  # a chunk: one placed call for items[k:k+step]
                        t0 = now() if emit else 0.0
                        part = items[k : k + step]
                        results[k : k + step] = await self._attempts(i, list(a), False, k, part)
                        if emit:
                            emit("element_finished", name, k, now() - t0)
                        continue
                    if supervised:
                        t0 = now() if emit else 0.0
                        results[k] = await self._attempts(i, list(a), False, k)
                        if emit:
                            emit("element_finished", name, k, now() - t0)
                        continue
                    if slots is not None:
                        try:
                            slots.acquire_nowait()
                        except trio.WouldBlock:
                            await self._wait_slot(slots)
                    calls += 1
                    try:
                        if emit:
                            emit("element_started", name, k, 1)
                            t0 = now()
                        results[k] = await fn(*a)
                        if emit:
                            emit("element_finished", name, k, now() - t0)
                    finally:
                        if slots is not None:
                            slots.release()
                except Exception as exc:
                    if emit and not supervised:
                        emit("element_failed", name, k, exc, 1, False)
                    errors.append(exc)
                    nursery.cancel_scope.cancel()
                    if (self.fail_fast or self.halted) and not self._cancelled_by_restart(i):
                        # The node has failed, and so the run stops: say so now, as this
                        # element's slot goes to a waiter, not once the elements unwound
                        # (_wait_slot and _restart_level then wait for the cancel).
                        self.stopped = True
                    return
                except trio.Cancelled as exc:  # costs nothing unless raised
                    if trio.current_effective_deadline() == -math.inf:
                        raise
                    # Stray: the nursery would swallow it as its own, leaving no value.
                    errors.append(self._stray_error(i, exc, k))
                    nursery.cancel_scope.cancel()
                    return

        try:
            async with trio.open_nursery() as nursery:
                if n:
                    nursery.start_soon(worker, name=name)
        finally:
            if not supervised:  # supervised elements count their own attempts
                self.attempts[i] = self.attempts.get(i, 0) + calls
            if n and not self.attempts.get(i):  # no element began (the run stopped first)
                self.start[i] = None
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup(f"{len(errors)} elements of map node {name!r} failed", errors)
        return results


def _short_repr(v: object, limit: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."
