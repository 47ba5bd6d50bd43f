"""Work-first eager scheduling: a node may run in its predecessor's task.

The task that finishes a node runs one dependent it made ready itself and
spawns tasks only for the others. Everything a node sees must stay as it was
with one task per node: current_attempt(), instruments, timeouts, retries,
max_concurrency, fail_fast, cancellation; and a long chain of nodes that never
suspend must not starve the other tasks.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

import trio_dag as td
from conftest import Boom
from trio_dag._run import _Run
from trio_dag._state import INLINE_CHECKPOINT


def chain(n: int, fn: Any) -> type[td.DAG]:
    """``c0 -> c1 -> ... -> c{n-1}``, every node running ``fn``."""
    nodes = [td.Node("c0", fn)] + [td.Node(f"c{i}", fn, deps=[f"c{i - 1}"]) for i in range(1, n)]
    return td.DAG.from_nodes(f"chain{n}", nodes)


async def test_a_chain_runs_in_one_task_and_a_fan_out_spawns_the_rest() -> None:
    tasks: dict[str, trio.lowlevel.Task] = {}

    def body(name: str) -> Any:
        async def fn(*deps: Any) -> str:
            tasks[name] = trio.lowlevel.current_task()
            return name

        return fn

    dag = td.DAG.from_nodes(
        "fan",
        [
            td.Node("a", body("a")),
            td.Node("b", body("b"), deps=["a"]),
            td.Node("c", body("c"), deps=["b"]),
            td.Node("d", body("d"), deps=["b"]),
            td.Node("e", body("e"), deps=["b"]),
        ],
    )
    with trio.fail_after(5):
        result = await dag.run(strategy=td.Parallel())
    assert result["e"] == "e"
    assert tasks["a"] is tasks["b"]  # b ran in a's task
    inline = [x for x in "cde" if tasks[x] is tasks["b"]]
    assert len(inline) == 1  # one of b's three dependents in b's task, the others spawned
    assert len({id(tasks[x]) for x in "cde"}) == 3
    assert tasks["a"].name == "a"  # a task keeps the name of the node it began with


async def test_current_attempt_names_a_node_run_in_its_predecessors_task() -> None:
    seen: dict[str, list[str]] = {}

    async def spy(*deps: Any) -> int:
        here = td.current_attempt().node
        found = [here]

        async def child() -> None:
            found.append(td.current_attempt().node)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)
        found.append(await trio.to_thread.run_sync(lambda: td.current_attempt().node))
        seen[here] = found
        return len(deps)

    dag = chain(4, spy)
    with trio.fail_after(5):
        await dag.run(strategy=td.Parallel())
    assert seen == {f"c{i}": [f"c{i}"] * 3 for i in range(4)}


async def test_a_long_chain_of_nodes_that_never_suspend_lets_other_tasks_run() -> None:
    n = 10_000
    ticks = 0
    seen: list[int] = []

    async def busy(*deps: Any) -> int:  # never suspends
        seen.append(ticks)
        return 1

    async def ticker(done: trio.Event) -> None:
        nonlocal ticks
        while not done.is_set():
            await trio.lowlevel.checkpoint()
            ticks += 1

    dag = chain(n, busy)
    done = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker, done)
            await trio.lowlevel.checkpoint()  # the ticker is running
            await dag.run(strategy=td.Parallel())
            done.set()
    assert len(seen) == n
    # one task ran the whole chain, and let the ticker run every few hundred nodes
    # (INLINE_CHECKPOINT; a window of two, as the ticker may come before or after it)
    assert INLINE_CHECKPOINT <= 300
    assert seen[-1] - seen[0] >= n // 300
    assert all(b > a for a, b in zip(seen, seen[600:], strict=False))


async def test_cancelling_a_long_chain_lands_at_a_checkpoint() -> None:
    n = 10_000
    ran = 0

    async def busy(*deps: Any) -> int:
        nonlocal ran
        ran += 1
        return 1

    dag = chain(n, busy)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:

            async def cancel_soon() -> None:
                await trio.lowlevel.checkpoint()
                await trio.lowlevel.checkpoint()
                nursery.cancel_scope.cancel()

            nursery.start_soon(cancel_soon)
            await dag.run(strategy=td.Parallel())
    assert nursery.cancel_scope.cancelled_caught
    assert 0 < ran < n


async def test_instruments_see_each_inline_node_start_after_its_predecessor() -> None:
    events: list[tuple[str, str]] = []

    class Record(td.Instrument):
        def node_started(self, node: str, attempt: int) -> None:
            events.append(("started", node))

        def node_finished(self, node: str, elapsed: float) -> None:
            assert elapsed >= 0
            events.append(("finished", node))

    async def one(*deps: Any) -> int:
        return 1

    with trio.fail_after(5):
        result = await chain(5, one).run(strategy=td.Parallel(), instruments=[Record()])
    assert events == [(e, f"c{i}") for i in range(5) for e in ("started", "finished")]
    for i in range(1, 5):
        end = result.finished_at(f"c{i - 1}")
        start = result.started_at(f"c{i}")
        assert end is not None
        assert start is not None
        assert start >= end


async def test_node_times_are_trio_clock_times() -> None:
    """A fresh run reads perf_counter() and adds the clock's offset: check the sum."""

    async def one(*deps: Any) -> int:
        await trio.lowlevel.checkpoint()
        return 1

    t0 = trio.current_time()
    with trio.fail_after(5):
        result = await chain(50, one).run(strategy=td.Parallel())
    t1 = trio.current_time()
    for i in range(50):
        start, end = result.started_at(f"c{i}"), result.finished_at(f"c{i}")
        assert start is not None
        assert end is not None
        assert t0 <= start <= end <= t1


async def test_a_resumed_run_keeps_the_times_it_kept_exactly() -> None:
    broken = True

    async def fine(*deps: Any) -> int:
        return 1

    async def boom(*deps: Any) -> int:
        if broken:
            raise Boom("no")
        return 1

    nodes = [td.Node("a", fine), td.Node("b", boom, deps=["a"])]
    dag = td.DAG.from_nodes("resumed", nodes)
    with trio.fail_after(5), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=td.Parallel())
    partial = info.value.result
    broken = False
    with trio.fail_after(5):
        again = await dag.resume(partial, strategy=td.Parallel())
    assert again.started_at("a") == partial.started_at("a")
    assert again.finished_at("a") == partial.finished_at("a")
    assert again["b"] == 1


async def test_max_concurrency_bounds_nodes_run_inline(autojump_clock: Any) -> None:
    running = peak = 0

    async def slow(*deps: Any) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await trio.sleep(1)
        running -= 1
        return 1

    # two chains of 5 from one root: each chain's nodes run in one task
    nodes = [td.Node("r", slow)]
    for side in "xy":
        prev = "r"
        for k in range(5):
            nodes.append(td.Node(f"{side}{k}", slow, deps=[prev]))
            prev = f"{side}{k}"
    dag = td.DAG.from_nodes("two_chains", nodes)
    with trio.fail_after(100):
        t0 = trio.current_time()
        result = await dag.run(strategy=td.Parallel(max_concurrency=1))
        assert trio.current_time() - t0 == 11  # one at a time
    assert peak == 1
    assert result["y4"] == 1


async def test_a_failing_inline_node_fails_fast(autojump_clock: Any) -> None:
    ran: list[str] = []

    async def step(*deps: Any) -> int:
        name = td.current_attempt().node
        ran.append(name)
        if name == "c2":
            raise Boom("c2 broke")
        return 1

    with trio.fail_after(5), pytest.raises(td.RunFailed) as info:
        await chain(5, step).run(strategy=td.Parallel())
    assert ran == ["c0", "c1", "c2"]
    result = info.value.result
    assert result["c1"] == 1
    assert isinstance(result.errors["c2"], Boom)


async def test_timeouts_and_retries_of_an_inline_node(autojump_clock: Any) -> None:
    attempts: list[tuple[str, int]] = []

    async def first(*deps: Any) -> int:
        return 1

    async def flaky(x: int) -> int:
        a = td.current_attempt()
        attempts.append((a.node, a.attempt))
        if a.attempt < 3:
            await trio.sleep(10)  # past its timeout
        return x + 1

    dag = td.DAG.from_nodes(
        "flaky",
        [
            td.Node("a", first),
            td.Node(
                "b",
                flaky,
                deps=["a"],
                timeout=1.0,
                retry=td.RetryPolicy(max_attempts=3, initial_delay=0),
            ),
        ],
    )
    with trio.fail_after(100):
        result = await dag.run(strategy=td.Parallel())
    assert result["b"] == 2
    assert attempts == [("b", 1), ("b", 2), ("b", 3)]
    assert result.attempts("b") == 3


def test_the_waiting_frame_stays_small() -> None:
    """A waiting node's memory is _node's frame, twice (trio materialises a frame object).

    perf/bench_memory.py measures the bytes; this keeps the frame from growing
    back by accident (each local or stack slot is 16 bytes per waiting node).
    """
    code = _Run._node.__code__
    assert code.co_nlocals + code.co_stacksize <= 14
    assert not code.co_cellvars  # a cell per call would live as long as the wait
