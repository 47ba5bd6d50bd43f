"""Definition: the class-body DSL and the programmatic ``Node`` form.

Both front doors produce :class:`~trio_dag._graph.NodeSpec` lists that
:class:`~trio_dag.Graph` compiles; every check happens here or there, when
the ``class`` statement runs or ``DAG.from_nodes`` is called.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, final, overload

import trio

from ._exceptions import (
    DAGDefinitionError,
    DuplicateNodeError,
    InputError,
    InvalidNodeError,
    InvalidOptionError,
)
from ._graph import NO_DEFAULT, Graph, NodeSpec
from ._retry import RetryPolicy
from ._supervise import Supervisor

if TYPE_CHECKING:
    from ._handle import RunHandle
    from ._instrument import Instrument
    from ._result import RunResult
    from ._strategies import Strategy
    from ._stream import StreamResults

__all__ = ["DAG", "Get", "Input", "Node", "NodeFunction", "get", "input", "node"]

F = TypeVar("F", bound=Callable[..., Any])
_EMPTY = inspect.Parameter.empty
_P = inspect.Parameter


# ---------------------------------------------------------------- markers


@final
class Input:
    """A declared run input; create with :func:`trio_dag.input`."""

    __slots__ = ("default", "name")

    def __init__(self, default: Any = NO_DEFAULT) -> None:
        self.default = default
        self.name: str | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def required(self) -> bool:
        """Whether a run must be given this input."""
        return self.default is NO_DEFAULT

    def __repr__(self) -> str:
        d = "" if self.required else f"default={self.default!r}"
        return f"trio_dag.input({d})"


def input(default: Any = NO_DEFAULT) -> Any:
    """Declare a run input in a DAG class body.

    ``day = trio_dag.input()`` is required; ``trio_dag.input(default=...)`` is
    optional. Nodes depend on an input by naming it as a parameter.
    """
    return Input(default)


@final
class Get:
    """A dependency under another name; create with :func:`trio_dag.get`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"trio_dag.get() needs a node or input name, got {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return f"trio_dag.get({self.name!r})"


def get(name: str) -> Any:
    """Declare, as a parameter default, a dependency on ``name``.

    ``async def summary(users, when=trio_dag.get("day"))`` makes ``summary``
    depend on ``day`` and receive its value as ``when``.
    """
    return Get(name)


# ------------------------------------------------------------------ nodes

_OPTIONS = ("retry", "timeout", "map_over")


@final
class NodeFunction:
    """A node of the class DSL: the async function plus its options.

    It stays callable as the plain async function, so a node can be unit
    tested on its own: ``await Pipeline.summary(users=..., orders=...)``.
    """

    __slots__ = ("__dict__", "__wrapped__", "fn", "options")

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.fn = fn
        self.options = options
        self.__wrapped__ = fn
        functools.update_wrapper(self, fn, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<trio_dag node {getattr(self.fn, '__qualname__', self.fn)!r}>"


@overload
def node(fn: Callable[..., Any], /) -> NodeFunction: ...
@overload
def node(
    *,
    retry: RetryPolicy | int | None = None,
    timeout: float | None = None,
    map_over: str | None = None,
) -> Callable[[Callable[..., Any]], NodeFunction]: ...
def node(
    fn: Callable[..., Any] | None = None,
    /,
    **options: Any,
) -> NodeFunction | Callable[[Callable[..., Any]], NodeFunction]:
    """Mark an ``async def`` in a DAG class body as a node.

    Use bare (``@trio_dag.node``) or with options
    (``@trio_dag.node(retry=3, timeout=5.0)``). Each parameter names a
    dependency: a node or a declared input of the same name, or the name given
    with ``param=trio_dag.get("name")``. A parameter with an ordinary default
    that names no node or input keeps its default.

    Args:
        retry: a :class:`~trio_dag.RetryPolicy`, or an int ``n`` for
            ``RetryPolicy(max_attempts=n)``.
        timeout: seconds allowed per attempt (``trio.fail_after`` inside the
            attempt's own task).
        map_over: the parameter to map over: the function runs once per
            element of that dependency's value, and the node's value is the
            list of results in input order.
    """
    unknown = set(options) - set(_OPTIONS)
    if unknown:
        bad = sorted(unknown)[0]
        raise TypeError(
            f"trio_dag.node() got an unknown option {bad!r}; the options are {', '.join(_OPTIONS)}"
        )
    if fn is None:
        return lambda f: NodeFunction(f, options)
    if isinstance(fn, NodeFunction):
        raise TypeError(f"{fn!r} is already a node; apply @trio_dag.node once")
    return NodeFunction(fn, options)


@final
class Node:
    """A node of the programmatic form, for :meth:`DAG.from_nodes`.

    The function receives its dependencies positionally, in ``deps`` order,
    so one function object can serve 100,000 generated nodes.

    Args:
        name: the node's name (any non-empty string).
        fn: the async callable.
        deps: names of nodes or inputs it depends on.
        retry: as for :func:`node`.
        timeout: as for :func:`node`.
        map_over: the dependency (one of ``deps``) to map over, as for :func:`node`.
    """

    __slots__ = ("deps", "fn", "name", "options")

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        deps: Iterable[str] = (),
        *,
        retry: RetryPolicy | int | None = None,
        timeout: float | None = None,
        map_over: str | None = None,
    ) -> None:
        self.name = name
        self.fn = fn
        self.deps = tuple(deps) if not isinstance(deps, str) else (deps,)
        self.options = {
            k: v
            for k, v in (("retry", retry), ("timeout", timeout), ("map_over", map_over))
            if v is not None
        }

    def __repr__(self) -> str:
        return f"Node({self.name!r}, deps={self.deps!r})"


# ------------------------------------------------------------- validation


def _check_name(dag: str, name: object, what: str, *, identifier: bool) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidNodeError(
            f"DAG {dag!r}: a {what} name must be a non-empty string, got {name!r}", dag=dag
        )
    if identifier and not name.isidentifier():
        raise InvalidNodeError(
            f"DAG {dag!r}: {what} name {name!r} is not a valid Python identifier",
            dag=dag,
            node=name,
        )
    if name in RESERVED or name.startswith("__"):
        raise InvalidNodeError(
            f"DAG {dag!r}: {what} name {name!r} would shadow the DAG's own API "
            f"({', '.join(sorted(RESERVED))}); choose another name",
            dag=dag,
            node=name,
        )
    return name


def _check_async(dag: str, name: str, fn: object) -> None:
    if not callable(fn):
        raise InvalidNodeError(
            f"node {name!r} of DAG {dag!r} must be an async function, got {fn!r}",
            dag=dag,
            node=name,
        )
    if inspect.isasyncgenfunction(fn):
        raise InvalidNodeError(
            f"node {name!r} of DAG {dag!r} is an async generator; a node must return "
            f"one value: use 'async def' with 'return'",
            dag=dag,
            node=name,
        )
    if inspect.iscoroutinefunction(fn):
        return
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - want the type's method
    if not inspect.isfunction(fn) and inspect.iscoroutinefunction(call):
        return
    raise InvalidNodeError(
        f"node {name!r} of DAG {dag!r} must be an async function ('async def'), got "
        f"{fn!r}; a plain function, even one that returns a coroutine, is not accepted: "
        f"wrap it, or run blocking code with trio.to_thread.run_sync",
        dag=dag,
        node=name,
    )


def _signature(dag: str, name: str, fn: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError) as exc:  # pragma: no cover - builtins only
        raise InvalidNodeError(
            f"node {name!r} of DAG {dag!r}: cannot read the signature of {fn!r}: {exc}",
            dag=dag,
            node=name,
        ) from exc


def _check_options(
    dag: str, name: str, options: Mapping[str, Any], params: Sequence[str]
) -> dict[str, Any]:
    """Validate option values; return NodeSpec keyword arguments."""
    out: dict[str, Any] = {}
    where = f"node {name!r} of DAG {dag!r}"
    if "retry" in options:
        try:
            out["retry"] = RetryPolicy.coerce(options["retry"], where)
        except (TypeError, ValueError) as exc:
            raise InvalidOptionError(
                str(exc), dag=dag, node=name, option="retry", value=options["retry"]
            ) from None
    t = options.get("timeout")
    if t is not None:
        if (
            isinstance(t, bool)
            or not isinstance(t, int | float)
            or not (math.isfinite(t) and t > 0)
        ):
            raise InvalidOptionError(
                f"{where}: timeout must be a positive, finite number of seconds, got {t!r}",
                dag=dag,
                node=name,
                option="timeout",
                value=t,
            )
        out["timeout"] = float(t)
    m = options.get("map_over")
    if m is not None:
        if m not in params:
            raise InvalidOptionError(
                f"{where}: map_over={m!r} names none of its dependencies "
                f"({', '.join(params) or 'it has none'})",
                dag=dag,
                node=name,
                option="map_over",
                value=m,
            )
        out["map_over"] = list(params).index(m)
    return out


def _check_unique_deps(dag: str, name: str, deps: Sequence[str]) -> None:
    seen: set[str] = set()
    for d in deps:
        if d in seen:
            raise InvalidNodeError(
                f"node {name!r} of DAG {dag!r} lists dependency {d!r} twice; "
                f"list each dependency once",
                dag=dag,
                node=name,
            )
        seen.add(d)


def _dsl_spec(dag: str, name: str, nf: NodeFunction, known: set[str]) -> NodeSpec:
    """Turn a class-body node into a NodeSpec, resolving its parameters."""
    _check_async(dag, name, nf.fn)
    sig = _signature(dag, name, nf.fn)
    deps: list[str] = []
    kwnames: list[str] = []
    via: list[str] = []
    positional = True  # can the deps be passed positionally, in order?
    for i, p in enumerate(sig.parameters.values()):
        if p.kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD):
            star = "*" if p.kind is _P.VAR_POSITIONAL else "**"
            raise InvalidNodeError(
                f"node {name!r} of DAG {dag!r} has parameter {star}{p.name}; a node's "
                f"parameters name its dependencies, so *args and **kwargs cannot be one",
                dag=dag,
                node=name,
            )
        if p.kind is _P.POSITIONAL_ONLY:
            raise InvalidNodeError(
                f"node {name!r} of DAG {dag!r} has positional-only parameter {p.name!r}; "
                f"dependencies are passed by name, so remove the '/'",
                dag=dag,
                node=name,
            )
        if isinstance(p.default, Get):
            target, how = p.default.name, f" (parameter {p.name!r} via trio_dag.get)"
        elif p.default is _EMPTY or p.name in known:
            target, how = p.name, ""
        else:
            continue  # keeps its default
        if p.kind is _P.KEYWORD_ONLY or len(deps) != i:
            positional = False
        deps.append(target)
        kwnames.append(p.name)
        via.append(how)
    _check_unique_deps(dag, name, deps)
    opts = _check_options(dag, name, nf.options, kwnames)
    return NodeSpec(
        name,
        nf.fn,
        tuple(deps),
        None if positional else tuple(kwnames),
        tuple(via),
        **opts,
    )


def _programmatic_specs(dag: str, nodes: Iterable[Node]) -> list[NodeSpec]:
    """Turn ``Node`` objects into NodeSpecs; signatures read once per function."""
    arity: dict[int, tuple[Callable[..., Any], int, float]] = {}
    specs: list[NodeSpec] = []
    for nd in nodes:
        if not isinstance(nd, Node):
            raise InvalidNodeError(
                f"DAG {dag!r}: from_nodes() takes trio_dag.Node objects, got {nd!r}", dag=dag
            )
        name = _check_name(dag, nd.name, "node", identifier=False)
        fn = nd.fn
        cached = arity.get(id(fn))
        if cached is None or cached[0] is not fn:
            _check_async(dag, name, fn)
            lo, hi = _positional_arity(dag, name, _signature(dag, name, fn))
            cached = arity[id(fn)] = (fn, lo, hi)
        _, lo, hi = cached
        deps = nd.deps
        if not lo <= len(deps) <= hi:
            want = f"{lo}" if lo == hi else f"{lo} to {hi:.0f}" if hi != math.inf else f"{lo}+"
            raise InvalidNodeError(
                f"node {name!r} of DAG {dag!r} lists {len(deps)} deps {list(deps)!r}, "
                f"but its function takes {want} positional arguments",
                dag=dag,
                node=name,
            )
        for d in deps:
            if not isinstance(d, str):
                raise InvalidNodeError(
                    f"node {name!r} of DAG {dag!r}: deps must be names (str), got {d!r}",
                    dag=dag,
                    node=name,
                )
        _check_unique_deps(dag, name, deps)
        opts = _check_options(dag, name, nd.options, deps) if nd.options else {}
        specs.append(NodeSpec(name, fn, deps, None, None, **opts))
    return specs


def _positional_arity(dag: str, name: str, sig: inspect.Signature) -> tuple[int, float]:
    lo, hi = 0, 0.0
    for p in sig.parameters.values():
        if p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD):
            hi += 1
            if p.default is _EMPTY:
                lo += 1
        elif p.kind is _P.VAR_POSITIONAL:
            hi = math.inf
        elif p.kind is _P.KEYWORD_ONLY and p.default is _EMPTY:
            raise InvalidNodeError(
                f"node {name!r} of DAG {dag!r}: its function has required keyword-only "
                f"parameter {p.name!r}, which positional deps cannot fill",
                dag=dag,
                node=name,
            )
    return lo, hi


# ------------------------------------------------------------ the DAG class


class _Namespace(dict[str, Any]):
    """Class-body namespace that refuses to redefine a node or input silently."""

    def __init__(self, dag: str) -> None:
        super().__init__()
        self.dag = dag

    def __setitem__(self, key: str, value: Any) -> None:
        old = self.get(key)
        if isinstance(old, NodeFunction | Input):
            # also a node redefined without @node: it would vanish without a word
            then = "" if isinstance(value, NodeFunction | Input) else f" (then as {value!r})"
            raise DuplicateNodeError(
                f"DAG {self.dag!r} defines {key!r} twice{then}; "
                f"node and input names must be unique",
                dag=self.dag,
                node=key,
            )
        super().__setitem__(key, value)


class DAGMeta(type):
    """Metaclass of :class:`DAG`: validates and compiles the class body."""

    @classmethod
    def __prepare__(mcs, name: str, bases: tuple[type, ...], /, **kw: Any) -> _Namespace:
        return _Namespace(name)

    def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any], **kw: Any) -> Any:
        cls = super().__new__(mcs, name, bases, dict(ns), **kw)
        if "_prebuilt" in ns:  # from_nodes(): graph already compiled
            return cls
        nodes: dict[str, NodeFunction] = {}
        inputs: dict[str, Input] = {}
        for base in reversed(cls.__mro__[1:]):
            nodes.update(getattr(base, "_dsl_nodes", {}))
            inputs.update(getattr(base, "_dsl_inputs", {}))
        seen: dict[int, str] = {id(v): k for k, v in nodes.items()}
        for key, value in ns.items():
            if isinstance(value, NodeFunction):
                if id(value) in seen and seen[id(value)] != key:
                    raise DuplicateNodeError(
                        f"DAG {name!r} registers the same node function under two names, "
                        f"{seen[id(value)]!r} and {key!r}; define each node once",
                        dag=name,
                        node=key,
                    )
                seen[id(value)] = key
                _check_name(name, key, "node", identifier=True)
                nodes[key] = value
                inputs.pop(key, None)
            elif isinstance(value, Input):
                _check_name(name, key, "input", identifier=True)
                inputs[key] = value
                nodes.pop(key, None)
        sup = ns.get("supervisor", getattr(cls, "supervisor", None))
        if not isinstance(sup, Supervisor):
            raise DAGDefinitionError(
                f"DAG {name!r}: supervisor must be a trio_dag.Supervisor, got {sup!r}", dag=name
            )
        known = set(nodes) | set(inputs)
        specs = [_dsl_spec(name, k, v, known) for k, v in nodes.items()]
        cls._dsl_nodes = nodes  # type: ignore[attr-defined]
        cls._dsl_inputs = inputs  # type: ignore[attr-defined]
        cls.graph = Graph(name, specs, {k: v.default for k, v in inputs.items()})  # type: ignore[attr-defined]
        return cls


class DAG(metaclass=DAGMeta):
    """Base class of a DAG defined in a class body.

    >>> import trio, trio_dag
    >>> class Greeting(trio_dag.DAG):
    ...     who = trio_dag.input(default="world")
    ...
    ...     @trio_dag.node
    ...     async def text(who):
    ...         return f"hello, {who}"
    ...
    ...     @trio_dag.node
    ...     async def shout(text):
    ...         return text.upper() + "!"
    >>> Greeting.graph.order
    ('text', 'shout')
    >>> Greeting.run_sync()["shout"]
    'HELLO, WORLD!'
    """

    graph: ClassVar[Graph]
    """The compiled, frozen graph of this DAG."""

    supervisor: ClassVar[Supervisor] = Supervisor()
    """The default supervisor of this DAG's runs; set it in the class body."""

    @classmethod
    def from_nodes(
        cls,
        name: str,
        nodes: Iterable[Node],
        inputs: Iterable[str] | Mapping[str, Input] = (),
        *,
        supervisor: Supervisor | None = None,
    ) -> type[DAG]:
        """Build a DAG from :class:`Node` specs (generated or loaded graphs).

        Args:
            name: the DAG's name.
            nodes: the nodes, in definition order.
            inputs: input names (all required), or a mapping of names to
                :func:`trio_dag.input` declarations.
            supervisor: the DAG's default supervisor.

        Returns:
            A new :class:`DAG` subclass, validated and compiled.

        Raises:
            DAGDefinitionError: (a subclass of it) the graph is invalid.
        """
        if not isinstance(name, str) or not name:
            raise InvalidNodeError(
                f"from_nodes(): the DAG name must be a non-empty string, got {name!r}",
                dag=str(name),
            )
        if isinstance(inputs, Mapping):
            declared = {}
            for k, v in inputs.items():
                if not isinstance(v, Input):
                    raise DAGDefinitionError(
                        f"DAG {name!r}: input {k!r} must be declared with trio_dag.input(), "
                        f"got {v!r}",
                        dag=name,
                    )
                declared[_check_name(name, k, "input", identifier=False)] = v.default
        else:
            if isinstance(inputs, str):
                inputs = (inputs,)
            declared = {}
            for k in inputs:
                _check_name(name, k, "input", identifier=False)
                if k in declared:
                    raise DuplicateNodeError(
                        f"DAG {name!r} declares input {k!r} twice", dag=name, node=k
                    )
                declared[k] = NO_DEFAULT
        if supervisor is not None and not isinstance(supervisor, Supervisor):
            raise DAGDefinitionError(
                f"DAG {name!r}: supervisor must be a trio_dag.Supervisor, got {supervisor!r}",
                dag=name,
            )
        graph = Graph(name, _programmatic_specs(name, nodes), declared)
        ns: dict[str, Any] = {"_prebuilt": True, "graph": graph, "__qualname__": name}
        if supervisor is not None:
            ns["supervisor"] = supervisor
        return DAGMeta(name, (DAG,), ns)  # type: ignore[no-any-return]

    @classmethod
    def _input_values(cls, inputs: Mapping[str, Any] | None) -> list[Any]:
        g = cls.graph
        given = {} if inputs is None else inputs
        if not isinstance(given, Mapping):
            raise TypeError(
                f"DAG {g.name!r}: inputs must be a mapping of input names to values, got {given!r}"
            )
        unknown = [k for k in given if k not in g.inputs]
        missing = [
            k
            for k, d in zip(g.inputs, g._defaults, strict=True)
            if d is NO_DEFAULT and k not in given
        ]
        if unknown or missing:
            parts = []
            if missing:
                parts.append(f"missing required input(s) {', '.join(map(repr, missing))}")
            if unknown:
                parts.append(f"unknown input(s) {', '.join(map(repr, unknown))}")
            declared = ", ".join(
                f"{k}" + ("" if d is NO_DEFAULT else "=" + repr(d))
                for k, d in zip(g.inputs, g._defaults, strict=True)
            )
            raise InputError(
                f"DAG {g.name!r}: {'; '.join(parts)} (declared inputs: {declared or 'none'})",
                missing=missing,
                unknown=unknown,
            )
        return [given.get(k, d) for k, d in zip(g.inputs, g._defaults, strict=True)]

    @classmethod
    async def run(
        cls,
        inputs: Mapping[str, Any] | None = None,
        *,
        strategy: Strategy | None = None,
        supervisor: Supervisor | None = None,
        on_failure: Literal["fail_fast", "continue"] = "fail_fast",
        retry: RetryPolicy | int | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        instruments: Sequence[Instrument] = (),
    ) -> RunResult:
        """Run the DAG and return its :class:`~trio_dag.RunResult`.

        Args:
            inputs: values of the declared inputs.
            strategy: :class:`~trio_dag.Sequential` or :class:`~trio_dag.Parallel`;
                by default ``Parallel()`` (eager), or ``Parallel(schedule="levels")``
                when the supervisor restarts levels.
            supervisor: overrides the DAG's ``supervisor`` for this run.
            on_failure: ``"fail_fast"`` cancels everything when a node has
                finally failed; ``"continue"`` runs every node that does not
                depend on a failure first. Either way ``RunFailed`` is raised.
            retry: the retry policy of nodes that have none of their own.
            deadline: seconds the whole run may take; when it passes, the run is
                cancelled and ``RunFailed`` is raised with status ``"timed_out"``.
            seed: seeds the random generator of retry jitter, for reproducible delays.
            instruments: :class:`~trio_dag.Instrument` objects told of every event.

        Raises:
            InputError: inputs are missing or unknown (before any node runs).
            RunFailed: the run did not complete; ``.result`` keeps what did.
        """
        from ._run import execute

        return await execute(
            cls.graph,
            cls._input_values(inputs),
            None,
            strategy=strategy,
            supervisor=cls.supervisor if supervisor is None else supervisor,
            on_failure=on_failure,
            retry=retry,
            deadline=deadline,
            seed=seed,
            instruments=instruments,
        )

    @classmethod
    async def resume(
        cls,
        partial: RunResult,
        *,
        strategy: Strategy | None = None,
        supervisor: Supervisor | None = None,
        on_failure: Literal["fail_fast", "continue"] = "fail_fast",
        retry: RetryPolicy | int | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        instruments: Sequence[Instrument] = (),
    ) -> RunResult:
        """Run only what ``partial`` is missing; return the full :class:`~trio_dag.RunResult`.

        Completed values are passed on as the same objects and never
        recomputed; the inputs are those of the partial run. Resuming a
        complete result runs nothing. Options are as for :meth:`run`.

        Raises:
            ValueError: ``partial`` is not a result of this DAG.
            RunFailed: the resumed run did not complete either.
        """
        from ._result import RunResult
        from ._run import execute

        if not isinstance(partial, RunResult) or partial.graph is not cls.graph:
            raise ValueError(
                f"DAG {cls.graph.name!r}: resume() needs a RunResult of this DAG, got {partial!r}"
            )
        return await execute(
            cls.graph,
            list(partial._values[len(cls.graph.nodes) :]),
            partial,
            strategy=strategy,
            supervisor=cls.supervisor if supervisor is None else supervisor,
            on_failure=on_failure,
            retry=retry,
            deadline=deadline,
            seed=seed,
            instruments=instruments,
        )

    @classmethod
    def start(
        cls, inputs: Mapping[str, Any] | None = None, **run_options: Any
    ) -> AbstractAsyncContextManager[RunHandle]:
        """Start a run in the background: ``async with Dag.start(inputs) as run:``.

        The block gets a :class:`~trio_dag.RunHandle` once the run has started
        (bad inputs or options raise on entry, before any node runs). Leaving
        the block cancels the run if it is still going; the handle stays
        usable after it (``run.result()``, ``await run.wait()``). Options are
        as for :meth:`run`.
        """
        from ._handle import start_run

        return start_run(cls, inputs, **run_options)

    @classmethod
    def run_sync(cls, inputs: Mapping[str, Any] | None = None, **options: Any) -> RunResult:
        """Run the DAG with :func:`trio.run`, for scripts; options as for :meth:`run`."""
        return trio.run(functools.partial(cls.run, inputs, **options))

    @classmethod
    def stream(
        cls,
        source: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]],
        *,
        max_in_flight: int = 64,
        batch_size: int | None = None,
        ordered: bool = True,
        on_item_failure: str = "continue",
        strategy: Strategy | None = None,
        supervisor: Supervisor | None = None,
        retry: RetryPolicy | int | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        instruments: Sequence[Instrument] = (),
    ) -> AbstractAsyncContextManager[StreamResults]:
        r"""Run the DAG once per input mapping of ``source``, pipelined.

        ``async with Pipeline.stream(source) as results: async for r in results:
        ...``. Each item flows through the whole DAG; different items are at
        different nodes at the same time, all under one ``max_concurrency``
        limiter. The source is read lazily: never more than ``max_in_flight``
        items are between the source and the consumer (items waiting to be
        delivered in order count), so memory stays flat however long the
        stream. Leaving the ``async with`` early cancels the work in flight and
        closes the source (``aclose()`` or ``close()``).

        Args:
            source: an iterable or async iterable of input mappings.
            max_in_flight: most items read from the source and not yet
                received by the consumer.
            batch_size: when set, items are read and admitted in batches of this
                size (the last may be smaller), and each result is a ``list`` of
                the batch's :class:`~trio_dag.RunResult`\ s.
            ordered: deliver in input order (``True``) or in completion order.
            on_item_failure: ``"continue"`` delivers a failed item's partial
                result (``result.ok`` is false) and goes on; ``"stop"`` raises
                that item's :class:`~trio_dag.RunFailed` from the iteration,
                after every earlier result, and cancels the rest.
            strategy, supervisor, retry, deadline, seed, instruments: as for
                :meth:`run`, applied to each item's run (``deadline`` per item).

        Raises:
            TypeError, ValueError: an option is invalid (before anything runs).
            InputError: from the iteration, when an item's inputs are invalid.
        """
        from ._stream import open_stream

        return open_stream(
            cls,
            source,
            max_in_flight=max_in_flight,
            batch_size=batch_size,
            ordered=ordered,
            on_item_failure=on_item_failure,
            strategy=strategy,
            supervisor=supervisor,
            retry=retry,
            deadline=deadline,
            seed=seed,
            instruments=instruments,
        )


RESERVED = frozenset(n for n in dir(DAG) if not n.startswith("_")) | {"graph"}
"""Names a node or input may not take: they would shadow the DAG's own API."""
