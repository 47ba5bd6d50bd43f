"""Supervision hardening: attempt bounds under level restarts, exact stops under a
concurrency bound, attempt counts equal to body calls, maps under supervisors and
over one-shot iterables, and ``current_attempt()`` from threads and background tasks."""

from __future__ import annotations

import contextvars
import functools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio
import trio.testing

import trio_dag as td

LEVELS = td.Parallel(schedule="levels")
ONE_FOR_ALL = td.Supervisor("one_for_all")


def fixed(max_attempts: int, delay: float) -> td.RetryPolicy:
    return td.RetryPolicy(max_attempts=max_attempts, initial_delay=delay, backoff=1, jitter="none")


class Calls:
    """Counts body entries per node, with their times."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}

    def enter(self, name: str) -> int:
        self.count[name] += 1
        self.times.setdefault(name, []).append(trio.current_time())
        return self.count[name]

    def assert_attempts_match(self, result: td.RunResult, skip: tuple[str, ...] = ("xs",)) -> None:
        """``result.attempts(name)`` is the number of body entries, for every node
        (but those in ``skip``, whose bodies do not count)."""
        for name in result.graph.nodes:
            if name not in skip:
                assert result.attempts(name) == self.count[name], name


def _result_of(run: Callable[[], Any]) -> Any:
    """What a run returns, or its partial result if it raises RunFailed."""
    try:
        return run()
    except td.RunFailed as exc:
        return exc.result


# ------------------------------------------- defect 6: one_for_all ping-pong ends


def _ping_pong(calls: Calls, *, always: bool) -> type[td.DAG]:
    """a fails at once, b after 1 s; each fails on attempt 1 (or always)."""

    async def a() -> str:
        calls.enter("a")
        if always or td.current_attempt().attempt == 1:
            raise ValueError("a")
        return "a"

    async def b() -> str:
        calls.enter("b")
        await trio.sleep(1)
        if always or td.current_attempt().attempt == 1:
            raise ValueError("b")
        return "b"

    return td.DAG.from_nodes(
        "PingPong", [td.Node("a", a, retry=fixed(3, 1)), td.Node("b", b, retry=fixed(3, 1))]
    )


@pytest.mark.parametrize("strategy", [LEVELS, td.Sequential()], ids=["levels", "sequential"])
async def test_one_for_all_level_mates_failing_on_attempt_1_do_not_restart_each_other_forever(
    strategy: td.Parallel | td.Sequential, autojump_clock: trio.testing.MockClock
) -> None:
    calls = Calls()
    dag = _ping_pong(calls, always=False)
    with trio.fail_after(10_000):
        result = await dag.run(strategy=strategy, supervisor=ONE_FOR_ALL)
    assert result.ok
    # a restart is an attempt: b's rerun is its attempt 2, and it succeeds
    assert result["a"] == "a"
    assert result["b"] == "b"
    calls.assert_attempts_match(result)


@pytest.mark.parametrize("strategy", [LEVELS, td.Sequential()], ids=["levels", "sequential"])
@pytest.mark.parametrize("sup", ["one_for_all", "rest_for_one"])
async def test_always_failing_level_mates_end_within_their_attempts(
    strategy: td.Parallel | td.Sequential, sup: str, autojump_clock: trio.testing.MockClock
) -> None:
    calls = Calls()
    dag = _ping_pong(calls, always=True)
    with trio.fail_after(10_000), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy, supervisor=td.Supervisor(sup))  # type: ignore[arg-type]
    r = info.value.result
    assert r.status is td.RunStatus.FAILED
    assert max(calls.count.values()) <= 3
    calls.assert_attempts_match(r)


async def test_level_restart_attempts_continue_and_count_against_the_policy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[tuple[str, int, float]] = []

    async def steady() -> str:
        at = td.current_attempt()
        seen.append((at.node, at.attempt, trio.current_time()))
        await trio.sleep(3)
        if at.attempt == 2:  # its own failure on its attempt 2: a policy of 2 is used up
            raise ValueError("steady fails on attempt 2")
        return "steady"

    async def flaky() -> str:
        at = td.current_attempt()
        seen.append((at.node, at.attempt, trio.current_time()))
        await trio.sleep(1)
        if at.attempt == 1:
            raise ValueError("flaky once")
        return "flaky"

    dag = td.DAG.from_nodes(
        "D",
        [td.Node("steady", steady, retry=fixed(2, 1)), td.Node("flaky", flaky, retry=fixed(2, 1))],
    )
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(supervisor=ONE_FOR_ALL)
    # flaky fails at 1: both restart at 2, steady as its attempt 2, which fails: no attempt 3
    assert sorted(seen) == [
        ("flaky", 1, 0),
        ("flaky", 2, 2),
        ("steady", 1, 0),
        ("steady", 2, 2),
    ]
    r = info.value.result
    assert r.errors.keys() == {"steady"}
    assert r.attempts("steady") == 2
    assert r.attempts("flaky") == 2


# --------------------------- defect 7: no body begins after the run stops (slot hand-off)


def _slot_bodies(calls: Calls, kind: str) -> list[td.Node]:
    """Three identical nodes; each takes 1 s and fails: the first to hold the one slot
    fails the run while the other two wait for the slot."""

    def make(name: str) -> Any:
        async def body(x: int = 0) -> int:
            calls.enter(name)
            await trio.sleep(1)
            raise ValueError(f"{name} fails")

        return body

    if kind == "map":
        return [
            td.Node("xs", _const([0, 1])),
            *(td.Node(n, make(n), deps=["xs"], map_over="xs") for n in "pqr"),
        ]
    options: dict[str, Any] = {"timeout": 100.0} if kind == "supervised" else {}
    return [td.Node(n, make(n), **options) for n in "pqr"]


def _const(value: Any) -> Any:
    async def const() -> Any:
        return value

    return const


@pytest.mark.parametrize("kind", ["plain", "supervised", "map"])
@pytest.mark.parametrize("schedule", ["eager", "levels"])
async def test_fail_fast_under_max_concurrency_starts_no_body_after_the_failure(
    kind: str, schedule: str, autojump_clock: trio.testing.MockClock
) -> None:
    calls = Calls()
    dag = td.DAG.from_nodes("D", _slot_bodies(calls, kind))
    strategy = td.Parallel(max_concurrency=1, schedule=schedule)  # type: ignore[arg-type]
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy)
    r = info.value.result
    assert sum(calls.count.values()) == 1  # only the body holding the slot ever began
    assert sorted(r.statuses[n] for n in "pqr") == ["failed", "not_started", "not_started"]
    calls.assert_attempts_match(r)


async def test_one_for_all_restart_under_max_concurrency_runs_no_ghost_in_the_old_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()
    failed = False

    def make(name: str) -> Any:
        async def body() -> str:
            nonlocal failed
            calls.enter(name)
            await trio.sleep(1)
            if not failed:
                failed = True
                raise ValueError(f"{name} fails once")
            return name

        return body

    dag = td.DAG.from_nodes("D", [td.Node(n, make(n), retry=fixed(2, 5)) for n in "pqr"])
    with trio.fail_after(100):
        result = await dag.run(
            strategy=td.Parallel(max_concurrency=1, schedule="levels"), supervisor=ONE_FOR_ALL
        )
    assert result.ok
    # the first body fails at 1; the level restarts at 6: nothing may begin in between
    times = sorted(t for ts in calls.times.values() for t in ts)
    assert times == [0, 6, 7, 8]
    calls.assert_attempts_match(result)


# ---------------------------------- defect 8: attempts(name) == number of body calls


async def test_attempts_count_only_entered_bodies_under_max_concurrency_and_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()

    def make(name: str) -> Any:
        async def body() -> str:
            if calls.enter(name) == 1:
                await trio.sleep(0.5)
                raise ValueError(f"{name} first call")
            await trio.sleep(100)
            return name

        return body

    # whichever holds the slot first fails at 0.5; the other fails at 1.0; the first
    # retries at 1.5 and holds the slot until the deadline; the other waits from 2.0 on
    dag = td.DAG.from_nodes("D", [td.Node(n, make(n), retry=fixed(3, 1)) for n in "xy"])
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=td.Parallel(max_concurrency=1), deadline=10)
    r = info.value.result
    assert r.status is td.RunStatus.TIMED_OUT
    assert sorted(calls.count.values()) == [1, 2]
    calls.assert_attempts_match(r)


async def test_attempts_of_a_level_mate_cleared_by_a_restart_that_never_came(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()

    async def done() -> str:
        calls.enter("done")
        return "done"

    async def fails() -> str:
        calls.enter("fails")
        await trio.sleep(1)
        raise ValueError("fails")

    async def hangs() -> str:
        calls.enter("hangs")
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("done", done),
            td.Node("fails", fails, retry=fixed(2, 5)),
            td.Node("hangs", hangs),
        ],
    )
    # fails fails at 1; the level would restart at 6, but the deadline stops the run at 3
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(supervisor=ONE_FOR_ALL, deadline=3)
    r = info.value.result
    assert r.status is td.RunStatus.TIMED_OUT
    calls.assert_attempts_match(r)
    assert r.attempts("done") == 1


async def test_rest_for_one_attempts_equal_calls_when_restarts_overlap(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()

    def make(name: str, fail_after: float | None) -> Any:
        async def body() -> str:
            n = calls.enter(name)
            if fail_after is not None:
                await trio.sleep(fail_after)
                if n == 1:
                    raise ValueError(f"{name} once")
            return name

        return body

    # c fails at 1 (restart of c at 6); b fails at 2 (restart of b and c at 7)
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("a", make("a", None)),
            td.Node("b", make("b", 2), retry=fixed(3, 5)),
            td.Node("c", make("c", 1), retry=fixed(3, 5)),
        ],
    )
    with trio.fail_after(100):
        result = await dag.run(supervisor=td.Supervisor("rest_for_one"))
    assert result.ok
    assert calls.times == {"a": [0], "b": [0, 7], "c": [0, 7]}
    calls.assert_attempts_match(result)


@pytest.mark.parametrize("strategy", [LEVELS, td.Sequential()], ids=["levels", "sequential"])
async def test_attempts_equal_calls_for_every_node_of_a_restarted_level(
    strategy: td.Parallel | td.Sequential, autojump_clock: trio.testing.MockClock
) -> None:
    calls = Calls()

    def make(name: str, sleep: float, fails: int) -> Any:
        async def body(*deps: Any) -> str:
            n = calls.enter(name)
            await trio.sleep(sleep)
            if n <= fails:
                raise ValueError(f"{name} {n}")
            return name

        return body

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("base", make("base", 0, 0)),
            td.Node("a", make("a", 0, 0), deps=["base"]),
            td.Node("b", make("b", 1, 1), deps=["base"], retry=fixed(4, 1)),
            td.Node("c", make("c", 2, 1), deps=["base"], retry=fixed(4, 1)),
            td.Node("sink", make("sink", 0, 0), deps=["a", "b", "c"]),
        ],
    )
    with trio.fail_after(100):
        result = await dag.run(strategy=strategy, supervisor=ONE_FOR_ALL)
    assert result.ok
    calls.assert_attempts_match(result)
    assert calls.count["base"] == calls.count["sink"] == 1


# ------------------------- defect 9: a map element is retried in place, whatever the supervisor


@pytest.mark.parametrize("sup", ["one_for_all", "rest_for_one"])
async def test_map_element_retry_does_not_restart_the_level(
    sup: str, autojump_clock: trio.testing.MockClock
) -> None:
    calls = Calls()

    async def each(xs: int) -> int:
        if calls.enter(f"each {xs}") == 1 and xs == 1:
            raise ValueError("element 1 once")
        return xs * 10

    async def mate(xs: Any) -> str:
        calls.enter("mate")
        await trio.sleep(5)
        return "mate"

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("xs", _const([0, 1, 2])),
            td.Node("each", each, deps=["xs"], map_over="xs", retry=fixed(2, 1)),
            td.Node("mate", mate, deps=["xs"]),
        ],
    )
    with trio.fail_after(100):
        result = await dag.run(supervisor=td.Supervisor(sup))  # type: ignore[arg-type]
    assert result["each"] == [0, 10, 20]
    assert calls.count == Counter({"each 0": 1, "each 1": 2, "each 2": 1, "mate": 1})
    assert result.attempts("each") == 4
    assert trio.current_time() == 5


async def test_map_node_restarted_by_a_level_mate_reruns_every_element(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()

    async def each(xs: int) -> int:
        calls.enter("each")
        return xs * 10

    async def mate(xs: Any) -> str:
        if calls.enter("mate") == 1:
            await trio.sleep(1)
            raise ValueError("mate once")
        return "mate"

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("xs", _const([0, 1, 2])),
            td.Node("each", each, deps=["xs"], map_over="xs"),
            td.Node("mate", mate, deps=["xs"], retry=fixed(2, 1)),
        ],
    )
    with trio.fail_after(100):
        result = await dag.run(supervisor=ONE_FOR_ALL)
    assert result["each"] == [0, 10, 20]
    assert calls.count == Counter({"each": 6, "mate": 2})
    calls.assert_attempts_match(result)


# ------------------------------- defect 14: maps over one-shot iterables are read once


def _gen_dag(calls: Calls, fail_first: bool, *, restart: bool) -> type[td.DAG]:
    async def gen() -> Iterator[int]:
        calls.enter("gen")
        return (x for x in range(3))

    async def each(gen: int) -> int:
        calls.enter("each")
        if fail_first and calls.count["each"] == 2:
            raise ValueError("element fails on the first run")
        return gen * 10

    async def mate(gen: Any) -> str:
        if calls.enter("mate") == 1 and restart:
            await trio.sleep(1)
            raise ValueError("mate once")
        return "mate"

    return td.DAG.from_nodes(
        "Gen",
        [
            td.Node("gen", gen),
            td.Node("each", each, deps=["gen"], map_over="gen"),
            td.Node("mate", mate, deps=["gen"], retry=fixed(2, 1)),
        ],
    )


async def test_map_over_a_generator_keeps_its_elements_for_resume(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()
    dag = _gen_dag(calls, fail_first=True, restart=False)
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run()
    partial = info.value.result
    assert partial["gen"] == [0, 1, 2]  # the generator's elements, read once
    with trio.fail_after(100):
        result = await dag.resume(partial)
    assert result["each"] == [0, 10, 20]
    assert result.ok
    assert calls.count["gen"] == 1


@pytest.mark.parametrize("strategy", [LEVELS, td.Sequential()], ids=["levels", "sequential"])
async def test_map_over_a_generator_restarted_with_its_level_sees_the_same_elements(
    strategy: td.Parallel | td.Sequential, autojump_clock: trio.testing.MockClock
) -> None:
    calls = Calls()
    dag = _gen_dag(calls, fail_first=False, restart=True)
    with trio.fail_after(100):
        result = await dag.run(strategy=strategy, supervisor=ONE_FOR_ALL)
    assert result["each"] == [0, 10, 20]
    assert calls.count["each"] == 6  # both runs of the map saw three elements
    assert result.ok


async def test_map_over_an_exhausted_generator_is_a_map_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def gen() -> Iterator[int]:
        return (x for x in range(3))

    async def eat(gen: Iterator[int]) -> list[int]:
        return list(gen)

    async def each(gen: int, eat: list[int]) -> int:
        return gen

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("gen", gen),
            td.Node("eat", eat, deps=["gen"]),
            td.Node("each", each, deps=["gen", "eat"], map_over="gen"),
        ],
    )
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run()
    err = info.value.errors["each"]
    assert isinstance(err, td.MapError)
    assert "'each'" in str(err)
    assert "'gen'" in str(err)
    assert "already consumed" in str(err)


async def test_map_over_a_generator_input_keeps_its_elements(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Mapped(td.DAG):
        xs = td.input()

        @td.node(map_over="xs")
        async def each(xs: int) -> int:
            return xs + 1

    with trio.fail_after(100):
        result = await Mapped.run({"xs": (x for x in range(3))})
    assert result["each"] == [1, 2, 3]
    assert result.inputs["xs"] == [0, 1, 2]


# ------------------------------------- defect 15: current_attempt() in threads and tasks


def _in_thread_dag(retry: td.RetryPolicy | None, abandon: bool) -> tuple[type[td.DAG], list[Any]]:
    seen: list[Any] = []

    async def a() -> str:
        got = await trio.to_thread.run_sync(td.current_attempt, abandon_on_cancel=abandon)
        seen.append((got.node, got.attempt))
        if retry is not None and got.attempt == 1:
            raise ValueError("once")
        return "a"

    async def b(a: str) -> str:
        got = await trio.to_thread.run_sync(td.current_attempt, abandon_on_cancel=abandon)
        seen.append((got.node, got.attempt))
        return "b"

    dag = td.DAG.from_nodes("T", [td.Node("a", a, retry=retry), td.Node("b", b, deps=["a"])])
    return dag, seen


@pytest.mark.parametrize(
    "strategy",
    [td.Parallel(), LEVELS, td.Sequential(), td.Parallel(max_concurrency=1)],
    ids=["eager", "levels", "sequential", "limit1"],
)
@pytest.mark.parametrize("abandon", [False, True])
async def test_current_attempt_from_a_worker_thread(
    strategy: td.Parallel | td.Sequential, abandon: bool
) -> None:
    dag, seen = _in_thread_dag(None, abandon)
    with trio.fail_after(30):
        result = await dag.run(strategy=strategy)
    assert seen == [("a", 1), ("b", 1)]
    assert result.ok
    dag, seen = _in_thread_dag(fixed(2, 0), abandon)
    with trio.fail_after(30):
        await dag.run(strategy=strategy)
    assert seen == [("a", 1), ("a", 2), ("b", 1)]


async def test_current_attempt_from_a_thread_trio_did_not_start_is_a_clear_error() -> None:
    errors: list[BaseException] = []

    async def a() -> str:
        ctx = contextvars.copy_context()  # the run is known, the node is not

        def target() -> None:
            try:
                ctx.run(td.current_attempt)
            except RuntimeError as exc:
                errors.append(exc)

        t = threading.Thread(target=target)
        t.start()
        await trio.to_thread.run_sync(t.join)
        return "a"

    dag = td.DAG.from_nodes("T", [td.Node("a", a)])
    with trio.fail_after(30):
        await dag.run()
    assert len(errors) == 1
    assert "trio.to_thread.run_sync" in str(errors[0])
    assert "current_attempt" in str(errors[0])


@pytest.mark.parametrize(
    "strategy", [td.Sequential(), td.Parallel(), LEVELS], ids=["sequential", "eager", "levels"]
)
async def test_task_a_node_left_running_outside_the_run_is_not_told_another_node(
    strategy: td.Parallel | td.Sequential, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[Any] = []
    go = trio.Event()
    done = trio.Event()

    async def background() -> None:
        await go.wait()
        try:
            at = td.current_attempt()
            seen.append((at.node, at.attempt))
        except RuntimeError as exc:
            seen.append(exc)
        finally:
            done.set()

    async with trio.open_nursery() as outside:

        async def a() -> str:
            outside.start_soon(background)  # outlives a
            return "a"

        async def b(a: str) -> str:
            go.set()
            await done.wait()
            return "b"

        dag = td.DAG.from_nodes("T", [td.Node("a", a), td.Node("b", b, deps=["a"])])
        with trio.fail_after(30):
            result = await dag.run(strategy=strategy)
    assert result.ok
    # a is over: the background task cannot be placed in a node (before the fix, a
    # sequential run told it that it was b, the node running then)
    assert len(seen) == 1
    assert isinstance(seen[0], RuntimeError)
    assert "inside a node" in str(seen[0])


@pytest.mark.parametrize(
    "strategy",
    [td.Sequential(), td.Parallel(), LEVELS, td.Parallel(max_concurrency=1)],
    ids=["sequential", "eager", "levels", "limit1"],
)
@pytest.mark.parametrize("map_node", [False, True])
async def test_tasks_and_threads_a_node_starts_are_told_that_node(
    strategy: td.Parallel | td.Sequential, map_node: bool
) -> None:  # real time: the autojump clock would jump while a thread runs
    seen: list[tuple[str, str, int]] = []

    def make(name: str) -> Any:
        async def child() -> None:
            at = td.current_attempt()
            seen.append((name, at.node, at.attempt))
            at = await trio.to_thread.run_sync(td.current_attempt)
            seen.append((name, at.node, at.attempt))

        async def body(*deps: Any) -> str:
            async with trio.open_nursery() as inner:
                inner.start_soon(child)
            return name

        return body

    options: dict[str, Any] = {"map_over": "xs"} if map_node else {}
    dag = td.DAG.from_nodes(
        "T",
        [
            td.Node("xs", _const([0])),
            td.Node("a", make("a"), deps=["xs"], **options),
            td.Node("b", make("b"), deps=["xs"], **options),
            td.Node("c", make("c"), deps=["a", "b"]),
        ],
    )
    with trio.fail_after(30):
        result = await dag.run(strategy=strategy)
    assert result.ok
    assert sorted(seen) == [(n, n, 1) for n in "aabbcc"]


async def test_current_attempt_outside_of_a_node_task_is_a_clear_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    errors: list[BaseException] = []
    go = trio.Event()
    done = trio.Event()

    async def background() -> None:
        await go.wait()
        try:
            td.current_attempt()
        except RuntimeError as exc:
            errors.append(exc)
        finally:
            done.set()

    async with trio.open_nursery() as outside:

        async def a() -> str:
            outside.start_soon(background)
            return "a"

        async def b(a: str) -> str:
            go.set()
            await done.wait()
            return "b"

        dag = td.DAG.from_nodes("T", [td.Node("a", a), td.Node("b", b, deps=["a"])])
        with trio.fail_after(30):
            await dag.run()
    assert len(errors) == 1
    assert "current_attempt" in str(errors[0])


# ------------------------- defect 18: a map node that never got a slot did not start


async def test_map_node_still_waiting_for_a_slot_is_not_started(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()

    def make(name: str) -> Any:
        async def body(xs: int) -> int:
            calls.enter(name)
            await trio.sleep(100)
            return xs

        return body

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("xs", _const([0, 1])),
            *(td.Node(n, make(n), deps=["xs"], map_over="xs") for n in "pq"),
        ],
    )
    with trio.fail_after(1000), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=td.Parallel(max_concurrency=1), deadline=10)
    r = info.value.result
    by_status = sorted((r.statuses[n], r.attempts(n)) for n in "pq")
    assert by_status == [("cancelled", 1), ("not_started", 0)]
    calls.assert_attempts_match(r)
    (waiting,) = r.nodes_with("not_started")
    assert r.started_at(waiting) is None


async def test_level_mates_failing_together_restart_the_level_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()
    go = trio.Event()

    async def starter() -> str:
        calls.enter("starter")
        await trio.sleep(1)
        go.set()  # wakes a and b in one scheduler batch
        return "starter"

    def make(name: str) -> Any:
        async def body() -> str:
            if calls.enter(name) == 1:
                await go.wait()
                raise ValueError(f"{name} once")
            return name

        return body

    # Both fail at 1, in one batch: the first restarts the level, which cancels the
    # second as it fails; that failure is moot, and no second restart.
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("starter", starter),
            *(td.Node(n, make(n), retry=fixed(2, 1)) for n in "ab"),
        ],
    )
    with trio.fail_after(100):
        result = await dag.run(supervisor=td.Supervisor("one_for_all", max_restarts=1))
    assert result.ok
    assert calls.times == {"starter": [0, 2], "a": [0, 2], "b": [0, 2]}
    calls.assert_attempts_match(result)


async def test_map_element_failure_under_continue_lets_waiting_nodes_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()

    async def each(xs: int) -> int:
        calls.enter("each")
        await trio.sleep(1)
        raise ValueError("element fails")

    async def other(xs: Any) -> str:
        calls.enter("other")
        await trio.sleep(1)
        return "other"

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("xs", _const([0])),
            td.Node("each", each, deps=["xs"], map_over="xs"),
            td.Node("other", other, deps=["xs"]),
        ],
    )
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=td.Parallel(max_concurrency=1), on_failure="continue")
    r = info.value.result
    assert r["other"] == "other"  # the run goes on: the waiting node gets its slot
    assert r.statuses["each"] is td.NodeStatus.FAILED
    calls.assert_attempts_match(r)


def _plain_mate_failing_with_a_restarting_node() -> tuple[td.RunResult, Calls]:
    calls = Calls()
    go = trio.Event()

    async def starter() -> str:
        calls.enter("starter")
        await trio.sleep(1)
        go.set()  # wakes a and b in one scheduler batch, in either order
        return "starter"

    def make(name: str) -> Any:
        async def body() -> str:
            if calls.enter(name) == 1:
                await go.wait()
                raise ValueError(f"{name} once")
            return name

        return body

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("starter", starter),
            td.Node("a", make("a"), retry=fixed(2, 1)),
            td.Node("b", make("b")),  # no policy: its failure is final, unless moot
        ],
    )
    result = trio.run(
        functools.partial(dag.run, supervisor=ONE_FOR_ALL, on_failure="continue"),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    return result, calls


def test_plain_level_mate_failing_as_a_restart_cancels_it_is_rerun_not_failed() -> None:
    # If b fails first, its failure is final until a's restart of the level clears it;
    # if a fails first, the restart cancels b as it fails: that failure is moot. Either
    # way b reruns with the level and the run completes, with no stale error.
    for _ in range(16):
        result, calls = _plain_mate_failing_with_a_restarting_node()
        assert result.ok
        assert result["b"] == "b"
        assert calls.count == Counter({"starter": 2, "a": 2, "b": 2})
        calls.assert_attempts_match(result)


def test_a_cancelled_level_mate_whose_cleanup_fails_does_not_swallow_a_restart() -> None:
    """Found by the fault-schedule test: under one_for_all, ``c`` (cancelled by ``a``'s
    restart) raised an ExceptionGroup from its nursery's cleanup; that was taken as a
    failure to retry, ``c``'s restart cancelled ``a``'s pending one, neither ran again,
    and the run said "completed" with ``a`` and ``c`` missing and ``after`` run without
    its input. It must end with every value, or as RunFailed, never "completed" with
    values missing."""
    calls: Counter[str] = Counter()

    async def a() -> str:
        calls["a"] += 1
        if calls["a"] == 1:
            raise OSError("a")
        return "a"

    async def c() -> None:
        async def child() -> None:
            try:
                await trio.sleep(5)
            finally:
                raise OSError("c cleanup failed")

        async with trio.open_nursery() as n:
            n.start_soon(child)

    async def after(a: str) -> str:
        calls["after"] += 1
        return a + "!"

    dag = td.DAG.from_nodes(
        "d", [td.Node("a", a), td.Node("c", c), td.Node("after", after, deps=["a"])]
    )

    async def main() -> td.RunResult:
        with trio.fail_after(10_000):
            try:
                return await dag.run(
                    supervisor=td.Supervisor("one_for_all"),
                    retry=td.RetryPolicy(max_attempts=4, initial_delay=1.0),
                )
            except td.RunFailed as exc:
                return exc.result

    result = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert result.ok == all(n in result for n in ("a", "c", "after"))
    if not result.ok:
        assert result.status is td.RunStatus.FAILED
        assert "c" in result.errors
    assert "after" not in result or result["after"] == "a!"


def _map_and_mate_failing_together() -> tuple[td.RunResult, Calls]:
    calls = Calls()
    go = trio.Event()

    async def starter(xs: Any) -> str:
        calls.enter("starter")
        await trio.sleep(1)
        go.set()  # wakes the element and r in one scheduler batch, in either order
        return "starter"

    async def m(xs: int) -> int:
        if calls.enter("m") == 1:
            await go.wait()
            raise ValueError("element once")
        return xs

    async def r(xs: Any) -> str:
        if calls.enter("r") == 1:
            await go.wait()
            raise ValueError("r once")
        return "r"

    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("xs", _const([7])),
            td.Node("starter", starter, deps=["xs"]),
            td.Node("m", m, deps=["xs"], map_over="xs"),
            td.Node("r", r, deps=["xs"], retry=fixed(2, 1)),
        ],
    )
    return _result_of(
        lambda: trio.run(
            functools.partial(dag.run, supervisor=ONE_FOR_ALL),
            clock=trio.testing.MockClock(autojump_threshold=0),
        )
    ), calls


def test_map_failing_as_a_level_mate_restarts_the_level_ends_consistently() -> None:
    # The element fails first: m has failed, the run stops (r's restart does not
    # happen). r fails first: its restart cancels m as its element fails; that failure
    # is moot, the level restarts and completes. Never a hang, never a half result.
    for _ in range(16):
        result, calls = _map_and_mate_failing_together()
        if result.ok:
            assert result["m"] == [7]
            assert result["r"] == "r"
        else:
            assert result.status is td.RunStatus.FAILED
            assert set(result.errors) == {"m"}
            assert result.statuses["r"] is td.NodeStatus.CANCELLED
        calls.assert_attempts_match(result)
