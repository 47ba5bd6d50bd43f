"""RunResult, RunFailed and Graph pickle: by reference to the importable DAG class."""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

import trio_dag as td
from trio_dag._status import MISSING


class Pipe(td.DAG):
    x = td.input()

    @td.node
    async def a(x):
        return [x, "a"]

    @td.node
    async def b(a):
        if a[0] == "boom":
            raise ValueError("b failed")
        return (a, "b")

    @td.node
    async def c(x):
        return {x}


async def _lam(x: int) -> int:
    return x + 1


def _closure() -> Callable[..., Any]:
    async def inner(x: int) -> int:  # a local function: it cannot pickle, the result can
        return x + 1

    return inner


Generated = td.DAG.from_nodes(
    "Generated", [td.Node("one", _lam, ["x"]), td.Node("two", _closure(), ["one"])], ["x"]
)


def test_missing_is_a_singleton_across_pickling() -> None:
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert repr(MISSING) == "<missing>"


async def test_a_complete_result_round_trips() -> None:
    r = await Pipe.run({"x": 1})
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.graph is Pipe.graph  # re-attached to this process's DAG
    assert dict(r2) == dict(r)
    assert r2.statuses == r.statuses
    assert (r2.status, r2.run_id) == (r.status, r.run_id)
    assert r2.started_at("a") == r.started_at("a")


async def test_a_partial_result_and_its_runfailed_round_trip_and_resume() -> None:
    with pytest.raises(td.RunFailed) as info:
        await Pipe.run({"x": "boom"}, on_failure="continue")
    exc = pickle.loads(pickle.dumps(info.value))
    assert isinstance(exc, td.RunFailed)
    partial = exc.result
    assert partial.statuses == info.value.result.statuses
    assert str(exc) == str(info.value)
    assert isinstance(partial.errors["b"], ValueError)
    with pytest.raises(td.RunFailed):  # resumable: it belongs to Pipe
        await Pipe.resume(partial)


async def test_from_nodes_dags_pickle_when_assigned_to_their_name() -> None:
    assert Generated.__module__ == __name__
    r = await Generated.run({"x": 1})
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.graph is Generated.graph
    assert dict(r2) == {"one": 2, "two": 3}


async def test_a_dag_that_cannot_be_found_again_gives_a_clear_pickling_error() -> None:
    class Local(td.DAG):
        @td.node
        async def a():
            return 1

    r = await Local.run()
    with pytest.raises(pickle.PicklingError, match="pickles by reference to its DAG class"):
        pickle.dumps(r)
    anon = td.DAG.from_nodes("NotAssigned", [td.Node("one", _lam, ["x"])], ["x"])
    with pytest.raises(pickle.PicklingError, match="NotAssigned"):
        pickle.dumps(anon.graph)


def test_unpickling_where_the_dag_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    data = pickle.dumps(trio.run(Pipe.run, {"x": 2}))
    (tmp_path / "blob.pkl").write_bytes(data)
    script = (
        "import pickle, sys; sys.modules.pop('test_result_pickle', None); "
        "sys.path.insert(0, 'nowhere');"
        f"pickle.loads(open({str(tmp_path / 'blob.pkl')!r}, 'rb').read())"
    )
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={"PYTHONPATH": "src"}
    )
    assert res.returncode != 0
    assert "no DAG class test_result_pickle.Pipe" in res.stderr
