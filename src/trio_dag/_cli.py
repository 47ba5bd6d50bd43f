"""Command line: ``trio-dag demo`` (also ``python -m trio_dag demo``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from ._instrument import Instrument
from ._result import RunResult
from ._strategies import Parallel, Sequential


class _Printer(Instrument):
    """Prints each event as it happens, with the time since the run began."""

    def __init__(self) -> None:
        self.t0 = 0.0

    def _t(self) -> str:
        return f"[{trio.current_time() - self.t0:6.3f}s]"

    def run_started(self, dag: str, run_id: str) -> None:
        self.t0 = trio.current_time()
        print(f"{self._t()} run {run_id} of {dag} started")

    def node_started(self, node: str, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        print(f"{self._t()}   start  {node}{again}")

    def node_finished(self, node: str, elapsed: float) -> None:
        print(f"{self._t()}   done   {node}  ({elapsed * 1000:.0f} ms)")

    def node_failed(self, node: str, error: BaseException, attempt: int, will_retry: bool) -> None:
        then = "will retry" if will_retry else "gave up"
        print(f"{self._t()}   FAILED {node} attempt {attempt}: {error!r}; {then}")


def _demo(strategy_name: str) -> int:
    from ._demo import SalesReport

    strategy = (
        Sequential()
        if strategy_name == "sequential"
        else Parallel(schedule="levels" if strategy_name == "levels" else "eager")
    )
    g = SalesReport.graph
    print(f"DAG {g.name}: {len(g.nodes)} nodes, inputs {', '.join(g.inputs)}")
    for k, level in enumerate(g.levels):
        print(f"  level {k}: {', '.join(level)}")
    print(f"strategy: {strategy!r}\n")
    result: RunResult = SalesReport.run_sync(strategy=strategy, instruments=[_Printer()], seed=0)
    print("\nnode           started  took     attempts")
    t0 = min(t for n in g.nodes if (t := result.started_at(n)) is not None)
    order = sorted(g.nodes, key=lambda n: result.started_at(n) or 0.0)
    for n in order:
        print(
            f"  {n:<12} {result.started_at(n) - t0:6.3f}s {result.duration(n) * 1000:6.0f} ms"  # type: ignore[operator]
            f"  {result.attempts(n)}"
        )
    print("\nresults:")
    for n in g.order:
        print(f"  {n} = {result[n]!r:.100}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trio-dag`` command."""
    parser = argparse.ArgumentParser(prog="trio-dag", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the demo workflow and show what happened")
    demo.add_argument(
        "--strategy",
        choices=("eager", "levels", "sequential"),
        default="eager",
        help="how to schedule the nodes (default: eager)",
    )
    args = parser.parse_args(argv)
    return _demo(args.strategy)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
