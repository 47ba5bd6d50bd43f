"""Streaming: one DAG over many inputs, pipelined, with backpressure."""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, final

import trio

from ._graph import Graph
from ._options import RunOptions
from ._resources import Resources, holding
from ._result import RunFailed, RunResult
from ._stream_item import ItemRunner
from ._validate import check_bool, check_choice, check_int, reject

__all__ = ["StreamResults", "open_stream", "open_stream_holding"]

Source = Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]]


@final
class StreamResults:
    """The async iterator a stream yields: one result per item (or per batch).

    Each result is that item's :class:`~trio_dag.RunResult`. A failed item's
    result is partial (``result.ok`` is false; its ``errors`` say why). An
    item whose inputs are invalid (not a mapping, a missing or unknown input)
    has no run: iteration raises that item's :class:`~trio_dag.InputError` at
    the item's place in the delivery order, and the next ``__anext__`` goes on
    with the next item. An error of the source itself is raised after every
    item read before it was delivered, and ends the iteration.

    With ``batch_size`` set, each result is a ``list`` with one entry per item
    of the batch, in source order: the item's :class:`~trio_dag.RunResult`, or,
    for an item with invalid inputs, its :class:`~trio_dag.InputError`
    instance (not raised, so the batch's other results are never lost).

    With ``on_item_failure="stop"`` the first failure (a failed run's
    :class:`~trio_dag.RunFailed`, an invalid item's
    :class:`~trio_dag.InputError`, the source's error) ends the stream: no new
    item is read or started, the work in flight that would be delivered after
    it is cancelled, what comes before it is delivered, then iteration raises
    it, and any further ``__anext__`` raises ``StopAsyncIteration``. In input
    order (``ordered=True``) the items read before the failing one still
    finish and are delivered first; in completion order the error is raised at
    once and everything else in flight is cancelled. With ``batch_size`` the
    batch is the unit: a failure cancels the rest of its batch, and the batch
    is delivered as that error (the failure of the first failing item in
    source order, when several failed).

    >>> import trio, trio_dag as td
    >>> class Double(td.DAG):
    ...     x = td.input()
    ...
    ...     @td.node
    ...     async def y(x):
    ...         if x == 4:
    ...             raise ValueError("four")
    ...         await trio.sleep(0.01 * (3 - x))     # later items finish first
    ...         return 2 * x

    In input order, each item's result (``result.ok`` is false for a failed
    item); ``ordered=False`` delivers them as they complete; ``batch_size``
    groups them into lists:

    >>> from trio.testing import MockClock
    >>> def virtual(fn, *args):  # virtual time: the sleeps order the items exactly
    ...     return trio.run(fn, *args, clock=MockClock(autojump_threshold=0))
    >>> async def collect(options):
    ...     async with Double.stream([{"x": x} for x in (1, 2, 3)], **options) as results:
    ...         return [r if isinstance(r, list) else r["y"] async for r in results]
    >>> virtual(collect, {})
    [2, 4, 6]
    >>> virtual(collect, {"ordered": False})
    [6, 4, 2]
    >>> [[r["y"] for r in batch] for batch in virtual(collect, {"batch_size": 2})]
    [[2, 4], [6]]

    ``on_item_failure="stop"`` ends the stream at the first failed item,
    after delivering the ones before it:

    >>> async def until_failure():
    ...     seen = []
    ...     source = [{"x": x} for x in (1, 4, 2)]
    ...     try:
    ...         async with Double.stream(source, on_item_failure="stop") as results:
    ...             async for r in results:
    ...                 seen.append(r["y"])
    ...     except td.RunFailed as exc:
    ...         seen.append(repr(exc.errors["y"]))
    ...     return seen
    >>> virtual(until_failure)
    [2, "ValueError('four')"]
    """

    __slots__ = ("_batched", "_receive", "_slots")

    def __init__(
        self, receive: trio.MemoryReceiveChannel[Any], slots: trio.Semaphore, batched: bool
    ) -> None:
        self._receive = receive
        self._slots = slots
        self._batched = batched  # entries are (slots to release, payload); else payloads

    def __aiter__(self) -> StreamResults:
        return self

    async def __anext__(self) -> Any:
        try:
            payload = await self._receive.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
        if self._batched:
            count, payload = payload
            for _ in range(count):
                self._slots.release()
        else:
            self._slots.release()
        if isinstance(payload, BaseException):
            raise payload
        return payload


@asynccontextmanager
async def open_stream(
    graph: Graph,
    source: Source,
    options: RunOptions,
    *,
    max_in_flight: int = 64,
    batch_size: int | None = None,
    ordered: bool = True,
    on_item_failure: str = "continue",
    resources: Resources | None = None,
) -> AsyncIterator[StreamResults]:
    """The implementation of :meth:`trio_dag.DAG.stream` (see there).

    ``resources`` is the stream's resource table, shared by every item's run
    (see :func:`open_stream_holding`).

    Every outcome of an item (its result, its failure, its invalid inputs, the
    source's error) reaches the consumer through the results channel, never as
    an exception of a background task; what does leave a background task (a
    node's ``KeyboardInterrupt``, a bug) and what the consumer's block raises
    leave the ``async with`` as themselves (see :func:`_leave`).
    """
    where = f"DAG {graph.name!r}: stream"
    check_int(where, "max_in_flight", max_in_flight, minimum=1)
    if batch_size is not None:
        check_int(where, "batch_size", batch_size, minimum=1)
        if batch_size > max_in_flight:
            reject(where, "batch_size", batch_size, f"<= max_in_flight ({max_in_flight})")
    check_bool(where, "ordered", ordered)
    check_choice(where, "on_item_failure", on_item_failure, ("continue", "stop"))
    k = options.max_concurrency
    shared = trio.Semaphore(k) if k is not None else None  # one bound for every item's run
    if isinstance(source, AsyncIterable):
        aiter_ = source.__aiter__()
        sync_iter = None
    elif isinstance(source, Iterable):
        aiter_ = None
        sync_iter = iter(source)
    else:
        reject(where, "source", source, "an iterable or async iterable", wrong_type=True)
    stop = on_item_failure == "stop"
    single = batch_size is None  # a result per item, each holding one slot
    slots = trio.Semaphore(max_in_flight)
    send, receive = trio.open_memory_channel[Any](math.inf)

    async def next_item() -> Any:
        """The next input mapping, or StopAsyncIteration."""
        if aiter_ is not None:
            return await aiter_.__anext__()
        try:
            return next(sync_iter)  # type: ignore[arg-type]
        except StopIteration:
            raise StopAsyncIteration from None

    runner = ItemRunner(graph, options, shared, resources)
    make_run, bind, fast_bind = runner.make, runner.bind, runner.fast_bind
    deadline = options.deadline

    async def run_one(values: list[Any]) -> RunResult:
        try:
            return await make_run(values).go(deadline)
        except RunFailed as exc:
            if stop:
                raise
            return exc.result

    # Delivery. "continue": every outcome is sent, in order or as it comes.
    # "stop": the first failure in delivery order is the last thing sent.
    pending: dict[int, tuple[int, Any]] = {}
    next_out = 0
    stop_at: int | None = None  # "stop": seq of the failure that ends the stream
    scopes: dict[int, trio.CancelScope] = {}  # "stop": the units in flight, by seq
    reading = trio.CancelScope()  # the producer's: cancelled when the stream stops

    def deliver(seq: int, count: int, payload: Any) -> None:
        nonlocal next_out
        if not ordered:
            send.send_nowait(payload if single else (count, payload))
            return
        pending[seq] = payload if single else (count, payload)
        while next_out in pending:
            send.send_nowait(pending.pop(next_out))
            next_out += 1

    def settle(seq: int, count: int, payload: Any, failed: bool) -> None:
        """Deliver in "stop" mode: a failure ends the stream at its place."""
        # deliver()'s lines again, with the stop checks: kept apart so a stream in the
        # default mode pays no stop check per item
        nonlocal next_out, stop_at
        if stop_at is not None and (not ordered or seq > stop_at):
            return  # after the failure that ended the stream: dropped
        if failed:
            stop_at = seq
            reading.cancel()
            for q, scope in scopes.items():
                if not ordered or q > seq:
                    scope.cancel()
            if not ordered:
                send.send_nowait(payload if single else (count, payload))
                send.close()
                return
            for q in [q for q in pending if q > seq]:
                del pending[q]
        if not ordered:
            send.send_nowait(payload if single else (count, payload))
            return
        pending[seq] = payload if single else (count, payload)
        while next_out in pending:
            send.send_nowait(pending.pop(next_out))
            if next_out == stop_at:
                send.close()
                return
            next_out += 1

    async def run_single(seq: int, values: list[Any]) -> None:
        try:
            payload = await make_run(values).go(deadline)
        except RunFailed as exc:
            payload = exc.result
        deliver(seq, 1, payload)

    async def run_batch(seq: int, unit: list[Any]) -> None:
        results: list[Any] = list(unit)  # an item's error stays as its entry

        async def one(j: int, values: list[Any]) -> None:
            results[j] = await run_one(values)

        async with trio.open_nursery() as batch:
            for j, values in enumerate(unit):
                if not isinstance(values, BaseException):
                    batch.start_soon(one, j, values)
        deliver(seq, len(unit), results)

    async def stoppable_single(seq: int, values: list[Any]) -> None:
        """An item in "stop" mode: cancellable; its failure stops the stream."""
        payload: Any = None
        failed = False
        with trio.CancelScope() as scopes[seq]:
            try:
                payload = await run_one(values)
            except RunFailed as exc:
                payload = exc
                failed = True
        if not scopes.pop(seq).cancelled_caught:
            settle(seq, 1, payload, failed)

    async def stoppable_batch(seq: int, unit: list[Any]) -> None:
        """A batch in "stop" mode: its first failure (in source order) stops the stream."""
        results: list[Any] = [None] * len(unit)
        failures: dict[int, RunFailed] = {}

        async def one(j: int, values: list[Any]) -> None:
            try:
                results[j] = await run_one(values)
            except RunFailed as exc:
                failures[j] = exc
                batch.cancel_scope.cancel()  # the batch is delivered as this failure

        with trio.CancelScope() as scopes[seq]:
            async with trio.open_nursery() as batch:
                for j, values in enumerate(unit):
                    batch.start_soon(one, j, values)
        if scopes.pop(seq).cancelled_caught:
            return
        if failures:
            settle(seq, len(unit), failures[min(failures)], True)
        else:
            settle(seq, len(unit), results, False)

    async def produce_single(items: trio.Nursery) -> tuple[int, BaseException | None]:
        """Read the source item by item; return the end's seq and the source's error."""
        seq = 0
        start = items.start_soon
        unit = stoppable_single if stop else run_single
        while True:
            await slots.acquire()  # read the source only when there is room
            try:
                if sync_iter is not None:  # no coroutine per item for a plain iterable
                    try:
                        item = next(sync_iter)
                    except StopIteration:
                        raise StopAsyncIteration from None
                else:
                    item = await next_item()
            except StopAsyncIteration:
                slots.release()
                return seq, None
            except Exception as exc:  # the source failed: delivered, in order
                return seq, exc
            values = fast_bind(item) if type(item) is dict else None
            if values is None:
                values = bind(seq, item)
            if not isinstance(values, BaseException):
                start(unit, seq, values)
            elif stop:
                settle(seq, 1, values, True)
                return seq, None
            else:
                deliver(seq, 1, values)
            seq += 1

    async def produce_batches(items: trio.Nursery) -> tuple[int, BaseException | None]:
        """Read the source batch by batch; return the end's seq and the source's error."""
        seq = index = 0
        assert batch_size is not None
        while True:
            unit: list[Any] = []
            for _ in range(batch_size):
                await slots.acquire()  # read the source only when there is room
                try:
                    item = await next_item()
                except StopAsyncIteration:
                    slots.release()
                    break
                except Exception as exc:  # the source failed: delivered, in order
                    if unit:
                        items.start_soon(stoppable_batch if stop else run_batch, seq, unit)
                        seq += 1
                    return seq, exc
                values = bind(index, item)
                index += 1
                if stop and isinstance(values, BaseException):
                    settle(seq, len(unit) + 1, values, True)  # the batch is its bad item
                    return seq, None
                unit.append(values)
            if unit:
                items.start_soon(stoppable_batch if stop else run_batch, seq, unit)
                seq += 1
            if len(unit) < batch_size:
                return seq, None

    async def supervise() -> None:
        seq, error = 0, None
        async with trio.open_nursery() as items:
            with reading:
                seq, error = await (produce_single if batch_size is None else produce_batches)(
                    items
                )
                if error is not None and stop:
                    settle(seq, 1, error, True)
                    error = None
        if error is not None:  # "continue": after every item read before it
            deliver(seq, 1, error)
        # Closed only when all went well, and with no checkpoint after the
        # work ended: were `send` closed first, the consumer could see the end
        # of the stream and leave, cancelling this task and losing its error.
        send.close()

    body: BaseException | None = None
    group: BaseExceptionGroup[BaseException] | None = None
    try:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(supervise)
                try:
                    yield StreamResults(receive, slots, not single)
                except BaseException as exc:  # the consumer's, raised again below as itself
                    body = exc
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as exc:  # what left the stream's own tasks
            group = exc
    finally:
        closer = getattr(aiter_ if aiter_ is not None else sync_iter, "aclose", None)
        with trio.CancelScope(shield=True):
            if closer is not None:
                await closer()
            elif hasattr(sync_iter, "close"):
                sync_iter.close()  # type: ignore[union-attr]
    if group is not None or body is not None:
        raise _leave(where, body, group)


@asynccontextmanager
async def open_stream_holding(
    graph: Graph, source: Source, options: RunOptions, **kw: Any
) -> AsyncIterator[StreamResults]:
    """:func:`open_stream` for a DAG with resources: each is entered at most once
    for the whole stream, and exited when the stream ends. What leaves the
    block leaves as itself, as from :func:`open_stream`."""
    async with (
        holding(graph) as table,
        open_stream(graph, source, options, resources=table, **kw) as results,
    ):
        yield results


def _leave(
    where: str, body: BaseException | None, group: BaseExceptionGroup[BaseException] | None
) -> BaseException:
    """The one exception that leaves ``async with Dag.stream(...)``.

    ``body`` is what the consumer's block raised, ``group`` what the stream's
    own tasks raised. Cancellations are not errors; a single real error leaves
    as itself (the same object), so ``except td.RunFailed:`` or ``except
    KeyboardInterrupt:`` around the block work. Two real errors at once (the
    block raised while a background task failed) leave together in a
    ``BaseExceptionGroup``: neither is dropped.
    """
    real: list[BaseException] = []
    if group is not None:
        real = [e for e in _leaves(group) if not isinstance(e, trio.Cancelled)]
    if body is not None and not isinstance(body, trio.Cancelled):
        if not real:
            return body
        stream_error = real[0] if len(real) == 1 else group
        assert stream_error is not None
        return BaseExceptionGroup(
            f"{where}: the consumer's block raised while the stream failed", [body, stream_error]
        )
    if len(real) == 1:
        return real[0]
    if real or body is None:  # several real errors, or only cancellations: the group as is
        assert group is not None
        return group
    return body  # a cancellation of the consumer's block


def _leaves(exc: BaseException) -> Iterable[BaseException]:
    stack = [exc]
    while stack:
        e = stack.pop()
        if isinstance(e, BaseExceptionGroup):
            stack.extend(reversed(e.exceptions))
        else:
            yield e
