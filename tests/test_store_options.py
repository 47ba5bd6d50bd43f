"""Options of durable and cached runs: store=, run_key=, on_change=, cache=, version=."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import trio_dag as td


class One(td.DAG):
    @td.node
    async def a():
        return 1


@pytest.mark.parametrize(
    ("kwargs", "option", "is_type_error"),
    [
        ({"store": "runs.db"}, "store", True),
        ({"run_key": "k"}, "run_key", False),  # a run key needs a store
        ({"run_key": 7, "store": "S"}, "run_key", True),
        ({"run_key": "", "store": "S"}, "run_key", False),
        ({"on_change": "ignore"}, "on_change", False),
    ],
)
async def test_bad_run_options(
    tmp_path: Path, kwargs: dict[str, Any], option: str, is_type_error: bool
) -> None:
    if kwargs.get("store") == "S":
        kwargs["store"] = td.SQLiteStore(tmp_path / "s.db")
    with pytest.raises(td.InvalidOptionError, match=option) as info:
        await One.run(**kwargs)
    assert info.value.option == option
    assert isinstance(info.value, TypeError) is is_type_error


@pytest.mark.parametrize(
    ("options", "option"),
    [({"cache": 1}, "cache"), ({"version": ""}, "version"), ({"version": 3}, "version")],
)
def test_bad_node_options(options: dict[str, Any], option: str) -> None:
    async def f() -> int:
        return 1

    with pytest.raises(td.InvalidOptionError, match=option) as info:
        td.DAG.from_nodes("D", [td.Node("n", f, **options)])
    assert isinstance(info.value, td.DAGDefinitionError)
    with pytest.raises(td.InvalidOptionError, match=option):

        class D(td.DAG):
            n = td.node(**options)(f)


def test_good_node_options_reach_the_graph() -> None:
    async def f() -> int:
        return 1

    class D(td.DAG):
        a = td.node(cache=True, version="v2")(f)
        b = td.node(f)

    assert D.graph._cached == (True, False)
    assert D.graph._specs[0].version == "v2"
    g = td.DAG.from_nodes("G", [td.Node("a", f, cache=True), td.Node("b", f)]).graph
    assert g._cached == (True, False)
