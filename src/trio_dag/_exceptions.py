"""Exceptions raised by trio_dag.

The hierarchy, as a tree::

    DAGError                         base of everything trio_dag raises itself
    ├── DAGDefinitionError           the DAG cannot exist (raised when it is defined)
    │   ├── CycleError               the dependencies form a cycle (.cycle holds the path)
    │   ├── UnknownDependencyError   a parameter or dep names no node and no input
    │   ├── DuplicateNodeError       two nodes (or a node and an input) share a name
    │   ├── InvalidNodeError         not an async function, bad name, bad parameters
    │   └── InvalidOptionError       a node option with a bad value (also a ValueError)
    ├── InputError                   run inputs missing or unknown (also a ValueError)
    ├── MapError                     a map node's value to map over is not iterable
    ├── NodeCancelled                a node raised trio.Cancelled while its run was not
    │                                cancelled (also a RuntimeError); kept as its failure
    └── RunFailed                    a run did not complete; .result keeps what did

    RunInterrupted                   a BaseException: KeyboardInterrupt or SystemExit
                                     stopped a run; always raised as a subclass of the
                                     original type too; .result keeps what completed

Errors raised by a node's own code are never wrapped in a trio_dag type: they
are kept as they are, in :attr:`RunResult.errors <trio_dag.RunResult.errors>`
and as ``RunFailed.__cause__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._result import RunResult

__all__ = [
    "CycleError",
    "DAGDefinitionError",
    "DAGError",
    "DuplicateNodeError",
    "InputError",
    "InvalidNodeError",
    "InvalidOptionError",
    "MapError",
    "NodeCancelled",
    "RunFailed",
    "RunInterrupted",
    "UnknownDependencyError",
]


class DAGError(Exception):
    """Base class of every exception trio_dag raises on its own account."""


class DAGDefinitionError(DAGError):
    """The DAG definition is invalid, so the DAG was not created.

    Attributes:
        dag: the name of the DAG being defined.
        node: the node the problem is about, or ``None``.
    """

    def __init__(self, message: str, *, dag: str, node: str | None = None) -> None:
        super().__init__(message)
        self.dag = dag
        self.node = node


class CycleError(DAGDefinitionError):
    """The dependencies form a cycle.

    Attributes:
        cycle: the cycle as a list of node names, first name repeated at the end,
            each node depending on the one before it is *not* implied: the path
            follows dependency edges, ``a -> b`` meaning "a depends on b".
    """

    def __init__(self, dag: str, cycle: Sequence[str]) -> None:
        self.cycle = list(cycle)
        path = " -> ".join(self.cycle)
        super().__init__(
            f"DAG {dag!r} has a dependency cycle: {path} "
            f"(each node depends on the next); remove one of these dependencies",
            dag=dag,
            node=self.cycle[0],
        )


class UnknownDependencyError(DAGDefinitionError):
    """A node depends on a name that is neither a node nor a declared input.

    Attributes:
        dependency: the unknown name.
        suggestion: the closest known name, or ``None``.
    """

    def __init__(
        self, dag: str, node: str, dependency: str, suggestion: str | None, *, via: str = ""
    ) -> None:
        self.dependency = dependency
        self.suggestion = suggestion
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        super().__init__(
            f"node {node!r} of DAG {dag!r} depends on {dependency!r}{via}, "
            f"which is neither a node nor a declared input{hint}",
            dag=dag,
            node=node,
        )


class DuplicateNodeError(DAGDefinitionError):
    """Two nodes, or a node and an input, have the same name."""


class InvalidNodeError(DAGDefinitionError):
    """A node is not an async function, has a bad name, or has parameters that
    cannot be dependencies."""


class InvalidOptionError(DAGDefinitionError, ValueError):
    """A node option has a bad value.

    Attributes:
        option: the option's name.
        value: the rejected value.
    """

    def __init__(self, message: str, *, dag: str, node: str | None, option: str, value: object):
        super().__init__(message, dag=dag, node=node)
        self.option = option
        self.value = value


class InputError(DAGError, ValueError):
    """Run inputs are missing or unknown; raised before any node runs.

    Attributes:
        missing: required inputs that were not given.
        unknown: given names that are not declared inputs.
    """

    def __init__(self, message: str, *, missing: Sequence[str] = (), unknown: Sequence[str] = ()):
        super().__init__(message)
        self.missing = tuple(missing)
        self.unknown = tuple(unknown)


class MapError(DAGError, TypeError):
    """The value a map node maps over is not iterable."""


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

    @property
    def errors(self) -> dict[str, BaseException]:
        """The exception of each failed node, by node name."""
        return self.result.errors


class NodeCancelled(DAGError, RuntimeError):
    """A node raised :class:`trio.Cancelled` although its run was not being cancelled.

    Such a ``Cancelled`` comes from somewhere else (an exception object
    leaked from another cancel scope or task) and would otherwise end the
    node without a value. It is the node's failure instead; the stray
    ``Cancelled`` is kept as ``__cause__``.

    Attributes:
        node: the node's name.
    """

    def __init__(self, message: str, *, node: str) -> None:
        super().__init__(message)
        self.node = node


class RunInterrupted(BaseException):
    """:class:`KeyboardInterrupt` or :class:`SystemExit` stopped a run.

    It is never raised as itself but as a subclass that is also the original
    type, so ``except KeyboardInterrupt`` still catches it, the interpreter
    treats it as before, and ``sys.exit(3)`` in a node still exits the
    process with status 3 (``.code`` is kept). It comes out bare under every
    strategy (never inside an exception group), from ``run``, ``resume`` and
    ``run_sync``, with the original exception (or the group that held it) as
    ``__cause__``.

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
