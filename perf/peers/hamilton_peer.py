"""Hamilton: a driver over a generated module with one function per node.

Hamilton reads a DAG from the functions of a module (a parameter names a
dependency), so a generated graph becomes generated source code: one
``def n7(n1: int, n3: int) -> int: return 1`` per node, executed into a fresh
module registered in ``sys.modules``. A run is ``driver.execute(every node)``.
"""

from __future__ import annotations

import itertools
import sys
import types
from typing import Any

from hamilton import driver

from peers import Parents, Runner, name, sync_runner

_serial = itertools.count()


def module_of(parents: Parents) -> types.ModuleType:
    """A fresh module holding one Hamilton function per node of ``parents``."""
    mod_name = f"_hamilton_generated_{next(_serial)}"
    lines = []
    for i, ps in enumerate(parents):
        params = ", ".join(f"{name(p)}: int" for p in ps)
        lines.append(f"def {name(i)}({params}) -> int:\n    return 1\n")
    mod = types.ModuleType(mod_name)
    sys.modules[mod_name] = mod
    exec(compile("".join(lines), mod_name, "exec"), mod.__dict__)
    return mod


def prepare(parents: Parents) -> Runner:
    """The Hamilton runner of ``parents``."""
    dr = driver.Builder().with_modules(module_of(parents)).build()
    keys = [name(i) for i in range(len(parents))]

    def run_once() -> list[Any]:
        out = dr.execute(keys)
        return [out[k] for k in keys]

    return sync_runner(run_once)
