"""Structured logging: one record per node attempt outcome."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, final

import trio

from .._instrument import Instrument
from ._recorder import _describe, state_here

if TYPE_CHECKING:
    from .._result import RunResult

__all__ = ["LogInstrument"]


class _RunLog:
    __slots__ = ("attempts", "dag", "run_id", "t0")

    def __init__(self, dag: str, run_id: str, t0: float) -> None:
        self.dag = dag
        self.run_id = run_id
        self.t0 = t0
        self.attempts: dict[str, tuple[int, float]] = {}  # node -> (attempt, start)


@final
class LogInstrument(Instrument):
    """Logs every node attempt's outcome through :mod:`logging`, one record each.

    A record is emitted when an attempt completes, fails (and will be
    retried, or not), or is cancelled, plus one when the run starts and one
    when it ends. Every record carries structured fields in ``extra``, so a
    JSON formatter or a log shipper gets them as attributes of the
    ``LogRecord``:

    - ``run_id``, ``dag``: which run;
    - ``node``, ``attempt``, ``elapsed`` (seconds, on the run's clock) for
      node records (``None`` in the run records);
    - ``status``: ``"started"`` or the run's :class:`~trio_dag.RunStatus`
      value for run records; ``"completed"``, ``"retried"``, ``"failed"``
      or ``"cancelled"`` for attempts (as in
      :class:`~trio_dag.instruments.AttemptStatus`);
    - ``error``: ``"Type: message"`` of a failed attempt, else ``None``.

    Completed and cancelled attempts and the run records are logged at
    ``level``; an attempt that will be retried at ``WARNING`` (or ``level``
    if higher), and a final failure at ``ERROR`` (or ``level`` if higher)
    with the exception attached (``exc_info``), so its traceback is logged.
    A failed map element is logged like a failed attempt, with its
    ``index``; a completed element only at
    ``DEBUG``, so a 100,000-element map does not flood the log.

    Args:
        logger: a :class:`logging.Logger` or the name of one.
        level: the level of ordinary records (an int such as ``logging.INFO``).

    Raises:
        TypeError: ``logger`` or ``level`` has the wrong type.

    Example:
        >>> import logging, sys, trio, trio.testing
        >>> import trio_dag as td
        >>> from trio_dag.instruments import LogInstrument
        >>> handler = logging.StreamHandler(sys.stdout)
        >>> handler.setFormatter(logging.Formatter("%(levelname)s %(message)s [%(node)s]"))
        >>> log = logging.getLogger("example")
        >>> log.addHandler(handler)
        >>> log.setLevel(logging.INFO)
        >>> class Hello(td.DAG):
        ...     @td.node
        ...     async def hello():
        ...         return "hi"
        >>> result = trio.run(
        ...     lambda: Hello.run(instruments=[LogInstrument(log)]),
        ...     clock=trio.testing.MockClock(autojump_threshold=0),
        ... )  # doctest: +ELLIPSIS
        INFO run ... of DAG 'Hello' started [None]
        INFO Hello.hello completed in 0.000 s (attempt 1) [hello]
        INFO run ... of DAG 'Hello' completed in 0.000 s [None]
        >>> log.removeHandler(handler)
    """

    def __init__(self, logger: logging.Logger | str = "trio_dag", level: int = logging.INFO):
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        if not isinstance(logger, logging.Logger):
            raise TypeError(
                f"LogInstrument: logger must be a logging.Logger or a name, got {logger!r}"
            )
        if isinstance(level, bool) or not isinstance(level, int):
            raise TypeError(f"LogInstrument: level must be an int (logging.INFO), got {level!r}")
        self.logger = logger
        self.level = level
        self._warn = max(level, logging.WARNING)
        self._error = max(level, logging.ERROR)
        self._runs: dict[str, _RunLog] = {}

    def __repr__(self) -> str:
        return f"LogInstrument({self.logger.name!r}, {logging.getLevelName(self.level)})"

    def _run(self) -> _RunLog | None:
        return state_here(self._runs)

    def _log(
        self,
        level: int,
        r: _RunLog,
        msg: str,
        args: tuple[Any, ...],
        *,
        node: str | None,
        attempt: int | None,
        elapsed: float | None,
        status: str,
        error: BaseException | None = None,
        exc: bool = False,
        **more: Any,
    ) -> None:
        extra = {
            "run_id": r.run_id,
            "dag": r.dag,
            "node": node,
            "attempt": attempt,
            "elapsed": elapsed,
            "status": status,
            "error": None if error is None else _describe(error),
            **more,
        }
        self.logger.log(
            level,
            msg,
            *args,
            extra=extra,
            exc_info=(type(error), error, error.__traceback__) if exc and error else None,
        )

    def _finish(self, node: str) -> tuple[_RunLog, int, float] | None:
        r = self._run()
        if r is None:
            return None
        attempt, start = r.attempts.pop(node, (1, r.t0))
        return r, attempt, trio.current_time() - start

    # -- hooks
    def run_started(self, dag: str, run_id: str) -> None:
        """Log the run's start."""
        r = self._runs[run_id] = _RunLog(dag, run_id, trio.current_time())
        if self.logger.isEnabledFor(self.level):
            self._log(
                self.level,
                r,
                "run %s of DAG %r started",
                (run_id, dag),
                node=None,
                attempt=None,
                elapsed=None,
                status="started",
            )

    def node_started(self, node: str, attempt: int) -> None:
        """Note the attempt's number and start time (nothing is logged)."""
        r = self._run()
        if r is not None:
            r.attempts[node] = (attempt, trio.current_time())

    def node_finished(self, node: str, elapsed: float) -> None:
        """Log a completed attempt."""
        got = self._finish(node)
        if got is None or not self.logger.isEnabledFor(self.level):
            return
        r, attempt, _ = got
        self._log(
            self.level,
            r,
            "%s.%s completed in %.3f s (attempt %d)",
            (r.dag, node, elapsed, attempt),
            node=node,
            attempt=attempt,
            elapsed=elapsed,
            status="completed",
        )

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        """Log a failed attempt: will it be retried, or has the node failed."""
        got = self._finish(node)
        if got is None:
            return
        r, _, elapsed = got
        if will_retry:
            msg = "%s.%s failed in %.3f s (attempt %d), will retry: %s"
            level, status = self._warn, "retried"
        else:
            msg = "%s.%s failed in %.3f s (attempt %d), giving up: %s"
            level, status = self._error, "failed"
        if self.logger.isEnabledFor(level):
            self._log(
                level,
                r,
                msg,
                (r.dag, node, elapsed, attempt, _describe(error)),
                node=node,
                attempt=attempt,
                elapsed=elapsed,
                status=status,
                error=error,
                exc=not will_retry,
            )

    def node_cancelled(self, node: str, attempt: int) -> None:
        """Log a cancelled attempt."""
        got = self._finish(node)
        if got is None or not self.logger.isEnabledFor(self.level):
            return
        r, _, elapsed = got
        # shaped like node_finished on purpose: one plain _log call per event, read at a glance
        self._log(
            self.level,
            r,
            "%s.%s cancelled after %.3f s (attempt %d)",
            (r.dag, node, elapsed, attempt),
            node=node,
            attempt=attempt,
            elapsed=elapsed,
            status="cancelled",
        )

    def node_overran(self, node: str, attempt: int, action: str) -> None:
        """Log, as a warning, a cancelled attempt whose placed body could not be interrupted."""
        r = self._run()
        if r is None or not self.logger.isEnabledFor(self._warn):
            return
        what = "waited for it" if action == "wait" else "left it running"
        self._log(
            self._warn,
            r,
            "%s.%s overran its cancellation (attempt %d): its body could not be "
            "interrupted; the attempt %s (%s)",
            (r.dag, node, attempt, what, action),
            node=node,
            attempt=attempt,
            elapsed=None,
            status="overran",
            action=action,
        )

    def element_finished(self, node: str, index: int, elapsed: float) -> None:
        """Log a completed map element at ``DEBUG``."""
        if not self.logger.isEnabledFor(logging.DEBUG):
            return
        r = self._run()
        if r is not None:
            self._log(
                logging.DEBUG,
                r,
                "%s.%s[%d] completed in %.3f s",
                (r.dag, node, index, elapsed),
                node=node,
                attempt=None,
                elapsed=elapsed,
                status="completed",
                index=index,
            )

    def element_failed(
        self, node: str, index: int, error: BaseException, attempt: int, will_retry: bool
    ) -> None:
        """Log a failed map element, like a failed attempt."""
        level = self._warn if will_retry else self._error
        r = self._run()
        if r is None or not self.logger.isEnabledFor(level):
            return
        then = "will retry" if will_retry else "giving up"
        self._log(
            level,
            r,
            "%s.%s[%d] failed (attempt %d), %s: %s",
            (r.dag, node, index, attempt, then, _describe(error)),
            node=node,
            attempt=attempt,
            elapsed=None,
            status="retried" if will_retry else "failed",
            error=error,
            index=index,
        )

    def run_finished(self, result: RunResult) -> None:
        """Log the run's end: cancelled attempts still open, then the run's status."""
        r = self._runs.pop(result.run_id, None)
        if r is None:
            return
        now = trio.current_time()
        if self.logger.isEnabledFor(self.level):
            for node, (attempt, start) in r.attempts.items():  # no end event: cancelled
                self._log(
                    self.level,
                    r,
                    "%s.%s cancelled after %.3f s (attempt %d)",
                    (r.dag, node, now - start, attempt),
                    node=node,
                    attempt=attempt,
                    elapsed=now - start,
                    status="cancelled",
                )
            self._log(
                self.level,
                r,
                "run %s of DAG %r %s in %.3f s",
                (r.run_id, r.dag, result.status.value, now - r.t0),
                node=None,
                attempt=None,
                elapsed=now - r.t0,
                status=result.status.value,
            )
