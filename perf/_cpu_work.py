"""The work of the placement benchmarks, in a module of its own (measures nothing).

Worker processes (trio-parallel, a ``ProcessPoolExecutor``, Dask workers)
import this module by name, so the functions and the DAG classes' nodes
pickle by reference, the same way for every engine compared.

* :func:`records` makes the issue's records: JSON lines of about 200 bytes.
* :func:`work` is the per-record CPU job: parse the JSON, hash (SHA-256,
  ``HASH_ROUNDS`` times), serialise again; about 0.5 ms on an idle core here.
* :class:`Pipeline` is the trio_dag pipeline: one map node over the records,
  placed by name (``placements={"where": ...}``) in chunks of ``CHUNK``;
  :class:`Inline` does the same work on the event loop.
* :func:`tiny` is the remote benchmark's task: nothing but a round trip.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from typing import Any

import trio_dag as td

HASH_ROUNDS = 400
CHUNK = 500
"""Records per placed call (10,000 records: 20 calls)."""


def records(n: int, seed: int = 1) -> list[str]:
    """``n`` JSON records of about 200 bytes each."""
    rnd = random.Random(seed)
    return [
        json.dumps(
            {
                "id": k,
                "name": f"user{k}",
                "tags": [rnd.randrange(1000) for _ in range(8)],
                "text": "x" * 120,
            }
        )
        for k in range(n)
    ]


def work(line: str) -> str:
    """The CPU work of one record: parse, hash, serialise."""
    rec = json.loads(line)
    d = hashlib.sha256(line.encode()).digest()
    for _ in range(HASH_ROUNDS):
        d = hashlib.sha256(d).digest()
    rec["digest"] = d.hex()
    return json.dumps(rec, sort_keys=True)


def work_chunk(lines: list[str]) -> list[str]:
    """:func:`work` on each line: the unit of work of the chunked peers."""
    return [work(line) for line in lines]


def hold(seconds: float) -> int:
    """Keep a worker busy for a while (so that warm-up calls overlap); its PID."""
    time.sleep(seconds)
    return os.getpid()


def tiny(x: int) -> int:
    """A remote task that does nothing: only the round trip is measured."""
    return x + 1


class Pipeline(td.DAG):
    """The CPU pipeline, placed by name: ``placements={"where": placement}``."""

    lines = td.input()

    @td.node(run_in="where", map_over="lines", chunk_size=CHUNK)
    def processed(lines: str) -> str:
        return work(lines)


class Inline(td.DAG):
    """The same work on the event loop (it blocks the loop while it runs)."""

    lines = td.input()

    @td.node
    async def processed(lines: list[str]) -> list[str]:
        return [work(line) for line in lines]


class Remote(td.DAG):
    """One placed call per element: ``placements={"cluster": ...}``."""

    xs = td.input()

    @td.node(run_in="cluster", map_over="xs")
    def plus(xs: int) -> int:
        return tiny(xs)


def check(out: Any, n: int) -> None:
    """Every engine must return the same ``n`` results, in order."""
    out = list(out)
    if len(out) != n or out[0] != work(records(1)[0]):
        raise AssertionError(f"wrong results: {len(out)} of {n}")
