"""A CPU-heavy pipeline: hash chunks of data on threads, then on processes.

The node option ``run_in=`` is not wired into the runtime yet (see the
placement guide), so the nodes hand their CPU work over themselves:
``trio.to_thread.run_sync`` for code that releases the GIL (``hashlib`` does,
on large buffers), and ``trio_parallel.run_sync`` (extra ``process``) for
pure-Python work, each from inside an ``async`` node. A map node fans the
chunks out; ``max_concurrency`` bounds how many run at once.

Run it: ``python examples/cpu_pipeline.py``.
"""

from __future__ import annotations

import hashlib

import trio

import trio_dag as td


def digest(chunk: bytes) -> str:
    """CPU work that releases the GIL: fine on threads."""
    return hashlib.sha256(chunk * 200).hexdigest()[:12]


def count_primes(n: int) -> int:
    """Pure-Python CPU work: holds the GIL, so it wants processes."""
    return sum(all(k % d for d in range(2, int(k**0.5) + 1)) for k in range(2, n))


class Checksums(td.DAG):
    count = td.input(default=8)

    @td.node
    async def chunks(count):
        return [bytes([i]) * 50_000 for i in range(count)]

    @td.node(map_over="chunks", retry=2)
    async def hashes(chunks):
        return await trio.to_thread.run_sync(digest, chunks)

    @td.node
    async def primes(count):
        import trio_parallel  # extra "process"; a worker process per CPU

        return await trio_parallel.run_sync(count_primes, 2_000 * count, kill_on_cancel=True)

    @td.node
    async def report(hashes, primes):
        return f"{len(hashes)} chunks hashed, first {hashes[0]}; {primes} primes"


def main() -> None:
    result = Checksums.run_sync({"count": 8}, strategy=td.Parallel(max_concurrency=4))
    print(result["report"])


if __name__ == "__main__":
    main()
