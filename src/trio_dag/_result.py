"""Run results: a read-only mapping of node values, with per-node detail.

:class:`RunFailed` lives here, beside the :class:`RunResult` it carries: it is
part of the ``DAGError`` tree drawn in ``_exceptions.py``, but the exceptions
module stays free of any import, so no layer below the results reaches up.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar, final, overload

import outcome
import trio

from ._declare import MapNodeFunction, NodeFunction
from ._exceptions import DAGError

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = [
    "ElementError",
    "MapElements",
    "NodeStatus",
    "RunFailed",
    "RunInterrupted",
    "RunResult",
    "RunStatus",
]

R = TypeVar("R")


@final
class _Missing:
    """The type of :data:`MISSING`: a node's value slot before the node completed."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"

    def __reduce__(self) -> str:
        return "MISSING"  # pickles by name: unpickles to the one MISSING


MISSING: Final[Any] = _Missing()


class NodeStatus(enum.StrEnum):
    """What became of one node in a run.

    >>> import trio_dag as td
    >>> class Chain(td.DAG):
    ...     @td.node
    ...     async def a():
    ...         raise ValueError("no")
    ...
    ...     @td.node
    ...     async def b(a):
    ...         return a
    ...
    ...     @td.node
    ...     async def c():
    ...         return "c"
    >>> try:
    ...     Chain.run_sync(on_failure="continue")
    ... except td.RunFailed as exc:
    ...     print(exc.result.status, [str(s) for s in exc.result.statuses.values()])
    failed ['failed', 'skipped', 'completed']
    >>> td.NodeStatus.SKIPPED == "skipped"
    True

    Attributes:
        COMPLETED: It returned a value.
        FAILED: It raised, and its retry policy (if any) gave up.
        CANCELLED: It started but was cancelled (fail-fast, escalation, deadline).
        SKIPPED: It never started because a dependency failed or was skipped.
        NOT_STARTED: It never started because the run stopped first.
        RESTORED: Its value was restored from a durable run's journal (same ``run_key``),
            not run.
        CACHED: Its value came from the store's cache (same code and inputs), not run.
        RUNNING: It is running or waiting to retry (only in a snapshot of a run still going:
            :meth:`RunHandle.result <trio_dag.RunHandle.result>`).
    """

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    NOT_STARTED = "not_started"
    RESTORED = "restored"
    CACHED = "cached"
    RUNNING = "running"


class RunStatus(enum.StrEnum):
    """How a run ended: :attr:`RunResult.status <trio_dag.RunResult.status>`.

    It is a ``str`` enum, so it compares equal to its value:

    >>> import trio, trio_dag as td
    >>> class Nap(td.DAG):
    ...     @td.node
    ...     async def nap():
    ...         await trio.sleep(10)
    >>> try:
    ...     Nap.run_sync(deadline=0.01)
    ... except td.RunFailed as exc:
    ...     print(repr(exc.result.status), exc.result.status == "timed_out")
    <RunStatus.TIMED_OUT: 'timed_out'> True

    Attributes:
        COMPLETED: Every node completed.
        FAILED: At least one node failed.
        HALTED: Restart intensity was exceeded and the supervisor escalated.
        TIMED_OUT: The run's deadline passed.
        CANCELLED: The run was cancelled from outside (a cancel scope around it, or
            :meth:`RunHandle.cancel <trio_dag.RunHandle.cancel>`); trio's ``Cancelled`` went on,
            and instruments got this partial result.
        INTERRUPTED: ``KeyboardInterrupt`` or ``SystemExit`` stopped the run (see
            :class:`~trio_dag.RunInterrupted`).
        RUNNING: The run is still going: a snapshot taken by :meth:`RunHandle.result
            <trio_dag.RunHandle.result>`.
    """

    COMPLETED = "completed"
    FAILED = "failed"
    HALTED = "halted"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    RUNNING = "running"


@final
@dataclass(frozen=True, slots=True)
class ElementError:
    """One failed element of a map node: see :meth:`RunResult.element_errors`.

    >>> import trio_dag as td
    >>> class Parse(td.DAG):
    ...     rows = td.input()
    ...
    ...     @td.node(map_over="rows", on_element_failure="collect")
    ...     async def numbers(rows: str) -> int:
    ...         return int(rows)
    >>> result = Parse.run_sync({"rows": ["1", "x", "3"]})
    >>> result["numbers"]
    [1, 3]
    >>> [(e.index, e.element, type(e.error).__name__) for e in result.element_errors("numbers")]
    [(1, "'x'", 'ValueError')]

    Attributes:
        index: The element's position in the value mapped over, from 0.
        element: A short ``repr`` of the element (at most 60 characters).
        error: The exception of the element's last attempt.
    """

    index: int
    element: str
    error: BaseException

    def __str__(self) -> str:
        return f"element {self.index} ({self.element}): {_text(self.error)}"


@final
class MapElements:
    """What became of each element of one map node (internal).

    Kept for a map node that failed (so ``resume`` reruns only the elements
    that have no value) or that collected failed elements.
    """

    __slots__ = ("errors", "items", "reprs", "values")

    def __init__(self, items: list[Any], values: list[Any]) -> None:
        self.items = items
        self.values = values  # MISSING where the element has no value
        self.errors: dict[int, BaseException] = {}
        self.reprs: dict[int, str] = {}

    def element_errors(self) -> tuple[ElementError, ...]:
        r = self.reprs
        return tuple(ElementError(k, r[k], e) for k, e in sorted(self.errors.items()))


@final
class RunId:
    """A run's id, drawn when first read (internal).

    Most runs are never asked for their id: drawing 48 random bits costs a
    system call, so a run and its results share one ``RunId`` and the first
    to read it draws it (``secrets.token_hex(6)``: 12 hex digits).
    """

    __slots__ = ("value",)

    value: str  # unset until drawn (or given by of())

    @classmethod
    def of(cls, value: str) -> RunId:
        """A ``RunId`` whose id is ``value`` already."""
        rid = cls()
        rid.value = value
        return rid

    def get(self) -> str:
        """The id, drawn now if nobody read it before."""
        try:
            return self.value
        except AttributeError:  # the first read: RunId() runs no __init__ of its own
            v = self.value = secrets.token_hex(6)
            return v


@final
class RunResult(Mapping[str, Any]):
    """The result of a run: a read-only ``Mapping`` of node name to value.

    Only completed nodes are keys. Per-node detail (outcomes, statuses,
    attempts, times, errors) is available through the attributes below. A
    result of a run that did not complete is a *partial* result: it comes
    with :class:`~trio_dag.RunFailed` and can be resumed.

    Attributes:
        graph: the compiled :class:`~trio_dag.Graph` that ran.
        status: how the run ended, a :class:`RunStatus`.
        run_id: an id unique to the run (also in :func:`trio_dag.current_attempt`).
    """

    __slots__ = (
        "_attempts",
        "_elements",
        "_end",
        "_errors",
        "_last",
        "_restored",
        "_run_id",
        "_start",
        "_statuses",
        "_values",
        "graph",
        "status",
    )

    def __init__(
        self,
        graph: Graph,
        values: list[Any],
        start: list[float | None],
        end: list[float | None],
        errors: dict[int, BaseException],
        attempts: dict[int, int],
        status: RunStatus,
        run_id: str | RunId,
        last: dict[int, BaseException] | None = None,
        restored: dict[int, NodeStatus] | None = None,
        elements: dict[int, MapElements] | None = None,
    ) -> None:
        self.graph = graph
        self._values = values
        self._start = start
        self._end = end
        self._errors = errors
        self._attempts = attempts
        self.status = status
        # a run's result shares its RunId: whichever asks first draws the id
        self._run_id = run_id if type(run_id) is RunId else RunId.of(run_id)
        self._restored = restored
        # errors of nodes that did not fail finally (see last_errors)
        self._last = {} if last is None else last
        self._elements = {} if elements is None else elements  # map nodes that failed or collected
        self._statuses: tuple[NodeStatus, ...] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # The graph pickles by reference to its DAG class (see Graph.__reduce__),
        # so a result unpickled in another process belongs to that process's DAG
        # and can be resumed there.
        return (
            RunResult,
            (
                self.graph,
                self._values,
                self._start,
                self._end,
                self._errors,
                self._attempts,
                self.status,
                self.run_id,
                self._last,
                self._restored,
                self._elements or None,
            ),
        )

    @property
    def run_id(self) -> str:
        """An id unique to the run (also in :func:`trio_dag.current_attempt`)."""
        return self._run_id.get()

    # -- Mapping
    @overload
    def __getitem__(self, name: MapNodeFunction[..., R]) -> list[R]: ...
    @overload
    def __getitem__(self, name: NodeFunction[..., R]) -> R: ...
    @overload
    def __getitem__(self, name: str) -> Any: ...
    def __getitem__(self, name: str | NodeFunction[..., Any]) -> Any:
        """The value of a node, by name or by its typed handle (``result[Report.summary]``).

        Raises:
            KeyError: no such node, or it has no value (it did not complete).
        """
        i = self.graph._index.get(name)  # type: ignore[arg-type]
        if i is None:
            if isinstance(name, NodeFunction):
                i = self._handle(name)
            else:
                raise KeyError(self.graph._ix(name))  # raises the helpful KeyError
        v = self._values[i]
        if v is MISSING:
            raise KeyError(f"node {name!r} has no value: it {_WHY[self._node_statuses()[i]]}")
        return v

    def _handle(self, nf: NodeFunction[..., Any]) -> int:
        """The index of the node ``nf`` is the handle of, or a KeyError."""
        g = self.graph
        i = g._index.get(nf.name) if nf.name is not None else None
        if i is None or g._specs[i].fn is not nf.fn:
            i = next((k for k, s in enumerate(g._specs) if s.fn is nf.fn), None)
        if i is None:
            raise KeyError(f"{nf!r} is not a node of DAG {g.name!r}")
        return i

    def __iter__(self) -> Iterator[str]:
        names = self.graph.nodes
        vals = self._values
        return (names[i] for i in range(len(names)) if vals[i] is not MISSING)

    def __len__(self) -> int:
        vals = self._values
        return sum(1 for i in range(len(self.graph.nodes)) if vals[i] is not MISSING)

    def __repr__(self) -> str:
        return (
            f"<RunResult {self.graph.name!r} {self.status.value}: "
            f"{len(self)}/{len(self.graph.nodes)} nodes completed>"
        )

    # -- detail
    @property
    def ok(self) -> bool:
        """Whether every node completed."""
        return self.status is RunStatus.COMPLETED

    @property
    def inputs(self) -> dict[str, Any]:
        """The input values the run was given (defaults filled in)."""
        n = len(self.graph.nodes)
        return dict(zip(self.graph.inputs, self._values[n:], strict=True))

    @property
    def errors(self) -> dict[str, BaseException]:
        """The final exception of each failed node."""
        names = self.graph.nodes
        return {names[i]: e for i, e in sorted(self._errors.items())}

    @property
    def last_errors(self) -> dict[str, BaseException]:
        """The last exception of every node that raised one and has no value.

        This is :attr:`errors` plus, for nodes that were cancelled (the run
        stopped, its deadline passed, a level restart) after an attempt had
        failed, the exception of that attempt: a node cancelled while it
        waited to retry is not failed, but its error is not forgotten either.
        """
        names = self.graph.nodes
        merged = {**self._last, **self._errors}
        return {names[i]: merged[i] for i in sorted(merged)}

    @property
    def outcomes(self) -> dict[str, outcome.Outcome[Any]]:
        """``outcome.Value`` or ``outcome.Error`` for every node that finished."""
        out: dict[str, outcome.Outcome[Any]] = {}
        for i, name in enumerate(self.graph.nodes):
            if self._values[i] is not MISSING:
                out[name] = outcome.Value(self._values[i])
            elif i in self._errors:
                out[name] = outcome.Error(self._errors[i])
        return out

    @property
    def statuses(self) -> dict[str, NodeStatus]:
        """The :class:`NodeStatus` of every node, in definition order."""
        return dict(zip(self.graph.nodes, self._node_statuses(), strict=True))

    def _node_statuses(self) -> tuple[NodeStatus, ...]:
        if self._statuses is None:
            g = self.graph
            st = [NodeStatus.NOT_STARTED] * len(g.nodes)
            bad = (NodeStatus.FAILED, NodeStatus.SKIPPED)
            restored = self._restored or {}
            still = self.status is RunStatus.RUNNING
            running = NodeStatus.RUNNING if still else NodeStatus.CANCELLED
            for i in g._order_ix:  # dependencies come first
                if i in restored:
                    st[i] = restored[i]
                elif self._values[i] is not MISSING:
                    st[i] = NodeStatus.COMPLETED
                elif i in self._errors:
                    st[i] = NodeStatus.FAILED
                elif self._start[i] is not None:
                    st[i] = running
                elif any(st[j] in bad for j in g._node_deps[i]):
                    st[i] = NodeStatus.SKIPPED
            self._statuses = tuple(st)
        return self._statuses

    def nodes_with(self, status: NodeStatus | str) -> tuple[str, ...]:
        """Names of the nodes with the given status, in definition order."""
        s = NodeStatus(status)
        names = self.graph.nodes
        return tuple(names[i] for i, x in enumerate(self._node_statuses()) if x is s)

    def attempts(self, name: str) -> int:
        """How many attempts node ``name`` made (for a map node: element calls)."""
        i = self.graph._ix(name)
        return self._attempts.get(i, 0 if self._start[i] is None else 1)

    def element_errors(self, name: str | NodeFunction[..., Any]) -> tuple[ElementError, ...]:
        """The failed elements of map node ``name``, by index: :class:`ElementError` s.

        With ``on_element_failure="collect"`` these are the elements left out of
        the node's value; with ``"fail"`` the elements whose failure failed the
        node (usually one: the first failure cancels the elements in flight).
        Empty for a node with no failed element.

        Raises:
            KeyError: ``name`` is not a node of this graph.
        """
        i = self._ix(name)
        state = self._elements.get(i)
        return () if state is None else state.element_errors()

    def completed_elements(self, name: str | NodeFunction[..., Any]) -> dict[int, Any]:
        """Values of the elements of map node ``name`` that completed, by index.

        For a map node that failed, these are kept for ``resume``, which runs
        only the other elements. For a completed node, every element that has
        a value (all of them, unless failed elements were collected).

        Raises:
            KeyError: ``name`` is not a node of this graph.
        """
        i = self._ix(name)
        state = self._elements.get(i)
        if state is not None:
            return {k: v for k, v in enumerate(state.values) if v is not MISSING}
        v = self._values[i]
        if v is MISSING or self.graph._maps[i] is None:
            return {}
        return dict(enumerate(v))

    def _ix(self, name: str | NodeFunction[..., Any]) -> int:
        return self._handle(name) if isinstance(name, NodeFunction) else self.graph._ix(name)

    def started_at(self, name: str) -> float | None:
        """``trio.current_time()`` when node ``name`` (last) started, or ``None``."""
        return self._start[self.graph._ix(name)]

    def finished_at(self, name: str) -> float | None:
        """``trio.current_time()`` when node ``name`` finished, or ``None``."""
        return self._end[self.graph._ix(name)]

    def duration(self, name: str) -> float | None:
        """Seconds node ``name`` took, from its (last) start to its end, or ``None``."""
        i = self.graph._ix(name)
        s, e = self._start[i], self._end[i]
        return None if s is None or e is None else e - s

    def report(self) -> str:
        """A readable account: what failed and why, what completed, what did not run."""
        st = self._node_statuses()
        names = self.graph.nodes
        counts = {s: sum(1 for x in st if x is s) for s in NodeStatus}
        head = ", ".join(f"{c} {s.value.replace('_', ' ')}" for s, c in counts.items() if c)
        lines = [
            f"run {self.run_id} of DAG {self.graph.name!r} {self.status.value}: "
            f"{head or 'no nodes'}"
        ]
        for i, e in sorted(self._errors.items()):
            calls = self._attempts.get(i)
            n = 1 if calls is None else calls
            state = self._elements.get(i)
            if state is not None:
                lines += _map_lines(names[i], state, n, failed=True)
                continue
            what = "attempt" if calls is None or self.graph._maps[i] is None else "element call"
            lines.append(
                f"  node {names[i]!r} failed after {n} {what}{'s' * (n != 1)}: {_chain(e)}"
            )
        for i, state in sorted(self._elements.items()):
            if i not in self._errors and state.errors:
                lines += _map_lines(names[i], state, self._attempts.get(i, 0), failed=False)
        for i, e in sorted(self._last.items()):
            if i not in self._errors:
                lines.append(f"  node {names[i]!r} was cancelled; its last error: {_chain(e)}")
        for s in (
            NodeStatus.RUNNING,
            NodeStatus.CANCELLED,
            NodeStatus.SKIPPED,
            NodeStatus.NOT_STARTED,
        ):
            these = [names[i] for i, x in enumerate(st) if x is s]
            if these:
                lines.append(f"  {s.value.replace('_', ' ')}: {_short(these)}")
        kept = (NodeStatus.COMPLETED, NodeStatus.RESTORED, NodeStatus.CACHED)
        done = [names[i] for i, x in enumerate(st) if x in kept]
        if done and self.status is not RunStatus.COMPLETED:
            lines.append(f"  completed (kept, resume() reuses them): {_short(done)}")
        return "\n".join(lines)


_WHY = {
    NodeStatus.FAILED: "failed",
    NodeStatus.CANCELLED: "was cancelled",
    NodeStatus.RUNNING: "is still running",
    NodeStatus.SKIPPED: "was skipped (a dependency failed)",
    NodeStatus.NOT_STARTED: "never started (the run stopped first)",
}


def _map_lines(name: str, state: MapElements, calls: int, *, failed: bool) -> list[str]:
    """The report's lines for a map node with failed elements."""
    n = len(state.items)
    bad = len(state.errors)
    done = sum(1 for v in state.values if v is not MISSING)
    counts = f"{bad} of {n} element{'s' * (n != 1)} failed, {done} completed"
    if failed and n - bad - done:
        counts += f", {n - bad - done} not run"
    calls_text = f"{calls} element call{'s' * (calls != 1)} in all, retries included"
    if failed:
        head = f"  node {name!r} failed: {counts} ({calls_text}; resume() reruns only "
        head += "the elements without a value):"
    else:
        head = f"  node {name!r} completed without its failed elements (collected): "
        head += f"{counts} ({calls_text}):"
    errs = state.element_errors()
    lines = [head] + [f"    {x}" for x in errs[:_SHOWN]]
    if len(errs) > _SHOWN:
        lines.append(f"    ... ({len(errs) - _SHOWN} more: RunResult.element_errors({name!r}))")
    return lines


_SHOWN = 10
"""Failed elements listed by a report (all are in RunResult.element_errors)."""


def _text(e: BaseException) -> str:
    return f"{type(e).__qualname__}: {e}" if str(e) else type(e).__qualname__


def _leaf_texts(group: BaseExceptionGroup[BaseException], limit: int = 5) -> list[str]:
    """``Type: message`` of the first ``limit`` exceptions inside ``group``, however nested."""
    out: list[str] = []
    stack: list[BaseException] = [group]
    while stack:
        e = stack.pop()
        if isinstance(e, BaseExceptionGroup):
            stack.extend(reversed(e.exceptions))
        elif len(out) == limit:
            out.append("...")
            break
        else:
            out.append(f"{type(e).__qualname__}: {e}" if str(e) else type(e).__qualname__)
    return out


def _short(names: list[str], limit: int = 10) -> str:
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _chain(e: BaseException) -> str:
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if parts and isinstance(cur, trio.Cancelled):  # how a timeout works, not a cause
            break
        seen.add(id(cur))
        part = f"{type(cur).__qualname__}: {cur}" if str(cur) else type(cur).__qualname__
        if isinstance(cur, BaseExceptionGroup):  # name what is inside, not only the group
            part += " [" + "; ".join(_leaf_texts(cur)) + "]"
        parts.append(part)
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    return " <- caused by ".join(parts)


class RunFailed(DAGError):
    """A run did not complete.

    Nothing that completed is lost: :attr:`result` is the partial
    :class:`~trio_dag.RunResult`, with every value that completed, each
    failed node's error and attempts, and what was cancelled or never started.
    Pass it to ``resume`` to run only what is missing.

    ``__cause__`` is the failing node's exception, or an :class:`ExceptionGroup`
    of them when several nodes failed.

    Attributes:
        result: the partial :class:`~trio_dag.RunResult`.
    """

    def __init__(self, result: RunResult) -> None:
        super().__init__(result.report())
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:
        return (RunFailed, (self.result,))

    @property
    def errors(self) -> dict[str, BaseException]:
        """The exception of each failed node, by node name."""
        return self.result.errors


class RunInterrupted(BaseException):
    """:class:`KeyboardInterrupt` or :class:`SystemExit` stopped a run.

    It is never raised as itself but as a subclass that is also the original
    type, so ``except KeyboardInterrupt`` still catches it, the interpreter
    treats it as before, and ``sys.exit(3)`` in a node still exits the
    process with status 3 (``.code`` is kept). It comes out bare under every
    strategy (never inside an exception group), from ``run``, ``resume`` and
    ``run_sync``, with the original exception (or the group that held it) as
    ``__cause__``.

    >>> import trio_dag as td
    >>> class Quit(td.DAG):
    ...     @td.node
    ...     async def stop():
    ...         raise SystemExit(3)
    >>> try:
    ...     Quit.run_sync()
    ... except SystemExit as exc:
    ...     print(isinstance(exc, td.RunInterrupted), exc.code, exc.result.status)
    True 3 interrupted

    Attributes:
        result: the partial :class:`~trio_dag.RunResult`, with status
            ``"interrupted"``.
    """

    result: RunResult

    @staticmethod
    def _wrap(original: BaseException, result: RunResult) -> RunInterrupted:
        """The ``RunInterrupted`` to raise for ``original`` (a KeyboardInterrupt or SystemExit)."""
        cls: type[RunInterrupted] = (
            _SystemExitInterrupted if isinstance(original, SystemExit) else _KeyboardInterrupted
        )
        exc = cls(*original.args)
        exc.result = result
        exc.add_note(result.report())
        return exc


class _KeyboardInterrupted(RunInterrupted, KeyboardInterrupt):
    """A :class:`RunInterrupted` that is a :class:`KeyboardInterrupt`."""


class _SystemExitInterrupted(RunInterrupted, SystemExit):
    """A :class:`RunInterrupted` that is a :class:`SystemExit` (``.code`` kept)."""


def _name(cls: Any, qualname: str) -> None:
    """Name a raised-only subclass for tracebacks: ``trio_dag.RunInterrupted.SystemExit``."""
    cls.__qualname__ = qualname
    cls.__module__ = "trio_dag"


_name(_KeyboardInterrupted, "RunInterrupted.KeyboardInterrupt")
_name(_SystemExitInterrupted, "RunInterrupted.SystemExit")
