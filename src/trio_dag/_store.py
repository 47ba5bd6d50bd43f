"""The store: a durable run's journal and the cross-run cache, in one sqlite file.

:class:`SQLiteStore` is storage only: every method here is blocking and is
called by the runtime from a worker thread (``trio.to_thread.run_sync``), one
call per batch of nodes, never per node on the event loop. What a run
writes, when, and how keys are made lives in ``_durable.py``; the file itself
(its schema, the checks on opening, blob files) in ``_store_file.py``.

The file (schema version ``_store_file.SCHEMA_VERSION``, marked with sqlite's
``application_id``) holds:

* ``meta``: the schema version;
* ``blobs``: serialized values, addressed by their data version (the SHA-256
  of the bytes), so a value shared by many nodes, runs or cache entries is
  stored once; a value above ``large_value_bytes`` lives in a file of the
  blob directory (``<path>.blobs/<data version>``), written to a temporary
  file, fsynced and renamed before the row that names it is committed;
* ``runs``: one row per (DAG name, run key): the inputs' data versions, the
  status, and the lease of the process running it;
* ``journal``: per run, every committed node's key, code version and data
  version;
* ``cache``: node key -> data version, shared by every run.

Security: a store is trusted data. The default serializer is pickle, and
unpickling runs code, so the file is created readable and writable by its
owner only (0o600; sqlite gives its ``-wal`` and ``-shm`` files the same
mode), and the blob directory 0o700.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, final

from ._exceptions import StoreError
from ._serialize import serializer_id
from ._store_file import (
    connect,
    fsync_dir,
    holder_alive,
    store_error,
    sweep,
    write_blob_file,
)
from ._validate import check_choice, check_int, check_number, reject

__all__ = ["SQLiteStore"]

_CHUNK: Final = 500  # parameters per "IN (...)" query


@final
class SQLiteStore:
    """A store for durable runs and cached node values: one sqlite file.

    Pass it to a run as ``store=`` (with ``run_key=`` for a durable,
    resumable run); see :doc:`durability`. Opening checks the file: a file
    that is not a trio_dag store (foreign, truncated, or written by a newer
    trio_dag) raises :class:`~trio_dag.StoreError` at once, and stray
    temporary files of dead writers are removed.

    The file uses WAL mode. Commits are grouped: nodes that finish close
    together share one transaction, made in a worker thread, and a node's
    dependents start only after its value is committed.

    One store object may serve many runs, one after another or at once; several
    processes may share one file (on one host: sqlite's WAL mode needs shared
    memory, so no network file systems), each run key being run by one of them
    at a time.

    Args:
        path: the database file; created (owner-only, 0o600) if missing.
        synchronous: ``"NORMAL"`` (the default) survives a crash of the
            process; ``"FULL"`` also survives power loss or an OS crash, at
            about ten times the cost per commit.
        large_value_bytes: serialized values larger than this go to files in
            the blob directory ``<path>.blobs`` (0o700) instead of the database.
        serializer: turns values into bytes and back: anything with
            ``dumps(obj) -> bytes`` and ``loads(bytes) -> obj``; the default is
            the ``pickle`` module. Its ``name`` (or qualified name) is part
            of every key, so values written by another serializer are never read.
        timeout: seconds to wait for another process's write transaction.

    Raises:
        StoreError: the file cannot be created or opened, or is not a trio_dag store.
        InvalidOptionError: an argument has a bad value.

    Attributes:
        path: the absolute path of the database file.
        blob_dir: the directory of large values.
        serializer: the serializer.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        large_value_bytes: int = 128 * 1024,
        serializer: Any = pickle,
        timeout: float = 30.0,
    ) -> None:
        where = "trio_dag.SQLiteStore()"
        if not isinstance(path, str | os.PathLike):
            reject(where, "path", path, "a file path (str or os.PathLike)", wrong_type=True)
        if isinstance(synchronous, str):
            synchronous = synchronous.upper()
        check_choice(where, "synchronous", synchronous, ("NORMAL", "FULL"))
        check_int(where, "large_value_bytes", large_value_bytes, minimum=0)
        timeout = check_number(where, "timeout", timeout, positive=True)
        if not (
            callable(getattr(serializer, "dumps", None))
            and callable(getattr(serializer, "loads", None))
        ):
            reject(
                where,
                "serializer",
                serializer,
                "an object with dumps(obj) -> bytes and loads(bytes) -> obj (e.g. pickle)",
                wrong_type=True,
            )
        self.path = os.path.abspath(os.fspath(path))
        self.blob_dir = self.path + ".blobs"
        self.serializer = serializer
        self.serializer_id = serializer_id(serializer)
        self.large_value_bytes = large_value_bytes
        self._lock = threading.Lock()
        self._closed = False
        self.warned: set[tuple[str, str, str]] = set()  # (dag, node, what): warn once
        self._conn = connect(self.path, timeout, synchronous)
        sweep(self.blob_dir)

    def __repr__(self) -> str:
        return f"<trio_dag.SQLiteStore {self.path!r}>"

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection; the store cannot be used afterwards."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def _error(self, what: str) -> StoreError:
        return store_error(self.path, what)

    # -------------------------------------------------- used by the runtime

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise self._error("the store is closed")
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            if self._closed:
                raise self._error("the store is closed")
            return self._conn.execute(sql, params).fetchall()

    def acquire(self, dag: str, run_key: str, inputs: dict[str, str], token: str) -> Any:
        """Take the lease of ``(dag, run_key)``; return its earlier ``(inputs, status)``.

        ``None`` when the run key is new.

        Raises:
            StoreError: a live process (or another run of this one) holds the lease.
        """
        now = time.time()
        me = (os.getpid(), socket.gethostname())
        with self._transaction() as c:
            row = c.execute(
                "SELECT inputs, status, lease_pid, lease_host, lease_start FROM runs "
                "WHERE dag=? AND run_key=?",
                (dag, run_key),
            ).fetchone()
            if row is not None and row[2] is not None and holder_alive(row[2], row[3]):
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row[4]))
                who = (
                    "another run in this process"
                    if (row[2], row[3]) == me
                    else (f"process {row[2]} on host {row[3]!r}")
                )
                raise StoreError(
                    f"store {self.path!r}: run_key {run_key!r} of DAG {dag!r} is being run "
                    f"by {who} (since {since}); wait for it to finish, or use another "
                    f"run_key",
                    path=self.path,
                    dag=dag,
                    run_key=run_key,
                )
            if row is None:
                c.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                    (dag, run_key, json.dumps(inputs), now, now, *me, now, token),
                )
                return None
            c.execute(
                "UPDATE runs SET lease_pid=?, lease_host=?, lease_start=?, lease_token=? "
                "WHERE dag=? AND run_key=?",
                (*me, now, token, dag, run_key),
            )
            return json.loads(row[0]), row[1]

    def release(
        self,
        dag: str,
        run_key: str,
        token: str,
        status: str | None,
        inputs: dict[str, str] | None = None,
    ) -> None:
        """Give the lease back, setting the run's status (and inputs) if given."""
        sets = "lease_pid=NULL, lease_host=NULL, lease_start=NULL, lease_token=NULL, updated=?"
        params: list[Any] = [time.time()]
        if status is not None:
            sets += ", status=?"
            params.append(status)
        if inputs is not None:
            sets += ", inputs=?"
            params.append(json.dumps(inputs))
        with self._transaction() as c:
            c.execute(
                f"UPDATE runs SET {sets} WHERE dag=? AND run_key=? AND lease_token=?",
                (*params, dag, run_key, token),
            )

    def set_inputs(self, dag: str, run_key: str, inputs: dict[str, str]) -> None:
        """Record the inputs a run key now runs with (``on_change="rerun"``)."""
        with self._transaction() as c:
            c.execute(
                "UPDATE runs SET inputs=? WHERE dag=? AND run_key=?",
                (json.dumps(inputs), dag, run_key),
            )

    def journal_rows(self, dag: str, run_key: str) -> list[tuple[str, str, str, str]]:
        """``(node, key, code version, data version)`` of every committed node of the run."""
        return self._query(
            "SELECT node, key, code, dv FROM journal WHERE dag=? AND run_key=?", (dag, run_key)
        )

    def cache_lookup(self, keys: Iterable[str]) -> dict[str, str]:
        """The data version stored for each of ``keys`` that has a cache entry."""
        out: dict[str, str] = {}
        for chunk in _chunks(list(keys)):
            rows = self._query(
                f"SELECT key, dv FROM cache WHERE key IN ({','.join('?' * len(chunk))})", chunk
            )
            out.update(rows)
        return out

    def cache_values(self, keys: Iterable[str]) -> dict[str, tuple[str, bytes]]:
        """``(data version, bytes)`` of each of ``keys`` that has a cache entry (one query)."""
        out: dict[str, tuple[str, bytes]] = {}
        for chunk in _chunks(list(keys)):
            rows = self._query(
                "SELECT c.key, c.dv, b.data FROM cache AS c JOIN blobs AS b ON b.dv = c.dv "
                f"WHERE c.key IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for key, dv, data in rows:
                if data is None:
                    data = self.read_blobs([dv]).get(dv)
                    if data is None:
                        continue
                out[key] = (dv, data)
        return out

    def read_blobs(self, dvs: Iterable[str]) -> dict[str, bytes]:
        """The bytes of each data version found (a lost blob file is left out)."""
        out: dict[str, bytes] = {}
        for chunk in _chunks(list(dict.fromkeys(dvs))):
            rows = self._query(
                f"SELECT dv, data FROM blobs WHERE dv IN ({','.join('?' * len(chunk))})", chunk
            )
            for dv, data in rows:
                if data is None:
                    try:
                        with open(os.path.join(self.blob_dir, dv), "rb") as f:
                            data = f.read()
                    except OSError:
                        continue
                out[dv] = data
        return out

    def write(
        self,
        blobs: Sequence[tuple[str, bytes]],
        journal: Sequence[tuple[str, str, str, str, str | None, str]],
        cache: Sequence[tuple[str, str, str, str]],
    ) -> None:
        """Commit one batch in one transaction, large values to files first.

        Args:
            blobs: ``(data version, bytes)``.
            journal: ``(dag, run_key, node, key, code version, data version)``.
            cache: ``(key, dag, node, data version)``.
        """
        limit = self.large_value_bytes
        rows: list[tuple[str, bytes | None, int]] = []
        files = False
        for dv, data in blobs:
            if len(data) > limit:
                write_blob_file(self.blob_dir, dv, data)
                files = True
                rows.append((dv, None, len(data)))
            else:
                rows.append((dv, data, len(data)))
        if files:
            fsync_dir(self.blob_dir)  # the renames are durable before the rows name them
        now = time.time()
        with self._transaction() as c:
            if rows:
                c.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?)", rows)
            if journal:
                c.executemany("INSERT OR REPLACE INTO journal VALUES (?, ?, ?, ?, ?, ?)", journal)
            if cache:
                c.executemany(
                    "INSERT OR REPLACE INTO cache VALUES (?, ?, ?, ?, ?)",
                    [(*row, now) for row in cache],
                )


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for k in range(0, len(items), _CHUNK):
        yield items[k : k + _CHUNK]
