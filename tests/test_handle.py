"""Run handles: ``Dag.start``, progress, watch, cancel, wait, partial results, resume."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import trio_dag as td


def _sleeper(name: str, seconds: float, calls: list[str]) -> Any:
    async def body(*deps: Any) -> str:
        calls.append(name)
        await trio.sleep(seconds)
        return name

    return body


def _chain(n: int, seconds: float = 1.0) -> tuple[type[td.DAG], list[str]]:
    """n nodes in a line, each sleeping ``seconds``."""
    calls: list[str] = []
    nodes = [
        td.Node(f"n{k}", _sleeper(f"n{k}", seconds, calls), deps=(f"n{k - 1}",) if k else ())
        for k in range(n)
    ]
    return td.DAG.from_nodes("Chain", nodes), calls


class Diamond(td.DAG):
    """a (1 s) and b (2 s) in parallel, then c (1 s)."""

    @td.node
    async def a() -> int:
        await trio.sleep(1)
        return 1

    @td.node
    async def b() -> int:
        await trio.sleep(2)
        return 2

    @td.node
    async def c(a: int, b: int) -> int:
        await trio.sleep(1)
        return a + b


async def test_progress_counts_as_the_run_goes(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with Diamond.start() as run:
            await trio.sleep(0.5)
            p = run.progress
            assert (p.total, p.done, p.running, p.pending) == (3, 0, 2, 1)
            assert set(p.running_names) == {"a", "b"}
            assert p.elapsed == 0.5
            assert not p.finished
            await trio.sleep(1)
            p = run.progress
            assert (p.done, p.running, p.running_names, p.pending) == (1, 1, ("b",), 1)
            await trio.sleep(1)
            assert run.progress.running_names == ("c",)
            result = await run.wait()
        assert result["c"] == 3
        p = run.progress
        assert p == td.Progress(3, 3, 0, 0, 0, 0, 3.0, (), finished=True)
        assert p.elapsed == 3.0  # frozen at the end of the run
        assert run.finished
        assert run.run_id == result.run_id


async def test_progress_counts_retries_failures_and_skipped_nodes(
    autojump_clock: trio.abc.Clock,
) -> None:
    class Flaky(td.DAG):
        @td.node(retry=td.RetryPolicy(max_attempts=2, initial_delay=10, jitter="none"))
        async def flaky() -> None:
            await trio.sleep(1)
            raise ValueError("always")

        @td.node
        async def after(flaky: None) -> None: ...

        @td.node
        async def later(after: None) -> None: ...

        @td.node
        async def other() -> int:
            await trio.sleep(30)
            return 1

    with trio.fail_after(100):
        async with Flaky.start(on_failure="continue") as run:
            await trio.sleep(5)  # flaky's first attempt failed; waiting 10 s to retry
            p = run.progress
            assert (p.running, p.retrying, p.failed, p.skipped) == (1, 1, 0, 0)
            assert p.running_names == ("other",)
            await trio.sleep(6.5)  # second attempt running (from 11 s to 12 s)
            assert run.progress.running_names == ("other", "flaky")  # in order of start
            await trio.sleep(1.5)  # it failed for good: its dependents will never run
            p = run.progress
            assert (p.running, p.retrying, p.failed, p.skipped, p.pending) == (1, 0, 1, 2, 0)
            with pytest.raises(td.RunFailed) as info:
                await run.wait()
    assert info.value.result.status is td.RunStatus.FAILED
    p = run.progress
    assert (p.done, p.failed, p.skipped, p.finished) == (1, 1, 2, True)


async def test_watch_yields_every_change_to_a_quick_reader(autojump_clock: trio.abc.Clock) -> None:
    dag, _ = _chain(4)
    seen: list[tuple[int, tuple[str, ...], bool]] = []
    with trio.fail_after(100):
        async with dag.start() as run:
            async for p in run.watch():
                seen.append((p.done, p.running_names, p.finished))
    # n0 starts, then each finish is followed by its dependent's start in a
    # later task: the reader sees every step.
    assert seen[0][0] == 0
    assert seen[-1] == (4, (), True)
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)
    assert {s[1] for s in seen} >= {("n0",), ("n1",), ("n2",), ("n3",)}


async def test_a_slow_watcher_skips_to_the_latest_snapshot(autojump_clock: trio.abc.Clock) -> None:
    dag, _ = _chain(10)
    seen: list[td.Progress] = []
    with trio.fail_after(100):
        async with dag.start() as run:
            async for p in run.watch():
                seen.append(p)
                await trio.sleep(3.5)  # the run moves on by three or four nodes meanwhile
    # Every snapshot is the newest when it is taken; nothing queued up.
    assert [p.done for p in seen] == [0, 3, 7, 10]
    assert [p.elapsed for p in seen[:3]] == [0.0, 3.5, 7.0]
    assert seen[-1].finished
    assert seen[-1].elapsed == 10.0


async def test_several_watchers_and_a_watch_after_the_end(autojump_clock: trio.abc.Clock) -> None:
    dag, _ = _chain(3)
    seen: list[list[td.Progress]] = []

    async def watcher(run: td.RunHandle) -> None:
        seen.append([p async for p in run.watch()])

    with trio.fail_after(100):
        async with dag.start() as run, trio.open_nursery() as nursery:
            nursery.start_soon(watcher, run)
            nursery.start_soon(watcher, run)
        assert len(seen) == 2
        for snapshots in seen:
            assert len(snapshots) >= 4  # at least n0, n1, n2 running, and the end
            assert snapshots[-1] == run.progress
        after = [p async for p in run.watch()]
    assert len(after) == 1
    assert after[0].finished


async def test_a_watcher_that_leaves_early_leaves_nothing_behind(
    autojump_clock: trio.abc.Clock,
) -> None:
    dag, _ = _chain(3)
    with trio.fail_after(100):
        async with dag.start() as run:
            async for p in run.watch():  # no async generator: nothing to finalize later
                if p.done == 1:
                    break
            await run.wait()


async def test_cancel_keeps_the_partial_result(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with Diamond.start() as run:
            await trio.sleep(1.5)
            run.cancel()
            with pytest.raises(td.RunFailed) as info:
                await run.wait()
            assert trio.current_time() == 1.5  # cancelled at once
    partial = info.value.result
    assert partial.status is td.RunStatus.CANCELLED
    assert dict(partial) == {"a": 1}
    assert partial.statuses == {
        "a": td.NodeStatus.COMPLETED,
        "b": td.NodeStatus.CANCELLED,
        "c": td.NodeStatus.NOT_STARTED,
    }
    assert run.result() is partial
    p = run.progress
    assert (p.done, p.running, p.pending, p.finished) == (1, 0, 2, True)
    run.cancel()  # once finished: nothing to do
    with pytest.raises(td.RunFailed):  # every wait() tells the same
        await run.wait()


async def test_wait_raises_run_failed_with_the_node_error(autojump_clock: trio.abc.Clock) -> None:
    class Bad(td.DAG):
        @td.node
        async def boom() -> None:
            await trio.sleep(1)
            raise KeyError("x")

    with trio.fail_after(10):
        async with Bad.start() as run:
            with pytest.raises(td.RunFailed) as info:
                await run.wait()
            assert isinstance(info.value.__cause__, KeyError)
            assert info.value.result.errors.keys() == {"boom"}
        with pytest.raises(td.RunFailed) as again:  # after the block too
            await run.wait()
    assert isinstance(again.value.__cause__, KeyError)
    assert run.result().status is td.RunStatus.FAILED


async def test_result_is_a_snapshot_while_running(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with Diamond.start() as run:
            await trio.sleep(1.5)
            snap = run.result()
            assert snap.status is td.RunStatus.RUNNING
            assert not snap.ok
            assert dict(snap) == {"a": 1}
            assert snap.statuses["b"] is td.NodeStatus.RUNNING
            assert snap.statuses["c"] is td.NodeStatus.NOT_STARTED
            assert "running: b" in snap.report()
            with pytest.raises(KeyError, match="'b' has no value: it is still running"):
                snap["b"]
            final = await run.wait()
    assert dict(snap) == {"a": 1}  # a copy: the run's progress did not change it
    assert final.status is td.RunStatus.COMPLETED
    assert run.result() is final


async def test_leaving_the_block_cancels_and_resume_continues(
    autojump_clock: trio.abc.Clock,
) -> None:
    dag, calls = _chain(4)
    with trio.fail_after(100):
        async with dag.start() as run:
            await trio.sleep(2.5)  # n0, n1 done; n2 running
        assert trio.current_time() == 2.5
        partial = run.result()
        assert partial.status is td.RunStatus.CANCELLED
        assert list(partial) == ["n0", "n1"]
        result = await dag.resume(partial)
    assert list(result) == ["n0", "n1", "n2", "n3"]
    assert calls == ["n0", "n1", "n2", "n2", "n3"]  # n2 was cancelled once, then ran again
    assert result["n0"] is partial["n0"]


async def test_a_snapshot_can_be_resumed(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with Diamond.start() as run:
            await trio.sleep(1.5)
            snap = run.result()
            await run.wait()
        result = await Diamond.resume(snap)
    assert result["c"] == 3


async def test_bad_inputs_and_options_raise_on_entry_unwrapped() -> None:
    with pytest.raises(td.InputError, match="unknown input"):
        async with Diamond.start({"nope": 1}):
            pytest.fail("the block must not run")  # pragma: no cover
    with pytest.raises(ValueError, match="on_failure"):
        async with Diamond.start(on_failure="sometimes"):
            pytest.fail("the block must not run")  # pragma: no cover
    with pytest.raises(TypeError, match="unexpected keyword"):
        async with Diamond.start(colour="red"):
            pytest.fail("the block must not run")  # pragma: no cover


async def test_an_exception_in_the_block_cancels_the_run_and_comes_out_as_is(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(10):
        with pytest.raises(LookupError, match="mine"):
            async with Diamond.start() as run:
                await trio.sleep(1)
                raise LookupError("mine")
    assert run.result().status is td.RunStatus.CANCELLED
    assert trio.current_time() == 1


async def test_a_cancelled_outer_scope_cancels_the_run(autojump_clock: trio.abc.Clock) -> None:
    with trio.move_on_after(1.5) as scope:
        async with Diamond.start() as run:
            await run.wait()
    assert scope.cancelled_caught
    assert run.result().status is td.RunStatus.CANCELLED
    assert dict(run.result()) == {"a": 1}


async def test_user_instruments_still_see_every_event(autojump_clock: trio.abc.Clock) -> None:
    events: list[str] = []

    class Log(td.Instrument):
        def node_finished(self, node: str, elapsed: float) -> None:
            events.append(node)

        def run_finished(self, result: td.RunResult) -> None:
            events.append(result.status.value)

    with trio.fail_after(10):
        async with Diamond.start(instruments=[Log()], strategy=td.Sequential()) as run:
            await run.wait()
    assert events == ["a", "b", "c", "completed"]
    assert "completed: 3/3 done" in repr(run)


async def test_repr_while_running(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with Diamond.start() as run:
            assert repr(run) == f"<RunHandle of DAG 'Diamond', run {run.run_id} running: 0/3 done>"
            run.cancel()


async def test_a_keyboard_interrupt_comes_out_bare_with_the_partial_result(
    autojump_clock: trio.abc.Clock,
) -> None:
    class Interrupted(td.DAG):
        @td.node
        async def first() -> int:
            return 1

        @td.node
        async def second(first: int) -> None:
            await trio.sleep(1)
            raise KeyboardInterrupt

    with trio.fail_after(10), pytest.raises(td.RunInterrupted) as info:
        async with Interrupted.start() as run:
            await run.wait()
    assert isinstance(info.value, KeyboardInterrupt)
    assert info.value.result.status is td.RunStatus.INTERRUPTED
    assert run.result() is info.value.result
    assert dict(run.result()) == {"first": 1}
    with pytest.raises(td.RunFailed) as failed:
        await run.wait()
    assert failed.value.result.status is td.RunStatus.INTERRUPTED


async def test_a_level_restart_keeps_the_counts_right(autojump_clock: trio.abc.Clock) -> None:
    calls: list[str] = []

    class Level(td.DAG):
        supervisor = td.Supervisor(strategy="one_for_all")

        @td.node(retry=td.RetryPolicy(max_attempts=2, initial_delay=1, jitter="none"))
        async def flaky() -> int:
            calls.append("flaky")
            await trio.sleep(1)
            if len(calls) == 1:
                raise ValueError("once")
            return 1

        @td.node
        async def steady() -> int:
            await trio.sleep(5)
            return 2

    with trio.fail_after(100):
        async with Level.start() as run:
            await trio.sleep(1.5)  # flaky failed at 1 s; steady was cancelled with its level
            p = run.progress
            assert (p.running, p.retrying, p.pending) == (0, 1, 1)
            await trio.sleep(1)  # both restarted at 2 s
            assert set(run.progress.running_names) == {"flaky", "steady"}
            result = await run.wait()
    assert dict(result) == {"flaky": 1, "steady": 2}
    assert run.progress.done == 2
