"""Ray: one remote task per node on a local one-node cluster, ObjectRefs as dependencies.

:func:`start` starts the cluster the way a laptop user would, in this process's
machine and on loopback only: ``ray.init(num_cpus=2, include_dashboard=False)``
(two worker slots: the benchmark machine has 2 cores), usage statistics off.
A run submits one remote task per node, passing its parents' ``ObjectRef``\\ s
as arguments (Ray resolves them before the task starts), then ``ray.get`` of
every node's ref. Start-up (``ray.init`` and the first task's round trip, which
starts a worker process) is timed apart from the runs.
"""

from __future__ import annotations

import os
import time
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # read when ray is imported / started
os.environ.setdefault("DO_NOT_TRACK", "1")

import ray  # after the environment above

from peers import Parents, Runner, sync_runner


def _remote_node() -> Any:
    """The remote node function, defined here so cloudpickle ships it by value.

    (A module-level function would be pickled by reference, and the workers
    could not import ``peers`` from ``perf/``.)
    """

    def node(*deps: Any) -> int:
        return 1

    return ray.remote(node)


def start() -> dict[str, float]:
    """Start the local cluster (once); seconds of ``ray.init`` and of the first task."""
    if ray.is_initialized():
        return {}
    t0 = time.perf_counter()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    t1 = time.perf_counter()
    ray.get(_remote_node().remote())
    return {"init": t1 - t0, "first_task": time.perf_counter() - t1}


def stop() -> None:
    """Stop the local cluster."""
    if ray.is_initialized():
        ray.shutdown()


def prepare(parents: Parents) -> Runner:
    """The Ray runner of ``parents`` (starts the cluster if needed)."""
    start()
    node = _remote_node()

    def run_once() -> list[Any]:
        refs: list[Any] = []
        for ps in parents:
            refs.append(node.remote(*[refs[p] for p in ps]))
        return list(ray.get(refs))

    return sync_runner(run_once)
