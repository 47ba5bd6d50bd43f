"""trio_dag.testing: fault injection, node replacement and virtual-time runs,
each on a new DAG class that leaves the original untouched."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import trio

import trio_dag as td
from trio_dag import testing as tdt
from trio_dag._dag_build import DAGMeta
from trio_dag._graph import Graph
from trio_dag._nodespec import NodeSpec


class Report(td.DAG):
    day = td.input(default="mon")

    @td.node(retry=td.RetryPolicy(max_attempts=3, initial_delay=5, backoff=1, jitter="none"))
    async def orders(day):
        return [12.5, 30.0]

    @td.node
    async def users(day):
        return ["ann", "bob"]

    @td.node
    async def summary(orders, users, when=td.get("day")):
        return f"{when}: {len(users)} users, {sum(orders)}"


def test_the_new_class_is_a_subclass_with_the_same_shape() -> None:
    async def fake(day: str) -> list[float]:
        return [1.0]

    Fake = tdt.replace(Report, orders=fake)
    assert issubclass(Fake, Report)
    assert Fake is not Report
    assert Fake.__name__ == Report.__name__
    assert Fake.graph.name == Report.graph.name
    assert Fake.graph.nodes == Report.graph.nodes
    assert Fake.graph.inputs == Report.graph.inputs
    assert Fake.graph.levels == Report.graph.levels
    assert Fake.supervisor is Report.supervisor
    assert "replace" in (Fake.__doc__ or "")


def test_replace_runs_the_replacement_and_leaves_the_original_untouched() -> None:
    calls = []

    async def fake_orders(day: str) -> list[float]:
        calls.append(day)
        return [1.0, 2.0]

    Fake = tdt.replace(Report, orders=fake_orders)
    assert tdt.run_virtual(Fake, {"day": "tue"})["summary"] == "tue: 2 users, 3.0"
    assert calls == ["tue"]
    # the original still runs its own body
    assert tdt.run_virtual(Report)["summary"] == "mon: 2 users, 42.5"
    assert calls == ["tue"]


def test_replace_keeps_node_options() -> None:
    """The replacement runs under the node's own retry policy."""
    attempts = 0

    async def flaky(day: str) -> list[float]:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("reset")
        return [5.0]

    result = tdt.run_virtual(tdt.replace(Report, orders=flaky))
    assert result["orders"] == [5.0]
    assert result.attempts("orders") == 3
    assert result.finished_at("orders") == 10.0  # two 5 s backoffs, virtual


def test_replace_on_from_nodes_takes_a_mapping_and_positional_args() -> None:
    async def source() -> int:
        return 2

    async def double(x: int) -> int:
        return 2 * x

    async def triple(x: int) -> int:
        return 3 * x

    Gen = td.DAG.from_nodes(
        "gen", [td.Node("etl.source", source), td.Node("etl.out", double, deps=("etl.source",))]
    )
    Fake = tdt.replace(Gen, {"etl.out": triple})
    assert tdt.run_virtual(Fake)["etl.out"] == 6
    assert tdt.run_virtual(Gen)["etl.out"] == 4


def test_replace_rejects_unknown_nodes_and_bad_bodies() -> None:
    async def body(day: str) -> None:
        return None

    def sync_body(day: str) -> None:
        return None

    with pytest.raises(
        td.InvalidOptionError,
        match=r"node must be a node of DAG 'Report' \('orders', .*got 'order'",
    ) as e:
        tdt.replace(Report, order=body)
    assert e.value.option == "node"
    assert e.value.value == "order"
    with pytest.raises(td.InvalidOptionError, match="orders must be a callable, got 42"):
        tdt.replace(Report, orders=42)  # type: ignore[arg-type]
    with pytest.raises(td.InvalidOptionError, match="an async function, like the body"):
        tdt.replace(Report, orders=sync_body)
    with pytest.raises(td.InvalidOptionError, match=r"must be a trio_dag\.DAG subclass"):
        tdt.replace(td.DAG, orders=body)
    with pytest.raises(td.InvalidOptionError, match=r"must be a trio_dag\.DAG subclass"):
        tdt.replace(object, orders=body)  # type: ignore[arg-type]


def test_replace_accepts_async_callable_objects_and_partials() -> None:
    import functools

    class Fake:
        async def __call__(self, day: str) -> list[float]:
            return [7.0]

    async def scaled(factor: float, day: str) -> list[float]:
        return [factor]

    assert tdt.run_virtual(tdt.replace(Report, orders=Fake()))["orders"] == [7.0]
    assert tdt.run_virtual(tdt.replace(Report, orders=functools.partial(scaled, 9.0)))[
        "orders"
    ] == [9.0]


def test_fail_fails_the_first_attempts_then_runs_the_real_body() -> None:
    Flaky = tdt.fail(Report, "orders", ConnectionError("reset"), times=2)
    for _ in range(2):  # every run of the class fails the same way
        result = tdt.run_virtual(Flaky)
        assert result["summary"] == "mon: 2 users, 42.5"
        assert result.attempts("orders") == 3
        assert result.finished_at("orders") == 10.0
    assert tdt.run_virtual(Report).attempts("orders") == 1


def test_fail_every_attempt_raises_run_failed_with_the_exception() -> None:
    with pytest.raises(td.RunFailed) as e:
        tdt.run_virtual(tdt.fail(Report, "users"))
    err = e.value.errors["users"]
    assert isinstance(err, tdt.InjectedFault)
    assert (err.node, err.attempt) == ("users", 1)
    assert str(err) == "injected fault: node 'users', attempt 1"
    assert pickle.loads(pickle.dumps(err)).attempt == 1
    assert e.value.result.attempts("users") == 1


def test_fail_with_an_exception_class_names_node_and_attempt() -> None:
    with pytest.raises(td.RunFailed) as e:
        tdt.run_virtual(tdt.fail(Report, "orders", TimeoutError))
    err = e.value.errors["orders"]
    assert type(err) is TimeoutError
    assert str(err) == "injected fault: node 'orders', attempt 3"
    assert e.value.result.attempts("orders") == 3


def test_fail_with_an_exception_instance_raises_it() -> None:
    boom = KeyError("missing")
    with pytest.raises(td.RunFailed) as e:
        tdt.run_virtual(tdt.fail(Report, "users", boom))
    assert e.value.errors["users"] is boom


def test_fail_respects_the_retry_policy_filters() -> None:
    class Picky(td.DAG):
        @td.node(retry=td.RetryPolicy(max_attempts=5, initial_delay=0, give_up_on=KeyError))
        async def a():
            return 1

    with pytest.raises(td.RunFailed) as e:
        tdt.run_virtual(tdt.fail(Picky, "a", KeyError, times=1))
    assert e.value.result.attempts("a") == 1
    assert tdt.run_virtual(tdt.fail(Picky, "a", ValueError, times=4))["a"] == 1


@pytest.mark.parametrize(
    "strategy", [td.Sequential(), td.Parallel(), td.Parallel(schedule="levels")], ids=repr
)
def test_fail_counts_attempts_under_every_strategy(strategy: Any) -> None:
    result = tdt.run_virtual(tdt.fail(Report, "orders", times=2), strategy=strategy)
    assert result.attempts("orders") == 3
    assert result["summary"] == "mon: 2 users, 42.5"


def test_fail_counts_a_level_restart_as_an_attempt() -> None:
    class Level(td.DAG):
        supervisor = td.Supervisor(strategy="one_for_all")

        @td.node(retry=td.RetryPolicy(max_attempts=2, initial_delay=1, jitter="none"))
        async def a():
            return "a"

        @td.node
        async def b():
            await trio.sleep(5)
            return "b"

    result = tdt.run_virtual(tdt.fail(Level, "a", times=1))
    assert (result["a"], result["b"]) == ("a", "b")
    assert result.attempts("a") == 2
    assert result.started_at("b") == 1  # restarted with its level, after a's 1 s delay
    assert result.finished_at("b") == 6


def test_fail_in_a_map_node_counts_each_elements_attempts() -> None:
    class Mapped(td.DAG):
        @td.node
        async def items():
            return [1, 2, 3]

        @td.node(map_over="items", retry=td.RetryPolicy(max_attempts=2, initial_delay=0))
        async def double(items):
            return 2 * items

    result = tdt.run_virtual(tdt.fail(Mapped, "double", times=1))
    assert result["double"] == [2, 4, 6]
    assert result.attempts("double") == 6  # every element failed once


def test_fail_rejects_bad_arguments() -> None:
    with pytest.raises(td.InvalidOptionError, match="times must be an int >= 1, got 0"):
        tdt.fail(Report, "orders", times=0)
    with pytest.raises(td.InvalidOptionError, match="times must be an int >= 1, got True"):
        tdt.fail(Report, "orders", times=True)
    with pytest.raises(td.InvalidOptionError, match="exc must be an exception"):
        tdt.fail(Report, "orders", 42)  # type: ignore[arg-type]
    with pytest.raises(td.InvalidOptionError, match="exc must be an exception"):
        tdt.fail(Report, "orders", int)  # type: ignore[arg-type]
    with pytest.raises(td.InvalidOptionError, match=r"not trio\.Cancelled"):
        tdt.fail(Report, "orders", trio.Cancelled)
    with pytest.raises(td.InvalidOptionError, match="node must be a node of DAG"):
        tdt.fail(Report, "nope")


def _sync_dag() -> type[td.DAG]:
    """A DAG whose node body is sync, as a placed node's is (``run_in=``)."""

    def work() -> int:
        return 1

    graph = Graph("placed", [NodeSpec("work", work, ())])
    return DAGMeta("placed", (td.DAG,), {}, compiled=graph)  # type: ignore[no-any-return]


def test_fail_and_hang_refuse_a_sync_body() -> None:
    Placed = _sync_dag()
    with pytest.raises(td.InvalidOptionError, match="a node with an async body"):
        tdt.fail(Placed, "work")
    with pytest.raises(td.InvalidOptionError, match="a node with an async body"):
        tdt.hang(Placed, "work")

    def other() -> int:
        return 2

    async def other_async() -> int:
        return 2

    assert issubclass(tdt.replace(Placed, work=other), Placed)
    with pytest.raises(td.InvalidOptionError, match="a sync function, like the body"):
        tdt.replace(Placed, work=other_async)


def test_hang_until_the_timeout_then_retry() -> None:
    class Timed(td.DAG):
        @td.node(timeout=60, retry=td.RetryPolicy(max_attempts=3, initial_delay=0))
        async def fetch():
            return "rows"

    result = tdt.run_virtual(tdt.hang(Timed, "fetch", times=2))
    assert result["fetch"] == "rows"
    assert result.attempts("fetch") == 3
    assert result.finished_at("fetch") == 120.0
    with pytest.raises(td.RunFailed) as e:
        tdt.run_virtual(tdt.hang(Timed, "fetch"))
    assert isinstance(e.value.errors["fetch"], trio.TooSlowError)


def test_hang_without_a_timeout_is_stopped_by_the_deadline() -> None:
    with pytest.raises(td.RunFailed) as e:
        tdt.run_virtual(tdt.hang(Report, "users"), deadline=30)
    result = e.value.result
    assert result.statuses["users"] is not td.NodeStatus.COMPLETED
    assert result["orders"] == [12.5, 30.0]  # what completed is kept


def test_hang_is_cancelled_by_fail_fast() -> None:
    Both = tdt.fail(tdt.hang(Report, "users"), "orders", ValueError("bad"))
    with pytest.raises(td.RunFailed) as e:
        tdt.run_virtual(Both)
    assert list(e.value.errors) == ["orders"]
    assert e.value.result.statuses["users"] is td.NodeStatus.CANCELLED


def test_hang_rejects_bad_times() -> None:
    with pytest.raises(td.InvalidOptionError, match="times must be an int >= 1, got -1"):
        tdt.hang(Report, "users", times=-1)


async def test_the_new_classes_run_in_an_async_test(autojump_clock: trio.abc.Clock) -> None:
    Flaky = tdt.fail(Report, "orders", times=1)
    with trio.fail_after(60):
        t0 = trio.current_time()
        result = await Flaky.run()
    assert trio.current_time() - t0 == 5
    assert result.attempts("orders") == 2


def test_run_virtual_passes_run_options() -> None:
    events: list[str] = []

    class Watch(td.Instrument):
        def node_finished(self, node: str, elapsed: float) -> None:
            events.append(node)

    result = tdt.run_virtual(
        Report, {"day": "wed"}, strategy=td.Sequential(), instruments=[Watch()]
    )
    assert result["summary"] == "wed: 2 users, 42.5"
    assert events == list(Report.graph.order)


def test_run_virtual_takes_no_real_time() -> None:
    class Slow(td.DAG):
        @td.node
        async def nap():
            await trio.sleep(10_000)
            return 1

    result = tdt.run_virtual(Slow)
    assert result.finished_at("nap") == 10_000


def test_public_names_report_trio_dag_testing() -> None:
    for name in tdt.__all__:
        assert getattr(tdt, name).__module__ == "trio_dag.testing"


def test_the_copies_keep_resources() -> None:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def connect(dsn: str) -> Any:
        yield f"conn:{dsn}"

    class WithDb(td.DAG):
        dsn = td.input(default="db")
        db = td.resource(connect)

        @td.node(retry=td.RetryPolicy(max_attempts=2, initial_delay=0))
        async def users(db):
            return [db]

    async def fake_users(db: str) -> list[str]:
        return [f"fake via {db}"]

    assert tdt.run_virtual(tdt.replace(WithDb, users=fake_users))["users"] == ["fake via conn:db"]
    assert tdt.run_virtual(tdt.fail(WithDb, "users", times=1))["users"] == ["conn:db"]
    assert tdt.replace(WithDb, users=fake_users).graph.resources == ("db",)


def test_a_store_cache_never_mixes_the_original_and_a_copy(tmp_path: Any) -> None:
    calls = []

    class Cached(td.DAG):
        @td.node(cache=True, version="v1")
        async def value():
            calls.append("real")
            return "real"

    async def fake() -> str:
        calls.append("fake")
        return "fake"

    with td.SQLiteStore(str(tmp_path / "cache.db")) as store:
        assert tdt.run_virtual(Cached, store=store)["value"] == "real"
        assert tdt.run_virtual(tdt.replace(Cached, value=fake), store=store)["value"] == "fake"
        assert tdt.run_virtual(Cached, store=store)["value"] == "real"  # from the cache
        with pytest.raises(td.RunFailed):  # the fault is not skipped by a cache hit
            tdt.run_virtual(tdt.fail(Cached, "value"), store=store)
    assert calls == ["real", "fake"]


def test_replace_a_placed_sync_node_with_a_sync_fake() -> None:
    class Placed(td.DAG):
        @td.node(run_in=td.InThread())
        def parse():
            return "real"

    def fake() -> str:
        return "fake"

    async def fake_async() -> str:
        return "fake"

    assert tdt.run_virtual(tdt.replace(Placed, parse=fake))["parse"] == "fake"
    with pytest.raises(td.InvalidOptionError, match="a sync function, like the body"):
        tdt.replace(Placed, parse=fake_async)
    with pytest.raises(td.InvalidOptionError, match="a node with an async body"):
        tdt.fail(Placed, "parse")
