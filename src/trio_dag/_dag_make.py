"""The ways to make more DAGs of a DAG: ``from_nodes``, ``extend``, ``as_node``.

:class:`DAGMaking` is the base class of :class:`~trio_dag.DAG` that holds
them, so the facade (``_dag.py``) keeps only the ways to run a DAG. Each
method checks nothing itself and delegates: ``from_nodes`` and ``extend`` to
the construction of ``_dag_build.py`` (a new class, compiled by
``DAGMeta``), ``as_node`` to the opaque composition of ``_subrun.py``.

The class is generic in the root DAG class only so that ``from_nodes``,
which always returns a subclass of the root (not of the class it is called
on), is typed ``type[DAG]`` without this module importing the facade above it:
``DAG`` here is a type variable that :class:`~trio_dag.DAG` binds to itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any, Generic, Literal, Self, TypeVar, cast

from ._dag_build import dag_extended, dag_from_nodes, dag_root
from ._declare import Input
from ._instrument import Instrument
from ._node import Node, NodeFunction
from ._retry import RetryPolicy
from ._strategies import Strategy
from ._subrun import opaque_node
from ._supervise import Supervisor

__all__ = ["DAGMaking"]

DAG = TypeVar("DAG")
# the class it stands for, to the API docs: from_nodes' ``type[DAG]`` links there
DAG.__module__ = "trio_dag"


class DAGMaking(Generic[DAG]):
    """The ways to make more DAGs of a DAG; ``DAG`` is the root DAG class (:class:`~trio_dag.DAG`).

    Not used alone: :class:`~trio_dag.DAG` is ``DAGMaking["DAG"]`` and the
    methods are documented there.
    """

    @classmethod
    def from_nodes(
        cls,
        name: str,
        nodes: Iterable[Node],
        inputs: Iterable[str] | Mapping[str, Input] = (),
        *,
        supervisor: Supervisor | None = None,
        resources: Mapping[str, Any] | None = None,
    ) -> type[DAG]:
        """Build a DAG from :class:`Node` specs (generated or loaded graphs).

        Args:
            name: the DAG's name.
            nodes: the nodes, in definition order.
            inputs: input names (all required), or a mapping of names to
                :func:`trio_dag.input` declarations.
            supervisor: the DAG's default supervisor.
            resources: resource names to :func:`trio_dag.resource`
                declarations; a node lists a resource in ``deps`` to receive
                its entered value.

        Returns:
            A new :class:`DAG` subclass, validated and compiled.

        Raises:
            DAGDefinitionError: (a subclass of it) the graph is invalid.
        """
        # Like namedtuple and Enum's functional API: the class belongs to the caller's
        # module, so `Name = DAG.from_nodes("Name", ...)` at module level pickles.
        module = sys._getframe(1).f_globals.get("__name__", "__main__")
        root = dag_root(cls)  # DAG itself, whichever DAG class this is called on
        made = dag_from_nodes(root, module, name, nodes, inputs, supervisor, resources)
        return cast("type[DAG]", made)

    @classmethod
    def extend(
        cls,
        name: str,
        nodes: Iterable[Node],
        inputs: Iterable[str] | Mapping[str, Input] = (),
    ) -> type[Self]:
        """A new DAG class: this DAG's nodes and inputs, plus generated ones.

        The new nodes are :class:`Node` specs, as for :meth:`from_nodes`; they
        may depend on this DAG's nodes and inputs (and on each other), and
        the whole graph is validated like any other: unknown names with a
        "did you mean", cycles, duplicates, options, types. The new class is
        a subclass of this one, so this DAG's typed handles
        (``result[Report.summary]``) and supervisor work on it too; this DAG
        is unchanged.

        Args:
            name: the new DAG's name.
            nodes: the nodes to add.
            inputs: inputs to add, as for :meth:`from_nodes`.

        Returns:
            A new subclass of this DAG, validated and compiled.

        Raises:
            DAGDefinitionError: (a subclass of it) the extended graph is invalid.
        """
        module = sys._getframe(1).f_globals.get("__name__", "__main__")  # as from_nodes
        return dag_extended(cls, module, name, nodes, inputs)

    @classmethod
    def as_node(
        cls,
        inputs: Mapping[str, str] | None = None,
        *,
        output: str | None = None,
        node_options: Mapping[str, Any] | None = None,
        # run()'s options repeated on purpose: each entry point keeps its explicit, typed
        # signature (the inner run's options are checked once, by RunOptions.build)
        strategy: Strategy | None = None,
        supervisor: Supervisor | None = None,
        on_failure: Literal["fail_fast", "continue"] = "fail_fast",
        retry: RetryPolicy | int | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        instruments: Iterable[Instrument] = (),
    ) -> NodeFunction[..., Any]:
        """This DAG as one node of another: a node that runs it whole (opaque composition).

        ``summary = Etl.as_node(inputs={"day": "day"}, output="summary")`` in
        a class body is a node whose dependencies are the outer names wired to
        Etl's inputs, and whose value is the inner run's value of ``output``
        (the whole :class:`~trio_dag.RunResult` when ``output`` is ``None``).
        Each call is one run of this DAG, in the node's own task, with its
        own options:

        - the outer run's cancellation (fail-fast, deadline, a timeout of the
          node) cancels the inner run;
        - the outer run's instruments see the inner node events, the node
          names given as a path, ``"<outer node>/<inner node>"``;
        - an inner failure is the node's failure: its error is the inner
          :class:`~trio_dag.RunFailed`, whose report is its message and whose
          ``result`` is the inner partial result;
        - when the node is retried (``node_options={"retry": ...}``, also
          after its ``timeout``), the next attempt resumes the inner partial
          result: completed inner nodes are not run again; so does ``resume``
          of the outer run (not for a node with ``map_over``: its elements
          start over);
        - the node takes no ``max_concurrency`` slot of the outer run: unless
          ``strategy`` is given, the inner run uses the outer run's strategy
          and shares its slots, so the bound holds for inner and outer nodes
          together and cannot deadlock on a slot its own node holds.

        Args:
            inputs: wiring, inner input name to the name (an input or node of
                the outer DAG) that feeds it; inner inputs with a default may
                be left out.
            output: the inner node whose value is the node's value, or
                ``None`` for the whole result.
            node_options: options of the outer node, as for
                :func:`trio_dag.node`: ``retry``, ``timeout`` (for the whole
                inner run), ``map_over`` (an inner input name: one inner run
                per element).
            strategy, supervisor, on_failure, retry, deadline, seed, instruments:
                options of the inner run, as for :meth:`run` (``retry`` is the
                default policy of inner nodes).

        Returns:
            A :class:`~trio_dag.NodeFunction` to assign in a class body.

        Raises:
            InvalidOptionError: an option is invalid, ``inputs`` wires a name
                that is not an input of this DAG or leaves a required one
                unwired, or ``output`` is not a node (with a "did you mean").
        """
        return opaque_node(
            cls,
            inputs,
            output,
            node_options,
            {
                "strategy": strategy,
                "supervisor": supervisor,
                "on_failure": on_failure,
                "retry": retry,
                "deadline": deadline,
                "seed": seed,
                "instruments": instruments,
            },
        )
