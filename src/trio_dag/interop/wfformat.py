"""Replay WfCommons WfFormat instances as trio_dag DAGs.

`WfFormat <https://github.com/wfcommons/WfFormat>`_ 1.5 is the JSON format of
the WfCommons project's recorded executions of real scientific workflows
(Montage, Epigenomics, 1000Genome, ...). :func:`load` turns one instance into
a DAG whose nodes sleep for their recorded runtimes, so a strategy can be
measured on a shape nobody on this project drew; :func:`info` computes the
figures a run should meet: the critical path (what an eager scheduler
reaches), the level-barrier makespan (what a level-by-level one reaches) and
the total work.

What is read from the file:

- ``workflow.specification.tasks[]``: ``id`` (the node's name) and
  ``parents`` (its dependencies);
- ``workflow.execution.tasks[]``: ``id`` and ``runtimeInSeconds``;
- ``workflow.execution.makespanInSeconds``, if present (what the original
  system took).

Everything runs in virtual time as well as real time::

    dag = wfformat.load("montage.json")
    figures = wfformat.info("montage.json")
    clock = trio.testing.MockClock(autojump_threshold=0)
    trio.run(dag.run, clock=clock)   # takes figures.critical_path virtual seconds
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, final

import trio

import trio_dag as td
from trio_dag._validate import is_finite, shown

__all__ = ["WorkflowInfo", "info", "load"]

StrPath = str | os.PathLike[str]


@final
@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    """Figures of a WfFormat instance, at a given speed.

    All times are in seconds, each task's recorded runtime multiplied by the
    ``speed`` given to :func:`info`, added up the way a replay adds them, so a
    virtual-time replay of :func:`load`'s DAG matches them to rounding.

    Attributes:
        name: The DAG name :func:`load` gives by default (the file's stem).
        tasks: Number of tasks (nodes).
        edges: Number of parent -> child dependencies.
        levels: Number of levels (longest chain, in tasks).
        work: Sum of all runtimes: what one worker would take.
        critical_path: Longest chain of runtimes: the makespan with unlimited concurrency
            under ``Parallel(schedule="eager")``, and a lower bound for any schedule.
        level_barrier: Sum over levels of the level's longest runtime: the makespan under
            ``Parallel(schedule="levels")`` with unlimited concurrency.
        recorded_makespan: ``makespanInSeconds`` of the original execution (not scaled), if
            given.
    """

    name: str
    tasks: int
    edges: int
    levels: int
    work: float
    critical_path: float
    level_barrier: float
    recorded_makespan: float | None


@final
class _Sleep:
    """A node body that sleeps for one task's runtime, whatever its dependencies."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def __call__(self, *deps: object) -> None:
        await trio.sleep(self.seconds)


async def _instant(*deps: object) -> None:
    """A node body for a task that takes no time (or any task at speed 0)."""


@dataclass(frozen=True, slots=True)
class _Instance:
    file: str
    name: str
    ids: tuple[str, ...]
    parents: tuple[tuple[str, ...], ...]
    runtimes: tuple[float, ...]
    makespan: float | None


def load(path: StrPath, *, speed: float = 1.0, name: str | None = None) -> type[td.DAG]:
    """Build a DAG that replays a WfFormat 1.5 instance.

    Each task becomes a node named by its ``id``, depending on its
    ``parents``, whose body sleeps (:func:`trio.sleep`) for
    ``runtimeInSeconds * speed`` and returns ``None``; a task that takes no
    time just returns. Nodes with equal runtimes share one callable, so the
    signature check of :meth:`DAG.from_nodes <trio_dag.DAG.from_nodes>`
    runs once per distinct runtime.

    Args:
        path: the JSON file.
        speed: factor applied to every runtime; ``0`` makes every node return
            at once (to measure the engine alone).
        name: the DAG's name; by default the file's stem.

    Returns:
        A new :class:`~trio_dag.DAG` subclass without inputs.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not JSON, or not a WfFormat 1.5 instance
            (the message names the file and what is wrong), or ``speed`` is
            negative, NaN or infinite.
        TypeError: ``speed`` is not a number.
        DAGDefinitionError: the tasks do not form a valid DAG (a cycle, an
            unknown parent, a reserved name); a note names the file.
    """
    speed = _check_speed("load", path, speed)
    inst = _read(path)
    bodies: dict[float, _Sleep] = {}
    nodes: list[td.Node] = []
    for tid, deps, rt in zip(inst.ids, inst.parents, inst.runtimes, strict=True):
        seconds = rt * speed
        fn: Any = _instant
        if seconds > 0:
            fn = bodies.get(seconds)
            if fn is None:
                fn = bodies[seconds] = _Sleep(seconds)
        nodes.append(td.Node(tid, fn, deps))
    return _build(inst, inst.name if name is None else name, nodes)


def info(path: StrPath, *, speed: float = 1.0) -> WorkflowInfo:
    """Compute the reference figures of a WfFormat 1.5 instance.

    The instance is validated exactly as :func:`load` does it (so the
    figures always describe a DAG that can run). Runs in O(V + E).

    Args:
        path: the JSON file.
        speed: factor applied to every runtime, as for :func:`load`.

    Returns:
        The :class:`WorkflowInfo` of the instance.

    A two-chain workflow, written as a WfFormat file: eager scheduling
    reaches its critical path (7 s), a level barrier waits for the slowest
    task of every level (11 s), and a virtual-time replay of :func:`load`'s
    DAG takes exactly the critical path:

    >>> import json, os, tempfile, trio, trio.testing
    >>> from trio_dag.interop import wfformat
    >>> tasks = {"a": [], "b": ["a"], "c": [], "d": ["c"], "join": ["b", "d"]}
    >>> runtimes = {"a": 1, "b": 5, "c": 5, "d": 1, "join": 1}
    >>> spec = [{"id": t, "parents": p} for t, p in tasks.items()]
    >>> done = [{"id": t, "runtimeInSeconds": s} for t, s in runtimes.items()]
    >>> instance = {"workflow": {"specification": {"tasks": spec}, "execution": {"tasks": done}}}
    >>> path = os.path.join(tempfile.mkdtemp(), "chains.json")
    >>> with open(path, "w") as f:
    ...     json.dump(instance, f)
    >>> figures = wfformat.info(path)
    >>> isinstance(figures, wfformat.WorkflowInfo), figures.name, figures.tasks, figures.levels
    (True, 'chains', 5, 3)
    >>> figures.work, figures.critical_path, figures.level_barrier, figures.recorded_makespan
    (13.0, 7.0, 11.0, None)
    >>> async def replay():
    ...     await wfformat.load(path).run()
    ...     return trio.current_time()
    >>> trio.run(replay, clock=trio.testing.MockClock(autojump_threshold=0))
    7.0

    Raises:
        FileNotFoundError, ValueError, TypeError, DAGDefinitionError: as for
            :func:`load`.
    """
    speed = _check_speed("info", path, speed)
    inst = _read(path)
    dag = _build(
        inst,
        inst.name,
        [td.Node(t, _instant, d) for t, d in zip(inst.ids, inst.parents, strict=True)],
    )
    g = dag.graph
    index = {t: i for i, t in enumerate(inst.ids)}
    runtime = [rt * speed for rt in inst.runtimes]
    finish = [0.0] * len(runtime)
    for t in g.order:  # dependencies come before dependents
        i = index[t]
        start = max((finish[index[p]] for p in inst.parents[i]), default=0.0)
        finish[i] = start + runtime[i]
    barrier = 0.0
    for level in g.levels:
        barrier += max(runtime[index[t]] for t in level)
    return WorkflowInfo(
        name=inst.name,
        tasks=len(inst.ids),
        edges=sum(len(p) for p in inst.parents),
        levels=len(g.levels),
        work=math.fsum(runtime),
        critical_path=max(finish, default=0.0),
        level_barrier=barrier,
        recorded_makespan=inst.makespan,
    )


# ------------------------------------------------------------------ helpers


def _check_speed(fn: str, path: StrPath, speed: object) -> float:
    where = f"wfformat.{fn}({os.fspath(path)!r})"
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise TypeError(f"{where}: speed must be a number >= 0, got {speed!r}")
    if not (is_finite(speed) and speed >= 0):
        raise ValueError(f"{where}: speed must be a finite number >= 0, got {shown(speed)}")
    return float(speed)


def _build(inst: _Instance, name: str, nodes: Sequence[td.Node]) -> type[td.DAG]:
    try:
        return td.DAG.from_nodes(name, nodes)
    except td.DAGDefinitionError as exc:
        exc.add_note(f"while loading WfFormat instance {inst.file}")
        raise


def _bad(file: str, what: str) -> ValueError:
    return ValueError(f"{file}: not a WfFormat 1.5 instance: {what}")


def _read(path: StrPath) -> _Instance:
    p = Path(path)
    file = str(p)
    with p.open("rb") as f:  # FileNotFoundError names the file
        raw = f.read()
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file}: not a JSON file: {exc}") from exc
    if not isinstance(doc, dict):
        raise _bad(file, f"the top level is a {type(doc).__name__}, not an object")
    wf = doc.get("workflow")
    spec = wf.get("specification") if isinstance(wf, dict) else None
    exe = wf.get("execution") if isinstance(wf, dict) else None
    spec_tasks = spec.get("tasks") if isinstance(spec, dict) else None
    exe_tasks = exe.get("tasks") if isinstance(exe, dict) else None
    if not isinstance(spec_tasks, list) or not isinstance(exe_tasks, list):
        version = doc.get("schemaVersion")
        hint = f" (schemaVersion {version!r})" if version is not None else ""
        raise _bad(
            file,
            "it needs lists workflow.specification.tasks and workflow.execution.tasks" + hint,
        )

    runtimes: dict[str, float] = {}
    for k, t in enumerate(exe_tasks):
        tid = _task_id(file, "execution", k, t)
        rt = t.get("runtimeInSeconds")
        if (
            isinstance(rt, bool)
            or not isinstance(rt, int | float)
            or not (is_finite(rt) and rt >= 0)
        ):
            raise _bad(
                file,
                f"task {tid!r}: runtimeInSeconds must be a finite number >= 0, got {shown(rt)}",
            )
        if tid in runtimes:
            raise _bad(file, f"task {tid!r} appears twice in workflow.execution.tasks")
        runtimes[tid] = float(rt)

    ids: list[str] = []
    parents: list[tuple[str, ...]] = []
    rts: list[float] = []
    for k, t in enumerate(spec_tasks):
        tid = _task_id(file, "specification", k, t)
        ps = t.get("parents", [])
        if not isinstance(ps, list) or not all(isinstance(x, str) for x in ps):
            raise _bad(file, f"task {tid!r}: parents must be a list of task ids, got {ps!r}")
        rt = runtimes.pop(tid, None)
        if rt is None:
            raise _bad(file, f"task {tid!r} has no entry in workflow.execution.tasks")
        ids.append(tid)
        parents.append(tuple(dict.fromkeys(ps)))  # a parent listed twice is one dependency
        rts.append(rt)
    if runtimes:
        extra = next(iter(runtimes))
        raise _bad(file, f"task {extra!r} is in workflow.execution.tasks only")

    makespan = exe.get("makespanInSeconds") if isinstance(exe, dict) else None
    recorded = (
        float(makespan)
        if isinstance(makespan, int | float)
        and not isinstance(makespan, bool)
        and is_finite(makespan)
        else None
    )
    return _Instance(file, p.stem, tuple(ids), tuple(parents), tuple(rts), recorded)


def _task_id(file: str, part: str, k: int, t: object) -> str:
    tid = t.get("id") if isinstance(t, dict) else None
    if not isinstance(tid, str) or not tid:
        raise _bad(file, f"workflow.{part}.tasks[{k}] has no string 'id'")
    return tid
