"""The store's files on disk: the sqlite database (its schema, and the checks
that refuse a file that is not a trio_dag store) and the blob directory
(large values written to a temporary file, fsynced and renamed; temporary
files of dead writers swept), and whether a lease holder still lives.

Everything here is blocking and runs where :class:`~trio_dag.SQLiteStore`
runs: in a worker thread, or when the store is opened. The store's
operations (leases, journal, cache) are in ``_store.py``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sqlite3
from typing import Final

from ._exceptions import StoreError

__all__ = [
    "SCHEMA_VERSION",
    "connect",
    "fsync_dir",
    "holder_alive",
    "store_error",
    "sweep",
    "write_blob_file",
]

SCHEMA_VERSION: Final = 1
"""The version of the file layout; a file with a newer one is refused."""

_APP_ID: Final = 0x74644147  # "tdAG", in sqlite's header: marks the file as a trio_dag store
_HEADER: Final = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blobs (
    dv TEXT PRIMARY KEY,
    data BLOB,                          -- NULL when the value is in the blob directory
    size INTEGER NOT NULL
);
CREATE TABLE runs (
    dag TEXT NOT NULL,
    run_key TEXT NOT NULL,
    inputs TEXT NOT NULL,               -- JSON: input name -> data version
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    lease_pid INTEGER,
    lease_host TEXT,
    lease_start REAL,
    lease_token TEXT,
    PRIMARY KEY (dag, run_key)
);
CREATE TABLE journal (
    dag TEXT NOT NULL,
    run_key TEXT NOT NULL,
    node TEXT NOT NULL,
    key TEXT NOT NULL,
    code TEXT NOT NULL,
    dv TEXT NOT NULL,
    PRIMARY KEY (dag, run_key, node)
) WITHOUT ROWID;
CREATE TABLE cache (
    key TEXT PRIMARY KEY,
    dag TEXT NOT NULL,
    node TEXT NOT NULL,
    dv TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
"""


def store_error(path: str, what: str) -> StoreError:
    """The :class:`~trio_dag.StoreError` for the store at ``path``."""
    return StoreError(f"store {path!r}: {what}", path=path)


def connect(path: str, timeout: float, synchronous: str) -> sqlite3.Connection:
    """Open (creating it owner-only if missing) the store file ``path``, checked.

    Raises:
        StoreError: the file cannot be created or opened, or is not a trio_dag store.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _check_header(path)
    except OSError as exc:
        raise store_error(path, f"cannot create the file: {exc}") from exc
    else:
        os.close(fd)
    try:
        conn = sqlite3.connect(
            path, timeout=timeout, check_same_thread=False, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise store_error(path, f"cannot open the file: {exc}") from exc
    try:
        _check_schema(path, conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
    except StoreError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise store_error(
            path,
            f"not a usable trio_dag store ({exc}); is it truncated, or another program's file?",
        ) from exc
    return conn


def _check_header(path: str) -> None:
    """Refuse a file that is not sqlite, or is shorter than its header says."""
    if os.path.isdir(path):
        raise store_error(path, "is a directory, not a store file")
    try:
        with open(path, "rb") as f:
            head = f.read(100)
        size = os.path.getsize(path)
    except OSError as exc:
        raise store_error(path, f"cannot read the file: {exc}") from exc
    if size == 0:
        return  # an empty file: sqlite makes it a new database
    if len(head) < 100 or head[:16] != _HEADER:
        raise store_error(
            path,
            f"not an SQLite database ({size} bytes, no SQLite header): a foreign or "
            f"truncated file; use a new path for a new store",
        )
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    valid = head[24:28] == head[92:96]  # sqlite: the page count is valid only then
    wal = path + "-wal"
    wal_frames = os.path.exists(wal) and os.path.getsize(wal) > 32
    if valid and not wal_frames and size < page_size * pages:
        raise store_error(
            path,
            f"truncated: its header says {pages} pages of {page_size} bytes "
            f"({pages * page_size} bytes), the file has {size}",
        )


def _check_schema(path: str, conn: sqlite3.Connection) -> None:
    """A trio_dag store of a schema this version reads, or an empty database made one."""
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    if app == _APP_ID:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise store_error(
                path,
                f"written by a newer trio_dag (schema version {version}; this one reads "
                f"{SCHEMA_VERSION}); upgrade trio_dag",
            )
        return
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app or tables:
        raise store_error(
            path,
            f"an SQLite database, but not a trio_dag store (application_id {app:#x}, "
            f"{tables} schema objects); use a new path for a new store",
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA application_id").fetchone()[0] != _APP_ID:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            conn.execute(f"PRAGMA application_id={_APP_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def sweep(blob_dir: str) -> None:
    """Remove temporary blob files whose writer is dead (a crash mid-write)."""
    try:
        names = os.listdir(blob_dir)
    except FileNotFoundError:
        return
    for name in names:
        if not name.endswith(".tmp"):
            continue
        try:
            pid = int(name.split("-")[-2])
        except (ValueError, IndexError):
            pid = 0
        if pid and pid != os.getpid() and _pid_alive(pid):
            continue  # another live process is writing it
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(blob_dir, name))


def write_blob_file(blob_dir: str, dv: str, data: bytes) -> None:
    """Write the value of data version ``dv`` to its file: temporary file, fsync, rename.

    The caller fsyncs the directory (:func:`fsync_dir`) before a row names the file.
    """
    final = os.path.join(blob_dir, dv)
    if os.path.exists(final):
        return  # content-addressed: the same bytes are there
    if not os.path.isdir(blob_dir):
        os.makedirs(blob_dir, mode=0o700, exist_ok=True)
    tmp = f"{final}-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)


def fsync_dir(path: str) -> None:
    """Make the renames in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def holder_alive(pid: int, host: str | None) -> bool:
    """Whether the process holding a lease may still be running.

    A holder on another host cannot be checked, so it counts as alive (a
    store is for one host); on this host ``os.kill(pid, 0)`` tells.
    """
    if host != socket.gethostname():
        return True
    return _pid_alive(pid)
