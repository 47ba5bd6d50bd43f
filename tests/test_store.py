"""SQLiteStore as a file: creation, permissions, foreign and truncated files, leases, blobs."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import trio_dag as td
from trio_dag._serialize import data_version
from trio_dag._store_file import SCHEMA_VERSION


def _mode(p: Path | str) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: the pid names no process now
    return proc.pid


def _blob(data: bytes) -> tuple[str, bytes]:
    return data_version(data), data


def test_a_new_store_is_owner_only_wal_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with td.SQLiteStore(path) as store:
        store.write([_blob(b"x" * 10)], [], [])
        assert store.path == str(path)
    assert _mode(path) == 0o600
    if os.path.exists(f"{path}-wal"):
        assert _mode(f"{path}-wal") == 0o600
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    td.SQLiteStore(path).close()  # reopening an existing store works


def test_large_values_go_to_files_owner_only(tmp_path: Path) -> None:
    store = td.SQLiteStore(tmp_path / "s.db", large_value_bytes=100, synchronous="full")
    small, big = _blob(b"s" * 50), _blob(b"b" * 1000)
    store.write([small, big], [], [])
    assert _mode(store.blob_dir) == 0o700
    files = os.listdir(store.blob_dir)
    assert files == [big[0]]
    assert _mode(os.path.join(store.blob_dir, big[0])) == 0o600
    assert store.read_blobs([small[0], big[0], "nope"]) == {small[0]: small[1], big[0]: big[1]}
    store.write([big], [], [])  # the same bytes again: nothing new
    assert os.listdir(store.blob_dir) == [big[0]]
    os.unlink(os.path.join(store.blob_dir, big[0]))
    assert store.read_blobs([big[0]]) == {}  # a lost file reads as a miss
    store.close()


def test_stray_temp_files_of_dead_writers_are_swept(tmp_path: Path) -> None:
    store = td.SQLiteStore(tmp_path / "s.db", large_value_bytes=1)
    store.write([_blob(b"data")], [], [])
    store.close()
    blobs = Path(store.blob_dir)
    dead = blobs / f"abc-{_dead_pid()}-00ff.tmp"
    live = blobs / f"abc-{os.getppid()}-00ff.tmp"  # a live process (not ours) writing
    junk = blobs / "junk.tmp"
    for p in (dead, live, junk):
        p.write_bytes(b"partial")
    td.SQLiteStore(tmp_path / "s.db").close()
    assert not dead.exists()
    assert not junk.exists()
    assert live.exists()
    assert len([p for p in blobs.iterdir() if not p.name.endswith(".tmp")]) == 1


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"hello, this is not a database at all" * 10, "no SQLite header"),
        (b"SQLite format 3\x00" + b"\x00" * 10, "no SQLite header"),  # shorter than a header
    ],
)
def test_a_foreign_file_is_a_clear_error(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "other.db"
    path.write_bytes(content)
    with pytest.raises(td.StoreError, match=match) as info:
        td.SQLiteStore(path)
    assert info.value.path == str(path)
    assert path.read_bytes() == content  # untouched


def test_another_programs_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(td.StoreError, match="not a trio_dag store"):
        td.SQLiteStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    conn.close()


def test_a_truncated_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = td.SQLiteStore(path)
    store.write([_blob(os.urandom(2000) + bytes([k])) for k in range(50)], [], [])
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(td.StoreError, match="truncated"):
        td.SQLiteStore(path)


def test_a_store_from_a_newer_trio_dag_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    td.SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(td.StoreError, match="newer trio_dag"):
        td.SQLiteStore(path)


def test_a_directory_or_uncreatable_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(td.StoreError, match="directory"):
        td.SQLiteStore(tmp_path)
    with pytest.raises(td.StoreError, match="cannot create"):
        td.SQLiteStore(tmp_path / "missing-dir" / "s.db")


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"synchronous": "OFF"}, "synchronous"),
        ({"large_value_bytes": -1}, "large_value_bytes"),
        ({"large_value_bytes": True}, "large_value_bytes"),
        ({"serializer": object()}, "serializer"),
        ({"timeout": float("nan")}, "timeout"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], option: str) -> None:
    with pytest.raises(td.InvalidOptionError, match=option) as info:
        td.SQLiteStore(tmp_path / "s.db", **kwargs)
    assert info.value.option == option


def test_bad_path_type() -> None:
    with pytest.raises(td.InvalidOptionError, match="path"):
        td.SQLiteStore(42)  # type: ignore[arg-type]


def test_leases_refuse_a_second_holder_and_pass_on_after_death(tmp_path: Path) -> None:
    store = td.SQLiteStore(tmp_path / "s.db")
    assert store.acquire("D", "k", {"x": "1"}, "t1") is None
    with pytest.raises(td.StoreError, match="another run in this process") as info:
        store.acquire("D", "k", {"x": "1"}, "t2")
    assert (info.value.dag, info.value.run_key) == ("D", "k")
    store.release("D", "k", "t2", "failed")  # not the holder: changes nothing
    with pytest.raises(td.StoreError):
        store.acquire("D", "k", {"x": "1"}, "t3")
    store.release("D", "k", "t1", "failed")
    assert store.acquire("D", "k", {"x": "2"}, "t4") == ({"x": "1"}, "failed")
    store.release("D", "k", "t4", None)
    # a lease left by a killed process is taken over; one on another host is not
    conn = sqlite3.connect(store.path)
    conn.execute(
        "UPDATE runs SET lease_pid=?, lease_host=?, lease_start=0, lease_token='x'",
        (_dead_pid(), socket.gethostname()),
    )
    conn.commit()
    assert store.acquire("D", "k", {}, "t5") == ({"x": "1"}, "failed")
    conn.execute("UPDATE runs SET lease_pid=1, lease_host='elsewhere', lease_token='y'")
    conn.commit()
    conn.close()
    with pytest.raises(td.StoreError, match="process 1 on host 'elsewhere'"):
        store.acquire("D", "k", {}, "t6")
    store.close()
    with pytest.raises(td.StoreError, match="closed"):
        store.acquire("D", "k", {}, "t7")


def test_journal_and_cache_rows(tmp_path: Path) -> None:
    store = td.SQLiteStore(tmp_path / "s.db")
    dv, data = _blob(b"v")
    store.acquire("D", "k", {}, "t")
    store.set_inputs("D", "k", {"a": "b"})
    store.write([(dv, data)], [("D", "k", "n", "key1", "cv", dv)], [("key1", "D", "n", dv)])
    assert store.journal_rows("D", "k") == [("n", "key1", "cv", dv)]
    assert store.cache_lookup(["key1", "key2"]) == {"key1": dv}
    store.release("D", "k", "t", "completed", {"a": "c"})
    conn = sqlite3.connect(store.path)
    row = conn.execute("SELECT inputs, status FROM runs").fetchone()
    conn.close()
    assert (json.loads(row[0]), row[1]) == ({"a": "c"}, "completed")
    store.close()
    store.close()  # twice is fine
