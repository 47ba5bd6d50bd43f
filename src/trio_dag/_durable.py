"""Durability: one run's link to its store (journal, restore, cache), for the runtime.

A run with ``store=`` makes one :class:`Journal`. Nothing here is touched by
a run without a store. The runtime calls:

* :meth:`Journal.open` once, before any node runs: it computes the inputs'
  data versions and, for a durable run (``run_key``), takes the run key's
  lease and restores every committed node whose key still matches;
* :meth:`Journal.add` when a tracked node has its value (tracked: every node
  of a durable run; in a cache-only run the cached nodes and their direct
  dependencies, whose data versions make the keys), then
  :meth:`Journal.committed` (eager schedule) or :meth:`Journal.flush` (once
  per level), so no dependent starts before the value is committed;
* :meth:`Journal.lookup` before a cached node's body;
* :meth:`Journal.writer` as a task beside the run, and :meth:`Journal.close`
  at the end, shielded, which commits what is left and gives back the lease.

Group commit: :meth:`add` only appends to a list; the writer takes the whole
list as one batch to a worker thread, which serializes and hashes the values,
writes large ones to files, and commits every row in one transaction. Nodes
that finish while a batch is being committed form the next batch.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import trio

from ._exceptions import StoreError, StoreWarning
from ._result import MISSING, NodeStatus, RunStatus
from ._serialize import code_version, data_version, node_key

if TYPE_CHECKING:
    from ._graph import Graph
    from ._store import SQLiteStore

__all__ = ["Journal", "code_versions"]

_RECORD: Final = 0
_LOOKUP: Final = 1


def code_versions(graph: Graph) -> tuple[str | None, ...]:
    """Every node's code version (``None``: it has none), computed once per graph."""
    cvs = graph._code_versions
    if cvs is None:
        memo: dict[tuple[int, str | None], str | None] = {}
        out: list[str | None] = []
        for spec in graph._specs:
            k = (id(spec.fn), spec.version)
            if k not in memo:  # one function may serve 100,000 generated nodes
                memo[k] = code_version(spec.fn, spec.version)
            out.append(memo[k])
        cvs = graph._code_versions = tuple(out)
    return cvs


class Journal:
    """One run's durability state (see the module docstring)."""

    def __init__(
        self,
        graph: Graph,
        store: SQLiteStore,
        run_key: str | None,
        rerun_changed: bool,
        input_values: list[Any],
    ) -> None:
        n = len(graph.nodes)
        self.graph = graph
        self.store = store
        self.run_key = run_key
        self.durable = run_key is not None
        self.rerun_changed = rerun_changed
        self.input_values = input_values
        self.cached = graph._cached
        self.any_cached = any(graph._cached)
        if self.durable:
            self.track: tuple[bool, ...] = (True,) * n
        else:  # cache-only: cached nodes, and the nodes whose data versions their keys need
            need = list(graph._cached)
            for i in range(n):
                if graph._cached[i]:
                    for j in graph._node_deps[i]:
                        need[j] = True
            self.track = tuple(need)
        self.dvs: list[str | None] = [None] * (n + len(graph.inputs))
        self.cvs: tuple[str | None, ...] = ()
        self.hits: dict[int, Any] = {}
        self.restored: dict[int, NodeStatus] = {}
        self.inputs_dv: dict[str, str] = {}
        self.token = secrets.token_hex(8)
        self.leased = False
        self.warnings: list[tuple[int, str, str]] = []  # (node, what, message)
        self.failure: BaseException | None = None
        self.on_failure: Callable[[], None] = lambda: None
        self.pending: list[tuple[int, int, Any]] = []
        self.batch_done = trio.Event()  # set when the pending batch is committed
        self.in_flight: trio.Event | None = None
        self.wake = trio.Event()
        self.closing = False
        self.closed = False
        self.writer_started = False
        self.writer_done = trio.Event()

    # ------------------------------------------------------------- opening

    async def open(self) -> list[Any] | None:
        """Prepare the run; for a durable one, restore what is committed.

        Returns:
            The run's value list with every restored node's value filled in
            (``MISSING`` elsewhere), or ``None`` when nothing was restored.

        Raises:
            StoreError: the run key is held elsewhere, or changed under
                ``on_change="error"``, or an input does not serialize.
        """
        return await trio.to_thread.run_sync(self._open)

    def _open(self) -> list[Any] | None:
        graph, store = self.graph, self.store
        n = len(graph.nodes)
        dumps = store.serializer.dumps
        for k, name in enumerate(graph.inputs):
            try:
                dv = data_version(dumps(self.input_values[k]))
            except Exception as exc:
                if self.durable:
                    raise StoreError(
                        f"store {store.path!r}: input {name!r} of DAG {graph.name!r} cannot be "
                        f"serialized ({type(exc).__name__}: {exc}), so run_key "
                        f"{self.run_key!r} cannot tell whether a later run has the same "
                        f"inputs; pass serializable inputs",
                        path=store.path,
                        dag=graph.name,
                        run_key=self.run_key,
                    ) from exc
                continue  # cache-only: the nodes that read it are not cached
            self.dvs[n + k] = dv
            self.inputs_dv[name] = dv
        self.cvs = code_versions(graph)
        for i in range(n):
            if self.track[i] and self.cvs[i] is None:
                self._warn(
                    i,
                    "code",
                    "has no code version: its closure or defaults hold a value that does not "
                    "pickle, so it is neither cached nor journaled; give it version='...'",
                )
        if not self.durable:
            return None
        assert self.run_key is not None
        old = store.acquire(graph.name, self.run_key, self.inputs_dv, self.token)
        self.leased = True
        try:
            return None if old is None else self._restore(old[0])
        except BaseException:
            store.release(graph.name, self.run_key, self.token, None)
            self.leased = False
            raise

    def _restore(self, old_inputs: dict[str, str]) -> list[Any] | None:
        graph, store, run_key = self.graph, self.store, self.run_key
        assert run_key is not None
        names = graph.nodes
        n = len(names)
        now_inputs = self.inputs_dv
        changed_inputs = sorted(
            k for k in set(old_inputs) | set(now_inputs) if old_inputs.get(k) != now_inputs.get(k)
        )
        if changed_inputs:
            if not self.rerun_changed:
                raise StoreError(
                    f"store {store.path!r}: run_key {run_key!r} of DAG {graph.name!r} was run "
                    f"with other values of input(s) {', '.join(map(repr, changed_inputs))}; "
                    f"use another run_key for other inputs, or on_change='rerun' to re-run "
                    f"the nodes that depend on them",
                    path=store.path,
                    dag=graph.name,
                    run_key=run_key,
                )
            store.set_inputs(graph.name, run_key, self.inputs_dv)
        rows = {r[0]: r[1:] for r in store.journal_rows(graph.name, run_key)}
        blobs = store.read_blobs(r[2] for r in rows.values())
        values: list[Any] = [MISSING] * n + self.input_values
        loads = store.serializer.loads
        changed: list[str] = []
        for i in graph._order_ix:  # dependencies first: their data versions make the key
            row = rows.get(names[i])
            if row is None:
                continue
            key, code, dv = row
            if code != self.cvs[i]:
                changed.append(f"{names[i]!r} (its code changed)")
                continue
            now = self._key(i)
            if now is None:
                continue  # a dependency runs again: so does this node
            if now != key:
                changed.append(f"{names[i]!r} (an input or the serializer changed)")
                continue
            data = blobs.get(dv)
            if data is None:
                continue  # a lost blob file: run it again
            try:
                values[i] = loads(data)
            except Exception as exc:
                msg = f"has a stored value that does not load ({exc!r}); it runs again"
                self._warn(i, "load", msg)
                continue
            self.dvs[i] = dv
            self.restored[i] = NodeStatus.RESTORED
        if changed and not self.rerun_changed and not changed_inputs:
            more = f", ... ({len(changed) - 5} more)" if len(changed) > 5 else ""
            raise StoreError(
                f"store {store.path!r}: run_key {run_key!r} of DAG {graph.name!r} was run with "
                f"other code: node(s) {', '.join(changed[:5])}{more}; use another run_key, or "
                f"on_change='rerun' to re-run the changed nodes and everything downstream",
                path=store.path,
                dag=graph.name,
                run_key=run_key,
            )
        # A run key that completed, with the same inputs and code, restores every
        # node here, so the run that follows has nothing to run.
        return values if self.restored else None

    def _key(self, i: int) -> str | None:
        cv = self.cvs[i]
        if cv is None:
            return None
        dvs = self.dvs
        g = self.graph
        return node_key(
            g.name, g.nodes[i], cv, self.store.serializer_id, [dvs[s] for s in g._slot_deps[i]]
        )

    # --------------------------------------------------------- during the run

    def add(self, i: int, value: Any) -> None:
        """Queue node ``i``'s value for the next batch."""
        self.pending.append((_RECORD, i, value))
        self.wake.set()

    async def committed(self) -> None:
        """Wait until the batch holding the last :meth:`add` is committed."""
        await self.batch_done.wait()

    async def flush(self) -> None:
        """Wait until everything added so far is committed."""
        if self.pending:
            await self.batch_done.wait()
        elif self.in_flight is not None:
            await self.in_flight.wait()

    async def lookup(self, i: int) -> Any:
        """The cached value of node ``i``, or ``MISSING`` (then run it and :meth:`add`)."""
        self.ask(i)
        await self.batch_done.wait()
        return self.hits.pop(i, MISSING)

    def ask(self, i: int) -> None:
        """Queue a cache lookup of node ``i``; after :meth:`committed`, a hit is in ``hits``."""
        self.pending.append((_LOOKUP, i, None))
        self.wake.set()

    async def writer(self) -> None:
        """Commit batches until :meth:`close`; shielded, so nothing added is dropped."""
        self.writer_started = True
        with trio.CancelScope(shield=True):
            try:
                while True:
                    if not self.pending:
                        if self.closing:
                            return
                        await self.wake.wait()
                        self.wake = trio.Event()
                        continue
                    batch, done = self.pending, self.batch_done
                    self.pending, self.batch_done = [], trio.Event()
                    self.in_flight = done
                    try:
                        if self.failure is None:
                            await trio.to_thread.run_sync(self._process, batch)
                    except Exception as exc:
                        self.failure = exc
                        self.on_failure()
                    finally:
                        self.in_flight = None
                        done.set()
            finally:
                self.writer_done.set()

    def _process(self, batch: list[tuple[int, int, Any]]) -> None:
        """One batch, in a worker thread: look up, serialize, hash, commit."""
        store, g = self.store, self.graph
        names, dag, run_key = g.nodes, g.name, self.run_key
        dumps, loads = store.serializer.dumps, store.serializer.loads
        blobs: dict[str, bytes] = {}
        journal: list[tuple[str, str, str, str, str | None, str]] = []
        cache: list[tuple[str, str, str, str]] = []
        lookups = [(i, self._key(i)) for kind, i, _ in batch if kind == _LOOKUP]
        if lookups:
            found = store.cache_values(k for _, k in lookups if k is not None)
            for i, key in lookups:
                hit = found.get(key) if key is not None else None
                if hit is None:
                    continue
                dv, raw = hit
                try:
                    value = loads(raw)
                except Exception as exc:
                    msg = f"has a cached value that does not load ({exc!r}); it runs"
                    self._warn(i, "load", msg)
                    continue
                assert key is not None
                assert dv is not None
                self.hits[i] = value
                self.dvs[i] = dv
                if run_key is not None:
                    journal.append((dag, run_key, names[i], key, self.cvs[i], dv))
        for kind, i, value in batch:
            if kind != _RECORD:
                continue
            try:
                raw = dumps(value)
            except Exception as exc:
                self.dvs[i] = None
                self._warn(
                    i,
                    "value",
                    f"returned a value that cannot be serialized ({type(exc).__name__}: {exc}); "
                    f"it is neither cached nor journaled, and its dependents are not cached "
                    f"in this run",
                )
                continue
            dv = self.dvs[i] = data_version(raw)
            key = self._key(i)
            if key is None:
                continue
            if run_key is not None:
                journal.append((dag, run_key, names[i], key, self.cvs[i], dv))
            if self.cached[i]:
                cache.append((key, dag, names[i], dv))
            if run_key is not None or self.cached[i]:
                blobs[dv] = raw  # one row per distinct value in a batch
        if blobs or journal or cache:
            store.write(list(blobs.items()), journal, cache)

    def _warn(self, i: int, what: str, message: str) -> None:
        self.warnings.append((i, what, message))

    # ---------------------------------------------------------------- the end

    async def close(self, status: RunStatus | None) -> None:
        """Commit what is left, stop the writer, give back the lease.

        Call it shielded. ``status`` is how the run ended (``None``: it did not
        start or did not end). Then, on the way out of a run that ended, call
        :meth:`emit_warnings`: after the lease is back, so a warning filter that
        raises cannot keep it.
        """
        self.closed = self.closing = True
        self.wake.set()
        if self.writer_started:
            await self.writer_done.wait()
        if self.leased:
            assert self.run_key is not None
            value = None if status is None else status.value
            await trio.to_thread.run_sync(
                self.store.release, self.graph.name, self.run_key, self.token, value
            )
            self.leased = False

    def emit_warnings(self) -> None:
        """Issue the collected warnings, once per (DAG, node, kind) and store."""
        seen, dag, names = self.store.warned, self.graph.name, self.graph.nodes
        todo, self.warnings = self.warnings, []
        for i, what, message in todo:
            k = (dag, names[i], what)
            if k not in seen:
                seen.add(k)
                warnings.warn(
                    f"node {names[i]!r} of DAG {dag!r} {message}", StoreWarning, stacklevel=2
                )

    def store_error(self) -> StoreError:
        """The error a run raises when committing to the store failed."""
        exc = self.failure
        return StoreError(
            f"store {self.store.path!r}: committing node values of DAG {self.graph.name!r} "
            f"failed ({type(exc).__name__}: {exc}); the run was stopped",
            path=self.store.path,
            dag=self.graph.name,
            run_key=self.run_key,
        )
