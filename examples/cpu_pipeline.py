"""A CPU-heavy pipeline: hash chunks on threads, count primes in worker processes.

Sync node bodies are placed with ``run_in=``: ``td.InThread()`` for code
that releases the GIL (``hashlib`` does, on large buffers), ``td.InProcess()``
(extra ``process``: trio-parallel) for pure-Python work that holds it. The
engine stays in trio: retries, timeouts and cancellation apply as to any
node (a cancelled process call kills its worker). A map node fans the chunks
out, ``chunk_size`` elements per call; ``max_concurrency`` bounds how many
bodies run at once. A Dask cluster is one more placement:
``td.InExecutor(client.get_executor())``.

Run it: ``python examples/cpu_pipeline.py``.
"""

from __future__ import annotations

import hashlib

import trio_dag as td


class Checksums(td.DAG):
    count = td.input(default=8)

    @td.node
    async def chunks(count):
        return [bytes([i]) * 50_000 for i in range(count)]

    @td.node(run_in=td.InThread(), map_over="chunks", chunk_size=2, retry=2)
    def hashes(chunks):
        return hashlib.sha256(chunks * 200).hexdigest()[:12]

    @td.node(run_in=td.InProcess(), timeout=60)
    def primes(count):
        n = 2_000 * count
        return sum(all(k % d for d in range(2, int(k**0.5) + 1)) for k in range(2, n))

    @td.node
    async def report(hashes, primes):
        return f"{len(hashes)} chunks hashed, first {hashes[0]}; {primes} primes"


def main() -> None:
    result = Checksums.run_sync({"count": 8}, strategy=td.Parallel(max_concurrency=4))
    print(result["report"])


if __name__ == "__main__":
    main()
