"""pipefunc: one ``PipeFunc`` per node in a ``Pipeline``, run with ``Pipeline.run``.

A graph of generated nodes needs no generated code here: two plain functions
(no parameter, and two parameters ``a, b``; one parameter where a layer has a
single node) are wrapped once per node, with ``output_name`` the node's name
and ``renames`` mapping the parameters to the parents' names. A run asks for
every leaf with ``full_output=True`` (every node's value) and no cache.

Building the ``Pipeline`` is quadratic in the node count (pipefunc 0.93
re-validates the whole pipeline on every ``add``): about 1 minute at 1,000
nodes on the 2-core benchmark machine, even with ``validate_type_annotations=False``,
so it is only benchmarked at 1,000 nodes (``peers.PEERS["pipefunc"].max_nodes``).
"""

from __future__ import annotations

from typing import Any

from pipefunc import PipeFunc, Pipeline
from pipefunc.map import MapSpec

from peers import Parents, Runner, name, sync_runner


def _f0() -> int:
    return 1


def _f1(a: Any) -> int:
    return 1


def _f2(a: Any, b: Any) -> int:
    return 1


_BY_ARITY = (_f0, _f1, _f2)


def pipeline(parents: Parents) -> Pipeline:
    """The pipefunc ``Pipeline`` of ``parents`` (at most two parents a node)."""
    funcs: list[PipeFunc[Any, Any] | tuple[PipeFunc[Any, Any], str | MapSpec]] = [
        PipeFunc(
            _BY_ARITY[len(ps)],
            output_name=name(i),
            renames={"ab"[k]: name(p) for k, p in enumerate(ps)},
        )
        for i, ps in enumerate(parents)
    ]
    return Pipeline(funcs, validate_type_annotations=False)


def prepare(parents: Parents) -> Runner:
    """The pipefunc runner of ``parents``."""
    pipe = pipeline(parents)
    has_child = {p for ps in parents for p in ps}
    leaves: list[str | tuple[str, ...]] = [
        name(i) for i in range(len(parents)) if i not in has_child
    ]
    keys = [name(i) for i in range(len(parents))]

    def run_once() -> list[Any]:
        out = pipe.run(leaves, full_output=True, kwargs={})
        return [out[k] for k in keys]

    return sync_runner(run_once)
