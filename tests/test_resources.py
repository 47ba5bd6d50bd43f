"""Resources: ``client = td.resource(factory)`` gives nodes an entered value with a lifecycle.

Entered at most once per run (once per stream), lazily before the first node
that needs it starts, each in a task of its own; exited when the run ends,
however it ends, last entered first. An enter that fails fails the nodes
that need it, naming the resource.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

import trio_dag as td
from conftest import Boom, check_message

LOG: list[Any] = []


def tracked(name: str, *, fail_enter: bool = False, fail_exit: bool = False) -> Any:
    """An @asynccontextmanager factory logging its enter and exit to LOG."""

    @asynccontextmanager
    async def factory() -> AsyncIterator[str]:
        LOG.append(("enter", name, trio.current_time()))
        await trio.sleep(1)  # entering takes time: waiting nodes must wait for it
        if fail_enter:
            raise Boom(f"cannot open {name}")
        LOG.append(("entered", name))
        try:
            yield f"<{name}>"
        except BaseException as exc:
            LOG.append(("exit", name, type(exc).__name__))
            if fail_exit:
                raise Boom(f"cannot close {name}") from None
            raise
        LOG.append(("exit", name, None))
        if fail_exit:
            raise Boom(f"cannot close {name}")

    return factory


@pytest.fixture(autouse=True)
def _clear_log() -> None:
    LOG.clear()


class Shop(td.DAG):
    day = td.input()
    db = td.resource(tracked("db"))
    http = td.resource(tracked("http"))
    unused = td.resource(tracked("unused"))

    @td.node
    async def orders(day: str, http: str) -> str:
        LOG.append(("node", "orders", trio.current_time()))
        await trio.sleep(1)
        return f"{day} via {http}"

    @td.node
    async def stock(http: str) -> str:
        LOG.append(("node", "stock", trio.current_time()))
        return http

    @td.node
    async def saved(orders: str, db: str) -> str:
        LOG.append(("node", "saved", trio.current_time()))
        return f"{orders} into {db}"


STRATEGIES = [td.Sequential(), td.Parallel(), td.Parallel(schedule="levels")]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=repr)
async def test_entered_once_lazily_and_exited_in_reverse_order(
    strategy: td.Strategy, autojump_clock: trio.testing.MockClock
) -> None:
    t0 = trio.current_time()
    with trio.fail_after(10):
        r = await Shop.run({"day": "d"}, strategy=strategy)
    assert r["saved"] == "d via <http> into <db>"
    assert "http" not in r
    assert "db" not in r
    steps = [e[:2] for e in LOG]
    assert steps.count(("enter", "http")) == 1
    assert ("enter", "unused") not in steps  # needed by no node: never entered
    # http entered before its first node starts; db only when `saved` needs it
    assert steps.index(("enter", "http")) < steps.index(("node", "orders"))
    assert steps.index(("node", "orders")) < steps.index(("enter", "db"))
    assert steps.index(("enter", "db")) < steps.index(("node", "saved"))
    assert LOG[-2:] == [("exit", "db", None), ("exit", "http", None)]  # last entered, first out
    assert next(e for e in LOG if e[0] == "enter")[2] == t0


async def test_concurrent_nodes_share_one_enter(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(10):
        await Shop.run({"day": "d"})
    starts = {e[1]: e[2] for e in LOG if e[0] == "node"}
    assert starts["orders"] == starts["stock"]  # both waited for the same enter
    assert sum(1 for e in LOG if e[:2] == ("enter", "http")) == 1


async def test_exited_when_the_run_fails(autojump_clock: trio.testing.MockClock) -> None:
    class Fails(Shop):
        @td.node
        async def breaks(stock: str) -> None:
            raise Boom

    with trio.fail_after(10), pytest.raises(td.RunFailed):
        await Fails.run({"day": "d"})
    assert [e for e in LOG if e[0] == "exit"] == [("exit", "http", "RunFailed")]


async def test_exited_when_the_run_is_cancelled(autojump_clock: trio.testing.MockClock) -> None:
    class Long(td.DAG):
        a = td.resource(tracked("a"))
        b = td.resource(tracked("b"))

        @td.node
        async def first(a: str) -> None:
            await trio.sleep(100)

        @td.node
        async def second(b: str) -> None:
            await trio.sleep(100)

    with trio.fail_after(10):
        with trio.move_on_after(5) as scope:
            await Long.run()
    assert scope.cancelled_caught
    exits = [e for e in LOG if e[0] == "exit"]
    entered = [e[1] for e in LOG if e[0] == "entered"]  # in the order __aenter__ returned
    assert sorted(entered) == ["a", "b"]
    assert [e[1] for e in exits] == entered[::-1]
    # each exit is given what ended the run: the cancellation (in the run's group)
    assert {e[2] for e in exits} <= {"Cancelled", "BaseExceptionGroup"}


async def test_exited_on_keyboard_interrupt(autojump_clock: trio.testing.MockClock) -> None:
    class Interrupted(td.DAG):
        a = td.resource(tracked("a"))

        @td.node
        async def first(a: str) -> None:
            raise KeyboardInterrupt

    with trio.fail_after(10), pytest.raises(KeyboardInterrupt) as info:
        await Interrupted.run()
    assert isinstance(info.value, td.RunInterrupted)  # bare, never in a group
    assert [e[:2] for e in LOG] == [("enter", "a"), ("entered", "a"), ("exit", "a")]
    assert LOG[-1][2] == type(info.value).__name__  # __aexit__ saw what ended the run


async def test_a_failed_enter_fails_the_nodes_that_need_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Broken(td.DAG):
        db = td.resource(tracked("db", fail_enter=True))

        @td.node(retry=td.RetryPolicy(max_attempts=5, initial_delay=1))
        async def reads(db: str) -> str:
            return db

        @td.node
        async def writes(db: str) -> str:
            return db

        @td.node
        async def other() -> int:
            return 1

    rec_events: list[tuple[str, str]] = []

    class Rec(td.Instrument):
        def node_started(self, node: str, attempt: int) -> None:
            rec_events.append(("started", node))

        def node_failed(self, node: str, error: BaseException, attempt: int, w: bool) -> None:
            rec_events.append(("failed", node))

    with trio.fail_after(10), pytest.raises(td.RunFailed) as info:
        await Broken.run(on_failure="continue", instruments=[Rec()])
    r = info.value.result
    assert r["other"] == 1
    for node in ("reads", "writes"):
        e = r.errors[node]
        assert isinstance(e, td.ResourceError)
        assert (e.resource, e.dag, e.phase) == ("db", "Broken", "enter")
        assert "resource 'db' of DAG 'Broken' could not be entered: Boom: cannot open db" in str(e)
        assert isinstance(e.__cause__, Boom)
        assert r.attempts(node) == 1  # never retried
    assert sum(1 for e in LOG if e[0] == "enter") == 1  # entered once, for both
    assert ("failed", "reads") in rec_events
    assert ("started", "reads") in rec_events
    assert "node 'reads' failed after 1 attempt: ResourceError" in info.value.result.report()


async def test_a_resource_needed_only_by_skipped_nodes_is_never_entered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Skips(td.DAG):
        db = td.resource(tracked("db"))

        @td.node
        async def breaks() -> int:
            raise Boom

        @td.node
        async def save(breaks: int, db: str) -> None: ...

    with trio.fail_after(10), pytest.raises(td.RunFailed):
        await Skips.run(on_failure="continue")
    assert LOG == []


async def test_a_stream_enters_each_resource_once(autojump_clock: trio.testing.MockClock) -> None:
    class PerItem(td.DAG):
        x = td.input()
        http = td.resource(tracked("http"))

        @td.node
        async def fetch(x: int, http: str) -> str:
            return f"{x}{http}"

    with trio.fail_after(100):
        async with PerItem.stream({"x": k} for k in range(1000)) as results:
            got = [r["fetch"] async for r in results]
        assert LOG[-1] == ("exit", "http", None)  # exited when the stream ended
    assert got == [f"{k}<http>" for k in range(1000)]
    assert [e[:2] for e in LOG] == [("enter", "http"), ("entered", "http"), ("exit", "http")]


async def test_a_stream_resource_must_see_the_same_inputs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    entered: list[str] = []

    @asynccontextmanager
    async def connect(dsn: str) -> AsyncIterator[str]:
        entered.append(dsn)
        yield dsn

    class Db(td.DAG):
        dsn = td.input()
        x = td.input()
        conn = td.resource(connect)

        @td.node
        async def q(x: int, conn: str) -> str:
            return f"{x}@{conn}"

    items = [{"dsn": "a", "x": 1}, {"dsn": "a", "x": 2}, {"dsn": "b", "x": 3}]
    with trio.fail_after(10):
        async with Db.stream(items, max_in_flight=1) as results:
            got = [r async for r in results]
    assert [r["q"] for r in got[:2]] == ["1@a", "2@a"]
    err = got[2].errors["q"]
    assert isinstance(err, td.ResourceError)
    assert "dsn='a'" in str(err)
    assert "dsn='b'" in str(err)
    assert entered == ["a"]


async def test_factory_parameters_name_inputs(autojump_clock: trio.testing.MockClock) -> None:
    made: list[tuple[Any, ...]] = []

    @asynccontextmanager
    async def pool(dsn: str, size: int = td.get("width"), timeout: float = 3.0) -> Any:
        made.append((dsn, size, timeout))
        yield f"pool({dsn}, {size})"

    class Db(td.DAG):
        dsn = td.input()
        width = td.input(default=4)
        conn = td.resource(pool)

        @td.node
        async def q(conn: str) -> str:
            return conn

    assert (await Db.run({"dsn": "pg://"}))["q"] == "pool(pg://, 4)"
    assert made == [("pg://", 4, 3.0)]


async def test_a_resource_opening_a_nursery_is_entered_and_exited_in_one_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @asynccontextmanager
    async def background() -> AsyncIterator[list[int]]:
        ticks: list[int] = []
        async with trio.open_nursery() as nursery:

            async def tick() -> None:
                while True:
                    ticks.append(1)
                    await trio.sleep(1)

            nursery.start_soon(tick)
            yield ticks
            nursery.cancel_scope.cancel()

    class Bg(td.DAG):
        bg = td.resource(background)

        @td.node
        async def a(bg: list[int]) -> int:
            await trio.sleep(3.5)
            return len(bg)

    with trio.fail_after(10):
        assert (await Bg.run())["a"] == 4


async def test_resources_in_maps_retries_and_class_instances(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Client:
        opened = 0

        async def __aenter__(self) -> Client:
            Client.opened += 1
            return self

        async def __aexit__(self, *exc: object) -> None:
            Client.opened -= 1

    calls = {"n": 0}

    class Uses(td.DAG):
        xs = td.input()
        client = td.resource(Client)

        @td.node(map_over="xs")
        async def each(xs: int, client: Client) -> int:
            assert isinstance(client, Client)
            return xs * 2

        @td.node(retry=2, timeout=5)
        async def flaky(client: Client) -> int:
            calls["n"] += 1
            if calls["n"] == 1:
                raise Boom
            return Client.opened

    r = await Uses.run({"xs": [1, 2]}, retry=td.RetryPolicy(initial_delay=0))
    assert r["each"] == [2, 4]
    assert r["flaky"] == 1
    assert Client.opened == 0


async def test_exit_failures(autojump_clock: trio.testing.MockClock) -> None:
    class ExitFails(td.DAG):
        a = td.resource(tracked("a", fail_exit=True))

        @td.node
        async def n(a: str) -> str:
            return a

    with trio.fail_after(10), pytest.raises(td.ResourceError) as info:
        await ExitFails.run()
    e = info.value
    assert (e.resource, e.phase) == ("a", "exit")
    assert isinstance(e.__cause__, Boom)
    assert isinstance(e.result, td.RunResult)
    assert e.result["n"] == "<a>"

    class ExitFailsAfterFailure(ExitFails):
        @td.node
        async def breaks(n: str) -> None:
            raise Boom("node")

    with trio.fail_after(10), pytest.raises(td.RunFailed) as failed:
        await ExitFailsAfterFailure.run()
    assert any("resource 'a'" in note for note in failed.value.__notes__)


async def test_a_factory_that_returns_no_context_manager(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class NotCm(td.DAG):
        x = td.resource(lambda: 42)

        @td.node
        async def n(x: int) -> int:
            return x

    with trio.fail_after(10), pytest.raises(td.RunFailed) as info:
        await NotCm.run()
    e = info.value.errors["n"]
    assert isinstance(e, td.ResourceError)
    assert "not an async context manager" in str(e)


async def test_inclusion_copies_resources_or_shares_wired_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Inner(td.DAG):
        http = td.resource(tracked("inner-http"))

        @td.node
        async def get(http: str) -> str:
            return http

    class Copies(td.DAG):
        inner = td.include(Inner)

    assert Copies.graph.resources == ("inner.http",)
    assert (await Copies.run())["inner.get"] == "<inner-http>"

    class Shares(td.DAG):
        http = td.resource(tracked("outer-http"))
        one = td.include(Inner, inputs={"http": "http"})
        two = td.include(Inner, inputs={"http": "http"})

    LOG.clear()
    r = await Shares.run()
    assert Shares.graph.resources == ("http",)
    assert r["one.get"] == r["two.get"] == "<outer-http>"
    assert [e[1] for e in LOG] == ["outer-http"] * 3  # enter, entered, exit: once

    with pytest.raises(td.UnknownDependencyError, match="not a resource"):

        class Wrong(td.DAG):
            x = td.input()
            inner = td.include(Inner, inputs={"http": "x"})


async def test_from_nodes_resources(autojump_clock: trio.testing.MockClock) -> None:
    async def use(day: str, client: str) -> str:
        return f"{day}{client}"

    Gen = td.DAG.from_nodes(
        "Gen",
        [td.Node("n:1", use, deps=("day", "http"))],
        inputs=["day"],
        resources={"http": td.resource(tracked("http"))},
    )
    assert (await Gen.run({"day": "d"}))["n:1"] == "d<http>"
    with pytest.raises(td.DAGDefinitionError, match=r"trio_dag\.resource"):
        td.DAG.from_nodes("Bad", [], resources={"http": tracked("http")})


def test_graph_draws_resources() -> None:
    g = Shop.graph
    assert g.resources == ("db", "http", "unused")
    assert g.dependencies("saved") == ("orders", "db")
    assert '    r0{{"db"}}' in g.to_mermaid()
    assert "    r0 --> n2" in g.to_mermaid()
    assert '"db" [shape=hexagon];' in g.to_dot()


def test_resource_definition_errors() -> None:
    @asynccontextmanager
    async def needs(dsn: str) -> AsyncIterator[None]:
        yield

    with pytest.raises(td.UnknownDependencyError) as info:

        class Typo(td.DAG):
            dns = td.input()
            conn = td.resource(needs)

    check_message(info.value, "Typo", "resource 'conn'", "'dsn'", "did you mean 'dns'?")

    with pytest.raises(td.UnknownDependencyError, match="a node: a resource is entered before"):

        class OnNode(td.DAG):
            @td.node
            async def dsn() -> str:
                return ""

            conn = td.resource(needs)

    with pytest.raises(td.DuplicateNodeError):

        class Twice(td.DAG):
            conn = td.resource(needs)
            conn = td.input()

    with pytest.raises(td.InvalidOptionError, match="map_over names 'conn', a resource"):

        class MapsIt(td.DAG):
            dsn = td.input()
            conn = td.resource(needs)

            @td.node(map_over="conn")
            async def each(conn: Any) -> None: ...

    with pytest.raises(td.InvalidOptionError, match="callable"):
        td.resource(3)

    with pytest.raises(td.InvalidNodeError, match="would shadow"):

        class Shadow(td.DAG):
            run = td.resource(needs)


async def test_a_run_that_ends_while_a_resource_is_entering(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Slow(td.DAG):
        a = td.resource(tracked("a"))  # entering takes 1 s

        @td.node
        async def n(a: str) -> str:
            return a

    # the run's deadline cancels the waiting node, and the entry: the run ends on time
    t0 = trio.current_time()
    with trio.fail_after(10), pytest.raises(td.RunFailed) as info:
        await Slow.run(deadline=0.5)
    assert trio.current_time() - t0 == 0.5
    assert info.value.result.status == "timed_out"
    assert [e[:2] for e in LOG] == [("enter", "a")]
    # cancelled from outside while entering: the same
    LOG.clear()
    with trio.fail_after(10), trio.move_on_after(0.5) as scope:
        await Slow.run()
    assert scope.cancelled_caught
    assert [e[:2] for e in LOG] == [("enter", "a")]


def test_factory_signatures() -> None:
    @asynccontextmanager
    async def star(*args: Any, **kwargs: Any) -> AsyncIterator[None]:
        yield

    class Stars(td.DAG):
        s = td.resource(star)

    assert Stars.graph._resources[0].deps == ()

    @asynccontextmanager
    async def positional(dsn: str, /) -> AsyncIterator[None]:
        yield

    with pytest.raises(td.InvalidNodeError, match="positional-only"):

        class Pos(td.DAG):
            dsn = td.input()
            s = td.resource(positional)

    @asynccontextmanager
    async def via_get(x: str = td.get("n")) -> AsyncIterator[None]:
        yield

    async def one() -> int:
        return 1

    with pytest.raises(td.UnknownDependencyError, match="a node: a resource"):
        td.DAG.from_nodes("G", [td.Node("n", one)], resources={"r": td.resource(via_get)})
    with pytest.raises(td.UnknownDependencyError, match="did you mean 'nn'"):
        td.DAG.from_nodes("G", [td.Node("x", one)], ["nn"], resources={"r": td.resource(via_get)})
    with pytest.raises(td.DuplicateNodeError, match="resource 'm' of DAG 'G' has the name of an"):
        td.DAG.from_nodes("G", [], ["m"], resources={"m": td.resource(star)})


async def test_a_hung_enter_cannot_hold_a_run_past_its_end(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Hangs:
        async def __aenter__(self) -> None:
            await trio.sleep_forever()

        async def __aexit__(self, *exc: object) -> None:  # pragma: no cover - never entered
            raise AssertionError("never entered, so never exited")

    class H(td.DAG):
        h = td.resource(Hangs)

        @td.node
        async def needs(h: None) -> None: ...

        @td.node
        async def breaks() -> None:
            await trio.sleep(1)
            raise Boom

    with trio.fail_after(10), pytest.raises(td.RunFailed) as info:
        await H.run()
    assert isinstance(info.value.__cause__, Boom)
    assert info.value.result.statuses["needs"] == "not_started"  # it waited for its resource
