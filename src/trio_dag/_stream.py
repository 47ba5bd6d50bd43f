"""Streaming: one DAG over many inputs, pipelined, with backpressure."""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, final

import trio

from ._exceptions import InputError, RunFailed
from ._instrument import Instrument
from ._result import RunResult
from ._retry import RetryPolicy
from ._run import _check_options, _Run
from ._strategies import Parallel, Strategy
from ._supervise import Supervisor
from ._validate import check_choice, check_int

if TYPE_CHECKING:
    from ._dsl import DAG

__all__ = ["StreamResults", "open_stream"]

Source = Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]]


@final
class StreamResults:
    """The async iterator a stream yields: one result per item (or per batch).

    Each result is that item's :class:`~trio_dag.RunResult`; with
    ``batch_size`` set, a ``list`` of them, one per item of the batch. A
    failed item's result is partial (``result.ok`` is false; its
    ``errors`` say why) unless the stream was opened with
    ``on_item_failure="stop"``, in which case iteration raises that item's
    :class:`~trio_dag.RunFailed` after every earlier result was delivered.
    """

    __slots__ = ("_receive", "_slots")

    def __init__(self, receive: trio.MemoryReceiveChannel[Any], slots: trio.Semaphore) -> None:
        self._receive = receive
        self._slots = slots

    def __aiter__(self) -> StreamResults:
        return self

    async def __anext__(self) -> Any:
        try:
            count, payload = await self._receive.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
        for _ in range(count):
            self._slots.release()
        if isinstance(payload, BaseException):
            raise payload
        return payload


@asynccontextmanager
async def open_stream(
    dag: type[DAG],
    source: Source,
    *,
    max_in_flight: int = 64,
    batch_size: int | None = None,
    ordered: bool = True,
    on_item_failure: str = "continue",
    strategy: Strategy | None = None,
    supervisor: Supervisor | None = None,
    retry: RetryPolicy | int | None = None,
    deadline: float | None = None,
    seed: int | None = None,
    instruments: Sequence[Instrument] = (),
) -> AsyncIterator[StreamResults]:
    """The implementation of :meth:`trio_dag.DAG.stream` (see there)."""
    graph = dag.graph
    where = f"DAG {graph.name!r}: stream"
    check_int(where, "max_in_flight", max_in_flight, minimum=1)
    if batch_size is not None:
        check_int(where, "batch_size", batch_size, minimum=1)
        if batch_size > max_in_flight:
            raise ValueError(
                f"{where}: batch_size ({batch_size}) must be <= max_in_flight ({max_in_flight})"
            )
    if not isinstance(ordered, bool):
        raise TypeError(f"{where}: ordered must be a bool, got {ordered!r}")
    check_choice(where, "on_item_failure", on_item_failure, ("continue", "stop"))
    instruments = tuple(instruments)  # once: each item's run reads them again
    supervisor = dag.supervisor if supervisor is None else supervisor
    strategy = _check_options(graph, strategy, supervisor, "fail_fast", deadline, seed)
    policy = RetryPolicy.coerce(retry, where)
    k = strategy.max_concurrency if isinstance(strategy, Parallel) else None
    shared = trio.Semaphore(k) if k is not None else None
    if isinstance(source, AsyncIterable):
        aiter_ = source.__aiter__()
        sync_iter = None
    elif isinstance(source, Iterable):
        aiter_ = None
        sync_iter = iter(source)
    else:
        raise TypeError(f"{where}: source must be an iterable or async iterable, got {source!r}")
    stop = on_item_failure == "stop"
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

    async def run_one(item: Mapping[str, Any]) -> RunResult:
        run = _Run(
            graph,
            dag._input_values(item),
            None,
            strategy,
            supervisor,
            "fail_fast",
            policy,
            seed,
            instruments,
        )
        if shared is not None:
            run.slots = shared  # one bound shared by all items' runs
            run.max_concurrency = k  # type: ignore[assignment]
        try:
            return await run.go(deadline)
        except RunFailed as exc:
            if stop:
                raise
            return exc.result

    pending: dict[int, tuple[int, Any]] = {}
    next_out = 0

    def deliver(seq: int, count: int, payload: Any) -> None:
        nonlocal next_out
        if not ordered:
            send.send_nowait((count, payload))
            return
        pending[seq] = (count, payload)
        while next_out in pending:
            send.send_nowait(pending.pop(next_out))
            next_out += 1

    async def run_unit(seq: int, items: list[Mapping[str, Any]]) -> None:
        payload: Any = None
        try:
            if batch_size is None:
                payload = await run_one(items[0])
            else:
                results: list[Any] = [None] * len(items)

                async def one(j: int, item: Mapping[str, Any]) -> None:
                    results[j] = await run_one(item)

                async with trio.open_nursery() as batch:
                    for j, item in enumerate(items):
                        batch.start_soon(one, j, item)
                payload = results
        except* (RunFailed, InputError) as group:  # "stop" mode, or a bad item: end here
            payload = _first_leaf(group)
        deliver(seq, len(items), payload)

    async def produce(items: trio.Nursery) -> None:
        seq = 0
        size = batch_size or 1
        while True:
            unit: list[Mapping[str, Any]] = []
            error: Exception | None = None
            for _ in range(size):
                await slots.acquire()  # read the source only when there is room
                try:
                    unit.append(await next_item())
                except StopAsyncIteration:
                    slots.release()
                    break
                except Exception as exc:  # the source failed: deliver it, in order
                    error = exc
                    break
            if unit:
                items.start_soon(run_unit, seq, unit)
                seq += 1
            if error is not None:
                deliver(seq, 1, error)
                return
            if len(unit) < size:
                return

    async def supervise() -> None:
        async with send, trio.open_nursery() as items:
            await produce(items)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(supervise)
            try:
                yield StreamResults(receive, slots)
            finally:
                nursery.cancel_scope.cancel()
    finally:
        closer = getattr(aiter_ if aiter_ is not None else sync_iter, "aclose", None)
        with trio.CancelScope(shield=True):
            if closer is not None:
                await closer()
            elif hasattr(sync_iter, "close"):
                sync_iter.close()  # type: ignore[union-attr]


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first exception inside ``group``, however deeply nested."""
    return next(iter(_leaves(group)))


def _leaves(exc: BaseException) -> Iterable[BaseException]:
    stack = [exc]
    while stack:
        e = stack.pop()
        if isinstance(e, BaseExceptionGroup):
            stack.extend(reversed(e.exceptions))
        else:
            yield e
