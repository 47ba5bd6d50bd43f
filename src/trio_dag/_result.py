"""Run results: a read-only mapping of node values, with per-node detail.

The statuses a result reports are defined in ``_status.py``, the text of its
report in ``_report.py``; both sit below this module.

:class:`RunFailed` lives here, beside the :class:`RunResult` it carries: it is
part of the ``DAGError`` tree drawn in ``_exceptions.py``, but the exceptions
module stays free of any import, so no layer below the results reaches up.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, final, overload

import outcome

from ._exceptions import DAGError
from ._node import MapNodeFunction, NodeFunction
from ._report import WHY, render_report
from ._status import MISSING, ElementError, MapElements, NodeStatus, RunStatus

if TYPE_CHECKING:
    from ._graph import Graph

# The statuses are defined in _status (below the report) and re-exported here,
# beside the result that carries them, for the runtime and for older pickles.
__all__ = [
    "MISSING",
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
            raise KeyError(f"node {name!r} has no value: it {WHY[self._node_statuses()[i]]}")
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
        g = self.graph
        return render_report(
            dag=g.name,
            run_id=self.run_id,
            status=self.status,
            names=g.nodes,
            maps=g._maps,
            statuses=self._node_statuses(),
            errors=self._errors,
            attempts=self._attempts,
            elements=self._elements,
            last=self._last,
        )


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
