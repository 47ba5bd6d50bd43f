"""The CPU pipeline on a Dask cluster: heavy nodes on a named placement.

The DAG does not hold a cluster: its heavy nodes say ``run_in="cluster"``,
a name, and the run binds the name with ``placements={"cluster": ...}``. So
the class is defined (and unit-tested) before any cluster exists, and the
same class runs on a laptop's thread pool, on worker processes or on a
cluster by changing one mapping. Here the cluster is a
``distributed.LocalCluster`` of two worker processes, reached through the
synchronous ``Client`` and its ``get_executor()`` (``Client(asynchronous=True)``
needs asyncio and does not run under trio). The engine stays in trio:
retries, timeouts and cancellation apply as to any node; only the bodies
travel. The workers need trio_dag installed, and the modules node functions
come from; functions of the script being run (``__main__``, like these)
travel by value (cloudpickle).

Needs the ``dask`` extra: ``pip install 'trio-dag[dask]'``.
Run it: ``python examples/cluster_pipeline.py``.
"""

from __future__ import annotations

import hashlib
import os

import distributed

import trio_dag as td


class Checksums(td.DAG):
    count = td.input(default=8)

    @td.node
    async def chunks(count):
        return [bytes([i]) * 50_000 for i in range(count)]

    @td.node(run_in="cluster", map_over="chunks", chunk_size=2, retry=2)
    def hashes(chunks):
        digest = hashlib.sha256(chunks * 200).hexdigest()[:12]
        return os.getpid(), digest  # which process hashed it, for the check below

    @td.node(run_in="cluster", timeout=60)
    def primes(count):
        n = 2_000 * count
        return sum(all(k % d for d in range(2, int(k**0.5) + 1)) for k in range(2, n))

    @td.node
    async def report(hashes, primes):
        return f"{len(hashes)} chunks hashed, first {hashes[0][1]}; {primes} primes"


def main() -> None:
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        placements = {"cluster": td.InExecutor(client.get_executor())}
        result = Checksums.run_sync({"count": 8}, placements=placements)
        print(result["report"])
        workers = set(client.run(os.getpid).values())  # the worker processes' ids
        hashed_on = {pid for pid, _ in result["hashes"]}
        print(f"hashed on the cluster's workers: {hashed_on <= workers}")


if __name__ == "__main__":
    main()
