"""Exceptions raised by trio_dag.

The hierarchy, as a tree::

    DAGError                         base of everything trio_dag raises itself
    ├── DAGDefinitionError           the DAG cannot exist (raised when it is defined)
    │   ├── CycleError               the dependencies form a cycle (.cycle holds the path)
    │   ├── UnknownDependencyError   a parameter or dep names no node and no input
    │   ├── DuplicateNodeError       two nodes (or a node and an input) share a name
    │   ├── TypeMismatchError        a dependency's declared return type can never be
    │   │                            what the parameter receiving it declares
    │   └── InvalidNodeError         not an async function, bad name, bad parameters
    ├── InvalidOptionError           a bad value for an option or argument, wherever it is
    │                                given (also a ValueError; also a TypeError when the
    │                                value's type is wrong; also a DAGDefinitionError when
    │                                it is a node option, found as the DAG is defined)
    ├── InputError                   run inputs missing or unknown (also a ValueError)
    ├── MapError                     a map node's value to map over is not iterable
    ├── SerializationError           a placed call could not be pickled (also a TypeError)
    ├── StoreError                   a store cannot be used: not a trio_dag store, truncated,
    │                                a run_key held by another process, changed inputs/code
    ├── NodeCancelled                a node raised trio.Cancelled while its run was not
    │                                cancelled (also a RuntimeError); kept as its failure
    ├── ResourceError                a resource could not be entered or exited
    └── RunFailed                    a run did not complete; .result keeps what did
                                     (defined beside RunResult in trio_dag's results layer)

    RunInterrupted                   a BaseException, beside RunResult too: KeyboardInterrupt
                                     or SystemExit stopped a run; always raised as a
                                     subclass of the original type too; .result keeps
                                     what completed

Errors raised by a node's own code are never wrapped in a trio_dag type: they
are kept as they are, in :attr:`RunResult.errors <trio_dag.RunResult.errors>`
and as ``RunFailed.__cause__``.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    "ResourceError",
    "SerializationError",
    "StoreError",
    "StoreWarning",
    "TypeMismatchError",
    "UnknownDependencyError",
]


class DAGError(Exception):
    """Base class of every exception trio_dag raises on its own account.

    >>> import trio_dag as td
    >>> issubclass(td.CycleError, td.DAGError), issubclass(td.RunFailed, td.DAGError)
    (True, True)
    """


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

    The message shows the path; a long one is shortened to its first and last
    ten names, while :attr:`cycle` always holds all of it.

    Attributes:
        cycle: the cycle as a list of node names, the first name repeated at
            the end. Each node depends on the next: ``["a", "b", "a"]``, printed
            ``a -> b -> a``, means that ``a`` depends on ``b`` and ``b`` on ``a``.
    """

    def __init__(self, dag: str, cycle: Sequence[str]) -> None:
        self.cycle = list(cycle)
        shown = self.cycle
        if len(shown) > 2 * _CYCLE_ENDS + 1:  # leave out two names at least
            more = len(shown) - 2 * _CYCLE_ENDS
            shown = [*shown[:_CYCLE_ENDS], f"... ({more} more) ...", *shown[-_CYCLE_ENDS:]]
        path = " -> ".join(shown)
        super().__init__(
            f"DAG {dag!r} has a dependency cycle: {path} "
            f"(each node depends on the next); remove one of these dependencies",
            dag=dag,
            node=self.cycle[0],
        )


_CYCLE_ENDS = 10
"""A cycle's message shows this many names at each end of a longer path."""


class UnknownDependencyError(DAGDefinitionError):
    """A node depends on a name that is neither a node nor a declared input.

    Attributes:
        dependency: the unknown name.
        suggestion: the closest known name, or ``None``.
    """

    def __init__(
        self,
        dag: str,
        node: str,
        dependency: str,
        suggestion: str | None,
        *,
        via: str = "",
        what: str = "node",
        known: str = "neither a node nor a declared input",
    ) -> None:
        self.dependency = dependency
        self.suggestion = suggestion
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        super().__init__(
            f"{what} {node!r} of DAG {dag!r} depends on {dependency!r}{via}, "
            f"which is {known}{hint}",
            dag=dag,
            node=node,
        )


class TypeMismatchError(DAGDefinitionError):
    """A node's parameter is annotated with a class that its dependency's
    declared return type can never be.

    Checked when the DAG is defined, only where both annotations are plain
    classes (see :ref:`type-checks`); anything the check cannot decide is
    allowed.

    Attributes:
        parameter: the parameter that receives the value.
        dependency: the node that produces it.
        expected: the parameter's class.
        got: the class the dependency declares it returns (``list`` for a
            map node).
    """

    def __init__(
        self,
        dag: str,
        node: str,
        parameter: str,
        dependency: str,
        *,
        expected: type,
        got: type,
        map_node: bool = False,
    ) -> None:
        self.parameter = parameter
        self.dependency = dependency
        self.expected = expected
        self.got = got
        what = "is a map node, whose value is a list" if map_node else f"returns {_name(got)}"
        via = "" if parameter == dependency else f" (from dependency {dependency!r})"
        super().__init__(
            f"node {node!r} of DAG {dag!r}: parameter {parameter!r}{via} is annotated "
            f"{_name(expected)}, but {dependency!r} {what}; neither class is a subclass "
            f"of the other, so the value cannot be what the parameter expects: fix the "
            f"annotation of one of them",
            dag=dag,
            node=node,
        )


def _name(t: type) -> str:
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


class DuplicateNodeError(DAGDefinitionError):
    """Two nodes, or a node and an input, have the same name.

    >>> import trio_dag as td
    >>> async def f():
    ...     return 1
    >>> td.DAG.from_nodes("Twice", [td.Node("a", f), td.Node("a", f)])
    Traceback (most recent call last):
      ...
    trio_dag.DuplicateNodeError: DAG 'Twice' defines node 'a' twice; node names must be unique
    """


class InvalidNodeError(DAGDefinitionError):
    """A node is not an async function, has a bad name, or has parameters that
    cannot be dependencies."""


class InvalidOptionError(DAGError, ValueError):
    """A bad value for an option or argument, wherever it is given.

    One type for every bad value trio_dag is handed: a node option in a class
    body or on :class:`~trio_dag.Node`, a run option, a constructor argument
    of :class:`~trio_dag.Parallel`, :class:`~trio_dag.Supervisor` or
    :class:`~trio_dag.RetryPolicy`. It is a ``ValueError``; when the value
    has the wrong type it is also a ``TypeError``; when it is a node option
    (found as the DAG is defined) it is also a
    :class:`~trio_dag.DAGDefinitionError`. The message names the option and
    the value, and says what would be right.

    Attributes:
        option: the option's name.
        value: the rejected value.
        dag: the DAG's name, or ``None`` when no DAG is involved.
        node: the node the option belongs to, or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        option: str,
        value: object,
        dag: str | None = None,
        node: str | None = None,
    ) -> None:
        Exception.__init__(self, message)
        self.option = option
        self.value = value
        self.dag = dag
        self.node = node

    def __reduce__(self) -> tuple[object, ...]:
        key = (isinstance(self, TypeError), isinstance(self, DAGDefinitionError))
        args = (str(self), self.option, self.value, self.dag, self.node)
        return (_rebuild_option_error, (key, *args))


def _variant(*bases: type) -> type[InvalidOptionError]:
    """An InvalidOptionError that is also each of ``bases``, named as its parent."""
    cls = type("InvalidOptionError", (InvalidOptionError, *bases), {"__slots__": ()})
    cls.__module__ = "trio_dag"
    return cls


_OPTION_ERRORS: dict[tuple[bool, bool], type[InvalidOptionError]] = {
    (False, False): InvalidOptionError,
    (True, False): _variant(TypeError),
    (False, True): _variant(DAGDefinitionError),
    (True, True): _variant(DAGDefinitionError, TypeError),
}


def option_error(
    message: str,
    *,
    option: str,
    value: object,
    wrong_type: bool = False,
    dag: str | None = None,
    node: str | None = None,
    definition: bool = False,
) -> InvalidOptionError:
    """The :class:`InvalidOptionError` to raise (internal): a ``TypeError`` too when
    ``wrong_type``, a ``DAGDefinitionError`` too when ``definition``."""
    cls = _OPTION_ERRORS[wrong_type, definition]
    return cls(message, option=option, value=value, dag=dag, node=node)


def _rebuild_option_error(
    key: tuple[bool, bool],
    message: str,
    option: str,
    value: object,
    dag: str | None,
    node: str | None,
) -> InvalidOptionError:
    return _OPTION_ERRORS[key](message, option=option, value=value, dag=dag, node=node)


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


class SerializationError(DAGError, TypeError):
    """A placed node's call could not cross to a worker process or cluster.

    Raised instead of a bare ``PicklingError`` (or ``TypeError: cannot
    pickle ...``) from deep inside a backend, naming what could not be
    pickled, or unpickled on the other side. The original error is
    ``__cause__``. Calls on threads never serialize, so never raise it.

    Attributes:
        node: the node's name, or ``None`` when the call did not say.
        part: what failed: ``"function"`` (the node function or a value its
            closure holds), ``"argument"``, ``"element"`` (one element of a
            map chunk), ``"result"`` (the value the function returned),
            or ``"call"`` (the call could not be unpickled in the worker).
        argument: the argument's name for ``"argument"`` and ``"element"``,
            else ``None``.
        index: the map element's index for ``"element"``, else ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        node: str | None,
        part: str,
        argument: str | None = None,
        index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.node = node
        self.part = part
        self.argument = argument
        self.index = index


class StoreError(DAGError):
    """A store cannot be used as asked.

    Raised when a store file is not a trio_dag store (a foreign or truncated
    file, or one written by a newer trio_dag), when another process (or
    another run in this one) holds the same ``run_key``, when a ``run_key``
    is run again with other inputs or changed node code under
    ``on_change="error"``, or when writing to the store failed during a run.
    The message names the file, the DAG, the run key and what to do; an
    underlying ``sqlite3``/``OSError`` is the ``__cause__``.

    Attributes:
        path: the store's file.
        dag: the DAG's name, or ``None``.
        run_key: the run key, or ``None``.
    """

    def __init__(
        self, message: str, *, path: str, dag: str | None = None, run_key: str | None = None
    ) -> None:
        super().__init__(message)
        self.path = path
        self.dag = dag
        self.run_key = run_key

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_store_error, (str(self), self.path, self.dag, self.run_key))


def _rebuild_store_error(
    message: str, path: str, dag: str | None, run_key: str | None
) -> StoreError:
    return StoreError(message, path=path, dag=dag, run_key=run_key)


class StoreWarning(UserWarning):
    """A node's value is not cached or journaled, and why (warned once per node and store).

    Its value did not serialize, its code has no version (its closure or
    defaults hold a value that does not pickle: give it ``version=``), or a
    stored value could not be read back (it is computed again). Nothing is
    lost: the node runs as it would without a store; its dependents are not
    cached in that run, since their key would need its data version.
    """


class NodeCancelled(DAGError, RuntimeError):
    """A node raised :class:`trio.Cancelled` although its run was not being cancelled.

    Such a ``Cancelled`` comes from somewhere else (an exception object
    leaked from another cancel scope or task) and would otherwise end the
    node without a value. It is the node's failure instead; the stray
    ``Cancelled`` is kept as ``__cause__``.

    Here a node waits for a page that a background task fetches and hands
    over with ``outcome.acapture``, which captures any exception,
    ``Cancelled`` included. When another task shuts the fetcher down by
    cancelling the fetcher's own cancel scope, the node re-raises that
    scope's ``Cancelled``: not its own cancellation, so it is its failure:

    >>> import outcome, trio, trio.testing, trio_dag as td
    >>> class Page(td.DAG):
    ...     fetched = td.input()
    ...
    ...     @td.node
    ...     async def body(fetched):
    ...         await fetched["ready"].wait()        # a value another task fetches
    ...         return fetched["outcome"].unwrap()   # re-raises what the fetcher caught
    >>> async def fetcher(fetched, task_status=trio.TASK_STATUS_IGNORED):
    ...     with trio.CancelScope() as scope:       # the fetcher's scope, not the node's
    ...         task_status.started(scope)
    ...         fetched["outcome"] = await outcome.acapture(trio.sleep_forever)
    ...     fetched["ready"].set()
    >>> async def main():
    ...     fetched = {"ready": trio.Event()}
    ...     async with trio.open_nursery() as nursery:
    ...         scope = await nursery.start(fetcher, fetched)
    ...
    ...         async def shut_down():
    ...             await trio.sleep(1)
    ...             scope.cancel()                  # another task stops the fetcher
    ...
    ...         nursery.start_soon(shut_down)
    ...         try:
    ...             await Page.run({"fetched": fetched})
    ...         except td.RunFailed as exc:
    ...             return exc.result.errors["body"]
    >>> err = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    >>> type(err).__name__, err.node, type(err.__cause__).__name__
    ('NodeCancelled', 'body', 'Cancelled')

    Attributes:
        node: the node's name.
    """

    def __init__(self, message: str, *, node: str) -> None:
        super().__init__(message)
        self.node = node


class ResourceError(DAGError):
    """A resource of a run could not be entered, or could not be exited.

    When entering fails, every node that needs the resource fails with this
    error (never retried: a resource is entered at most once per run), and
    the factory's exception is ``__cause__``. When exiting fails after the
    run completed, ``run`` raises it, with the complete result in
    :attr:`result`; when the run did not complete, what it raises carries
    the exit failure as a note.

    Attributes:
        resource: the resource's name.
        dag: the DAG's name.
        phase: ``"enter"`` or ``"exit"``.
        result: for an exit failure after a completed run, its
            :class:`~trio_dag.RunResult`; else ``None``.
    """

    def __init__(self, message: str, *, resource: str, dag: str, phase: str) -> None:
        super().__init__(message)
        self.resource = resource
        self.dag = dag
        self.phase = phase
        self.result: object = None
