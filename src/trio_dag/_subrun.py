"""Opaque composition: a whole DAG run as one node of another (``DAG.as_node``).

The node's function runs the inner DAG in the node's own task, so the outer
run's cancellation reaches the inner nodes as it reaches any node body. It
finds the outer run through the runtime's context variable, once per call
(never per inner node), and from it:

- the outer ``max_concurrency`` slots, shared with the inner run unless
  ``as_node`` was given a strategy of its own; the node itself takes no slot
  (the runtime skips it for such nodes), so inner work never waits behind a
  slot its own node holds;
- the outer instruments, which see the inner node events under the path
  ``"<outer node>/<inner node>"``;
- the inner partial result of the outer node's previous attempt, so an outer
  retry resumes the inner run instead of starting it over.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import weakref
from collections.abc import Mapping
from typing import Any

from ._context import _current_run, current_attempt
from ._declare import Get
from ._exceptions import option_error
from ._graph import Graph
from ._instrument import ELEMENT_HOOKS, NODE_HOOKS, Emitter, Instrument
from ._node import NodeFunction
from ._nodespec import NO_DEFAULT
from ._options import RunOptions
from ._result import RunFailed, RunResult
from ._run import _Run
from ._state import RunState
from ._strategies import Parallel
from ._validate import did_you_mean

__all__ = ["opaque_node"]


class _Forward(Instrument):
    """Passes an inner run's node and element events to the outer run's instruments.

    The node name becomes a path, ``"<outer node>/<inner node>"``, and the
    hooks run in the outer run's context (``current_run_id()`` is the outer
    run's, as instruments that keep state per run expect). Only the
    hooks some outer instrument overrides are forwarded (set on the instance,
    which is how the emitter tells what an instrument listens to), so an inner
    run pays for no event nobody outside wants.
    """

    def __init__(self, outer: RunState, emit: Emitter, prefix: str) -> None:
        path = prefix + "/"
        for hook in (*NODE_HOOKS, *ELEMENT_HOOKS):
            if emit.wants((hook,)):
                self.__dict__[hook] = functools.partial(_forward, outer, emit, hook, path)


def _forward(outer: RunState, emit: Emitter, hook: str, path: str, node: str, *args: Any) -> None:
    # in the outer run's context: instruments find their state for a run through it
    token = _current_run.set(outer)
    try:
        emit(hook, path + node, *args)
    finally:
        _current_run.reset(token)


def opaque_node(
    dag: Any,
    inputs: Mapping[str, str] | None,
    output: str | None,
    node_options: Mapping[str, Any] | None,
    run_options: dict[str, Any],
) -> NodeFunction[..., Any]:
    """The implementation of :meth:`trio_dag.DAG.as_node` (see there)."""
    graph: Graph = dag.graph
    where = f"DAG {graph.name!r}: as_node"
    options = RunOptions.build(where, dag.supervisor, **run_options)
    own_strategy = run_options.get("strategy") is not None
    wiring = _wiring(where, graph, inputs)
    if output is not None and output not in graph._index:
        hint = did_you_mean(output, graph.nodes)
        raise option_error(
            f"{where}: output={output!r} is not a node of DAG {graph.name!r}{hint}",
            option="output",
            value=output,
            wrong_type=not isinstance(output, str),
        )
    if node_options is not None and not isinstance(node_options, Mapping):
        raise option_error(
            f"{where}: node_options must be a mapping of node options "
            f"(retry, timeout, map_over), got {node_options!r}",
            option="node_options",
            value=node_options,
            wrong_type=True,
        )
    # one parameter per distinct outer name; each feeds the inner inputs wired to it
    feeds: dict[str, list[str]] = {}
    for inner, outer_name in wiring.items():
        feeds.setdefault(outer_name, []).append(inner)
    groups = tuple(feeds.values())
    out = None if output is None else graph._index[output]
    # the inner partial result of an outer attempt that failed, by outer run and arguments
    partials: weakref.WeakKeyDictionary[RunState, dict[tuple[int, ...], RunResult]] = (
        weakref.WeakKeyDictionary()
    )

    async def call(*args: Any, **kwargs: Any) -> Any:
        named = {k: v for inner, v in zip(groups, args, strict=False) for k in inner}
        if kwargs:  # called by hand, Outer.node(day=...): a run passes arguments by position
            for p, v in kwargs.items():
                named.update(dict.fromkeys(pnames.get(p, [p]), v))
        values = graph.bind_inputs(named)
        outer = _current_run.get(None)
        opts, slots, key, partial = options, None, tuple(map(id, args)), None
        if outer is not None:
            slots, opts = _inherit(outer, options, own_strategy)
            if outer.node_emit or outer.element_emit:
                fwd = _Forward(outer, outer.emit, current_attempt().node)  # type: ignore[arg-type]
                opts = dataclasses.replace(opts, instruments=(*opts.instruments, fwd))
            partial = partials.get(outer, {}).pop(key, None)
            if partial is None and outer.partial is not None:  # Outer.resume(): resume inner too
                partial = _earlier(outer, graph)
        if partial is None:
            run = _Run(graph, values, None, opts, slots)
        else:
            run = _Run(graph, list(partial._values[len(graph.nodes) :]), partial, opts, slots)
        try:
            result = await run.go(opts.deadline)
        except RunFailed as exc:
            if outer is not None:
                partials.setdefault(outer, {})[key] = exc.result
            raise
        except BaseException as exc:  # cancelled (the node's timeout): keep what completed
            if outer is not None:
                partials.setdefault(outer, {})[key] = run._result(exc)
            raise
        return result if out is None else result._values[out]

    params = []
    for k, (outer_name, fed) in enumerate(feeds.items()):
        pname = fed[0] if fed[0].isidentifier() else f"input_{k}"
        params.append(
            inspect.Parameter(
                pname, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=Get(outer_name)
            )
        )
    pnames = {p.name: fed for p, fed in zip(params, groups, strict=True)}
    call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    call.__name__ = call.__qualname__ = f"{graph.name}.as_node"
    call.__doc__ = f"DAG {graph.name!r} run as one node" + (
        f", its value that of node {output!r}."
        if output is not None
        else ", its value the RunResult."
    )
    nf = NodeFunction(call, dict(node_options or {}))
    nf.takes_slot = False  # type: ignore[attr-defined]
    return nf


def _earlier(outer: RunState, graph: Graph) -> RunResult | None:
    """The inner partial result this node's failure left in the run ``outer`` resumes."""
    i = outer.graph._index.get(current_attempt().node)
    if i is None or outer.graph._maps[i] is not None:  # a map node: one inner run per element
        return None
    err = outer.partial._errors.get(i)  # type: ignore[union-attr]
    if isinstance(err, RunFailed) and err.result.graph is graph:
        return err.result
    return None


def _wiring(where: str, graph: Graph, inputs: Mapping[str, str] | None) -> dict[str, str]:
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, Mapping):
        raise option_error(
            f"{where}: inputs must be a mapping of inner input names to outer names, "
            f"got {inputs!r}",
            option="inputs",
            value=inputs,
            wrong_type=True,
        )
    wiring: dict[str, str] = {}
    for k, v in inputs.items():
        if k not in graph._input_set:
            hint = did_you_mean(k, graph.inputs)
            raise option_error(
                f"{where}: inputs= wires {k!r}, which is not an input of DAG "
                f"{graph.name!r} (its inputs: {', '.join(graph.inputs) or 'none'}){hint}",
                option="inputs",
                value=k,
            )
        if not isinstance(v, str) or not v:
            raise option_error(
                f"{where}: inputs[{k!r}] must name an input or node of the outer DAG, got {v!r}",
                option="inputs",
                value=v,
                wrong_type=True,
            )
        wiring[k] = v
    for k, d in zip(graph.inputs, graph._defaults, strict=True):
        if d is NO_DEFAULT and k not in wiring:
            raise option_error(
                f"{where}: required input {k!r} of DAG {graph.name!r} is not wired; "
                f"add inputs={{{k!r}: <an input or node of the outer DAG>}}",
                option="inputs",
                value=dict(inputs),
            )
    return wiring


def _inherit(outer: RunState, options: RunOptions, own_strategy: bool) -> tuple[Any, RunOptions]:
    """The slots and options of an inner run: the outer strategy and bound unless given."""
    if own_strategy:
        return None, options
    strategy = outer.options.strategy
    if (
        isinstance(strategy, Parallel)
        and strategy.schedule == "eager"
        and options.supervisor.needs_levels
    ):
        strategy = Parallel(max_concurrency=strategy.max_concurrency, schedule="levels")
    return outer.slots, dataclasses.replace(options, strategy=strategy)
