"""Real workflows (WfCommons WfFormat instances) replayed in virtual time.

The six instances live in ``data/workflows`` (a copy of the project's ``shared/workflows``).
Reference figures are computed here independently with :mod:`graphlib`,
compared with :func:`trio_dag.interop.wfformat.info` and with the README's
table, and then met by real runs of :func:`trio_dag.interop.wfformat.load`.
"""

from __future__ import annotations

import functools
import graphlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trio.testing

import trio_dag as td
from trio_dag.interop import wfformat

WORKFLOWS = Path(__file__).resolve().parents[1] / "data" / "workflows"
FILES = sorted(p.name for p in WORKFLOWS.glob("*.json"))
SMALL = "montage-chameleon-2mass-01d-001.json"
BUDGET = 1e6  # virtual seconds, more than any file's total work: a hang fails at once


def test_the_six_instances_are_there() -> None:
    assert len(FILES) == 6, f"expected 6 WfFormat instances in {WORKFLOWS}, found {FILES}"


# ------------------------------------------------------------ reference figures


@dataclass(frozen=True)
class Figures:
    tasks: int
    edges: int
    levels: int
    work: float
    critical_path: float
    level_barrier: float


@dataclass(frozen=True)
class Parsed:
    runtime: dict[str, float]
    parents: dict[str, list[str]]


@functools.cache
def parsed(file: str) -> Parsed:
    doc = json.loads((WORKFLOWS / file).read_text())
    wf = doc["workflow"]
    runtime = {t["id"]: float(t["runtimeInSeconds"]) for t in wf["execution"]["tasks"]}
    parents = {t["id"]: list(t["parents"]) for t in wf["specification"]["tasks"]}
    return Parsed(runtime, parents)


@functools.cache
def oracle(file: str) -> Figures:
    """The figures, computed with graphlib (as the README's were), not with trio_dag."""
    p = parsed(file)
    ts = graphlib.TopologicalSorter(p.parents)
    ts.prepare()
    finish: dict[str, float] = {}
    levels: list[list[str]] = []
    while ts.is_active():
        batch = list(ts.get_ready())
        levels.append(batch)
        for t in batch:
            finish[t] = max((finish[q] for q in p.parents[t]), default=0.0) + p.runtime[t]
        ts.done(*batch)
    return Figures(
        tasks=len(p.parents),
        edges=sum(len(v) for v in p.parents.values()),
        levels=len(levels),
        work=math.fsum(p.runtime.values()),
        critical_path=max(finish.values()),
        level_barrier=sum(max(p.runtime[t] for t in lv) for lv in levels),
    )


@functools.cache
def readme_table() -> dict[str, Figures]:
    rows: dict[str, Figures] = {}
    for line in (WORKFLOWS / "README.md").read_text().splitlines():
        m = re.match(r"\|\s*(\S+\.json)\s*\|(.*)\|\s*$", line)
        if m:
            cells = [c.strip() for c in m.group(2).split("|")]
            t, e, lv, w, cp, lb = cells[:6]
            rows[m.group(1)] = Figures(int(t), int(e), int(lv), float(w), float(cp), float(lb))
    return rows


@functools.cache
def loaded(file: str) -> type[td.DAG]:
    return wfformat.load(WORKFLOWS / file)


@pytest.mark.parametrize("file", FILES)
def test_info_matches_graphlib_and_the_readme(file: str) -> None:
    got = wfformat.info(WORKFLOWS / file)
    want = oracle(file)
    readme = readme_table()[file]
    assert (got.tasks, got.edges, got.levels) == (want.tasks, want.edges, want.levels)
    assert (got.tasks, got.edges, got.levels) == (readme.tasks, readme.edges, readme.levels)
    for field in ("work", "critical_path", "level_barrier"):
        assert getattr(got, field) == pytest.approx(getattr(want, field), abs=1e-6), field
        # the README rounds work to 0.1 s and the other figures to 1 ms
        tol = 0.05 + 1e-9 if field == "work" else 1e-3
        assert getattr(got, field) == pytest.approx(getattr(readme, field), abs=tol), field
    assert got.name == Path(file).stem
    assert got.recorded_makespan is not None
    assert got.recorded_makespan > got.critical_path


@pytest.mark.parametrize("file", FILES)
def test_loaded_dag_has_the_files_tasks_and_parents(file: str) -> None:
    g = loaded(file).graph
    p = parsed(file)
    assert set(g.nodes) == set(p.parents)
    for t, ps in p.parents.items():
        assert set(g.dependencies(t)) == set(ps)
    assert len(g.levels) == oracle(file).levels


# ------------------------------------------------------------------ makespans


async def _makespan(dag: type[td.DAG], strategy: td.Parallel, **options: object) -> float:
    with trio.fail_after(BUDGET):
        t0 = trio.current_time()
        result = await dag.run(strategy=strategy, **options)  # type: ignore[arg-type]
        elapsed = trio.current_time() - t0
    assert result.ok
    assert len(result) == len(dag.graph.nodes)
    return elapsed


@pytest.mark.parametrize("file", FILES)
async def test_eager_makespan_is_the_critical_path(
    file: str, autojump_clock: trio.testing.MockClock
) -> None:
    got = await _makespan(loaded(file), td.Parallel())
    assert got == pytest.approx(oracle(file).critical_path, abs=1e-6)
    assert got == pytest.approx(readme_table()[file].critical_path, abs=1e-3)


@pytest.mark.parametrize("file", FILES)
async def test_levels_makespan_is_the_level_barrier(
    file: str, autojump_clock: trio.testing.MockClock
) -> None:
    got = await _makespan(loaded(file), td.Parallel(schedule="levels"))
    assert got == pytest.approx(oracle(file).level_barrier, abs=1e-6)
    assert got == pytest.approx(readme_table()[file].level_barrier, abs=1e-3)


class _Counting:
    """A node body sleeping ``seconds`` that counts how many bodies run at once."""

    def __init__(self, seconds: float, gauge: list[int]) -> None:
        self.seconds = seconds
        self.gauge = gauge  # [running now, most ever]

    async def __call__(self, *deps: object) -> None:
        g = self.gauge
        g[0] += 1
        g[1] = max(g[1], g[0])
        try:
            await trio.sleep(self.seconds)
        finally:
            g[0] -= 1


@pytest.mark.parametrize("file", FILES)
async def test_one_at_a_time_takes_exactly_the_work(
    file: str, autojump_clock: trio.testing.MockClock
) -> None:
    got = await _makespan(loaded(file), td.Parallel(max_concurrency=1))
    assert got == pytest.approx(oracle(file).work, abs=1e-6)


@pytest.mark.parametrize("k", [1, 4, 16])
@pytest.mark.parametrize("file", FILES)
async def test_bounded_concurrency_meets_grahams_bound(
    file: str, k: int, autojump_clock: trio.testing.MockClock
) -> None:
    # the loaded graph, each body counting the bodies running with it
    g = loaded(file).graph
    p = parsed(file)
    gauge = [0, 0]
    nodes = [td.Node(t, _Counting(p.runtime[t], gauge), g.dependencies(t)) for t in g.nodes]
    counting = td.DAG.from_nodes(g.name, nodes)
    got = await _makespan(counting, td.Parallel(max_concurrency=k))
    fig = oracle(file)
    assert fig.critical_path - 1e-6 <= got <= fig.work / k + fig.critical_path + 1e-6
    assert gauge[0] == 0
    assert 1 <= gauge[1] <= k


class _Gauge(td.Instrument):
    def __init__(self) -> None:
        self.running = 0
        self.peak = 0

    def node_started(self, node: str, attempt: int) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)

    def node_finished(self, node: str, elapsed: float) -> None:
        self.running -= 1


async def test_instrument_never_sees_more_than_k_nodes_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gauge = _Gauge()
    await _makespan(loaded(SMALL), td.Parallel(max_concurrency=4), instruments=[gauge])
    assert gauge.running == 0
    assert gauge.peak <= 4


async def test_durations_under_max_concurrency_are_the_runtimes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dag = loaded(SMALL)
    with trio.fail_after(1000):
        result = await dag.run(strategy=td.Parallel(max_concurrency=4))
    runtime = parsed(SMALL).runtime
    for t in dag.graph.nodes:
        assert result.duration(t) == pytest.approx(runtime[t], abs=1e-6), t


# ------------------------------------------------------------- load() options


@pytest.mark.parametrize("speed", [0.5, 2, 0.001])
async def test_speed_scales_every_runtime(
    speed: float, autojump_clock: trio.testing.MockClock
) -> None:
    dag = wfformat.load(WORKFLOWS / SMALL, speed=speed)
    fig = wfformat.info(WORKFLOWS / SMALL, speed=speed)
    assert fig.critical_path == pytest.approx(oracle(SMALL).critical_path * speed, abs=1e-6)
    assert fig.work == pytest.approx(oracle(SMALL).work * speed, abs=1e-6)
    got = await _makespan(dag, td.Parallel())
    assert got == pytest.approx(fig.critical_path, abs=1e-6)
    got = await _makespan(dag, td.Parallel(schedule="levels"))
    assert got == pytest.approx(fig.level_barrier, abs=1e-6)


async def test_speed_zero_takes_no_time(autojump_clock: trio.testing.MockClock) -> None:
    dag = wfformat.load(WORKFLOWS / SMALL, speed=0)
    assert await _makespan(dag, td.Parallel()) == 0
    result = await dag.run(strategy=td.Sequential())
    assert result.ok
    assert len(result) == 103
    fig = wfformat.info(WORKFLOWS / SMALL, speed=0)
    assert (fig.work, fig.critical_path, fig.level_barrier) == (0, 0, 0)
    assert fig.tasks == 103


def test_name_defaults_to_the_file_stem_and_can_be_given() -> None:
    assert loaded(SMALL).graph.name == "montage-chameleon-2mass-01d-001"
    assert wfformat.load(WORKFLOWS / SMALL, name="m").graph.name == "m"
    assert wfformat.load(str(WORKFLOWS / SMALL)).graph.name == loaded(SMALL).graph.name


# -------------------------------------------------------------------- errors


def _instance(tmp_path: Path, tasks: list[dict[str, object]], **extra: object) -> Path:
    spec = [{"id": t["id"], "parents": t.get("parents", [])} for t in tasks]
    exe = [{"id": t["id"], "runtimeInSeconds": t.get("runtime", 1.0)} for t in tasks]
    doc = {"schemaVersion": "1.5", "workflow": {"specification": {"tasks": spec},
           "execution": {"tasks": exe, **extra}}}  # fmt: skip
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_small_handmade_instance(tmp_path: Path) -> None:
    path = _instance(
        tmp_path,
        [
            {"id": "a", "runtime": 2},
            {"id": "b", "parents": ["a", "a"], "runtime": 3},
            {"id": "c", "parents": ["a"], "runtime": 0},
            {"id": "d", "parents": ["b", "c"], "runtime": 1.5},
        ],
    )
    fig = wfformat.info(path)
    assert fig == wfformat.WorkflowInfo("wf", 4, 4, 3, 6.5, 6.5, 6.5, None)
    dag = wfformat.load(path)
    assert dag.graph.dependencies("b") == ("a",)  # a parent listed twice is one dependency
    assert dag.graph.levels == (("a",), ("b", "c"), ("d",))
    clock = trio.testing.MockClock(autojump_threshold=0)

    async def main() -> float:
        t0 = trio.current_time()
        await dag.run()
        return trio.current_time() - t0

    assert trio.run(main, clock=clock) == 6.5


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        wfformat.load(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        wfformat.info(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not a JSON file"),
        (b"\xff\xfe{}", "not a JSON file"),
        ("[1, 2]", "top level is a list"),
        ('{"name": "x"}', "workflow.specification.tasks"),
        ('{"schemaVersion": "1.4", "workflow": {"tasks": []}}', "schemaVersion '1.4'"),
    ],
)
def test_not_a_wfformat_file(tmp_path: Path, text: str | bytes, match: str) -> None:
    path = tmp_path / "bad.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        wfformat.load(path)
    assert "bad.json" in str(info.value)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"runtime": -1}, r"runtimeInSeconds must be a finite number >= 0, got -1"),
        ({"runtime": math.nan}, r"got nan"),
        ({"runtime": True}, r"got True"),
        ({"runtime": "3"}, r"got '3'"),
        ({"parents": "a"}, r"parents must be a list of task ids, got 'a'"),
        ({"id": ""}, r"has no string 'id'"),
    ],
)
def test_bad_task_fields(tmp_path: Path, change: dict[str, object], match: str) -> None:
    path = _instance(tmp_path, [{"id": "a"}, {"id": "b", "parents": ["a"], **change}])
    with pytest.raises(ValueError, match=match):
        wfformat.load(path)
    with pytest.raises(ValueError, match=match):
        wfformat.info(path)


def test_spec_and_execution_must_list_the_same_tasks(tmp_path: Path) -> None:
    path = _instance(tmp_path, [{"id": "a"}])
    doc = json.loads(path.read_text())
    doc["workflow"]["execution"]["tasks"].append({"id": "ghost", "runtimeInSeconds": 1})
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"'ghost' is in workflow\.execution\.tasks only"):
        wfformat.load(path)
    doc["workflow"]["execution"]["tasks"] = [{"id": "a", "runtimeInSeconds": 1}] * 2
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="'a' appears twice"):
        wfformat.load(path)
    doc["workflow"]["execution"]["tasks"] = []
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"'a' has no entry in workflow\.execution\.tasks"):
        wfformat.load(path)


def test_invalid_graphs_are_definition_errors_naming_the_file(tmp_path: Path) -> None:
    path = _instance(tmp_path, [{"id": "a", "parents": ["b"]}, {"id": "b", "parents": ["a"]}])
    with pytest.raises(td.CycleError) as cycle:
        wfformat.load(path)
    assert cycle.value.cycle == ["a", "b", "a"]
    assert any("wf.json" in n for n in cycle.value.__notes__)
    path = _instance(tmp_path, [{"id": "a", "parents": ["nope"]}])
    with pytest.raises(td.UnknownDependencyError, match="nope") as unknown:
        wfformat.info(path)
    assert any("wf.json" in n for n in unknown.value.__notes__)


@pytest.mark.parametrize(
    ("speed", "exc", "match"),
    [
        (-1, ValueError, "speed must be a finite number >= 0, got -1"),
        (math.nan, ValueError, "got nan"),
        (math.inf, ValueError, "got inf"),
        (True, TypeError, "speed must be a number >= 0, got True"),
        ("1", TypeError, "got '1'"),
    ],
)
def test_bad_speed(speed: object, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match) as info:
        wfformat.load(WORKFLOWS / SMALL, speed=speed)  # type: ignore[arg-type]
    assert SMALL in str(info.value)
    with pytest.raises(exc, match=match):
        wfformat.info(WORKFLOWS / SMALL, speed=speed)  # type: ignore[arg-type]
