"""Retry policies, per-attempt timeouts, run deadlines, current_attempt() and cancellation."""

from __future__ import annotations

import functools
import math
import random
from typing import Any

import pytest
import trio
import trio.testing

import trio_dag as td

STRATEGIES = [td.Parallel(), td.Parallel(schedule="levels"), td.Sequential()]
STRATEGY_IDS = ["eager", "levels", "sequential"]


class Flaky:
    """A node body failing on its first ``fails`` calls; records every call."""

    def __init__(
        self,
        fails: int = 0,
        exc: type[Exception] = ValueError,
        value: object = "ok",
        *,
        sleep: float = 0.0,
        hang: bool = False,
    ) -> None:
        self.fails = fails
        self.exc = exc
        self.value = value
        self.sleep = sleep
        self.hang = hang
        self.calls = 0
        self.times: list[float] = []
        self.args: list[tuple[Any, ...]] = []
        self.raised: list[Exception] = []
        self.finished = 0

    async def __call__(self, *args: Any) -> Any:
        self.calls += 1
        self.times.append(trio.current_time())
        self.args.append(args)
        if self.hang:
            await trio.sleep_forever()
        if self.sleep:
            await trio.sleep(self.sleep)
        if self.calls <= self.fails:
            e = self.exc(f"failure {self.calls}")
            self.raised.append(e)
            raise e
        self.finished += 1
        return self.value


def no_delay(max_attempts: int, **kw: Any) -> td.RetryPolicy:
    return td.RetryPolicy(max_attempts=max_attempts, initial_delay=0, jitter="none", **kw)


# ------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("kwargs", "error", "option"),
    [
        ({"max_attempts": 0}, ValueError, "max_attempts"),
        ({"max_attempts": -1}, ValueError, "max_attempts"),
        ({"max_attempts": True}, TypeError, "max_attempts"),
        ({"max_attempts": 2.0}, TypeError, "max_attempts"),
        ({"initial_delay": math.nan}, ValueError, "initial_delay"),
        ({"initial_delay": math.inf}, ValueError, "initial_delay"),
        ({"initial_delay": -0.5}, ValueError, "initial_delay"),
        ({"initial_delay": True}, TypeError, "initial_delay"),
        ({"initial_delay": "1"}, TypeError, "initial_delay"),
        ({"backoff": 0.5}, ValueError, "backoff"),
        ({"backoff": 0}, ValueError, "backoff"),
        ({"backoff": -2}, ValueError, "backoff"),
        ({"backoff": math.nan}, ValueError, "backoff"),
        ({"backoff": math.inf}, ValueError, "backoff"),
        ({"backoff": False}, TypeError, "backoff"),
        ({"max_delay": math.nan}, ValueError, "max_delay"),
        ({"max_delay": math.inf}, ValueError, "max_delay"),
        ({"max_delay": -1}, ValueError, "max_delay"),
        ({"max_delay": True}, TypeError, "max_delay"),
        ({"initial_delay": 2, "max_delay": 1}, ValueError, "max_delay"),
        ({"jitter": "partial"}, ValueError, "jitter"),
        ({"jitter": None}, ValueError, "jitter"),
        ({"retry_on": BaseException}, ValueError, "retry_on"),
        ({"retry_on": trio.Cancelled}, ValueError, "retry_on"),
        ({"retry_on": KeyboardInterrupt}, ValueError, "retry_on"),
        ({"retry_on": (OSError, KeyboardInterrupt)}, ValueError, "retry_on"),
        ({"give_up_on": trio.Cancelled}, ValueError, "give_up_on"),
        ({"retry_on": "ValueError"}, TypeError, "retry_on"),
        ({"retry_on": ValueError("x")}, TypeError, "retry_on"),
        ({"retry_on": [ValueError]}, TypeError, "retry_on"),
        ({"retry_on": int}, TypeError, "retry_on"),
        ({"give_up_on": (ValueError, 3)}, TypeError, "give_up_on"),
        ({"predicate": 3}, TypeError, "predicate"),
    ],
)
def test_retry_policy_rejects_bad_values_naming_the_option(
    kwargs: dict[str, Any], error: type[Exception], option: str
) -> None:
    with pytest.raises(error, match=option):
        td.RetryPolicy(**kwargs)


def test_retry_policy_accepts_edge_values_and_normalizes_types() -> None:
    p = td.RetryPolicy(
        max_attempts=1, initial_delay=0, backoff=1, max_delay=0, retry_on=(OSError, KeyError)
    )
    assert p.retry_on == (OSError, KeyError)
    assert isinstance(p.initial_delay, float)
    assert isinstance(p.backoff, float)
    assert p.delays() == ()
    assert td.RetryPolicy(give_up_on=KeyError).give_up_on == (KeyError,)
    assert td.RetryPolicy().retry_on == (Exception,)


def test_delays_without_jitter_grow_exponentially() -> None:
    p = td.RetryPolicy(max_attempts=5, initial_delay=0.5, backoff=3, jitter="none")
    assert p.delays() == (0.5, 1.5, 4.5, 13.5)
    assert [p.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.5, 4.5, 13.5]
    assert td.RetryPolicy(max_attempts=4, initial_delay=2, backoff=1, jitter="none").delays() == (
        2.0,
        2.0,
        2.0,
    )


def test_max_delay_caps_every_delay() -> None:
    p = td.RetryPolicy(max_attempts=7, initial_delay=1, backoff=2, max_delay=5, jitter="none")
    assert p.delays() == (1.0, 2.0, 4.0, 5.0, 5.0, 5.0)
    jittered = td.RetryPolicy(max_attempts=30, initial_delay=1, backoff=2, max_delay=5)
    ds = jittered.delays(random.Random(3))
    assert len(ds) == 29
    assert all(0 <= d <= 5 for d in ds)
    assert max(ds) > 2  # the cap, not the first delay, bounds the later ones


def test_full_jitter_is_uniform_below_the_exponential_delay_and_reproducible() -> None:
    p = td.RetryPolicy(max_attempts=6, initial_delay=1, backoff=2)
    a = p.delays(random.Random(42))
    assert a == p.delays(random.Random(42))
    assert a != p.delays(random.Random(43))
    rng = random.Random(42)
    assert a == tuple(rng.uniform(0.0, 2.0**k) for k in range(5))
    assert all(0 <= d <= 2.0**k for k, d in enumerate(a))


def test_should_retry_combines_attempts_filters_and_predicate() -> None:
    p = td.RetryPolicy(
        max_attempts=3,
        retry_on=(OSError, ValueError),
        give_up_on=FileNotFoundError,
        predicate=lambda e: "transient" in str(e),
    )
    assert p.should_retry(OSError("transient"), 1)
    assert p.should_retry(ValueError("transient"), 2)
    assert not p.should_retry(ValueError("transient"), 3)  # no attempts left
    assert not p.should_retry(KeyError("transient"), 1)  # retry_on does not match
    assert not p.should_retry(FileNotFoundError("transient"), 1)  # give_up_on wins
    assert not p.should_retry(OSError("permanent"), 1)  # predicate says no


@pytest.mark.parametrize("bad", [0, -2, True, 1.5, "3"])
def test_node_retry_option_is_validated_at_definition(bad: object) -> None:
    async def f() -> int:
        return 1

    with pytest.raises(td.InvalidOptionError, match="retry") as info:
        td.DAG.from_nodes("D", [td.Node("f", f, retry=bad)])  # type: ignore[arg-type]
    assert info.value.option == "retry"
    assert info.value.node == "f"


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, True, "2"])
def test_node_timeout_option_is_validated_at_definition(bad: object) -> None:
    async def f() -> int:
        return 1

    with pytest.raises(td.InvalidOptionError, match="timeout"):
        td.DAG.from_nodes("D", [td.Node("f", f, timeout=bad)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error", "option"),
    [
        ({"retry": 0}, ValueError, "retry"),
        ({"retry": True}, TypeError, "retry"),
        ({"retry": "x"}, TypeError, "retry"),
        ({"deadline": 0}, ValueError, "deadline"),
        ({"deadline": -1}, ValueError, "deadline"),
        ({"deadline": math.nan}, ValueError, "deadline"),
        ({"deadline": math.inf}, ValueError, "deadline"),
        ({"deadline": True}, ValueError, "deadline"),
        ({"seed": True}, TypeError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
    ],
)
async def test_run_supervision_options_are_validated_before_any_node_runs(
    options: dict[str, Any], error: type[Exception], option: str
) -> None:
    body = Flaky()
    dag = td.DAG.from_nodes("D", [td.Node("a", body)])
    with pytest.raises(error, match=option):
        await dag.run(**options)
    assert body.calls == 0


# ------------------------------------------------------- retries that succeed


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_node_failing_twice_succeeds_on_third_attempt_after_exact_delays(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    policy = td.RetryPolicy(max_attempts=3, initial_delay=1.5, backoff=2.0)  # full jitter
    src, flaky, other, sink = Flaky(value=10), Flaky(2, value=20), Flaky(value=30), Flaky()
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("src", src),
            td.Node("flaky", flaky, deps=["src"], retry=policy),
            td.Node("other", other, deps=["src"]),
            td.Node("sink", sink, deps=["flaky", "other"]),
        ],
    )
    seed = 1234
    rng = random.Random(seed)
    d1 = policy.delay(1, rng)
    d2 = policy.delay(2, rng)
    assert 0 < d1 <= 1.5
    assert 0 < d2 <= 3.0
    with trio.fail_after(60):
        t0 = trio.current_time()
        result = await dag.run(strategy=strategy, seed=seed)
        elapsed = trio.current_time() - t0
    assert result.ok
    assert result["flaky"] == 20
    assert result.attempts("flaky") == 3
    assert flaky.calls == 3
    assert flaky.times == [t0, t0 + d1, t0 + d1 + d2]
    assert elapsed == d1 + d2
    assert (src.calls, other.calls, sink.calls) == (1, 1, 1)
    assert result.attempts("src") == result.attempts("other") == result.attempts("sink") == 1
    assert sink.args == [(20, 30)]
    assert result.finished_at("flaky") == t0 + d1 + d2
    assert result.finished_at("sink") == t0 + d1 + d2


def test_same_seed_gives_same_delays_and_another_seed_different_ones() -> None:
    policy = td.RetryPolicy(max_attempts=4, initial_delay=1.0)
    times: list[list[float]] = []
    for seed in (5, 5, 6):
        body = Flaky(3)
        dag = td.DAG.from_nodes("D", [td.Node("a", body, retry=policy)])
        clock = trio.testing.MockClock(autojump_threshold=0)
        trio.run(functools.partial(dag.run, seed=seed), clock=clock)
        times.append(body.times)
    assert times[0] == times[1]
    assert times[0] != times[2]
    rng = random.Random(5)
    d = [policy.delay(n, rng) for n in (1, 2, 3)]
    assert times[0] == [0.0, d[0], d[0] + d[1], d[0] + d[1] + d[2]]


# ------------------------------------------------------- retries that give up


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_exhausted_retries_fail_with_the_last_error_and_skip_dependents(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    bad, dep, indep = Flaky(99), Flaky(), Flaky(value="kept")
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("indep", indep),
            td.Node("bad", bad, retry=td.RetryPolicy(max_attempts=4, initial_delay=0.5)),
            td.Node("dep", dep, deps=["bad"]),
        ],
    )
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy, seed=0)
    assert bad.calls == 4
    assert dep.calls == 0
    exc = info.value
    assert exc.__cause__ is bad.raised[-1]
    assert exc.errors == {"bad": bad.raised[-1]}
    r = exc.result
    assert r.status is td.RunStatus.FAILED
    assert r.attempts("bad") == 4
    assert r.statuses["bad"] is td.NodeStatus.FAILED
    assert r.statuses["dep"] is td.NodeStatus.SKIPPED
    assert r.attempts("dep") == 0
    assert "bad" not in r
    assert r["indep"] == "kept"


@pytest.mark.parametrize(
    ("policy", "exc"),
    [
        (td.RetryPolicy(max_attempts=5, initial_delay=0, give_up_on=KeyError), KeyError),
        (td.RetryPolicy(max_attempts=5, initial_delay=0, retry_on=OSError), ValueError),
        (td.RetryPolicy(max_attempts=5, initial_delay=0, retry_on=(OSError,)), KeyError),
        (td.RetryPolicy(max_attempts=5, initial_delay=0, predicate=lambda e: False), ValueError),
    ],
    ids=["give_up_on", "retry_on-single", "retry_on-tuple", "predicate-false"],
)
async def test_error_the_policy_does_not_retry_gets_exactly_one_call(
    policy: td.RetryPolicy, exc: type[Exception], autojump_clock: trio.testing.MockClock
) -> None:
    body = Flaky(99, exc)
    dag = td.DAG.from_nodes("D", [td.Node("a", body, retry=policy)])
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run()
    assert body.calls == 1
    assert info.value.__cause__ is body.raised[0]
    assert type(info.value.__cause__) is exc
    assert info.value.result.attempts("a") == 1


async def test_predicate_sees_each_error_and_decides_each_retry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[Exception] = []

    def predicate(e: Exception) -> bool:
        seen.append(e)
        return len(seen) < 2

    body = Flaky(99)
    dag = td.DAG.from_nodes("D", [td.Node("a", body, retry=no_delay(5, predicate=predicate))])
    with trio.fail_after(60), pytest.raises(td.RunFailed):
        await dag.run()
    assert body.calls == 2
    assert seen == body.raised


async def test_retry_on_subclass_matches_and_give_up_on_subclass_wins(
    autojump_clock: trio.testing.MockClock,
) -> None:
    retried = Flaky(2, FileNotFoundError, value="found")
    given_up = Flaky(2, ConnectionResetError)
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("a", retried, retry=no_delay(3, retry_on=OSError)),
            td.Node(
                "b", given_up, retry=no_delay(3, retry_on=OSError, give_up_on=ConnectionError)
            ),
        ],
    )
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(on_failure="continue")
    assert retried.calls == 3
    assert given_up.calls == 1
    assert info.value.result["a"] == "found"
    assert set(info.value.errors) == {"b"}


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_run_default_retry_applies_to_nodes_without_a_policy_and_own_policy_wins(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    plain, own, ok = Flaky(99), Flaky(99), Flaky(value=1)
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("plain", plain),
            td.Node("own", own, retry=no_delay(2)),
            td.Node("ok", ok),
        ],
    )
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy, on_failure="continue", retry=no_delay(4))
    assert plain.calls == 4
    assert own.calls == 2
    assert ok.calls == 1
    r = info.value.result
    assert (r.attempts("plain"), r.attempts("own"), r.attempts("ok")) == (4, 2, 1)
    assert r["ok"] == 1


async def test_without_a_policy_a_failing_node_is_tried_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    body = Flaky(1)
    dag = td.DAG.from_nodes("D", [td.Node("a", body)])
    with trio.fail_after(60), pytest.raises(td.RunFailed):
        await dag.run()
    assert body.calls == 1


async def test_int_shorthand_retry_for_node_and_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a, b = Flaky(99), Flaky(99)
    dag = td.DAG.from_nodes("D", [td.Node("a", a, retry=3), td.Node("b", b)])
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(on_failure="continue", retry=2, seed=9)
    assert (a.calls, b.calls) == (3, 2)
    assert info.value.result.attempts("a") == 3
    # the shorthand is RetryPolicy(max_attempts=n): 0.1 s doubling, full jitter
    gaps = [t2 - t1 for t1, t2 in zip(a.times, a.times[1:], strict=False)]
    assert 0 <= gaps[0] <= 0.1
    assert 0 <= gaps[1] <= 0.2
    assert 0 <= b.times[1] - b.times[0] <= 0.1


async def test_class_dsl_retry_int_shorthand(autojump_clock: trio.testing.MockClock) -> None:
    calls: list[int] = []

    class D(td.DAG):
        @td.node(retry=3)
        async def a() -> int:
            calls.append(td.current_attempt().attempt)
            if len(calls) < 3:
                raise OSError("again")
            return len(calls)

    with trio.fail_after(60):
        result = await D.run()
    assert result["a"] == 3
    assert calls == [1, 2, 3]


# ---------------------------------------------------------- current_attempt


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_current_attempt_names_node_attempt_and_run(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    seen: dict[str, list[td.Attempt]] = {"flaky": [], "plain": [], "child": [], "pchild": []}

    async def flaky() -> str:
        a = td.current_attempt()
        seen["flaky"].append(a)

        async def child() -> None:
            seen["child"].append(td.current_attempt())

        async with trio.open_nursery() as n:
            n.start_soon(child)
        if a.attempt < 3:
            raise ValueError(a.attempt)
        return "done"

    async def plain(x: str) -> str:
        seen["plain"].append(td.current_attempt())

        async def child() -> None:
            seen["pchild"].append(td.current_attempt())

        async with trio.open_nursery() as n:
            n.start_soon(child)
        return x

    dag = td.DAG.from_nodes(
        "D",
        [td.Node("flaky", flaky, retry=no_delay(3)), td.Node("plain", plain, deps=["flaky"])],
    )
    with trio.fail_after(60):
        result = await dag.run(strategy=strategy)
    rid = result.run_id
    assert isinstance(rid, str)
    assert rid
    assert seen["flaky"] == [td.Attempt("flaky", n, rid) for n in (1, 2, 3)]
    assert seen["child"] == [td.Attempt("flaky", n, rid) for n in (1, 2, 3)]
    assert seen["plain"] == [td.Attempt("plain", 1, rid)]
    assert seen["pchild"] == [td.Attempt("plain", 1, rid)]


async def test_each_run_has_its_own_run_id(autojump_clock: trio.testing.MockClock) -> None:
    ids: list[str] = []

    async def a() -> None:
        ids.append(td.current_attempt().run_id)

    dag = td.DAG.from_nodes("D", [td.Node("a", a)])
    r1 = await dag.run()
    r2 = await dag.run()
    assert ids == [r1.run_id, r2.run_id]
    assert r1.run_id != r2.run_id


async def test_current_attempt_outside_a_node_raises() -> None:
    with pytest.raises(RuntimeError, match="inside a node"):
        td.current_attempt()

    async def a() -> int:
        return 1

    dag = td.DAG.from_nodes("D", [td.Node("a", a)])
    await dag.run()
    with pytest.raises(RuntimeError, match="inside a node"):
        td.current_attempt()


# ------------------------------------------------------------------ timeouts


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_per_attempt_timeout_on_a_hanging_node_is_retried_then_fails(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    body = Flaky(hang=True)
    policy = td.RetryPolicy(max_attempts=3, initial_delay=1, jitter="none")
    dag = td.DAG.from_nodes("D", [td.Node("hang", body, retry=policy, timeout=2)])
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        t0 = trio.current_time()
        await dag.run(strategy=strategy)
    assert trio.current_time() - t0 == 2 + 1 + 2 + 2 + 2
    assert body.calls == 3
    assert body.times == [t0, t0 + 3, t0 + 7]
    assert isinstance(info.value.__cause__, trio.TooSlowError)
    r = info.value.result
    assert r.attempts("hang") == 3
    assert r.statuses["hang"] is td.NodeStatus.FAILED
    assert "hang" not in r
    assert r.status is td.RunStatus.FAILED


async def test_timeout_fires_while_the_node_awaits(autojump_clock: trio.testing.MockClock) -> None:
    after: list[str] = []

    async def slow() -> str:
        await trio.sleep(5)
        after.append("slow")  # never reached
        return "late"

    fast = Flaky(value="fast", sleep=1.5)
    dag = td.DAG.from_nodes(
        "D", [td.Node("slow", slow, timeout=1), td.Node("fast", fast, timeout=2)]
    )
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(on_failure="continue")
    assert after == []
    r = info.value.result
    assert isinstance(r.errors["slow"], trio.TooSlowError)
    assert r.finished_at("slow") == 1
    assert r["fast"] == "fast"  # finishing within the timeout is fine
    assert r.duration("fast") == 1.5


async def test_timeout_succeeds_on_a_later_faster_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[int] = []

    async def sometimes_slow() -> int:
        n = td.current_attempt().attempt
        attempts.append(n)
        await trio.sleep(10 if n == 1 else 1)
        return n

    dag = td.DAG.from_nodes("D", [td.Node("a", sometimes_slow, retry=no_delay(3), timeout=4)])
    with trio.fail_after(60):
        result = await dag.run()
    assert result["a"] == 2
    assert attempts == [1, 2]
    assert trio.current_time() == 4 + 1


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_run_deadline_cancels_everything(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    quick = Flaky(value="q", sleep=1)
    slow = Flaky(value="s", sleep=10)
    retried = Flaky(99, sleep=0.5)
    after = Flaky()
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("quick", quick),
            td.Node("slow", slow, deps=["quick"]),
            td.Node("retried", retried, retry=td.RetryPolicy(max_attempts=50, initial_delay=1)),
            td.Node("after", after, deps=["slow"]),
        ],
    )
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run(strategy=strategy, deadline=3, seed=1)
    assert trio.current_time() == 3
    r = info.value.result
    assert r.status is td.RunStatus.TIMED_OUT
    assert isinstance(info.value.__cause__, trio.TooSlowError)
    assert r.errors == {}
    assert r["quick"] == "q"
    assert "slow" not in r
    assert after.calls == 0
    assert slow.finished == 0
    assert retried.finished == 0
    assert r.statuses["after"] is td.NodeStatus.NOT_STARTED
    if isinstance(strategy, td.Sequential):
        # one node at a time, in graph.order: quick, retried (level 0), slow, after
        assert retried.calls >= 1
        assert slow.calls == 0
    elif strategy.schedule == "levels":
        # level 0 never finishes (retried keeps failing), so level 1 never starts
        assert slow.calls == 0
        assert r.statuses["slow"] is td.NodeStatus.NOT_STARTED
        assert r.statuses["retried"] is td.NodeStatus.CANCELLED
    else:
        assert r.statuses["slow"] is td.NodeStatus.CANCELLED
        assert r.statuses["retried"] is td.NodeStatus.CANCELLED
    calls = (quick.calls, slow.calls, retried.calls)
    await trio.sleep(100)
    assert (quick.calls, slow.calls, retried.calls) == calls


# -------------------------------------------------------------- cancellation


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_outer_cancel_during_retry_delay_stops_all_attempts(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    body = Flaky(99)
    sibling = Flaky(sleep=100)
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node(
                "a", body, retry=td.RetryPolicy(max_attempts=5, initial_delay=10, jitter="none")
            ),
            td.Node("b", sibling),
        ],
    )
    with trio.fail_after(60):
        with trio.CancelScope() as cs:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(functools.partial(dag.run, strategy=strategy))
                await trio.sleep(1)  # attempt 1 failed at t=0; now in the 10 s delay
                assert body.calls == 1
                cs.cancel()
        assert cs.cancelled_caught
        assert trio.current_time() == 1
    await trio.sleep(1000)
    assert body.calls == 1
    assert sibling.finished == 0
    assert sibling.calls == (0 if isinstance(strategy, td.Sequential) else 1)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_outer_cancel_of_a_running_attempt_is_not_retried(
    strategy: td.Sequential | td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    body = Flaky(hang=True)
    dag = td.DAG.from_nodes("D", [td.Node("a", body, retry=no_delay(5))])
    with trio.fail_after(60):
        with trio.move_on_after(2) as cs:
            await dag.run(strategy=strategy)
        assert cs.cancelled_caught
    await trio.sleep(100)
    assert body.calls == 1


@pytest.mark.parametrize("strategy", STRATEGIES[:2], ids=STRATEGY_IDS[:2])
async def test_fail_fast_cancel_is_not_retried_nor_counted(
    strategy: td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    waiting = Flaky(hang=True)
    failing = Flaky(1, sleep=1)
    dag = td.DAG.from_nodes(
        "D",
        [
            td.Node("waiting", waiting, retry=td.RetryPolicy(max_attempts=5, initial_delay=0)),
            td.Node("failing", failing),
        ],
    )
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        # no restart at all is allowed: a cancellation counted as one would halt the run
        await dag.run(strategy=strategy, supervisor=td.Supervisor(max_restarts=0))
    await trio.sleep(100)
    assert waiting.calls == 1
    r = info.value.result
    assert r.status is td.RunStatus.FAILED
    assert set(r.errors) == {"failing"}
    assert r.attempts("waiting") == 1
    assert r.statuses["waiting"] is td.NodeStatus.CANCELLED
    assert "waiting" not in r


async def test_node_cancelled_during_its_attempt_publishes_no_result(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reached: list[str] = []

    async def slow() -> str:
        try:
            await trio.sleep(10)
        finally:
            reached.append("cleanup")
        return "value"  # pragma: no cover - cancelled before

    async def boom() -> None:
        await trio.sleep(1)
        raise OSError("boom")

    dag = td.DAG.from_nodes(
        "D", [td.Node("slow", slow, retry=no_delay(3), timeout=20), td.Node("boom", boom)]
    )
    with trio.fail_after(60), pytest.raises(td.RunFailed) as info:
        await dag.run()
    r = info.value.result
    assert reached == ["cleanup"]
    assert "slow" not in r
    assert "slow" not in r.outcomes
    assert r.statuses["slow"] is td.NodeStatus.CANCELLED
    assert r.finished_at("slow") is None


@pytest.mark.parametrize("strategy", STRATEGIES[:2], ids=STRATEGY_IDS[:2])
async def test_keyboard_interrupt_is_not_retried_and_stops_a_parallel_run(
    strategy: td.Parallel, autojump_clock: trio.testing.MockClock
) -> None:
    body = Flaky(99, KeyboardInterrupt)  # type: ignore[arg-type]
    sibling = Flaky(sleep=10)
    dag = td.DAG.from_nodes("D", [td.Node("a", body, retry=no_delay(5)), td.Node("b", sibling)])
    with trio.fail_after(60), pytest.raises(KeyboardInterrupt) as info:
        await dag.run(strategy=strategy)
    assert isinstance(info.value, td.RunInterrupted)  # bare, not in an exception group
    assert trio.current_time() == 0
    assert body.calls == 1
    assert sibling.finished == 0


async def test_keyboard_interrupt_is_not_retried_and_stops_a_sequential_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    body = Flaky(99, KeyboardInterrupt)  # type: ignore[arg-type]
    later = Flaky()
    dag = td.DAG.from_nodes(
        "D", [td.Node("a", body, retry=no_delay(5)), td.Node("b", later, deps=["a"])]
    )
    with trio.fail_after(60), pytest.raises(KeyboardInterrupt):
        await dag.run(strategy=td.Sequential(), retry=3)
    assert body.calls == 1
    assert later.calls == 0
