"""ProgressDisplay: counts in process, and what a person sees in a real terminal (tmux)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from rich.console import Console

import trio_dag as td
import trio_dag.instruments
from conftest import Cut
from trio_dag.instruments import ProgressDisplay

SRC = Path(__file__).resolve().parents[1] / "src"


class Boom(Exception):
    pass


def console() -> Console:
    return Console(file=io.StringIO(), width=100, force_terminal=False, color_system=None)


def text_of(c: Console) -> str:
    out = c.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def view(display: ProgressDisplay) -> str:
    """What the display shows now, as plain text."""
    c = console()
    c.print(display)
    return text_of(c)


def make_dag(probe: dict[str, str], display: list[ProgressDisplay]) -> type[td.DAG]:
    calls = {"b": 0}

    class Shop(td.DAG):
        @td.node
        async def a() -> str:
            await trio.sleep(1)
            return "a"

        @td.node(retry=td.RetryPolicy(max_attempts=3, initial_delay=2, jitter="none"))
        async def b() -> str:
            await trio.sleep(2)
            calls["b"] += 1
            if calls["b"] == 1:
                raise Boom("b once")
            return "b"

        @td.node
        async def xs() -> list[int]:
            return [1, 2, 3]

        @td.node(map_over="xs")
        async def m(xs: int, a: str) -> str:
            await trio.sleep(xs)
            if xs == 2:  # 3 s into the run: b is waiting to be retried
                probe["during_map"] = view(display[0])
            return a * xs

        @td.node
        async def c(a: str, b: str, m: list[str]) -> str:
            probe["during_c"] = view(display[0])
            await trio.sleep(1)
            return a + b + "".join(m)

    return Shop


async def test_progress_counts_and_final_state(autojump_clock: trio.testing.MockClock) -> None:
    probe: dict[str, str] = {}
    out = console()
    display = ProgressDisplay(out)
    dag = make_dag(probe, [display])
    with trio.fail_after(100):
        result = await dag.run(instruments=[display])
    assert result.ok
    during_map = probe["during_map"].splitlines()
    assert during_map[0].startswith("Shop ")
    assert " 2/5 nodes " in during_map[0]  # a and xs done
    # the map's size, known from its input; element 0 (1 s) is done, 1 (2 s) ends now
    assert during_map[1] == "  running: m [1/3]"
    assert during_map[2] == "  2 done, 0 failed, 1 retrying, 1 running; elements: 1 done, 0 failed"
    assert probe["during_c"].splitlines()[1:] == [
        "  running: c",
        "  4 done, 0 failed, 0 retrying, 1 running; elements: 3 done, 0 failed",
    ]
    lines = text_of(out).splitlines()  # not a terminal: the final state, printed once
    assert lines[0].startswith("Shop completed ")
    assert lines[0].endswith(" 5/5 nodes 7.00 s")
    assert lines[1:] == ["  5 done, 0 failed, 0 skipped, 1 retry; elements: 3 done, 0 failed"]
    assert display.status == "completed"
    assert repr(display) == f"<ProgressDisplay run={result.run_id} completed>"


async def test_progress_of_a_resumed_run_counts_only_what_runs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fail = {"bad": True}

    class Chain(td.DAG):
        @td.node
        async def one() -> int:
            return 1

        @td.node
        async def two(one: int) -> int:
            return 2

        @td.node
        async def bad(two: int) -> int:
            await trio.sleep(1)
            if fail["bad"]:
                raise Boom("bad")
            return 3

        @td.node
        async def after(bad: int) -> int:
            return 4

        @td.node
        async def side(two: int) -> int:
            await trio.sleep(5)
            return 5

    out = console()
    with trio.fail_after(100), pytest.raises(td.RunFailed) as info:
        await Chain.run(instruments=[ProgressDisplay(out)], on_failure="continue")
    first = text_of(out).splitlines()
    assert first[0].startswith("Chain failed ")
    assert first[0].endswith(" 5/5 nodes 5.00 s")
    assert first[1:] == ["  failed: bad", "  3 done, 1 failed, 1 skipped, 0 retries"]
    fail["bad"] = False
    out = console()
    display = ProgressDisplay(out)
    with trio.fail_after(100):
        await Chain.resume(info.value.result, instruments=[display])
    assert display.total == 2  # bad and after; one, two and side are kept
    lines = text_of(out).splitlines()
    assert lines[0].endswith(" 2/2 nodes 1.00 s")
    assert lines[1] == "  2 done, 0 failed, 0 skipped, 0 retries"


async def test_progress_fail_fast_counts_cancelled_nodes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class FailFast(td.DAG):
        @td.node
        async def slow() -> int:
            await trio.sleep(10)
            return 1

        @td.node
        async def bad() -> int:
            await trio.sleep(1)
            raise Boom("bad")

        @td.node
        async def never(slow: int) -> int:
            return slow

    out = console()
    with trio.fail_after(100), pytest.raises(td.RunFailed):
        await FailFast.run(instruments=[ProgressDisplay(out)])
    assert text_of(out).splitlines()[1:] == [
        "  failed: bad",
        "  0 done, 1 failed, 1 skipped, 1 cancelled, 0 retries",
    ]


@pytest.mark.parametrize(
    ("strategy", "counts"),
    [
        (td.Sequential(), "1 done, 0 failed, 2 skipped, 1 cancelled, 0 retries"),
        (td.Parallel(schedule="levels"), "1 done, 0 failed, 1 skipped, 2 cancelled, 0 retries"),
        (td.Parallel(schedule="eager"), "1 done, 0 failed, 1 skipped, 2 cancelled, 0 retries"),
    ],
    ids=["sequential", "levels", "eager"],
)
async def test_progress_of_a_run_cancelled_from_outside(
    strategy: td.Sequential | td.Parallel, counts: str, autojump_clock: trio.testing.MockClock
) -> None:
    out = console()
    display = ProgressDisplay(out)
    with trio.fail_after(100), trio.move_on_after(2.5) as outside:
        await Cut.run(strategy=strategy, instruments=[display])
    assert outside.cancelled_caught
    assert display.status == "cancelled"
    lines = text_of(out).splitlines()  # the final state, with the run's status
    assert lines[0].startswith("Cut cancelled ")
    assert lines[0].endswith(" 4/4 nodes 2.50 s")
    # each (and side, when it ran) cancelled; last (and side, when it did not) skipped
    assert lines[1:] == [f"  {counts}; elements: 1 done, 0 failed"]


async def test_progress_counts_map_elements_and_the_new_hooks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Element hooks and node_cancelled, called directly (no run to learn sizes from)."""
    display = ProgressDisplay(console(), max_names=2)
    display.run_started("D", "r1")
    assert display.total is None
    for node in ("m", "p", "q"):
        display.node_started(node, 1)
    display.node_started("r", 2)
    display.element_finished("m", 0, 0.1)
    display.element_finished("m", 1, 0.1)
    display.element_failed("m", 2, Boom("e"), 1, True)  # will be retried: not counted yet
    display.element_failed("m", 2, Boom("e"), 2, False)
    assert view(display).splitlines()[1:] == [
        "  running: m, p, +2 more",
        "  0 done, 0 failed, 0 retrying, 4 running; elements: 2 done, 1 failed",
    ]
    display.node_cancelled("p", 1)
    display.node_cancelled("p", 1)  # twice: counted once
    display.node_failed("m", Boom("e"), 1, False)
    display.node_finished("q", 1.0)
    assert view(display).splitlines()[1] == "  running: r (attempt 2)"
    display.close()
    display.close()  # idempotent
    assert display.cancelled == 1
    assert display.failed == 1


async def test_progress_follows_one_run_at_a_time(autojump_clock: trio.testing.MockClock) -> None:
    probe: dict[str, str] = {}
    out = console()
    display = ProgressDisplay(out)
    dags = [make_dag(probe, [display]), make_dag(probe, [display])]
    with trio.fail_after(100):
        async with trio.open_nursery() as nursery:
            for dag in dags:
                nursery.start_soon(lambda dag=dag: dag.run(instruments=[display]))
    lines = text_of(out).splitlines()
    # the other run's nodes and elements are not added
    assert lines[1:] == ["  5 done, 0 failed, 0 skipped, 1 retry; elements: 3 done, 0 failed"]


def test_progress_display_checks_arguments() -> None:
    for bad in (0, -1.0, float("inf"), float("nan"), True, "8"):
        with pytest.raises(ValueError, match="refresh_per_second must be a positive, finite"):
            ProgressDisplay(refresh_per_second=bad)  # type: ignore[arg-type]
    for bad in (0, True, 1.5):
        with pytest.raises(ValueError, match="max_names must be an int >= 1"):
            ProgressDisplay(max_names=bad)  # type: ignore[arg-type]
    assert ProgressDisplay().console.stderr  # draws on standard error by default


def test_missing_optional_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    pkg: Any = trio_dag.instruments
    for name, module, dep, package, extra in (
        ("ProgressDisplay", "trio_dag.instruments._progress", "rich", "rich", "cli"),
        (
            "OpenTelemetryInstrument",
            "trio_dag.instruments._otel",
            "opentelemetry",
            "opentelemetry-api",
            "otel",
        ),
    ):
        monkeypatch.delitem(vars(pkg), name, raising=False)
        monkeypatch.delitem(sys.modules, module, raising=False)
        monkeypatch.setitem(sys.modules, dep, None)
        for loaded in [m for m in sys.modules if m.startswith(dep + ".")]:
            monkeypatch.setitem(sys.modules, loaded, None)
        with pytest.raises(
            ImportError, match=rf"needs the '{package}' package.*pip install 'trio-dag\[{extra}\]'"
        ):
            getattr(pkg, name)
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        pkg.Nope  # noqa: B018


def test_instruments_are_not_imported_by_trio_dag() -> None:
    code = (
        "import sys, trio_dag; "
        "print(sorted(m for m in sys.modules if m.startswith('trio_dag.instruments') "
        "or m.split('.')[0] in ('rich', 'opentelemetry')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------- in a real terminal

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import trio, trio.testing
    import trio_dag as td
    from trio_dag.instruments import ProgressDisplay

    GO = sys.argv[1]

    def wait_for_go() -> None:
        while not os.path.exists(GO):
            time.sleep(0.02)

    class Shop(td.DAG):
        @td.node
        async def orders() -> list[int]:
            await trio.sleep(1)
            return [1, 2, 3]

        @td.node(retry=td.RetryPolicy(max_attempts=2, initial_delay=0.5, jitter="none"))
        async def rates() -> float:
            await trio.sleep(0.5)
            if td.current_attempt().attempt == 1:
                raise ConnectionError("rates API timed out")
            return 0.9

        @td.node
        async def inventory() -> int:
            await trio.to_thread.run_sync(wait_for_go, abandon_on_cancel=True)
            return 7

        @td.node
        async def report(orders: list[int], rates: float, inventory: int) -> str:
            await trio.sleep(0.25)
            return "ok"

    result = trio.run(
        lambda: Shop.run(instruments=[ProgressDisplay()]),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    print("result:", result["report"])
    """
)


def test_progress_display_in_a_real_terminal(tmp_path: Path) -> None:
    """Run a DAG under tmux and read the screen: first while a node waits, then at the end."""
    tmux = shutil.which("tmux")
    assert tmux is not None, "tmux is needed (.ci/run installs it)"
    script = tmp_path / "shop.py"
    script.write_text(SCRIPT)
    go = tmp_path / "go"
    sock = f"trio-dag-test-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", PYTHONPATH=str(SRC), TERM="xterm-256color")
    base = [tmux, "-u", "-L", sock, "-f", os.devnull]
    command = f"{sys.executable} {script} {go}; echo EXIT=$?; sleep 120"

    def screen() -> str:
        out = subprocess.run(
            [*base, "capture-pane", "-p", "-t", "t"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
            env=env,
        )
        return out.stdout

    def wait_for(text: str, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = [line.rstrip() for line in screen().splitlines() if line.strip()]
            if any(text in line for line in lines):
                return lines
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{screen()}")

    subprocess.run(
        [*base, "new-session", "-d", "-s", "t", "-x", "100", "-y", "20", command],
        check=True,
        timeout=30,
        env=env,
    )
    try:
        live = wait_for("running: inventory")
        assert live[0].startswith("Shop ")
        assert " 2/4 nodes " in live[0]
        assert live[1:] == ["  running: inventory", "  2 done, 0 failed, 0 retrying, 1 running"]
        go.touch()
        final = wait_for("EXIT=")
        assert final[0].startswith("Shop completed ━")
        assert final[0].endswith(" 4/4 nodes 1.75 s")
        assert final[1:] == [
            "  4 done, 0 failed, 0 skipped, 1 retry",
            "result: ok",
            "EXIT=0",
        ]
    finally:
        subprocess.run([*base, "kill-server"], timeout=30, env=env, check=False)
