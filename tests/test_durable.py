"""Durable runs and caching in one process: resume by run_key, write-through, cache keys.

These tests use real sqlite files and the real clock (the store commits in
worker threads, which an autojump clock would skip past), each under
``trio.fail_after``.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trio_dag as td
from conftest import Boom, dag_deps

STRATEGIES = [td.Parallel(), td.Parallel(schedule="levels"), td.Sequential()]
STRATEGY_IDS = ["eager", "levels", "sequential"]
LIMIT = 30  # seconds of real time any test may take

calls: Counter[str] = Counter()
fail: set[str] = set()


def _body(name: str) -> Callable[..., Any]:
    async def body(*args: Any) -> Any:
        calls[name] += 1
        if name in fail:
            raise Boom(name)
        return [name, *args]

    return body


def _dag(
    deps: dict[str, list[str]],
    *,
    name: str = "D",
    inputs: tuple[str, ...] = ("x",),
    cached: tuple[str, ...] = (),
    versions: dict[str, str] | None = None,
    bodies: dict[str, Callable[..., Any]] | None = None,
) -> type[td.DAG]:
    versions = versions or {}
    bodies = bodies or {}
    nodes = [
        td.Node(
            n,
            bodies.get(n) or _body(n),
            d,
            cache=n in cached,
            version=versions.get(n),
        )
        for n, d in deps.items()
    ]
    return td.DAG.from_nodes(name, nodes, inputs)


DIAMOND = {"a": ["x"], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    fail.clear()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[td.SQLiteStore]:
    s = td.SQLiteStore(tmp_path / "runs.db")
    yield s
    s.close()


def _integrity(store: td.SQLiteStore) -> str:
    conn = sqlite3.connect(store.path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_a_failed_run_key_resumes_without_rerunning_committed_nodes(
    store: td.SQLiteStore, strategy: td.Sequential | td.Parallel
) -> None:
    D = _dag(DIAMOND)
    fail.add("c")
    with trio.fail_after(LIMIT):
        with pytest.raises(td.RunFailed) as info:
            await D.run({"x": 1}, store=store, run_key="day1", strategy=strategy)
        assert "a" in info.value.result
        fail.clear()
        calls.clear()
        r = await D.run({"x": 1}, store=store, run_key="day1", strategy=strategy)
    assert calls["a"] == 0  # committed: restored, not run
    assert calls["c"] == 1
    assert r.statuses["a"] is td.NodeStatus.RESTORED
    assert r.statuses["d"] is td.NodeStatus.COMPLETED
    assert r.ok
    assert r["d"] == ["d", ["b", ["a", 1]], ["c", ["a", 1]]]
    assert _integrity(store) == "ok"


@pytest.mark.parametrize("strategy", STRATEGIES, ids=STRATEGY_IDS)
async def test_a_completed_run_key_returns_its_stored_result(
    store: td.SQLiteStore, strategy: td.Sequential | td.Parallel
) -> None:
    D = _dag(DIAMOND)
    with trio.fail_after(LIMIT):
        first = await D.run({"x": 1}, store=store, run_key="k", strategy=strategy)
        calls.clear()
        again = await D.run({"x": 1}, store=store, run_key="k", strategy=strategy)
    assert sum(calls.values()) == 0
    assert dict(again) == dict(first)
    assert set(again.statuses.values()) == {td.NodeStatus.RESTORED}
    assert again.nodes_with("restored") == ("a", "b", "c", "d")
    assert again.ok


async def test_other_inputs_for_a_run_key_are_an_error_or_rerun_what_depends_on_them(
    store: td.SQLiteStore,
) -> None:
    D = _dag({"a": ["x"], "b": ["y"], "c": ["a", "b"]}, inputs=("x", "y"))
    with trio.fail_after(LIMIT):
        await D.run({"x": 1, "y": 1}, store=store, run_key="k")
        with pytest.raises(td.StoreError, match="other values of input\\(s\\) 'x'") as info:
            await D.run({"x": 2, "y": 1}, store=store, run_key="k")
        assert (info.value.dag, info.value.run_key) == ("D", "k")
        calls.clear()
        r = await D.run({"x": 2, "y": 1}, store=store, run_key="k", on_change="rerun")
        assert dict(calls) == {"a": 1, "c": 1}  # b reads only y: restored
        assert r.statuses["b"] is td.NodeStatus.RESTORED
        assert r["c"] == ["c", ["a", 2], ["b", 1]]
        calls.clear()  # the run key now holds the new inputs
        await D.run({"x": 2, "y": 1}, store=store, run_key="k")
        assert sum(calls.values()) == 0


async def test_changed_code_is_an_error_or_reruns_the_node_and_downstream(
    store: td.SQLiteStore,
) -> None:
    deps = {"a": ["x"], "b": ["a"], "c": ["x"], "d": ["b", "c"]}
    with trio.fail_after(LIMIT):
        await _dag(deps).run({"x": 1}, store=store, run_key="k")

        async def new_b(a: Any) -> Any:
            calls["b"] += 1
            return ["new b", a]

        changed = _dag(deps, bodies={"b": new_b})
        with pytest.raises(td.StoreError, match="'b' \\(its code changed\\)"):
            await changed.run({"x": 1}, store=store, run_key="k")
        calls.clear()
        r = await changed.run({"x": 1}, store=store, run_key="k", on_change="rerun")
    assert dict(calls) == {"b": 1, "d": 1}
    assert r.nodes_with("restored") == ("a", "c")
    assert r["d"][1] == ["new b", ["a", 1]]


async def test_cached_nodes_are_not_run_again_under_another_run_key(
    store: td.SQLiteStore,
) -> None:
    D = _dag(DIAMOND, cached=("a", "b", "c", "d"))
    with trio.fail_after(LIMIT):
        first = await D.run({"x": 1}, store=store, run_key="one")
        calls.clear()
        second = await D.run({"x": 1}, store=store, run_key="two")
        assert sum(calls.values()) == 0
        assert dict(second) == dict(first)
        assert set(second.statuses.values()) == {td.NodeStatus.CACHED}
        # cache-only: a store without a run_key
        plain = await D.run({"x": 1}, store=store)
        assert sum(calls.values()) == 0
        assert dict(plain) == dict(first)
        # another input value: a miss for what depends on it
        await D.run({"x": 2}, store=store)
        assert dict(calls) == {"a": 1, "b": 1, "c": 1, "d": 1}


async def test_a_changed_version_reruns_exactly_the_affected_nodes(store: td.SQLiteStore) -> None:
    deps = {"a": ["x"], "b": ["a"], "c": ["x"], "d": ["b", "c"], "e": ["c"]}
    every = tuple(deps)
    with trio.fail_after(LIMIT):
        await _dag(deps, cached=every, versions={"b": "1"}).run({"x": 1}, store=store)
        calls.clear()
        # b's version changes, its value does not: only b runs again
        await _dag(deps, cached=every, versions={"b": "2"}).run({"x": 1}, store=store)
        assert dict(calls) == {"b": 1}
        calls.clear()

        async def other_b(a: Any) -> Any:
            calls["b"] += 1
            return "another value"

        # b's value changes: b and what reads it (d), nothing else
        await _dag(deps, cached=every, versions={"b": "3"}, bodies={"b": other_b}).run(
            {"x": 1}, store=store
        )
        assert dict(calls) == {"b": 1, "d": 1}


async def test_closure_changes_invalidate_a_cached_node(store: td.SQLiteStore) -> None:
    def make(k: int) -> Callable[..., Any]:
        async def body(x: Any) -> Any:
            calls["n"] += 1
            return x + k

        return body

    with trio.fail_after(LIMIT):
        for k, expected_calls in ((1, 1), (1, 1), (2, 2)):
            D = td.DAG.from_nodes("C", [td.Node("n", make(k), ["x"], cache=True)], ["x"])
            r = await D.run({"x": 10}, store=store)
            assert r["n"] == 10 + k
            assert calls["n"] == expected_calls


async def test_an_unserializable_value_is_not_cached_and_warns_once(store: td.SQLiteStore) -> None:
    async def lock(x: Any) -> Any:
        calls["lock"] += 1
        return threading.Lock()

    async def user(lock: Any) -> Any:
        calls["user"] += 1
        return "ok"

    D = _dag(
        {"lock": ["x"], "user": ["lock"]},
        cached=("lock", "user"),
        bodies={"lock": lock, "user": user},
    )
    with trio.fail_after(LIMIT):
        with pytest.warns(td.StoreWarning, match="node 'lock' of DAG 'D' returned a value") as w:
            await D.run({"x": 1}, store=store, run_key="k1")
        assert len(w) == 1
        await D.run({"x": 1}, store=store, run_key="k2")  # warned once per node and store
    assert calls["lock"] == 2  # never cached
    assert calls["user"] == 2  # nor its dependent: no data version to key it by


async def test_a_node_without_a_code_version_warns_and_is_not_cached(
    store: td.SQLiteStore,
) -> None:
    guard = threading.Lock()

    async def guarded(x: Any) -> Any:
        calls["g"] += 1
        with guard:
            return x

    D = _dag({"g": ["x"]}, cached=("g",), bodies={"g": guarded})
    with trio.fail_after(LIMIT):
        with pytest.warns(td.StoreWarning, match="has no code version.*version="):
            await D.run({"x": 1}, store=store)
        await D.run({"x": 1}, store=store)
        assert calls["g"] == 2
        V = _dag({"g": ["x"]}, cached=("g",), bodies={"g": guarded}, versions={"g": "1"})
        await V.run({"x": 1}, store=store)
        await V.run({"x": 1}, store=store)
        assert calls["g"] == 3  # with version=, it caches


async def test_an_unserializable_input_of_a_durable_run_is_a_clear_error(
    store: td.SQLiteStore,
) -> None:
    D = _dag({"a": ["x"]})
    with trio.fail_after(LIMIT):
        with pytest.raises(td.StoreError, match=r"input 'x' .* cannot be serialized"):
            await D.run({"x": threading.Lock()}, store=store, run_key="k")
        # the lease was given back: the run key can be used
        await D.run({"x": 1}, store=store, run_key="k")


async def test_the_same_run_key_twice_at_once_is_refused(store: td.SQLiteStore) -> None:
    started = trio.Event()
    release = trio.Event()

    async def slow(x: Any) -> Any:
        started.set()
        await release.wait()
        return x

    D = _dag({"a": ["x"]}, bodies={"a": slow}, versions={"a": "1"})  # events do not pickle
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: D.run({"x": 1}, store=store, run_key="k"))
            await started.wait()
            with pytest.raises(td.StoreError, match="being run by another run in this process"):
                await D.run({"x": 1}, store=store, run_key="k")
            await _dag({"a": ["x"]}).run({"x": 1}, store=store, run_key="other")  # free
            release.set()


async def test_a_cancelled_durable_run_gives_back_its_lease_and_keeps_commits(
    store: td.SQLiteStore,
) -> None:
    async def forever(a: Any) -> Any:
        await trio.sleep_forever()

    D = _dag({"a": ["x"], "b": ["a"]}, bodies={"b": forever})
    with trio.fail_after(LIMIT):
        with trio.move_on_after(0.5):
            await D.run({"x": 1}, store=store, run_key="k")
        E = _dag({"a": ["x"], "b": ["a"]})
        calls.clear()
        r = await E.run({"x": 1}, store=store, run_key="k")
    assert dict(calls) == {"b": 1}
    assert r.statuses["a"] is td.NodeStatus.RESTORED


async def test_a_failing_store_stops_the_run_with_a_store_error(
    store: td.SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "write", broken)
    D = _dag(DIAMOND)
    with trio.fail_after(LIMIT):
        with pytest.raises(td.StoreError, match="disk I/O error") as info:
            await D.run({"x": 1}, store=store, run_key="k")
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    assert calls["b"] == 0  # nothing ran on an uncommitted value


async def test_large_values_restore_from_files(tmp_path: Path) -> None:
    store = td.SQLiteStore(tmp_path / "s.db", large_value_bytes=64)

    async def big(x: Any) -> Any:
        calls["big"] += 1
        return "v" * 10_000

    D = _dag({"big": ["x"], "c": ["big"]}, bodies={"big": big})
    with trio.fail_after(LIMIT):
        first = await D.run({"x": 1}, store=store, run_key="k")
        again = await D.run({"x": 1}, store=store, run_key="k")
    assert calls["big"] == 1
    assert again["big"] == first["big"]
    assert len(os.listdir(store.blob_dir)) >= 1
    store.close()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(deps=dag_deps(min_nodes=1, max_nodes=12), strategy=st.sampled_from(STRATEGIES))
def test_no_dependent_starts_before_its_dependencies_are_committed(
    tmp_path_factory: pytest.TempPathFactory,
    deps: list[list[int]],
    strategy: td.Sequential | td.Parallel,
) -> None:
    path = tmp_path_factory.mktemp("wt") / "s.db"
    store = td.SQLiteStore(path)
    committed: set[str] = set()
    violations: list[str] = []
    real_write = store.write

    def write(blobs: Any, journal: Any, cache: Any) -> None:
        real_write(blobs, journal, cache)
        committed.update(row[2] for row in journal)

    store.write = write  # type: ignore[method-assign]

    def make(i: int) -> Callable[..., Any]:
        async def body(*args: Any) -> int:
            violations.extend(f"n{j}" for j in deps[i] if f"n{j}" not in committed)
            await trio.lowlevel.checkpoint()
            return i

        return body

    nodes = [td.Node(f"n{i}", make(i), [f"n{j}" for j in d]) for i, d in enumerate(deps)]
    D = td.DAG.from_nodes("W", nodes)

    async def main() -> None:
        with trio.fail_after(LIMIT):
            await D.run(store=store, run_key="k", strategy=strategy)

    trio.run(main)
    store.close()
    assert violations == []
    assert committed == {f"n{i}" for i in range(len(deps))}


async def test_run_handles_count_restored_and_cached_nodes_as_done(store: td.SQLiteStore) -> None:
    D = _dag(DIAMOND, cached=("b",))
    with trio.fail_after(LIMIT):
        await D.run({"x": 1}, store=store, run_key="k")
        async with D.start({"x": 1}, store=store, run_key="k") as run:
            again = await run.wait()
        assert run.progress.done == 4
        assert set(again.statuses.values()) == {td.NodeStatus.RESTORED}
        async with D.start({"x": 1}, store=store, run_key="k2") as run:
            other = await run.wait()
        assert run.progress.done == 4
        assert other.statuses["b"] is td.NodeStatus.CACHED


async def test_a_restored_result_pickles_with_its_statuses(store: td.SQLiteStore) -> None:
    with trio.fail_after(LIMIT):
        await Pickled.run({"x": 1}, store=store, run_key="k")
        again = await Pickled.run({"x": 1}, store=store, run_key="k")
    copy = pickle.loads(pickle.dumps(again))
    assert copy.statuses == again.statuses
    assert copy.nodes_with("restored") == ("a", "b")
    assert dict(copy) == dict(again)


async def _pa(x: Any) -> Any:
    return x + 1


Pickled = td.DAG.from_nodes("Pickled", [td.Node("a", _pa, ["x"]), td.Node("b", _pa, ["a"])], ["x"])
