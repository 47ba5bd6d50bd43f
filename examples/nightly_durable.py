"""A durable nightly job: killed halfway, run again, it continues where it stopped.

``store=`` and ``run_key=`` make the run durable: every node's value is
committed to the sqlite store before any dependent starts. The first
attempt here dies abruptly in ``publish`` (``os._exit``: no cleanup, no
exception, as a kill or a power cut would); running the same DAG with the
same ``run_key`` again restores ``extract`` and ``transform`` from the store
without running them, and runs only ``publish``.

Run it: ``python examples/nightly_durable.py`` (it runs the job twice, in two
child processes, and prints what each did).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import trio_dag as td


class Nightly(td.DAG):
    day = td.input()

    @td.node
    async def extract(day):
        print(f"  extract {day}", flush=True)
        return list(range(10))

    @td.node
    async def transform(extract):
        print("  transform", flush=True)
        return sum(extract)

    @td.node
    async def publish(transform, day):
        if os.environ.get("CRASH"):
            print("  publish: the process dies here", flush=True)
            os._exit(137)
        print("  publish", flush=True)
        return f"{day}: total {transform}"


def job(db: str, day: str) -> None:
    """One attempt of the nightly job (in a child process)."""
    with td.SQLiteStore(db) as store:
        result = Nightly.run_sync({"day": day}, store=store, run_key=day)
    print("  statuses:", ", ".join(f"{n}={s}" for n, s in result.statuses.items()))
    print("  result:", result["publish"])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "nightly.db")
        for attempt, crash in ((1, "1"), (2, "")):
            print(f"attempt {attempt}:", flush=True)
            env = {**os.environ, "CRASH": crash}
            code = [sys.executable, __file__, "--job", db, "2026-11-26"]
            done = subprocess.run(code, env=env, check=False)
            print(f"  exit status {done.returncode}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--job"]:
        job(sys.argv[2], sys.argv[3])
    else:
        main()
