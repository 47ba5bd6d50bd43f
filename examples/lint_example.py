"""Class-body nodes under ruff's pep8-naming rules (CI lints this file).

A node's parameters name its dependencies, so its first parameter is no
``self``. pep8-naming's N805 ("first argument of a method should be named
self") would flag every such node, and its suggested fix renames a dependency
to ``self``, which silently changes the graph. Tell ruff that
``trio_dag.node`` makes something that is not an instance method::

    [tool.ruff.lint.pep8-naming]
    staticmethod-decorators = ["trio_dag.node"]

ruff resolves imports, so ``@td.node``, ``@trio_dag.node(...)`` and a
``from trio_dag import node`` all match that one entry. (Listing it under
``classmethod-decorators`` instead trades N805 for N804, "should be named
cls".) CI runs ``ruff check --select N examples/lint_example.py`` with the
setting above from pyproject.toml.
"""

from __future__ import annotations

import trio_dag
import trio_dag as td
from trio_dag import node


class Report(td.DAG):
    """Every way of spelling the decorator, bare and with options."""

    day = td.input()

    @td.node
    async def users(day: str) -> list[str]:
        return [day]

    @td.node(retry=3, timeout=5.0)
    async def orders(day: str) -> list[int]:
        return [len(day)]

    @trio_dag.node
    async def summary(users: list[str], orders: list[int]) -> str:
        return f"{len(users)} users, {sum(orders)} orders"

    @node(map_over="users")
    async def greetings(users: str) -> str:
        return f"hello {users}"

    @td.node
    async def keyword_only(*, summary: str) -> str:  # passes without the setting too
        return summary
