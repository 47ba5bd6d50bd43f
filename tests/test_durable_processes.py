"""Durable runs across real processes: kill -9 and resume, and a run key held by another.

tests/durable_worker.py runs a 20-node layered DAG with a store; each node body
appends its name to a side file when it starts, so the test counts every body
entry of every process.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import durable_worker
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
SRC = str(HERE.parent / "src")
WORKER = str(HERE / "durable_worker.py")
NODES = 20


def _start(config: dict[str, Any]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{HERE}"}
    return subprocess.Popen(
        [sys.executable, WORKER, json.dumps(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(config: dict[str, Any]) -> tuple[int, str, str]:
    proc = _start(config)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def _entries(side: Path) -> Counter[str]:
    return Counter(side.read_text().split()) if side.exists() else Counter()


def _committed(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT node FROM journal WHERE run_key='k'")}
    finally:
        conn.close()


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def _clean_values(tmp: Path) -> Any:
    """The final values of an uninterrupted run without a store, in this process."""
    dag = durable_worker.build(str(tmp / "clean.side"), {})
    return dict(trio.run(lambda: dag.run({"seed": 7})))


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    kill=st.sampled_from(["body", "before_commit", "after_commit"]),
    at=st.integers(1, NODES),
    strategy=st.sampled_from(["eager", "levels", "sequential"]),
)
def test_kill_9_then_resume_runs_no_committed_body_again(
    tmp_path_factory: Any, kill: str, at: int, strategy: str
) -> None:
    tmp = tmp_path_factory.mktemp("kill")
    db, side = tmp / "s.db", tmp / "side"
    config = {"store": str(db), "side": str(side), "key": "k", "strategy": strategy}
    code, _, err = _run({**config, "kill": kill, "at": at})
    assert code in (-signal.SIGKILL, 0), err
    assert _integrity(db) == "ok"
    committed = _committed(db)
    before = _entries(side)
    assert committed <= set(before)  # a value is recorded only after its body ran
    code, out, err = _run(config)
    assert code == 0, err
    after = _entries(side)
    rerun = {n for n in committed if after[n] != before[n]}
    assert rerun == set()  # no committed node's body ran again
    result = json.loads(out)
    assert result["values"] == _clean_values(tmp_path_factory.mktemp("clean"))
    assert {n for n, s in result["statuses"].items() if s == "restored"} == committed
    assert _integrity(db) == "ok"
    assert list(Path(f"{db}.blobs").glob("*.tmp")) == []  # swept, or never left


def test_a_second_process_is_refused_and_a_killed_holder_is_taken_over(tmp_path: Path) -> None:
    db, side, gate = tmp_path / "s.db", tmp_path / "side", tmp_path / "gate"
    config = {"store": str(db), "side": str(side), "key": "k"}
    holder = _start({**config, "wait_for": str(gate)})
    try:
        deadline = time.monotonic() + 30
        while "n0" not in _entries(side):  # the holder has the lease and waits in n0
            assert time.monotonic() < deadline
            assert holder.poll() is None
            time.sleep(0.02)
        code, out, _ = _run(config)
        assert code == 3
        assert "is being run by process" in out
        assert f"process {holder.pid}" in out
    finally:
        holder.kill()
        holder.communicate()
    assert _integrity(db) == "ok"
    code, out, err = _run(config)  # the holder is dead: its lease is taken over
    assert code == 0, err
    assert len(json.loads(out)["values"]) == NODES
