"""What a ``trio-dag`` command is given: the DAG, its inputs, its strategy.

``MODULE:DAG`` names a DAG class in a dotted module or a ``.py`` file;
``-i NAME=VALUE`` and ``--inputs FILE.json`` give its inputs;
``--strategy`` and ``--max-concurrency`` its strategy. Anything wrong in
them is a :class:`BadInput`: exit status 2, with a message naming the
option and the value.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ._dag import DAG
from ._exceptions import DAGDefinitionError
from ._strategies import Parallel, Sequential, Strategy

__all__ = ["EXIT_USAGE", "BadInput", "load_dag", "make_strategy", "parse_inputs"]

EXIT_USAGE = 2


class BadInput(click.ClickException):
    """A DAG that cannot be loaded, a definition error, bad inputs or options: exit 2."""

    exit_code = EXIT_USAGE


# ---------------------------------------------------------------- loading


def load_dag(target: str) -> type[DAG]:
    """The DAG class named by ``MODULE:NAME`` (see ``trio-dag run --help``).

    Raises:
        BadInput: the module cannot be imported, defines an invalid DAG, or
            has no (single) DAG of that name.
    """
    where, _, attr = target.partition(":")
    if not where:
        raise BadInput(f"{target!r}: expected MODULE:DAG, e.g. my_pipeline:Nightly")
    module = _import(where)
    if not attr:
        found = _dags_in(module)
        if len(found) == 1:
            return found[0][1]
        if not found:
            raise BadInput(f"{where} defines no trio_dag.DAG class")
        names = ", ".join(f"{where}:{name}" for name, _ in found)
        raise BadInput(f"{where} defines several DAGs; name one: {names}")
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            found = _dags_in(module)
            hint = (
                f"; its DAGs: {', '.join(name for name, _ in found)}"
                if found
                else "; it defines no DAG"
            )
            raise BadInput(f"{where} has no attribute {attr!r}{hint}")
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, DAG)) or obj is DAG:
        raise BadInput(f"{target} is {obj!r}, not a trio_dag.DAG subclass")
    return obj


def _is_path(where: str) -> bool:
    return where.endswith(".py") or "/" in where or os.sep in where


def _import(where: str) -> Any:
    """Import a dotted module (the current directory first on the path) or a .py file."""
    try:
        if _is_path(where):
            path = Path(where)
            if not path.is_file():
                raise BadInput(f"no such file: {where}")
            name = path.stem if path.stem.isidentifier() else "_trio_dag_cli_module"
            sys.path.insert(0, str(path.resolve().parent))  # so it can import its neighbours
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses, pickling and typing look it up there
            spec.loader.exec_module(module)
            return module
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        return importlib.import_module(where)
    except BadInput:
        raise
    except DAGDefinitionError as exc:
        raise BadInput(f"{where}: invalid DAG definition: {exc}") from exc
    except ModuleNotFoundError as exc:
        if exc.name is not None and (where == exc.name or where.startswith(exc.name + ".")):
            raise BadInput(f"no module named {where!r} (a dotted module or a .py file)") from exc
        raise BadInput(_import_failure(where, exc)) from exc
    except Exception as exc:
        raise BadInput(_import_failure(where, exc)) from exc


def _import_failure(where: str, exc: Exception) -> str:
    tb = "".join(traceback.format_exception(exc)).rstrip()
    return f"cannot import {where}:\n{tb}"


def _dags_in(module: Any) -> list[tuple[str, type[DAG]]]:
    seen: dict[int, tuple[str, type[DAG]]] = {}
    for name, obj in vars(module).items():
        if isinstance(obj, type) and issubclass(obj, DAG) and obj is not DAG:
            seen.setdefault(id(obj), (name, obj))
    return list(seen.values())


# ---------------------------------------------------------------- inputs


def parse_inputs(pairs: Sequence[str], file: str | None) -> dict[str, Any]:
    """Inputs from ``--inputs FILE.json`` then ``-i NAME=VALUE`` (later ones win).

    A VALUE that is valid JSON is parsed (``3``, ``true``, ``[1, 2]``,
    ``"quoted"``); anything else is taken as a string.
    """
    inputs: dict[str, Any] = {}
    if file is not None:
        try:
            with open(file, encoding="utf-8") as f:
                data = json.load(f)
        except OSError as exc:
            raise BadInput(f"--inputs: cannot read {file}: {exc.strerror}") from exc
        except ValueError as exc:
            raise BadInput(f"--inputs: {file} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BadInput(
                f"--inputs: {file} must hold a JSON object of input names to values, "
                f"not a {type(data).__name__}"
            )
        inputs.update(data)
    for pair in pairs:
        name, eq, raw = pair.partition("=")
        if not eq or not name:
            raise BadInput(f"-i: expected NAME=VALUE, got {pair!r}")
        try:
            inputs[name] = json.loads(raw)
        except ValueError:
            inputs[name] = raw
    return inputs


def make_strategy(
    dag: type[DAG], name: str | None, max_concurrency: int | None
) -> Strategy | None:
    """The strategy for ``--strategy``/``--max-concurrency`` (``None``: the DAG's default)."""
    if name == "sequential":
        if max_concurrency is not None:
            raise BadInput("--max-concurrency does not apply to --strategy sequential")
        return Sequential()
    if name is None and max_concurrency is None:
        return None
    if name is None:
        name = "levels" if dag.supervisor.needs_levels else "eager"
    return Parallel(max_concurrency=max_concurrency, schedule=name)  # type: ignore[arg-type]
