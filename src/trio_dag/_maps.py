"""The map worker pool: a map node's elements, run by at most ``max_concurrency`` workers.

A failed element fails the node (``on_element_failure="fail"``: the elements
in flight are cancelled) or is collected (``"collect"``: the others go on and
the node's value is the list of the successes). Unless every element
completed, the elements' outcomes are kept (:class:`~trio_dag._status.MapElements`)
in the run's result: a failed or cancelled map node resumes from them,
running only the elements that have no value.
"""

from __future__ import annotations

import math
import re
import types
from typing import Any, cast

import trio

from ._exceptions import MapError
from ._status import MISSING, MapElements
from ._supervision import Supervision

__all__ = ["MapPool"]


class MapPool(Supervision):
    """Runs map nodes (see :meth:`_map`)."""

    async def _map(self, i: int, args: list[Any]) -> list[Any]:
        """Run map node ``i``'s elements; its value, or its failed elements' error.

        Each element's outcome lands in ``results`` (``MISSING`` until it has a
        value). A failed element cancels the others (``"fail"``), or is recorded
        and the others go on (``"collect"``). Unless every element completed,
        the outcomes are kept in ``self.elements[i]``: a failed or cancelled map
        node resumes from them, running only the elements without a value.
        """
        m = self.maps[i]
        assert m is not None
        name = self.names[i]
        state = self.resumed_elements.pop(i, None) if self.resumed_elements else None
        if state is not None:  # resume: the same elements, the values kept
            items = state.items
            results = list(state.values)
            todo = [k for k, v in enumerate(results) if v is MISSING]
        else:
            items = self._map_items(i, args[m])
            results = [MISSING] * len(items)
            todo = None
        if self.emit:
            self.emit("node_started", name, 1)
        n = len(items) if todo is None else len(todo)
        collect = self.graph._collect[i]
        failed: dict[int, BaseException] = {}
        slots = self.slots if self.takes_slot[i] else None  # as_node: its inner nodes take them
        supervised = (
            self.policies[i] is not None
            or self.timeouts[i] is not None
            or (self.placed is not None and self.placed[i])  # every placed call: _attempts
        )
        fn = self.fns[i]
        emit, now = self.element_emit, self.now
        # chunks of a placed map (a resumed one runs its missing elements one by one)
        step = (self.chunks[i] if self.chunks is not None and todo is None else None) or 1
        units = -(-n // step)  # calls: elements, or chunks of ``step`` elements
        width = units if slots is None else min(units, self.max_concurrency)
        next_k = calls = 0
        workers = 1
        complete = False

        def fail(k: int, exc: BaseException) -> bool:
            """Record element ``k``'s failure; whether its worker should stop."""
            failed[k] = exc
            if collect:
                return False
            nursery.cancel_scope.cancel()
            if (self.fail_fast or self.halted) and not self._cancelled_by_restart(i):
                # The node has failed, and so the run stops: say so now, as this
                # element's slot goes to a waiter, not once the elements unwound
                # (_wait_slot and _restart_level then wait for the cancel).
                self.stopped = True
            return True

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
                k = next_k if todo is None else todo[next_k]
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
                    if step > 1:  # the chunk's failing element, as its note names it
                        k = _element_of(exc, k)
                    if fail(k, exc):
                        return
                except trio.Cancelled as exc:  # costs nothing unless raised
                    if trio.current_effective_deadline() == -math.inf:
                        raise
                    # Stray: the nursery would swallow it as its own, leaving no value.
                    if fail(k, self._stray_error(i, exc, k)):
                        return

        try:
            async with trio.open_nursery() as nursery:
                if n:
                    nursery.start_soon(worker, name=name)
            complete = not failed
        finally:
            if not supervised:  # supervised elements count their own attempts
                self.attempts[i] = self.attempts.get(i, 0) + calls
            if n and not self.attempts.get(i):  # no element began (the run stopped first)
                self.start[i] = None
            if not complete and (failed or any(v is not MISSING for v in results)):
                self.elements[i] = _outcomes(items, results, failed)
        if not failed:
            return results
        if collect:
            return [v for v in results if v is not MISSING]
        raise _elements_error(name, self.elements[i])

    def _map_items(self, i: int, source: Any) -> list[Any]:
        """The elements map node ``i`` maps over, as a list (read once)."""
        m = self.maps[i]
        assert m is not None
        name = self.names[i]
        try:
            it = iter(source)
        except TypeError as exc:
            raise MapError(
                f"map node {name!r} of DAG {self.graph.name!r} maps over "
                f"{self.graph._specs[i].deps[m]!r}, whose value is not iterable: "
                f"{_short_repr(source)}"
            ) from exc
        if it is not source:
            return list(it)
        # a one-shot iterator (a generator, a file): read it once, keep the list
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
        return items


def _outcomes(
    items: list[Any], results: list[Any], failed: dict[int, BaseException]
) -> MapElements:
    """The element outcomes of a map node that did not complete every element."""
    state = MapElements(items, results)
    for k in sorted(failed):
        state.errors[k] = failed[k]
        state.reprs[k] = _short_repr(items[k], 60)
    return state


def _elements_error(name: str, state: MapElements) -> BaseException:
    """What a map node whose elements failed raises: the element's own exception
    (with a note naming it), or a group of them in index order."""
    errs = state.element_errors()
    for x in errs:
        note = f"element {x.index} of map node {name!r} ({x.element})"
        if note not in getattr(x.error, "__notes__", ()):
            x.error.add_note(note)
    if len(errs) == 1:
        return errs[0].error
    shown = ", ".join(str(x.index) for x in errs[:10]) + (", ..." if len(errs) > 10 else "")
    group = [cast(Exception, x.error) for x in errs]  # caught as Exception, or NodeCancelled
    return ExceptionGroup(f"elements {shown} of map node {name!r} failed", group)


def _element_of(exc: BaseException, default: int) -> int:
    """The map element a chunk's exception came from (its trio_dag note), or ``default``."""
    for note in reversed(getattr(exc, "__notes__", ())):
        found = _ELEMENT_NOTE.match(note) if isinstance(note, str) else None
        if found:
            return int(found.group(1))
    return default


_ELEMENT_NOTE = re.compile(r"trio_dag: raised by map element (\d+)")


def _short_repr(v: object, limit: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."
