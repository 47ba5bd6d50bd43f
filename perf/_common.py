"""Plumbing shared by the pyperf scripts in ``perf/`` (measures nothing itself).

* :func:`timer` turns an async workload into a pyperf ``time_func``: one
  ``trio.run`` per call, ``time.perf_counter()`` around the ``loops`` awaits
  only (so trio's start-up and any lazy graph building stay outside the timed
  region).
* :func:`make_runner` builds the ``pyperf.Runner`` with our ``--sizes`` option
  passed on to pyperf's worker processes.
* :func:`smoke_requested` lets a script take our ``--smoke`` flag before pyperf
  parses the command line: the script then calls each workload once at a tiny
  size, without pyperf, to check it runs (not its timing).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pyperf
import trio

Workload = Callable[[], Awaitable[Any]]


def timer(get_workload: Callable[[], Workload]) -> Callable[[int], float]:
    """A pyperf ``time_func``: seconds taken by ``loops`` awaits of the workload.

    ``get_workload`` is called before the clock starts (it may build a graph).
    """

    def time_func(loops: int) -> float:
        work = get_workload()

        async def main() -> float:
            t0 = time.perf_counter()
            for _ in range(loops):
                await work()
            return time.perf_counter() - t0

        return trio.run(main)

    return time_func


def smoke_requested() -> bool:
    """Whether ``--smoke`` is on the command line (then pyperf is not used)."""
    return "--smoke" in sys.argv[1:]


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"1000,10000"`` -> ``(1000, 10000)``."""
    sizes = tuple(int(s) for s in text.split(",") if s.strip())
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--sizes must be positive ints, got {text!r}")
    return sizes


def make_runner(default_sizes: Sequence[int]) -> tuple[pyperf.Runner, tuple[int, ...]]:
    """A ``pyperf.Runner`` with a ``--sizes`` option; returns it and the sizes to run."""
    default = ",".join(str(n) for n in default_sizes)

    def pass_sizes(cmd: list[str], args: argparse.Namespace) -> None:
        cmd.extend(["--sizes", ",".join(str(n) for n in args.sizes)])

    runner = pyperf.Runner(add_cmdline_args=pass_sizes)
    runner.argparser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=parse_sizes(default),
        help=f"comma-separated node counts (default: {default})",
    )
    args = runner.parse_args()
    return runner, args.sizes
