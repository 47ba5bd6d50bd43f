"""Stream a large file through a DAG, one run per line, in constant memory.

The source is an async generator reading the file lazily (``trio.open_file``),
so the file is never loaded whole; ``Enrich.stream`` keeps at most
``max_in_flight`` lines between the reader and the consumer, and delivers
results in input order. Bad lines fail their own run only
(``on_item_failure="continue"``, the default).

Run it: ``python examples/stream_file.py [FILE]`` (without FILE it writes a
sample of 10,000 lines to a temporary file first).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import trio

import trio_dag as td


class Enrich(td.DAG):
    line = td.input()

    @td.node
    async def record(line):
        return json.loads(line)

    @td.node
    async def total(record):
        return record["qty"] * record["price"]

    @td.node
    async def tagged(record, total):
        return {"id": record["id"], "total": round(total, 2), "big": total > 100}


async def lines(path: Path) -> AsyncIterator[dict[str, str]]:
    async with await trio.open_file(path) as f:
        async for line in f:
            yield {"line": line}


async def summarize(path: Path) -> str:
    count = big = bad = 0
    revenue = 0.0
    async with Enrich.stream(lines(path), max_in_flight=256) as results:
        async for result in results:
            if not result.ok:
                bad += 1
                continue
            row = result["tagged"]
            count += 1
            big += row["big"]
            revenue += row["total"]
    return f"{count} rows, {big} big, {bad} bad, revenue {revenue:.2f}"


def write_sample(path: Path, n: int = 10_000) -> None:
    with path.open("w") as f:
        for i in range(n):
            if i % 1000 == 999:
                f.write("not json\n")  # a bad line: its run fails, the stream goes on
            else:
                f.write(json.dumps({"id": i, "qty": i % 7, "price": 19.5}) + "\n")


def main() -> None:
    if len(sys.argv) > 1:
        print(trio.run(summarize, Path(sys.argv[1])))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.jsonl"
        write_sample(path)
        print(trio.run(summarize, path))


if __name__ == "__main__":
    main()
