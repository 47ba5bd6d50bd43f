"""A process that runs a durable DAG, for tests/test_durable_processes.py.

Usage: ``python durable_worker.py CONFIG_JSON``, where the config names the
store, a side file (each node body appends its name when it starts), the
strategy, and optionally where to SIGKILL itself:

* ``{"kill": "body", "at": k}``: on the k-th body entry of this process;
* ``{"kill": "before_commit" | "after_commit", "at": k}``: around the k-th
  batch the store commits;
* ``{"wait_for": path}``: node ``n0`` waits until ``path`` exists (to hold a
  run key while another process tries it).

On success it prints the final values as JSON and exits 0; a
:class:`trio_dag.StoreError` prints ``StoreError: <message>`` and exits 3.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import trio

import trio_dag as td

LAYERS, WIDTH = 4, 5


def _deps(layer: int, k: int) -> list[str]:
    if layer == 0:
        return ["seed"]
    prev = [f"n{(layer - 1) * WIDTH + j}" for j in range(WIDTH)]
    return [prev[k], prev[(k + 2) % WIDTH]]


def build(side: str, config: dict[str, Any]) -> type[td.DAG]:
    """The DAG: LAYERS x WIDTH nodes; some values are large (they go to blob files)."""
    entries = [0]

    def make(name: str) -> Callable[..., Any]:
        async def body(*args: Any) -> Any:
            with open(side, "a") as f:  # noqa: ASYNC230 - a tiny append, on purpose
                f.write(name + "\n")
                f.flush()
            entries[0] += 1
            if config.get("kill") == "body" and entries[0] == config["at"]:
                os.kill(os.getpid(), signal.SIGKILL)
            wait_for = config.get("wait_for")
            if wait_for and name == "n0":
                while not os.path.exists(wait_for):  # noqa: ASYNC110, ASYNC240
                    await trio.sleep(0.02)
            await trio.sleep(0.001 * (hash(name) % 3))
            text = f"{name}({','.join(str(a)[:20] for a in args)})"
            return text * (40 if name.endswith(("3", "7")) else 1)  # some > 200 bytes

        return body

    nodes = []
    for layer in range(LAYERS):
        for k in range(WIDTH):
            i = layer * WIDTH + k
            nodes.append(td.Node(f"n{i}", make(f"n{i}"), _deps(layer, k), version="1"))
    return td.DAG.from_nodes("Layered", nodes, ["seed"])


def main() -> None:
    config = json.loads(sys.argv[1])
    store = td.SQLiteStore(config["store"], large_value_bytes=200)
    kill = config.get("kill")
    if kill in ("before_commit", "after_commit"):
        real = store.write
        batches = [0]

        def write(*args: Any) -> None:
            batches[0] += 1
            last = batches[0] == config["at"]
            if last and kill == "before_commit":
                os.kill(os.getpid(), signal.SIGKILL)
            real(*args)
            if last:
                os.kill(os.getpid(), signal.SIGKILL)

        store.write = write  # type: ignore[method-assign]
    dag = build(config["side"], config)
    strategy = {
        "eager": td.Parallel(),
        "levels": td.Parallel(schedule="levels"),
        "sequential": td.Sequential(),
    }[config.get("strategy", "eager")]
    try:
        result = trio.run(
            lambda: dag.run({"seed": 7}, store=store, run_key=config["key"], strategy=strategy)
        )
    except td.StoreError as exc:
        print(f"StoreError: {exc}", flush=True)
        sys.exit(3)
    print(json.dumps({"values": dict(result), "statuses": result.statuses, "t": time.time()}))


if __name__ == "__main__":
    main()
