"""LogInstrument (structured logging) and OpenTelemetryInstrument (spans per attempt)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import trio_dag as td
from conftest import Cut
from trio_dag.instruments import LogInstrument, OpenTelemetryInstrument

STRATEGIES = [
    pytest.param(td.Sequential(), id="sequential"),
    pytest.param(td.Parallel(schedule="levels"), id="levels"),
    pytest.param(td.Parallel(schedule="eager"), id="eager"),
]


class Boom(Exception):
    pass


def make_dag(tracer: trace.Tracer | None = None) -> type[td.DAG]:
    calls = {"b": 0}

    class Observed(td.DAG):
        @td.node
        async def a() -> str:
            await trio.sleep(1)
            if tracer is not None:  # the node's own span is current in its task
                with tracer.start_as_current_span("inner"):
                    await trio.lowlevel.checkpoint()
            return "a"

        @td.node(retry=td.RetryPolicy(max_attempts=3, initial_delay=1, jitter="none"))
        async def b() -> str:
            await trio.sleep(2)
            calls["b"] += 1
            if calls["b"] == 1:
                raise Boom("b once")
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


def _result(run_id: str, status: td.RunStatus) -> Any:
    class R:
        ok = status is td.RunStatus.COMPLETED

    r = R()
    r.run_id = run_id  # type: ignore[attr-defined]
    r.status = status  # type: ignore[attr-defined]
    return r


# ------------------------------------------------------------------ logging


def fields(r: logging.LogRecord) -> tuple[Any, ...]:
    return (r.node, r.attempt, r.status, r.elapsed, r.error)  # type: ignore[attr-defined]


async def test_log_instrument_logs_each_attempt_outcome_with_fields(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    with caplog.at_level(logging.INFO, logger="runs"), trio.fail_after(100):
        result = await make_dag().run(instruments=[LogInstrument("runs")])
    records = [r for r in caplog.records if r.name == "runs"]
    for r in records:
        assert r.run_id == result.run_id  # type: ignore[attr-defined]
        assert r.dag == "Observed"  # type: ignore[attr-defined]
    first, *nodes, last = records
    assert first.getMessage() == f"run {result.run_id} of DAG 'Observed' started"
    assert fields(first) == (None, None, "started", None, None)
    assert last.getMessage() == f"run {result.run_id} of DAG 'Observed' completed in 6.000 s"
    assert fields(last) == (None, None, "completed", 6, None)
    by_node = sorted(
        (r for r in nodes),
        key=lambda r: (r.node, r.attempt),  # type: ignore[attr-defined]
    )
    assert [fields(r) for r in by_node] == [
        ("a", 1, "completed", 1, None),
        ("b", 1, "retried", 2, "Boom: b once"),
        ("b", 2, "completed", 2, None),
        ("c", 1, "completed", 1, None),
        ("m", 1, "completed", 2, None),
        ("xs", 1, "completed", 0, None),
    ]
    retry = by_node[1]
    assert retry.levelno == logging.WARNING
    assert retry.exc_info is None
    assert (
        retry.getMessage() == "Observed.b failed in 2.000 s (attempt 1), will retry: Boom: b once"
    )
    assert by_node[2].getMessage() == "Observed.b completed in 2.000 s (attempt 2)"
    assert {r.levelno for r in by_node if r is not retry} == {logging.INFO}


async def test_log_instrument_final_failure_and_cancelled_attempts(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    with (
        caplog.at_level(logging.INFO, logger="trio_dag"),
        trio.fail_after(100),
        pytest.raises(td.RunFailed),
    ):
        await FailFast.run(instruments=[LogInstrument()])
    records = {r.node: r for r in caplog.records if r.name == "trio_dag"}  # type: ignore[attr-defined]
    bad = records["bad"]
    assert bad.levelno == logging.ERROR
    assert fields(bad) == ("bad", 1, "failed", 2, "Boom: bad")
    assert bad.exc_info is not None
    assert isinstance(bad.exc_info[1], Boom)  # the traceback is logged
    assert "giving up" in bad.getMessage()
    slow = records["slow"]
    assert fields(slow) == ("slow", 1, "cancelled", 2, None)
    assert slow.getMessage() == "FailFast.slow cancelled after 2.000 s (attempt 1)"
    assert records[None].getMessage().endswith("failed in 3.000 s")


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_log_instrument_run_cancelled_from_outside(
    strategy: td.Sequential | td.Parallel,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    with caplog.at_level(logging.INFO, logger="cut"), trio.fail_after(100):
        with trio.move_on_after(2.5) as outside:
            await Cut.run(strategy=strategy, instruments=[LogInstrument("cut")])
    assert outside.cancelled_caught
    first, *nodes, last = [r for r in caplog.records if r.name == "cut"]
    assert fields(first) == (None, None, "started", None, None)
    assert last.getMessage() == f"run {last.run_id} of DAG 'Cut' cancelled in 2.500 s"  # type: ignore[attr-defined]
    assert fields(last) == (None, None, "cancelled", 2.5, None)
    running = ["each"] if isinstance(strategy, td.Sequential) else ["each", "side"]
    # each running attempt is logged cancelled once, when it was (not again at the end)
    assert sorted(fields(r) for r in nodes) == sorted(
        [("first", 1, "completed", 1, None), *((n, 1, "cancelled", 1.5, None) for n in running)]
    )
    assert {r.levelno for r in nodes} == {logging.INFO}
    assert "Cut.each cancelled after 1.500 s (attempt 1)" in [r.getMessage() for r in nodes]


async def test_log_instrument_new_hooks(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """node_cancelled and the element hooks, called directly."""
    log = LogInstrument("direct", level=logging.INFO)
    with caplog.at_level(logging.DEBUG, logger="direct"):
        log.run_started("D", "r1")
        log.node_started("m", 1)
        log.element_finished("m", 0, 0.25)
        log.element_failed("m", 1, Boom("e1"), 1, True)
        log.element_failed("m", 1, Boom("e1 again"), 2, False)
        await trio.sleep(1)
        log.node_cancelled("m", 1)
        log.node_finished("zzz", 1.0)  # no start: logged with attempt 1
        log.run_finished(_result("r1", td.RunStatus.FAILED))
        log.node_started("late", 1)  # after its run: ignored
    got = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "direct"]
    assert got == [
        (logging.INFO, "run r1 of DAG 'D' started"),
        (logging.DEBUG, "D.m[0] completed in 0.250 s"),
        (logging.WARNING, "D.m[1] failed (attempt 1), will retry: Boom: e1"),
        (logging.ERROR, "D.m[1] failed (attempt 2), giving up: Boom: e1 again"),
        (logging.INFO, "D.m cancelled after 1.000 s (attempt 1)"),
        (logging.INFO, "D.zzz completed in 1.000 s (attempt 1)"),
        (logging.INFO, "run r1 of DAG 'D' failed in 1.000 s"),
    ]
    element = next(r for r in caplog.records if r.name == "direct" and r.levelno == logging.ERROR)
    assert element.index == 1  # type: ignore[attr-defined]
    assert element.status == "failed"  # type: ignore[attr-defined]


async def test_log_instrument_respects_levels(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    log = logging.getLogger("quiet")
    with caplog.at_level(logging.WARNING, logger="quiet"), trio.fail_after(100):
        await make_dag().run(instruments=[LogInstrument(log, level=logging.DEBUG)])
    got = [(r.levelno, r.node) for r in caplog.records if r.name == "quiet"]  # type: ignore[attr-defined]
    assert got == [(logging.WARNING, "b")]  # only the retry passes the logger's level


def test_log_instrument_checks_arguments() -> None:
    with pytest.raises(TypeError, match=r"logger must be a logging.Logger or a name, got 3"):
        LogInstrument(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"level must be an int \(logging.INFO\), got 'INFO'"):
        LogInstrument(level="INFO")  # type: ignore[arg-type]
    assert repr(LogInstrument("x", logging.DEBUG)) == "LogInstrument('x', DEBUG)"


# ------------------------------------------------------------ OpenTelemetry


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> trace.Tracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("tests")


def spans_by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = {}
    for s in exporter.get_finished_spans():
        out.setdefault(s.name, []).append(s)
    for v in out.values():
        v.sort(key=lambda s: (s.attributes or {}).get("trio_dag.attempt", 0))
    return out


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_otel_spans_per_attempt_under_a_run_span(
    strategy: td.Sequential | td.Parallel,
    tracer: trace.Tracer,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    ins = OpenTelemetryInstrument(tracer)
    with tracer.start_as_current_span("request") as request, trio.fail_after(100):
        result = await make_dag(tracer).run(strategy=strategy, instruments=[ins])
        # every context attached in this task was detached again
        assert trace.get_current_span() is request
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert not [r for r in caplog.records if "detach" in r.getMessage()]
    spans = spans_by_name(exporter)
    assert set(spans) == {"request", "Observed", "a", "inner", "b", "xs", "m", "c"}
    (run,) = spans["Observed"]
    assert parent_id(run) == span_id(spans["request"][0])
    assert run.attributes == {
        "trio_dag.dag": "Observed",
        "trio_dag.run_id": result.run_id,
        "trio_dag.status": "completed",
    }
    assert run.status.status_code is StatusCode.UNSET
    # m's spans: the node's attempt, and one per element (named after the node too)
    (m,) = [s for s in spans["m"] if "trio_dag.element.index" not in (s.attributes or {})]
    elements = [s for s in spans["m"] if s is not m]
    for name in ("a", "b", "xs", "m", "c"):
        for s in spans[name]:
            assert parent_id(s) == span_id(m if s in elements else run)
            assert s.attributes is not None
            assert s.attributes["trio_dag.node"] == name
            assert s.attributes["trio_dag.run_id"] == result.run_id
    elements.sort(key=lambda s: (s.attributes or {})["trio_dag.element.index"])
    assert [dict(s.attributes or {}) for s in elements] == [
        {
            "trio_dag.dag": "Observed",
            "trio_dag.run_id": result.run_id,
            "trio_dag.node": "m",
            "trio_dag.attempt": 1,
            "trio_dag.element.index": k,
            "trio_dag.status": "completed",
        }
        for k in (0, 1)
    ]
    for s in elements:  # inside their node's span
        assert None not in (m.start_time, s.start_time, s.end_time, m.end_time)
        assert m.start_time <= s.start_time <= s.end_time <= m.end_time  # type: ignore[operator]
    assert parent_id(spans["inner"][0]) == span_id(spans["a"][0])  # attached in a's task
    b1, b2 = spans["b"]
    assert dict(b1.attributes or {}) == {
        "trio_dag.dag": "Observed",
        "trio_dag.run_id": result.run_id,
        "trio_dag.node": "b",
        "trio_dag.attempt": 1,
        "trio_dag.status": "retried",
        "trio_dag.will_retry": True,
    }
    assert b1.status.status_code is StatusCode.ERROR
    assert b1.status.description == "Boom: b once"
    assert [e.name for e in b1.events] == ["exception"]
    assert (b2.attributes or {})["trio_dag.attempt"] == 2
    assert (b2.attributes or {})["trio_dag.status"] == "completed"
    assert b2.status.status_code is StatusCode.UNSET


async def test_otel_failed_run_ends_cancelled_spans_and_detaches(
    tracer: trace.Tracer,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    ins = OpenTelemetryInstrument(tracer)
    for strategy in (td.Sequential(), td.Parallel()):
        exporter.clear()
        with trio.fail_after(100), pytest.raises(td.RunFailed):
            await FailFast.run(instruments=[ins], strategy=strategy)
        assert trace.get_current_span() is trace.INVALID_SPAN
        spans = spans_by_name(exporter)
        (run,) = spans["FailFast"]
        assert run.status.status_code is StatusCode.ERROR
        assert run.status.description == "run failed"
        assert (run.attributes or {})["trio_dag.status"] == "failed"
        (bad,) = spans["bad"]
        assert (bad.attributes or {})["trio_dag.status"] == "failed"
        assert (bad.attributes or {})["trio_dag.will_retry"] is False
        if isinstance(strategy, td.Parallel):
            (slow,) = spans["slow"]
            assert (slow.attributes or {})["trio_dag.status"] == "cancelled"
            assert slow.status.status_code is StatusCode.UNSET
            assert slow.end_time is not None
    assert not [r for r in caplog.records if "detach" in r.getMessage()]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_otel_run_cancelled_from_outside(
    strategy: td.Sequential | td.Parallel,
    tracer: trace.Tracer,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    ins = OpenTelemetryInstrument(tracer)
    with tracer.start_as_current_span("request") as request, trio.fail_after(100):
        with trio.move_on_after(2.5) as outside:
            await Cut.run(strategy=strategy, instruments=[ins])
        # Sequential attaches each attempt's context in this very task: all detached again
        assert trace.get_current_span() is request
    assert outside.cancelled_caught
    assert not [r for r in caplog.records if "detach" in r.getMessage()]
    spans = spans_by_name(exporter)
    (run,) = spans["Cut"]
    assert (run.attributes or {})["trio_dag.status"] == "cancelled"
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description == "run cancelled"
    got = {
        (s.name, (s.attributes or {}).get("trio_dag.element.index")): s
        for s in exporter.get_finished_spans()
        if s.name not in ("request", "Cut")
    }
    expected = {
        ("first", None): "completed",
        ("each", None): "cancelled",
        ("each", 0): "completed",
        ("each", 1): "cancelled",
    }
    if not isinstance(strategy, td.Sequential):
        expected["side", None] = "cancelled"
    assert {k: (s.attributes or {})["trio_dag.status"] for k, s in got.items()} == expected
    for (_, index), s in got.items():
        assert parent_id(s) == span_id(got["each", None] if index is not None else run)
        assert s.status.status_code is StatusCode.UNSET  # cancelled is not an error
    assert ins._runs == {}  # nothing kept for the run


async def test_otel_elements_and_cancelled_hook(
    tracer: trace.Tracer, exporter: InMemorySpanExporter, autojump_clock: trio.testing.MockClock
) -> None:
    """The new hooks, called directly: element spans are children of their node's span."""
    ins = OpenTelemetryInstrument(tracer)
    ins.run_started("D", "r1")
    ins.node_started("m", 1)
    ins.element_started("m", 0, 1)
    ins.element_finished("m", 0, 0.1)
    ins.element_started("m", 1, 1)
    ins.element_failed("m", 1, Boom("e1"), 1, False)
    ins.element_started("m", 2, 1)  # open at the end: cancelled
    ins.node_failed("m", Boom("e1"), 1, False)
    ins.node_started("x", 1)
    ins.node_cancelled("x", 1)
    ins.node_started("y", 1)
    ins.node_started("y", 2)  # a restart without an end event
    ins.run_finished(_result("r1", td.RunStatus.FAILED))
    assert trace.get_current_span() is trace.INVALID_SPAN
    spans = exporter.get_finished_spans()
    by_key = {
        (
            s.name,
            (s.attributes or {}).get("trio_dag.element.index"),
            s.attributes["trio_dag.attempt"],
        ):  # type: ignore[index]
        s
        for s in spans
        if s.name != "D"
    }
    m = by_key[("m", None, 1)]
    for k in (0, 1, 2):
        element = by_key[("m", k, 1)]
        assert parent_id(element) == span_id(m)
        assert element.end_time is not None
        assert m.end_time is not None
        assert element.end_time <= m.end_time  # the open one ended with its node
    ends = [(s.name, (s.attributes or {}).get("trio_dag.element.index")) for s in spans]
    assert ends[:4] == [("m", 0), ("m", 1), ("m", 2), ("m", None)]  # m[2] ended with m
    status = {key: (s.attributes or {})["trio_dag.status"] for key, s in by_key.items()}
    assert status == {
        ("m", None, 1): "failed",
        ("m", 0, 1): "completed",
        ("m", 1, 1): "failed",
        ("m", 2, 1): "cancelled",
        ("x", None, 1): "cancelled",
        ("y", None, 1): "cancelled",
        ("y", None, 2): "cancelled",
    }


async def test_otel_default_tracer_works_without_an_sdk(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ins = OpenTelemetryInstrument()
    assert "OpenTelemetryInstrument(" in repr(ins)
    with trio.fail_after(100):
        result = await make_dag().run(instruments=[ins])
    assert result.ok
