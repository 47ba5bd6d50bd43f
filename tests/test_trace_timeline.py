"""ChromeTrace and Timeline: the shared recorder, the trace file, the SVG chart."""

from __future__ import annotations

import itertools
import json
import os
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import trio_dag as td
from conftest import Cut
from trio_dag.instruments import AttemptStatus, ChromeTrace, Recording, Timeline
from trio_dag.instruments._timeline import render_svg

STRATEGIES = [
    pytest.param(td.Sequential(), id="sequential"),
    pytest.param(td.Parallel(schedule="levels"), id="levels"),
    pytest.param(td.Parallel(schedule="eager"), id="eager"),
]
SVG = "{http://www.w3.org/2000/svg}"


class Boom(Exception):
    pass


def make_dag() -> type[td.DAG]:
    calls = {"b": 0}

    class Observed(td.DAG):
        @td.node
        async def a() -> str:
            await trio.sleep(1)
            return "a"

        @td.node(retry=td.RetryPolicy(max_attempts=3, initial_delay=1, jitter="none"))
        async def b() -> str:
            await trio.sleep(2)
            calls["b"] += 1
            if calls["b"] == 1:
                raise Boom("b <once> & again")
            return "b"

        @td.node
        async def xs() -> list[int]:
            return [1, 2]

        @td.node(map_over="xs")
        async def m(xs: int, a: str) -> str:
            await trio.sleep(xs)
            return a * xs

        @td.node
        async def c(a: str, b: str, m: list[str]) -> str:
            await trio.sleep(1)
            return a + b + "".join(m)

    return Observed


class FailFast(td.DAG):
    @td.node
    async def ok() -> int:
        await trio.sleep(1)
        return 1

    @td.node
    async def slow(ok: int) -> int:
        await trio.sleep(10)
        return ok

    @td.node
    async def bad(ok: int) -> int:
        await trio.sleep(2)
        raise Boom("bad")

    @td.node
    async def never(bad: int) -> int:
        return bad


def x_events(trace: dict[str, Any], cat: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in trace["traceEvents"]
        if e["ph"] == "X" and e["cat"] != "run" and (cat is None or e["cat"] == cat)
    ]


def check_lanes(trace: dict[str, Any]) -> None:
    """No two events overlap on a lane, and every lane is named."""
    by_lane: dict[int, list[tuple[float, float]]] = {}
    for e in trace["traceEvents"]:
        if e["ph"] == "X":
            by_lane.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
    names = {
        e["tid"]: e["args"]["name"]
        for e in trace["traceEvents"]
        if e["ph"] == "M" and e["name"] == "thread_name"
    }
    assert set(by_lane) <= set(names)
    assert names[0] == "run"
    for lane, spans in by_lane.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end - 1e-6, f"overlap on lane {lane}: {spans}"
        if lane:
            assert names[lane] == f"slot {lane}"


def most_at_once(events: list[dict[str, Any]]) -> int:
    """The most events that overlap at one moment (touching ones do not)."""
    edges = sorted([(e["ts"] + e["dur"], -1) for e in events] + [(e["ts"], 1) for e in events])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_trace_has_an_event_per_attempt_on_lanes_that_never_overlap(
    strategy: td.Sequential | td.Parallel, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    dag = make_dag()
    path = tmp_path / "run.json"
    trace_ins = ChromeTrace(path)
    t0 = trio.current_time()
    with trio.fail_after(100):
        result = await dag.run(strategy=strategy, instruments=[trace_ins])
    trace = json.loads(path.read_text())
    assert trace["displayTimeUnit"] == "ms"
    assert os.listdir(tmp_path) == ["run.json"]  # no temporary file left
    events = x_events(trace)
    # a bar per node attempt, and one per map element next to its node's bar
    assert Counter(e["name"] for e in events) == {
        "a": 1,
        "b": 2,
        "xs": 1,
        "m": 1,
        "m[0]": 1,
        "m[1]": 1,
        "c": 1,
    }
    nodes = x_events(trace, "node")
    assert sorted(e["name"] for e in nodes) == ["a", "b", "b", "c", "m", "xs"]
    b1, b2 = sorted((e for e in events if e["name"] == "b"), key=lambda e: e["ts"])
    assert b1["args"] == {"attempt": 1, "status": "retried", "error": "Boom: b <once> & again"}
    assert b2["args"] == {"attempt": 2, "status": "completed", "error": None}
    assert b1["dur"] == 2_000_000
    assert b2["ts"] == b1["ts"] + 3_000_000  # 2 s attempt, 1 s delay
    # the last attempt of every node is where the run result says it is
    for e in nodes:
        if e is not b1:
            name = e["name"]
            assert e["ts"] == pytest.approx((result.started_at(name) - t0) * 1e6)
            assert e["dur"] == pytest.approx(result.duration(name) * 1e6)
    # the elements run inside their map node's bar, on lanes of their own
    (m,) = (e for e in nodes if e["name"] == "m")
    elements = sorted(x_events(trace, "element"), key=lambda e: e["name"])
    for k, e in enumerate(elements):
        assert e["args"] == {"attempt": 1, "status": "completed", "error": None, "index": k}
        assert e["ts"] == m["ts"]  # both start at once (no max_concurrency)
        assert e["dur"] == (k + 1) * 1_000_000  # element k sleeps k + 1 s
        assert e["tid"] != m["tid"]
    assert elements[1]["dur"] == m["dur"]  # the map node ends with its last element
    run_event = next(e for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "run")
    assert run_event["name"] == "Observed"
    assert run_event["args"] == {"run_id": result.run_id, "status": "completed"}
    assert run_event["dur"] == (trio.current_time() - t0) * 1e6
    check_lanes(trace)
    lanes = {e["tid"] for e in events}
    # as many lanes as attempts ever ran at once, the lowest free one taken first
    assert len(lanes) == most_at_once(events)
    assert lanes == set(range(1, len(lanes) + 1))
    if isinstance(strategy, td.Sequential):
        assert {e["tid"] for e in nodes} == {1}
        assert most_at_once(events) == 3  # m and its two elements
    else:  # a and b run together; xs (which returns at once) may have started with them
        assert {e["tid"] for e in nodes} in ({1, 2}, {1, 2, 3})
        assert most_at_once(nodes) == 2
        # levels: m and its elements, alone in their level; eager: b's first
        # attempt still runs when m starts (at 1 s, when a is done)
        assert most_at_once(events) == (3 if strategy.schedule == "levels" else 4)
    assert trace_ins.to_dict() == trace
    assert trace_ins.recording is not None
    assert trace_ins.recording.lanes == len(lanes)


async def test_attempts_cut_short_are_cancelled_and_failures_carry_their_error(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    trace_ins = ChromeTrace(tmp_path / "t.json")
    t0 = trio.current_time()
    with trio.fail_after(100), pytest.raises(td.RunFailed):
        await FailFast.run(instruments=[trace_ins])
    trace = json.loads((tmp_path / "t.json").read_text())
    by_name = {e["name"]: e for e in x_events(trace)}
    assert set(by_name) == {"ok", "slow", "bad"}
    assert by_name["bad"]["args"] == {"attempt": 1, "status": "failed", "error": "Boom: bad"}
    assert by_name["slow"]["args"]["status"] == "cancelled"
    # cancelled when bad failed, 3 s into the run: the attempt ends with the run
    assert by_name["slow"]["ts"] + by_name["slow"]["dur"] == 3_000_000
    assert trio.current_time() - t0 == 3
    check_lanes(trace)


async def test_a_level_restart_closes_the_cancelled_attempt(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    calls = {"flaky": 0}

    class Level(td.DAG):
        @td.node
        async def long() -> int:
            await trio.sleep(5)
            return 1

        @td.node(retry=td.RetryPolicy(max_attempts=2, initial_delay=1, jitter="none"))
        async def flaky() -> int:
            await trio.sleep(1)
            calls["flaky"] += 1
            if calls["flaky"] == 1:
                raise Boom("once")
            return 2

    trace_ins = ChromeTrace(tmp_path / "t.json")
    with trio.fail_after(100):
        await Level.run(instruments=[trace_ins], supervisor=td.Supervisor("one_for_all"))
    events = x_events(json.loads((tmp_path / "t.json").read_text()))
    long = sorted((e for e in events if e["name"] == "long"), key=lambda e: e["ts"])
    assert [e["args"]["status"] for e in long] == ["cancelled", "completed"]
    # cancelled (node_cancelled) when flaky failed at 1 s; restarted with flaky after the delay
    assert (long[0]["ts"], long[0]["dur"]) == (0, 1_000_000)
    assert (long[1]["ts"], long[1]["dur"]) == (2_000_000, 5_000_000)
    check_lanes(json.loads((tmp_path / "t.json").read_text()))


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_run_cancelled_from_outside_is_drawn_with_its_cancelled_attempts(
    strategy: td.Sequential | td.Parallel, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "cut.json"
    trace_ins, timeline = ChromeTrace(path), Timeline()
    with trio.fail_after(100), trio.move_on_after(2.5) as outside:
        await Cut.run(strategy=strategy, instruments=[trace_ins, timeline])
    assert outside.cancelled_caught
    trace = json.loads(path.read_text())  # written although the run raised Cancelled
    run_event = next(e for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "run")
    assert run_event["args"]["status"] == "cancelled"
    assert run_event["dur"] == 2_500_000
    expected = {
        ("first", "completed", 0, 1_000_000),
        ("each", "cancelled", 1_000_000, 1_500_000),  # ended at the cancel, 2.5 s in
        ("each[0]", "completed", 1_000_000, 1_000_000),
        ("each[1]", "cancelled", 1_000_000, 1_500_000),
    }
    if not isinstance(strategy, td.Sequential):
        expected.add(("side", "cancelled", 1_000_000, 1_500_000))
    got = {(e["name"], e["args"]["status"], e["ts"], e["dur"]) for e in x_events(trace)}
    assert got == expected
    check_lanes(trace)
    rec = timeline.recording
    assert rec is not None
    assert rec.status == "cancelled"
    assert rec.duration == 2.5
    svg = timeline.to_svg()
    assert f"Cut · run {rec.run_id} · cancelled in 2.50 s" in "".join(
        ET.fromstring(svg).find(f"{SVG}text").itertext()  # type: ignore[union-attr]
    )
    assert Counter(g.get("class") for g in bars(svg)) == Counter(
        f"attempt {status}" for _, status, _, _ in expected
    )


async def test_map_elements_are_events_up_to_max_elements(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The element hooks (called directly here) become events; past the cap, counts."""
    trace_ins = ChromeTrace(tmp_path / "{dag}.json", max_elements=3)
    trace_ins.run_started("Mapped", "r1")
    trace_ins.node_started("m", 1)
    for k in range(3):
        trace_ins.element_started("m", k, 1)
    await trio.sleep(1)
    trace_ins.element_finished("m", 0, 1.0)
    trace_ins.element_failed("m", 1, Boom("element 1"), 1, True)
    trace_ins.element_started("m", 1, 2)  # past the cap: counted, not traced
    trace_ins.element_started("m", 3, 1)
    await trio.sleep(1)
    trace_ins.element_finished("m", 1, 1.0)
    trace_ins.element_finished("m", 3, 1.0)
    trace_ins.element_failed("m", 2, Boom("element 2"), 1, False)
    trace_ins.node_failed("m", Boom("element 2"), 1, False)
    trace_ins.run_finished(_result("r1", td.RunStatus.FAILED))
    trace = json.loads((tmp_path / "Mapped.json").read_text())
    elements = {(e["name"], e["args"]["attempt"]): e for e in x_events(trace, "element")}
    assert set(elements) == {("m[0]", 1), ("m[1]", 1), ("m[2]", 1)}
    assert elements[("m[0]", 1)]["args"] == {
        "attempt": 1,
        "status": "completed",
        "error": None,
        "index": 0,
    }
    assert elements[("m[1]", 1)]["args"]["status"] == "retried"
    assert elements[("m[2]", 1)]["args"]["status"] == "failed"
    assert elements[("m[2]", 1)]["dur"] == 2_000_000
    run = next(e for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "run")
    assert run["args"]["elements_not_traced"] == {"m": 2}
    node = x_events(trace, "node")
    assert [(e["name"], e["args"]["status"]) for e in node] == [("m", "failed")]
    check_lanes(trace)
    assert {e["tid"] for e in x_events(trace)} == {1, 2, 3, 4}


async def test_a_map_node_that_ends_ends_its_open_elements(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Elements cancelled with their map node (no end event each) end when the node does."""
    timeline = Timeline()
    timeline.run_started("Mapped", "r4")
    timeline.node_started("other", 1)
    timeline.node_started("m", 1)
    timeline.element_started("m", 0, 1)
    timeline.element_started("m", 1, 1)
    await trio.sleep(1)
    timeline.element_failed("m", 0, Boom("e0"), 1, False)
    timeline.node_failed("m", Boom("e0"), 1, False)
    await trio.sleep(1)
    timeline.node_finished("other", 2.0)
    timeline.run_finished(_result("r4", td.RunStatus.FAILED))
    rec = timeline.recording
    assert rec is not None
    got = {(r.label, r.status, r.end) for r in rec.records}
    assert got == {
        ("other", AttemptStatus.COMPLETED, 2),
        ("m", AttemptStatus.FAILED, 1),
        ("m[0]", AttemptStatus.FAILED, 1),
        ("m[1]", AttemptStatus.CANCELLED, 1),
    }


async def test_node_cancelled_hook_ends_the_attempt_then(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    trace_ins = ChromeTrace(tmp_path / "t.json")
    trace_ins.run_started("D", "r2")
    trace_ins.node_started("a", 1)
    await trio.sleep(1)
    trace_ins.node_cancelled("a", 1)
    trace_ins.node_started("b", 1)  # takes lane 1 again: a's was given back
    await trio.sleep(2)
    trace_ins.node_finished("b", 2.0)
    trace_ins.node_finished("zzz", 1.0)  # an end without a start is ignored
    trace_ins.run_finished(_result("r2", td.RunStatus.COMPLETED))
    trace = json.loads((tmp_path / "t.json").read_text())
    ev = {e["name"]: e for e in x_events(trace)}
    assert ev["a"]["args"]["status"] == "cancelled"
    assert (ev["a"]["ts"], ev["a"]["dur"], ev["a"]["tid"]) == (0, 1_000_000, 1)
    assert (ev["b"]["ts"], ev["b"]["dur"], ev["b"]["tid"]) == (1_000_000, 2_000_000, 1)


async def test_one_instrument_watches_concurrent_runs_separately(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    trace_ins = ChromeTrace(tmp_path / "{dag}-{run_id}.json")
    results: list[td.RunResult] = []

    async def one() -> None:
        results.append(await make_dag().run(instruments=[trace_ins]))

    with trio.fail_after(100):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(one)
            nursery.start_soon(one)
    assert len(results) == 2
    for result in results:
        trace = json.loads((tmp_path / f"Observed-{result.run_id}.json").read_text())
        assert Counter(e["name"] for e in x_events(trace)) == {
            "a": 1,
            "b": 2,
            "xs": 1,
            "m": 1,
            "m[0]": 1,
            "m[1]": 1,
            "c": 1,
        }
        run_event = next(e for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "run")
        assert run_event["args"]["run_id"] == result.run_id
        check_lanes(trace)


def test_recorders_check_their_arguments() -> None:
    for bad in (-1, True, 1.5, "10"):
        with pytest.raises(ValueError, match=r"ChromeTrace: max_elements must be an int >= 0"):
            ChromeTrace("x.json", max_elements=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"Timeline: max_elements must be an int >= 0"):
            Timeline(max_elements=bad)  # type: ignore[arg-type]
    for width in (100, True, 800.0):
        with pytest.raises(ValueError, match=r"Timeline: width must be an int >= 300"):
            Timeline(width=width)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="no run has been recorded yet"):
        ChromeTrace("x.json").to_dict()
    with pytest.raises(RuntimeError, match="no run has been recorded yet"):
        Timeline().to_svg()
    assert repr(ChromeTrace("x.json")) == "ChromeTrace('x.json')"
    assert repr(Timeline()) == "Timeline(max_elements=1000, width=1000)"


def _result(run_id: str, status: td.RunStatus) -> Any:
    """A stand-in RunResult for hooks called directly (only what the recorder reads)."""

    class R:
        pass

    r = R()
    r.run_id = run_id  # type: ignore[attr-defined]
    r.status = status  # type: ignore[attr-defined]
    return r


# ------------------------------------------------------------------ Timeline


def bars(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == f"{SVG}svg"
    return [g for g in root.iter(f"{SVG}g") if "attempt" in g.get("class", "").split()]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_timeline_draws_one_bar_per_attempt(
    strategy: td.Sequential | td.Parallel, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    timeline = Timeline()
    with trio.fail_after(100):
        result = await make_dag().run(strategy=strategy, instruments=[timeline])
    svg = timeline.to_svg()
    gs = bars(svg)
    assert len(gs) == 8  # b twice, and m's two elements
    statuses = Counter(g.get("class", "").split()[1] for g in gs)
    assert statuses == {"completed": 7, "retried": 1}
    for g in gs:
        assert len(g.findall(f"{SVG}rect")) == 1
        assert g.find(f"{SVG}rect/{SVG}title") is not None
    tips = [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}title")]
    assert any(t.startswith("b · attempt 1 · failed, retried") for t in tips)
    assert any("Boom: b <once> & again" in t for t in tips)  # escaped, then parsed back
    labels = {t.text for t in ET.fromstring(svg).iter(f"{SVG}text")}
    assert {"completed", "failed, retried", "failed", "cancelled"} <= labels  # the legend
    assert {"a", "b", "b #2", "c", "m", "m[0]", "m[1]"} <= labels  # names on bars wide enough
    assert any(t.startswith("m[1] · attempt 1 · completed\n") for t in tips)
    assert "time since the run started" in labels
    rec = timeline.recording
    assert rec is not None
    ticks = [float(t[:-2]) for t in labels if t and t.endswith(" s") and t[0].isdigit()]
    assert min(ticks) == 0
    assert rec.duration - 2 <= max(ticks) <= rec.duration  # ticks of 1 or 2 s
    assert f"Observed · run {result.run_id} · completed in {rec.duration:.2f} s" in "".join(
        ET.fromstring(svg).find(f"{SVG}text").itertext()  # type: ignore[union-attr]
    )
    path = tmp_path / "t.svg"
    timeline.write_svg(path)
    assert path.read_text() == svg


async def test_timeline_of_a_failed_run_shows_failed_and_cancelled_bars(
    autojump_clock: trio.testing.MockClock,
) -> None:
    timeline = Timeline()
    with trio.fail_after(100), pytest.raises(td.RunFailed):
        await FailFast.run(instruments=[timeline])
    rec = timeline.recording
    assert isinstance(rec, Recording)
    assert rec.status == "failed"
    assert {(r.node, r.status) for r in rec.records} == {
        ("ok", AttemptStatus.COMPLETED),
        ("slow", AttemptStatus.CANCELLED),
        ("bad", AttemptStatus.FAILED),
    }
    assert "failed: 3 attempts on 2 lanes" in repr(rec)
    gs = bars(timeline.to_svg())
    assert sorted(g.get("class") for g in gs) == [
        "attempt cancelled",
        "attempt completed",
        "attempt failed",
    ]


async def test_timeline_with_many_lanes_and_short_bars_stays_readable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def make(k: int) -> Any:
        async def fn() -> int:
            await trio.sleep(0.001 * (k + 1))
            return k

        return fn

    nodes = [td.Node(f"n{k:02}", make(k)) for k in range(60)]
    dag = td.DAG.from_nodes("Wide", nodes)
    timeline = Timeline(width=600)
    with trio.fail_after(100):
        await dag.run(instruments=[timeline])
    svg = timeline.to_svg()
    root = ET.fromstring(svg)
    assert root.get("width") == "600"
    assert len(bars(svg)) == 60
    rec = timeline.recording
    assert rec is not None
    assert rec.lanes == 60
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "slot 1" in labels
    assert "slot 2" not in labels  # lanes too thin to label each one
    assert "0 ms" in labels  # a run shorter than a second is measured in ms
    assert float(root.get("height", "0")) < 700


async def test_timeline_draws_elements_and_running_attempts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    timeline = Timeline(max_elements=1)
    timeline.run_started("Mapped", "r3")
    timeline.node_started("m", 1)
    timeline.element_started("m", 0, 1)
    timeline.element_started("m", 1, 1)  # not drawn
    await trio.sleep(0.5)
    svg = timeline.to_svg()  # while running: open bars run to the last event
    assert sorted(g.get("class") for g in bars(svg)) == ["attempt running", "attempt running"]
    assert "1 map elements not drawn" in svg
    assert "running" in {t.text for t in ET.fromstring(svg).iter(f"{SVG}text")}
    timeline.element_finished("m", 0, 0.5)
    timeline.run_finished(_result("r3", td.RunStatus.COMPLETED))
    svg = timeline.to_svg()
    assert sorted(g.get("class") for g in bars(svg)) == ["attempt cancelled", "attempt completed"]


def test_an_empty_recording_renders() -> None:
    rec = Recording("Empty", "r0", 0.0)
    root = ET.fromstring(render_svg(rec))
    assert "no attempts recorded" in {t.text for t in root.iter(f"{SVG}text")}
