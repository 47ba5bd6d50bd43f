"""A tiny build system: each target is a subprocess, with retries and timeouts.

Targets are generated from a table with ``DAG.from_nodes``; each runs a
command with ``trio.run_process``. A flaky step (it fails on its first try)
is retried by its policy; a step that hangs is stopped by its per-attempt
timeout, which kills the child process (trio cancels ``run_process`` by
killing it). Independent targets build concurrently.

Run it: ``python examples/build_system.py``.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

import trio_dag as td

PY = sys.executable


def target(command: list[str]) -> Callable[..., Awaitable[str]]:
    """The node body for one build step: run ``command``, return its stdout."""

    async def build(*deps: str) -> str:
        done = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=True
        )
        return done.stdout.decode().strip()

    return build


def make_build(workdir: Path) -> type[td.DAG]:
    marker = workdir / "flaky-ran-once"
    flaky = (
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(marker)!r})\n"
        "if not p.exists():\n"
        "    p.touch(); sys.exit('compiler crashed')\n"
        "print('parser.o')"
    )
    steps = {  # name: (command, deps, options)
        "lexer.o": ([PY, "-c", "print('lexer.o')"], (), {}),
        "parser.o": (
            [PY, "-c", flaky],
            (),
            {"retry": td.RetryPolicy(max_attempts=3, initial_delay=0.05)},
        ),
        "docs": (  # hangs: stopped by its timeout, then the build goes on without it
            [PY, "-c", "import time; time.sleep(60)"],
            (),
            {"timeout": 0.5},
        ),
        "app": ([PY, "-c", "print('app <- lexer.o parser.o')"], ("lexer.o", "parser.o"), {}),
    }
    nodes = [
        td.Node(name, target(cmd), deps=deps, **opts) for name, (cmd, deps, opts) in steps.items()
    ]
    return td.DAG.from_nodes("build", nodes)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Build = make_build(Path(tmp))
        try:
            Build.run_sync(on_failure="continue")
        except td.RunFailed as exc:
            result = exc.result
        for name, status in result.statuses.items():
            extra = f" -> {result[name]!r}" if name in result else ""
            print(f"{name:9} {status:10} attempts={result.attempts(name)}{extra}")
        print("docs failed with", type(result.errors["docs"]).__name__)


if __name__ == "__main__":
    main()
