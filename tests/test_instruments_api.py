"""The public surface of trio_dag.instruments: documented, reported under its public name."""

from __future__ import annotations

import inspect
import types
from pathlib import Path

import pytest

import trio_dag
import trio_dag.instruments as instruments

API_RST = Path(__file__).resolve().parents[1] / "docs" / "api.rst"


@pytest.mark.parametrize("name", instruments.__all__)
def test_instruments_names_are_documented_and_public(name: str) -> None:
    obj = getattr(instruments, name)
    assert isinstance(obj, type)
    assert vars(obj).get("__doc__"), f"{name} has no docstring of its own"
    assert obj.__module__ == "trio_dag.instruments"
    assert f".. autoclass:: trio_dag.instruments.{name}" in API_RST.read_text(encoding="utf-8")
    undocumented = [
        attr
        for attr, value in vars(obj).items()
        if not attr.startswith("_")
        and isinstance(value, types.FunctionType | property)
        and not inspect.getdoc(value)
    ]
    assert undocumented == []


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in instruments.__all__
        if "Instrument" in n or n in ("ChromeTrace", "Timeline", "ProgressDisplay")
    ],
)
def test_instruments_are_instruments(name: str) -> None:
    assert issubclass(getattr(instruments, name), trio_dag.Instrument)


def test_no_stray_public_names() -> None:
    stray = [
        attr
        for attr, value in vars(instruments).items()
        if not attr.startswith("_")
        and not isinstance(value, types.ModuleType)
        and attr not in instruments.__all__
        and attr != "annotations"  # from __future__ import annotations
    ]
    assert stray == []
