"""Randomized fault schedules: random DAGs x deterministic faults x every run option.

One Hypothesis example is a random DAG (up to 60 nodes, edges only from a
lower to a higher id, so it is acyclic by construction) with a deterministic
fault schedule (node ``k`` fails its first ``m`` attempts with a real
exception, raised directly or from a child task of a nursery inside the
body; some nodes sleep a few virtual seconds) and one drawn set of run
options (supervisor strategy and restart intensity, ``on_failure``, retry
policies, ``max_concurrency``, sometimes a run deadline). The DAG then runs
under every strategy (``Sequential()``, ``Parallel`` eager, ``Parallel``
levels), each in ``trio.run`` with a virtual clock, and, when it fails, is
resumed with no fault left. The node bodies record what happened to them,
and the test checks:

- no body starts before all its dependencies have finished (with their final
  values), nor after the run stopped (fail-fast failure, escalation, deadline);
- completed values are the same under every strategy (a node's value is a
  deterministic function of its inputs, so they are compared with a reference
  computed without trio_dag);
- ``RunFailed.result`` keeps the value of every node whose body returned
  (unless a level restart decided after the return discarded it), and has no
  value that no body returned;
- every error in the result was raised by that node's body;
- ``result.attempts(n)`` equals the number of times ``n``'s body was entered;
- ``resume(partial)`` completes with the values of a clean run, runs every
  missing node once and nothing that had completed;
- the run ends: every run sits under ``trio.fail_after`` in virtual time, and
  a run whose bodies are entered far more often than any correct schedule
  needs is stopped and reported as a runaway (a restart loop with zero
  delays never advances the virtual clock).

Anything else a run raises than ``RunFailed`` (a raw ``ExceptionGroup``, a
``TooSlowError``) fails the example too. Examples replay exactly: trio's
Hypothesis plugin seeds trio's scheduler per example, the virtual clock makes
time deterministic, and jitter is seeded. Set ``TRIO_DAG_FAULT_EXAMPLES`` to
run more examples locally (the default keeps the test near 10 s, 25 s under coverage).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trio_dag as td

MAX_NODES = 60
INPUT = 12_345
MOD = (1 << 61) - 1
RUN_LIMIT = 100_000.0  # virtual seconds; no correct schedule here comes near it

FAULT_SETTINGS = settings(
    max_examples=int(os.environ.get("TRIO_DAG_FAULT_EXAMPLES", "35")),
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Counting = Literal["calls", "attempt"]
How = Literal["raise", "nested", "nested_cleanup"]


class NodeFault(Exception):
    """The real exception a faulty node raises (a fresh object per failing attempt)."""


# ------------------------------------------------------------------ plans


@dataclass(frozen=True)
class NodePlan:
    """What one node does.

    ``fails``: its first ``fails`` attempts raise. ``counting`` says what an
    attempt is: ``"calls"``, the n-th time its body is entered in the run;
    ``"attempt"``, ``td.current_attempt().attempt`` (the engine's number,
    which a level restart may reset). ``how`` the failure is raised: directly
    (``"raise"``), from a child task of a nursery in the body after the
    child's sleep (``"nested"``), or from the child's cleanup, so that it also
    fails when it is cancelled (``"nested_cleanup"``).
    """

    deps: tuple[int, ...]
    sleep: int
    fails: int
    counting: Counting
    how: How
    retry: td.RetryPolicy | None


@dataclass(frozen=True)
class Case:
    plans: tuple[NodePlan, ...]
    supervisor: td.Supervisor
    on_failure: Literal["fail_fast", "continue"]
    run_retry: td.RetryPolicy | None
    max_concurrency: int | None
    deadline: float | None

    def __repr__(self) -> str:  # readable falsifying examples
        lines = [
            f"Case(supervisor={self.supervisor!r}, on_failure={self.on_failure!r}, "
            f"run_retry={self.run_retry!r}, max_concurrency={self.max_concurrency!r}, "
            f"deadline={self.deadline!r}, plans=["
        ]
        lines += [f"    n{i}: {p!r}," for i, p in enumerate(self.plans)]
        lines.append("])")
        return "\n".join(lines)


def policies() -> st.SearchStrategy[td.RetryPolicy]:
    return st.builds(
        td.RetryPolicy,
        max_attempts=st.integers(1, 4),
        initial_delay=st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0]),
        jitter=st.sampled_from(["none", "full"]),
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    fault_rate = draw(st.sampled_from([0, 5, 10, 20, 40]))  # percent of nodes with faults
    sleepy = draw(st.sampled_from([0, 30, 70]))  # percent of nodes that sleep
    countings: list[Counting] = draw(
        st.sampled_from([["calls"], ["attempt"], ["calls", "attempt"]])
    )
    n = draw(st.integers(1, MAX_NODES))
    raw = draw(
        st.lists(
            st.tuples(
                st.sets(st.integers(0, MAX_NODES), max_size=3),  # back-distances - 1
                st.integers(0, 99),
                st.integers(1, 3),
                st.integers(0, 99),
                st.integers(1, 4),
                st.sampled_from(countings),
                st.sampled_from(["raise", "raise", "nested", "nested_cleanup"]),
                st.none() | policies(),
            ),
            min_size=n,
            max_size=n,
        )
    )
    plans = tuple(
        NodePlan(
            deps=tuple(sorted({i - 1 - b for b in back if b < i})),
            sleep=sleep if sleep_roll < sleepy else 0,
            fails=fails if fault_roll < fault_rate else 0,
            counting=counting,
            how=how,
            retry=retry,
        )
        for i, (back, sleep_roll, sleep, fault_roll, fails, counting, how, retry) in enumerate(raw)
    )
    supervisor = td.Supervisor(
        draw(st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"])),
        max_restarts=draw(st.sampled_from([None, None, 0, 1, 3, 6])),
        period=draw(st.sampled_from([1.0, 5.0, 60.0])),
    )
    return Case(
        plans=plans,
        supervisor=supervisor,
        on_failure=draw(st.sampled_from(["fail_fast", "continue"])),
        run_retry=draw(st.none() | policies()),
        max_concurrency=draw(st.none() | st.integers(1, 4)),
        deadline=draw(st.none() | st.none() | st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0])),
    )


def reference_values(plans: tuple[NodePlan, ...]) -> list[int]:
    """Every node's value in a clean run, computed without trio_dag."""
    values: list[int] = []
    for i, p in enumerate(plans):
        values.append(value_of(i, [values[d] for d in p.deps] if p.deps else [INPUT]))
    return values


def value_of(i: int, args: list[Any] | tuple[Any, ...]) -> int:
    h = i + 1
    for a in args:
        h = (h * 1_000_003 + a) % MOD
    return h


# --------------------------------------------------------------- recording


@dataclass
class Recorder:
    """What the node bodies of one run saw, in one global order of events."""

    names: list[str]
    faults: bool
    limit: int
    seq: int = 0
    calls: list[int] = field(default_factory=list)
    entries: list[tuple[int, float, int]] = field(default_factory=list)  # seq, time, node
    last_exit: dict[int, str] = field(default_factory=dict)  # node -> returned/failed/cancelled
    returned: dict[int, tuple[int, int]] = field(default_factory=dict)  # node -> (seq, value)
    raised: dict[int, tuple[int, int, BaseException]] = field(default_factory=dict)  # id(leaf)
    restarts: list[tuple[int, int]] = field(default_factory=list)  # (seq, node): will_retry
    violations: list[str] = field(default_factory=list)
    runaway: bool = False
    guard: trio.CancelScope | None = None

    def __post_init__(self) -> None:
        self.calls = [0] * len(self.names)

    def tick(self) -> int:
        self.seq += 1
        return self.seq

    def exited_with(self, i: int, exc: BaseException) -> None:
        s = self.tick()
        real = _leaves(exc, (NodeFault,))
        self.last_exit[i] = "failed" if real else "cancelled"
        for leaf in real:
            self.raised[id(leaf)] = (s, i, leaf)


def _leaves(exc: BaseException, types: tuple[type[BaseException], ...]) -> list[BaseException]:
    """The leaf exceptions of ``types`` in ``exc`` (groups and explicit causes followed).

    Not ``__context__``: a ``Cancelled`` may carry another node's failure as its
    context, and that failure was not raised by the cancelled body.
    """
    found: list[BaseException] = []
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
        elif isinstance(e, types):
            found.append(e)
        elif e.__cause__ is not None:
            todo.append(e.__cause__)
    return found


class Restarts(td.Instrument):
    """Records when the engine decided to retry a node (a level restart, if levels restart)."""

    def __init__(self, rec: Recorder, index: dict[str, int]) -> None:
        self.rec, self.index = rec, index

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        if will_retry:
            self.rec.restarts.append((self.rec.tick(), self.index[node]))


def make_body(i: int, plan: NodePlan, rec_of: Callable[[], Recorder]) -> Callable[..., Any]:
    name = f"n{i}"

    async def child(fault: NodeFault) -> None:
        if plan.how == "nested":
            await trio.sleep(plan.sleep)
            raise fault
        try:
            await trio.sleep(plan.sleep)
        finally:
            raise fault  # also when cancelled: a cleanup that fails

    async def body(*args: Any) -> int:
        rec = rec_of()
        s = rec.tick()
        rec.calls[i] += 1
        rec.entries.append((s, trio.current_time(), i))
        if sum(rec.calls) > rec.limit and not rec.runaway:
            rec.runaway = True
            assert rec.guard is not None
            rec.guard.cancel()
        if plan.deps:
            for d, a in zip(plan.deps, args, strict=True):
                got = rec.returned.get(d)
                if rec.last_exit.get(d) != "returned" or got is None or got[1] is not a:
                    rec.violations.append(
                        f"{name} entered (event {s}) before its dependency n{d} finished "
                        f"with its final value (n{d}: {rec.last_exit.get(d, 'never ran')})"
                    )
        elif args != (INPUT,):
            rec.violations.append(f"{name} got {args!r}, not the input")
        attempt = td.current_attempt().attempt if plan.counting == "attempt" else rec.calls[i]
        failing = rec.faults and attempt <= plan.fails
        rec.last_exit.pop(i, None)
        try:
            if not failing:
                await trio.sleep(plan.sleep)
            else:
                fault = NodeFault(f"{name} fails attempt {attempt} (call {rec.calls[i]})")
                if plan.how == "raise":
                    await trio.sleep(plan.sleep)
                    raise fault
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(child, fault)
                    await trio.sleep(plan.sleep + 1)  # the body waits too; the child fails first
        except BaseException as exc:
            rec.exited_with(i, exc)
            raise
        v = value_of(i, args)
        rec.returned[i] = (rec.tick(), v)
        rec.last_exit[i] = "returned"
        return v

    return body


# ------------------------------------------------------------------ checks

holder: dict[str, Recorder] = {}  # the recorder of the run in progress


@dataclass
class Outcome:
    label: str
    rec: Recorder
    result: td.RunResult | None
    failed: bool  # RunFailed was raised
    other: BaseException | None  # anything else raised
    t0: float
    levels: tuple[tuple[int, ...], ...]


def run_once(
    dag: type[td.DAG],
    case: Case,
    strategy: td.Sequential | td.Parallel,
    label: str,
    *,
    partial: td.RunResult | None = None,
    levels: tuple[tuple[int, ...], ...],
) -> Outcome:
    n = len(case.plans)
    names = [f"n{i}" for i in range(n)]
    total_attempts = sum(
        (p.retry or case.run_retry or td.RetryPolicy(max_attempts=1)).max_attempts
        for p in case.plans
    )
    widest = max(len(level) for level in levels)
    rec = Recorder(names, faults=partial is None, limit=4 * total_attempts * (widest + 1) + 100)
    if partial is not None:  # the carried-over values are final from the start
        for i, nm in enumerate(names):
            if nm in partial:
                rec.returned[i] = (0, partial[nm])
                rec.last_exit[i] = "returned"
    holder["rec"] = rec
    instruments = (
        [Restarts(rec, {nm: i for i, nm in enumerate(names)})]
        if case.supervisor.needs_levels
        else []
    )
    out = Outcome(label, rec, None, False, None, 0.0, levels)

    async def main() -> None:
        out.t0 = trio.current_time()
        with trio.CancelScope() as guard:
            rec.guard = guard
            try:
                with trio.fail_after(RUN_LIMIT):
                    if partial is None:
                        out.result = await dag.run(
                            {"x": INPUT},
                            strategy=strategy,
                            supervisor=case.supervisor,
                            on_failure=case.on_failure,
                            retry=case.run_retry,
                            deadline=case.deadline,
                            seed=7,
                            instruments=instruments,
                        )
                    else:
                        out.result = await dag.resume(
                            partial,
                            strategy=strategy,
                            supervisor=case.supervisor,
                            on_failure=case.on_failure,
                            retry=case.run_retry,
                            seed=7,
                            instruments=instruments,
                        )
            except td.RunFailed as exc:
                out.failed = True
                out.result = exc.result
            except BaseException as exc:  # a raw group, TooSlowError: reported below
                if isinstance(exc, trio.Cancelled) and guard.cancel_called:
                    raise
                out.other = exc

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return out


def check_run(case: Case, out: Outcome, ref: list[int]) -> list[str]:
    """The invariants of one run (or resume); returns what was violated."""
    rec, result, label = out.rec, out.result, out.label
    problems = [f"{label}: {v}" for v in rec.violations]
    if rec.runaway:
        return [
            *problems,
            f"{label}: runaway: more than {rec.limit} body calls "
            f"(calls per node {rec.calls}); the run would not end",
        ]
    if out.other is not None:
        return [*problems, f"{label}: run raised {out.other!r} instead of RunFailed"]
    assert result is not None
    names = rec.names
    n = len(names)
    statuses = result.statuses

    # values: exactly those the bodies last returned, equal to the reference
    invalidated = _invalidated(case, out)
    for i in range(n):
        name = names[i]
        has = name in result
        if has and result[name] != ref[i]:
            problems.append(f"{label}: {name} = {result[name]!r}, a clean run gives {ref[i]!r}")
        ran_to_value = rec.last_exit.get(i) == "returned"
        carried = label.startswith("resume") and rec.calls[i] == 0  # from the partial
        if has and not carried and not ran_to_value:
            problems.append(
                f"{label}: {name} has a value but its last body call "
                f"{'was ' + rec.last_exit[i] if i in rec.last_exit else 'did not end'}"
                f" ({rec.calls[i]} calls)"
            )
        if ran_to_value and not has and i not in invalidated:
            problems.append(
                f"{label}: {name}'s body returned (event {rec.returned[i][0]}) but the result "
                f"has no value for it (status {statuses[name].value})"
            )
        if ran_to_value and has and result[name] is not rec.returned[i][1]:
            problems.append(f"{label}: {name}'s value is not the object its body returned")

    # attempts equal body entries (carried-over nodes of a resume excluded)
    for i in range(n):
        name = names[i]
        if label.startswith("resume") and rec.calls[i] == 0 and name in result:
            continue
        if result.attempts(name) != rec.calls[i]:
            problems.append(
                f"{label}: attempts({name!r}) = {result.attempts(name)} but its body was "
                f"entered {rec.calls[i]} times (status {statuses[name].value})"
            )

    # every error was raised by that node's body
    stop_candidates: list[int] = []
    for name, err in result.errors.items():
        leaves = _leaves(err, (NodeFault,))
        mine = [rec.raised[id(e)] for e in leaves if id(e) in rec.raised]
        if not mine or any(names[j] != name for _, j, _ in mine):
            problems.append(f"{label}: error of {name} was not raised by its body: {err!r}")
            continue
        stop_candidates.append(min(s for s, _, _ in mine))

    # no body starts after the run stopped
    stop: int | None = None
    if result.status is td.RunStatus.HALTED:
        stop = max(stop_candidates, default=None)  # the escalating error is one of them
    elif result.status is td.RunStatus.FAILED and case.on_failure == "fail_fast":
        stop = min(stop_candidates, default=None)
    if stop is not None:
        late = [(s, names[i]) for s, _, i in rec.entries if s > stop]
        if late:
            problems.append(
                f"{label}: bodies entered after the run stopped (event {stop}): {late[:5]}"
            )
    if case.deadline is not None and not label.startswith("resume"):
        limit = out.t0 + case.deadline
        late_t = [(t, names[i]) for _, t, i in rec.entries if t > limit]
        if late_t:
            problems.append(f"{label}: bodies entered after the deadline {limit}: {late_t[:5]}")

    # the status agrees with the values
    if out.failed:
        if result.ok or result.status is td.RunStatus.COMPLETED:
            problems.append(f"{label}: RunFailed with status {result.status}")
    elif len(result) != n or not result.ok:
        problems.append(
            f"{label}: run returned {result!r} (status {result.status.value}) without "
            f"raising RunFailed; missing: {[nm for nm in names if nm not in result][:5]}"
        )
    return problems


def _invalidated(case: Case, out: Outcome) -> set[int]:
    """Nodes whose last return was discarded by a level restart decided after it."""
    if not case.supervisor.needs_levels:
        return set()
    level_of = {i: level for level in out.levels for i in level}
    gone: set[int] = set()
    for s, x in out.rec.restarts:
        level = level_of[x]
        pos = level.index(x)
        mates = (
            [q for q in level if q != x]
            if case.supervisor.strategy == "one_for_all"
            else list(level[pos + 1 :])
        )
        for q in mates:
            r = out.rec.returned.get(q)
            if r is not None and r[0] < s:
                gone.add(q)
    return gone


def check_resume(case: Case, first: Outcome, out: Outcome, ref: list[int]) -> list[str]:
    """A resume with no fault left completes, reruns nothing, runs every missing node once."""
    problems = check_run(case, out, ref)
    partial, result, rec = first.result, out.result, out.rec
    assert partial is not None
    if out.failed or out.other is not None or rec.runaway:
        return [*problems, f"{out.label}: resume with no faults left did not complete"]
    assert result is not None
    for i, name in enumerate(rec.names):
        if name in partial:
            if rec.calls[i]:
                problems.append(f"{out.label}: {name} completed before and ran again")
            if result[name] is not partial[name]:
                problems.append(f"{out.label}: {name}'s value is not the partial's object")
        elif rec.calls[i] != 1:
            problems.append(f"{out.label}: {name} was missing and ran {rec.calls[i]} times")
    return problems


# ------------------------------------------------------------------ the test


def strategies_for(case: Case) -> list[tuple[str, td.Sequential | td.Parallel]]:
    k = case.max_concurrency
    out: list[tuple[str, td.Sequential | td.Parallel]] = [
        ("sequential", td.Sequential()),
        (f"levels(k={k})", td.Parallel(max_concurrency=k, schedule="levels")),
    ]
    if not case.supervisor.needs_levels:
        out.append((f"eager(k={k})", td.Parallel(max_concurrency=k, schedule="eager")))
    return out


def build(case: Case) -> type[td.DAG]:
    nodes = [
        td.Node(
            f"n{i}",
            make_body(i, p, lambda: holder["rec"]),
            deps=[f"n{d}" for d in p.deps] if p.deps else ["x"],
            retry=p.retry,
        )
        for i, p in enumerate(case.plans)
    ]
    return td.DAG.from_nodes("faults", nodes, inputs=["x"])


def explore(case: Case) -> list[str]:
    """Run ``case`` under every strategy (and resume); every violated invariant."""
    dag = build(case)
    index = {nm: i for i, nm in enumerate(dag.graph.nodes)}
    levels = tuple(tuple(index[nm] for nm in level) for level in dag.graph.levels)
    ref = reference_values(case.plans)
    problems: list[str] = []
    for label, strategy in strategies_for(case):
        first = run_once(dag, case, strategy, f"run {label}", levels=levels)
        problems += check_run(case, first, ref)
        if first.failed and first.result is not None:
            again = run_once(
                dag, case, strategy, f"resume {label}", partial=first.result, levels=levels
            )
            problems += check_resume(case, first, again, ref)
    return problems


@FAULT_SETTINGS
@given(cases())
def test_random_fault_schedules_keep_the_invariants(case: Case) -> None:
    problems = explore(case)
    assert not problems, "\n".join(problems)


def test_eager_with_a_level_restarting_supervisor_is_refused() -> None:
    """Why ``strategies_for`` leaves eager out for one_for_all and rest_for_one."""
    case = Case(
        plans=(NodePlan((), 0, 0, "calls", "raise", None),),
        supervisor=td.Supervisor("rest_for_one"),
        on_failure="fail_fast",
        run_retry=None,
        max_concurrency=None,
        deadline=None,
    )
    with pytest.raises(ValueError, match="needs level scheduling"):
        build(case).run_sync(
            {"x": INPUT}, strategy=td.Parallel(schedule="eager"), supervisor=case.supervisor
        )
