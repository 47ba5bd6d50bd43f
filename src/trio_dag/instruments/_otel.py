"""OpenTelemetry spans: one per attempt, under one span per run (``trio-dag[otel]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

import trio
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from .. import __version__
from .._instrument import Instrument
from ._recorder import state_here

if TYPE_CHECKING:
    from contextvars import Token

    from .._result import RunResult

__all__ = ["OpenTelemetryInstrument"]


class _Open:
    """A started attempt span, with the context token attached in its task."""

    __slots__ = ("span", "task", "token")

    def __init__(self, span: Span, token: Token[Any] | None, task: object) -> None:
        self.span = span
        self.token = token
        self.task = task


class _RunSpans:
    __slots__ = ("ctx", "dag", "elements", "open", "run_id", "span")

    def __init__(self, span: Span, dag: str, run_id: str) -> None:
        self.span = span
        self.ctx = trace.set_span_in_context(span)
        self.dag = dag
        self.run_id = run_id
        self.open: dict[tuple[str, int | None], _Open] = {}
        self.elements = False  # has an element span been started?


@final
class OpenTelemetryInstrument(Instrument):
    """Reports a run to OpenTelemetry: a span per run, a child span per attempt.

    The run's span (named after the DAG) starts in ``run_started`` as a
    child of whatever span is current there (a request handler's, say) and
    ends when the run finishes. Each node attempt is a span named after the
    node, a child of the run span; a retry is a new sibling span. Each map
    element is a span named after its node (span names stay few, as
    OpenTelemetry asks), a child of that node's span, with its index as an
    attribute.

    An attempt's span is made current (its context attached) inside the
    node's own task when the attempt starts, and detached in that same task
    when it ends, so spans the node's code starts (an HTTP client's, a
    database driver's) become its children. A context is never detached
    from another task (which OpenTelemetry would refuse with "Failed to
    detach context"): an attempt that ends without an end event (cancelled)
    is ended when the node starts again or the run finishes, and its task's
    context goes with the task.

    Attributes set: ``trio_dag.dag``, ``trio_dag.run_id`` on every span;
    ``trio_dag.node``, ``trio_dag.attempt``, ``trio_dag.status``
    (``completed``, ``retried``, ``failed``, ``cancelled``) on attempt
    spans, ``trio_dag.will_retry`` on failed ones, and
    ``trio_dag.element.index`` on elements; ``trio_dag.status`` (the
    :class:`~trio_dag.RunStatus` value) on the run span. A failed attempt
    records its exception and has status ``ERROR``; so has the run span of
    a run that did not complete. Successful spans leave the status unset,
    as OpenTelemetry asks of instrumentation libraries.

    Depends only on ``opentelemetry-api`` (``pip install 'trio-dag[otel]'``);
    configure an SDK and exporter as usual.

    Args:
        tracer: the ``Tracer`` to use (default: the global tracer provider's
            tracer named ``"trio_dag"``).

    Example::

        from trio_dag.instruments import OpenTelemetryInstrument
        result = await Report.run(inputs, instruments=[OpenTelemetryInstrument()])
    """

    def __init__(self, tracer: Tracer | None = None) -> None:
        if tracer is None:
            tracer = trace.get_tracer("trio_dag", __version__)
        self.tracer = tracer
        self._runs: dict[str, _RunSpans] = {}

    def __repr__(self) -> str:
        return f"OpenTelemetryInstrument({self.tracer!r})"

    def _run(self) -> _RunSpans | None:
        return state_here(self._runs)

    def _start(
        self, r: _RunSpans, node: str, attempt: int, index: int | None, parent: Any
    ) -> None:
        key = (node, index)
        old = r.open.pop(key, None)
        if old is not None:  # restarted without an end event
            self._end(old, "cancelled", None, False)
        attributes: dict[str, Any] = {
            "trio_dag.dag": r.dag,
            "trio_dag.run_id": r.run_id,
            "trio_dag.node": node,
            "trio_dag.attempt": attempt,
        }
        if index is not None:
            attributes["trio_dag.element.index"] = index
        span = self.tracer.start_span(node, context=parent, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        r.open[key] = _Open(span, token, trio.lowlevel.current_task())

    def _end(self, o: _Open, status: str, error: BaseException | None, will_retry: bool) -> None:
        if o.token is not None and trio.lowlevel.current_task() is o.task:
            otel_context.detach(o.token)
        span = o.span
        span.set_attribute("trio_dag.status", status)
        if error is not None:
            span.set_attribute("trio_dag.will_retry", will_retry)
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()

    def _stop(
        self,
        key: tuple[str, int | None],
        status: str,
        error: BaseException | None = None,
        will_retry: bool = False,
    ) -> None:
        r = self._run()
        if r is None:
            return
        o = r.open.pop(key, None)
        if o is None:
            return
        if key[1] is None and r.elements:  # a map node ends: its open elements first
            node = key[0]
            for k in [k for k in r.open if k[0] == node and k[1] is not None]:
                self._end(r.open.pop(k), "cancelled", None, False)
        self._end(o, status, error, will_retry)

    # -- hooks
    def run_started(self, dag: str, run_id: str) -> None:
        """Start the run's span, a child of the current span (if any)."""
        span = self.tracer.start_span(
            dag, attributes={"trio_dag.dag": dag, "trio_dag.run_id": run_id}
        )
        self._runs[run_id] = _RunSpans(span, dag, run_id)

    def node_started(self, node: str, attempt: int) -> None:
        """Start the attempt's span and make it current in the node's task."""
        r = self._run()
        if r is not None:
            self._start(r, node, attempt, None, r.ctx)

    def node_finished(self, node: str, elapsed: float) -> None:
        """End the attempt's span."""
        self._stop((node, None), "completed")

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        """End the attempt's span with the error."""
        self._stop((node, None), "retried" if will_retry else "failed", error, will_retry)

    def node_cancelled(self, node: str, attempt: int) -> None:
        """End the attempt's span as cancelled."""
        self._stop((node, None), "cancelled")

    def node_overran(self, node: str, attempt: int, action: str) -> None:
        """Add a ``trio_dag.overran`` event to the attempt's span (``action``: wait/abandon)."""
        r = self._run()
        o = None if r is None else r.open.get((node, None))
        if o is not None:
            o.span.add_event(
                "trio_dag.overran", {"trio_dag.attempt": attempt, "trio_dag.action": action}
            )

    def element_started(self, node: str, index: int, attempt: int) -> None:
        """Start the element's span, a child of its node's span, current in its task."""
        r = self._run()
        if r is None:
            return
        r.elements = True
        owner = r.open.get((node, None))
        parent = trace.set_span_in_context(owner.span) if owner is not None else r.ctx
        self._start(r, node, attempt, index, parent)

    def element_finished(self, node: str, index: int, elapsed: float) -> None:
        """End the element's span."""
        self._stop((node, index), "completed")

    def element_failed(
        self, node: str, index: int, error: BaseException, attempt: int, will_retry: bool
    ) -> None:
        """End the element's span with the error."""
        self._stop((node, index), "retried" if will_retry else "failed", error, will_retry)

    def run_finished(self, result: RunResult) -> None:
        """End what is still open (cancelled), then the run's span."""
        r = self._runs.pop(result.run_id, None)
        if r is None:
            return
        for key in sorted(r.open, key=lambda k: k[1] is None):  # elements before nodes
            self._end(r.open.pop(key), "cancelled", None, False)
        span = r.span
        span.set_attribute("trio_dag.status", result.status.value)
        if not result.ok:
            span.set_status(Status(StatusCode.ERROR, f"run {result.status.value}"))
        span.end()
