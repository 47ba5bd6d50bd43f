"""A run's report: the readable account of what failed and why, what completed,
and what did not run (:meth:`RunResult.report <trio_dag.RunResult.report>`, the
message of :class:`~trio_dag.RunFailed`).

It reads a result's parts as plain values (names, statuses, errors by node
index), so it sits below the results and never sees a ``RunResult``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import trio

from ._status import MISSING, MapElements, NodeStatus, RunStatus, error_text

__all__ = ["WHY", "render_report"]


def render_report(
    *,
    dag: str,
    run_id: str,
    status: RunStatus,
    names: Sequence[str],
    maps: Sequence[int | None],
    statuses: Sequence[NodeStatus],
    errors: Mapping[int, BaseException],
    attempts: Mapping[int, int],
    elements: Mapping[int, MapElements],
    last: Mapping[int, BaseException],
) -> str:
    """The report of a run of DAG ``dag``, node ``i`` being ``names[i]``.

    Args:
        dag: the DAG's name.
        run_id: the run's id.
        status: how the run ended.
        names: node names, by index.
        maps: per node, the index of the dependency it maps over, or ``None``.
        statuses: per node, its :class:`NodeStatus`.
        errors: the final error of each failed node.
        attempts: attempts (or element calls) of the nodes that made any.
        elements: per map node with failed elements, what became of each.
        last: the last error of nodes that were cancelled after a failed attempt.
    """
    counts = {s: sum(1 for x in statuses if x is s) for s in NodeStatus}
    head = ", ".join(f"{c} {s.value.replace('_', ' ')}" for s, c in counts.items() if c)
    lines = [f"run {run_id} of DAG {dag!r} {status.value}: {head or 'no nodes'}"]
    for i, e in sorted(errors.items()):
        calls = attempts.get(i)
        n = 1 if calls is None else calls
        state = elements.get(i)
        if state is not None:
            lines += _map_lines(names[i], state, n, failed=True)
            continue
        what = "attempt" if calls is None or maps[i] is None else "element call"
        lines.append(f"  node {names[i]!r} failed after {n} {what}{'s' * (n != 1)}: {_chain(e)}")
    for i, state in sorted(elements.items()):
        if i not in errors and state.errors:
            lines += _map_lines(names[i], state, attempts.get(i, 0), failed=False)
    for i, e in sorted(last.items()):
        if i not in errors:
            lines.append(f"  node {names[i]!r} was cancelled; its last error: {_chain(e)}")
    for s in (
        NodeStatus.RUNNING,
        NodeStatus.CANCELLED,
        NodeStatus.SKIPPED,
        NodeStatus.NOT_STARTED,
    ):
        these = [names[i] for i, x in enumerate(statuses) if x is s]
        if these:
            lines.append(f"  {s.value.replace('_', ' ')}: {_short(these)}")
    kept = (NodeStatus.COMPLETED, NodeStatus.RESTORED, NodeStatus.CACHED)
    done = [names[i] for i, x in enumerate(statuses) if x in kept]
    if done and status is not RunStatus.COMPLETED:
        lines.append(f"  completed (kept, resume() reuses them): {_short(done)}")
    return "\n".join(lines)


WHY: dict[NodeStatus, str] = {
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
            out.append(error_text(e))
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
        part = error_text(cur)
        if isinstance(cur, BaseExceptionGroup):  # name what is inside, not only the group
            part += " [" + "; ".join(_leaf_texts(cur)) + "]"
        parts.append(part)
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    return " <- caused by ".join(parts)
