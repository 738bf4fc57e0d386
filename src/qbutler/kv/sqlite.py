"""Keys in a sqlite file: every acknowledged write is on disk, and reads come from memory.

Writes go through one writer task that commits them in batches (group commit): whatever requests
arrive while a transaction is being fsync'd are decided together, written in the next single
transaction, and acknowledged only after its commit returns. Durability costs one fsync per batch
rather than per request, so throughput grows with concurrency.

Reads are served from an in-memory mirror of the table. The mirror only ever changes after a
commit, so no reader sees a value that could still be lost, and each batch's decisions
(set-if-absent, the key limit) are made against the mirror plus the batch's own earlier changes.

One process owns the file (an exclusive lock beside it); several instances share keys through the
redis backend instead.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qbutler.kv.filelock import FileLock
from qbutler.kv.keyspace import KeySpace, KeySpaceReads
from qbutler.kv.store import Entry, NamespaceFull, StoreUnavailable, expiry, normalise_ttl, wall_clock
from qbutler.kv.sweeper import Sweeper

log = logging.getLogger("qbutler.kv")

# Upper bound on writes per transaction, so one huge burst cannot delay every caller in it.
MAX_BATCH = 2000

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    ttl_ms     INTEGER,          -- as last written; NULL: no expiry
    expires_at REAL,             -- absolute, seconds since the epoch; NULL: never
    seq        INTEGER NOT NULL, -- creation order, for listings after a restart
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS namespaces (
    namespace  TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL  -- creation order, shared with kv.seq
) WITHOUT ROWID;
-- Files written before namespaces had their own table: every namespace that holds a key exists.
INSERT OR IGNORE INTO namespaces SELECT namespace, MIN(seq) FROM kv GROUP BY namespace;
"""
INSERT = "INSERT OR REPLACE INTO kv (namespace, key, value, ttl_ms, expires_at, seq) VALUES (?, ?, ?, ?, ?, ?)"
OVERWRITE = "UPDATE kv SET value = ?, ttl_ms = ?, expires_at = ? WHERE namespace = ? AND key = ?"
DELETE_KEY = "DELETE FROM kv WHERE namespace = ? AND key = ?"
DELETE_NAMESPACE_KEYS = "DELETE FROM kv WHERE namespace = ?"
DELETE_NAMESPACE = "DELETE FROM namespaces WHERE namespace = ?"
INSERT_NAMESPACE = "INSERT OR IGNORE INTO namespaces (namespace, seq) VALUES (?, ?)"
SELECT_NAMESPACES = "SELECT namespace, seq FROM namespaces ORDER BY seq"
DELETE_EXPIRED = "DELETE FROM kv WHERE expires_at <= ?"
SELECT_ALL = "SELECT namespace, key, value, ttl_ms, expires_at, seq FROM kv ORDER BY seq"

Statement = tuple[str, tuple[Any, ...]]


class _Batch:
    """The writes of one transaction: planned against the mirror, applied to it after commit."""

    def __init__(self, space: KeySpace, now: float):
        self.space = space
        self.now = now
        # Per namespace, per key: the entry to put, or None to remove; in decision order.
        self.changes: dict[str, dict[str, Entry | None]] = {}
        self.created: set[tuple[str, str]] = set()
        self.cleared: set[str] = set()
        # Namespaces this batch creates, in creation order (dict as an ordered set).
        self.new_namespaces: dict[str, None] = {}
        self.statements: list[Statement] = []

    def lookup(self, namespace: str, key: str) -> Entry | None:
        pending = self.changes.get(namespace)
        if pending is not None and key in pending:
            entry = pending[key]
            return entry if entry is not None and entry.alive(self.now) else None
        if namespace in self.cleared:
            return None
        return self.space.peek(namespace, key, self.now)

    def has_namespace(self, namespace: str) -> bool:
        if namespace in self.new_namespaces:
            return True
        return namespace not in self.cleared and self.space.has(namespace)

    def ensure_namespace(self, namespace: str, seq: Callable[[], int]) -> None:
        if not self.has_namespace(namespace):
            self.new_namespaces[namespace] = None
            self.statements.append((INSERT_NAMESPACE, (namespace, seq())))

    def upper_bound(self, namespace: str) -> int:
        held = 0 if namespace in self.cleared else self.space.upper_bound(namespace)
        return held + len(self.changes.get(namespace, ()))

    def count(self, namespace: str) -> int:
        cleared = namespace in self.cleared
        live = 0 if cleared else self.space.count(namespace, self.now)
        for key, entry in self.changes.get(namespace, {}).items():
            before = None if cleared else self.space.peek(namespace, key, self.now)
            live += (entry is not None and entry.alive(self.now)) - (before is not None)
        return live

    def put(self, entry: Entry, seq: int | None) -> None:
        """`seq` is given for a new key (it goes to the end of listings), None for an overwrite."""
        self.changes.setdefault(entry.namespace, {})[entry.key] = entry
        if seq is None:
            self.statements.append((OVERWRITE, (entry.value, entry.ttl_ms, entry.expires_at,
                                                entry.namespace, entry.key)))
        else:
            self.created.add((entry.namespace, entry.key))
            self.statements.append((INSERT, (entry.namespace, entry.key, entry.value, entry.ttl_ms,
                                             entry.expires_at, seq)))

    def remove(self, namespace: str, key: str) -> None:
        self.changes.setdefault(namespace, {})[key] = None
        self.statements.append((DELETE_KEY, (namespace, key)))

    def clear(self, namespace: str) -> None:
        self.changes.pop(namespace, None)
        self.created = {(ns, key) for ns, key in self.created if ns != namespace}
        self.cleared.add(namespace)
        self.new_namespaces.pop(namespace, None)
        self.statements.append((DELETE_NAMESPACE_KEYS, (namespace,)))
        self.statements.append((DELETE_NAMESPACE, (namespace,)))

    def apply(self) -> None:
        for namespace in self.cleared:
            self.space.drop(namespace)
        for namespace in self.new_namespaces:
            self.space.create(namespace)
        for namespace, keys in self.changes.items():
            for key, entry in keys.items():
                if entry is None or (namespace, key) in self.created:
                    # A new key replaces any expired leftover and goes to the end.
                    self.space.remove(namespace, key)
                if entry is not None:
                    self.space.put(entry)


@dataclass
class _Write:
    plan: Callable[[_Batch], Any]
    future: asyncio.Future[Any]


class SqliteStore(KeySpaceReads):
    def __init__(self, path: Path, clock: Callable[[], float] = wall_clock, sweep_interval: float = 60.0):
        self.path = path
        self._clock = clock
        self._space = KeySpace()
        self._lock = FileLock(path.with_name(path.name + ".lock"))
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[_Write] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._seq = 0
        self._sweeper = Sweeper(self.sweep, sweep_interval)

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._lock.acquire():
            raise StoreUnavailable(f"the key-value store {self.path} is in use by another qbutler process")
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="qbutler-kv")
        try:
            namespaces, rows = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._open, self._clock())
        except BaseException:
            self._executor.shutdown()
            self._lock.release()
            raise
        for namespace, seq in namespaces:
            self._space.create(namespace)
            self._seq = max(self._seq, seq)
        for namespace, key, value, ttl_ms, expires_at, seq in rows:
            self._space.put(Entry(namespace, key, value, ttl_ms, expires_at))
            self._seq = max(self._seq, seq)
        self._closing = False
        self._writer = asyncio.create_task(self._write_forever())
        self._sweeper.start()
        log.info("Key-value store: sqlite %s, %d keys", self.path, len(rows))

    def _open(self, now: float) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode != "wal":
                    raise sqlite3.OperationalError(f"cannot use write-ahead logging (journal mode {mode})")
                # FULL: the WAL is fsync'd at every commit, so an acknowledged write survives
                # a crash of the process and of the machine.
                conn.execute("PRAGMA synchronous=FULL")
                conn.executescript(SCHEMA)
                conn.execute(DELETE_EXPIRED, (now,))
                namespaces = conn.execute(SELECT_NAMESPACES).fetchall()
                rows = conn.execute(SELECT_ALL).fetchall()
            except BaseException:
                conn.close()
                raise
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the key-value store {self.path}: {exc}") from None
        self._conn = conn
        return namespaces, rows

    async def stop(self) -> None:
        await self._sweeper.stop()
        if self._writer is not None:
            # Writes already submitted are committed before the file is closed.
            self._closing = True
            self._wakeup.set()
            await self._writer
            self._writer = None
        if self._executor is not None:
            if self._conn is not None:
                await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
                self._conn = None
            self._executor.shutdown()
            self._executor = None
        self._lock.release()

    # Reads are answered from the mirror (KeySpaceReads).

    # ------------------------------------------------------------------ writes (group commit)

    async def set(self, namespace: str, key: str, value: str, ttl_ms: int | None = None, *,
                  max_keys: int | None = None) -> Entry:
        def plan(batch: _Batch) -> Entry:
            return self._plan_set(batch, namespace, key, value, ttl_ms, max_keys)

        return await self._submit(plan)

    async def set_if_absent(self, namespace: str, key: str, value: str, ttl_ms: int | None = None) -> bool:
        def plan(batch: _Batch) -> bool:
            if batch.lookup(namespace, key) is not None:
                return False
            self._plan_set(batch, namespace, key, value, ttl_ms, None)
            return True

        return await self._submit(plan)

    async def delete(self, namespace: str, key: str) -> bool:
        def plan(batch: _Batch) -> bool:
            if batch.lookup(namespace, key) is None:
                return False
            batch.remove(namespace, key)
            return True

        return await self._submit(plan)

    async def create_namespace(self, namespace: str) -> None:
        def plan(batch: _Batch) -> None:
            batch.ensure_namespace(namespace, self._next_seq)

        await self._submit(plan)

    async def delete_namespace(self, namespace: str) -> bool:
        def plan(batch: _Batch) -> bool:
            if not batch.has_namespace(namespace):
                return False
            batch.clear(namespace)
            return True

        return await self._submit(plan)

    async def sweep(self) -> int:
        """Remove expired keys from the file and the mirror; returns how many the mirror held."""
        def plan(batch: _Batch) -> int:
            expired = batch.space.expired(batch.now)
            for entry in expired:
                batch.changes.setdefault(entry.namespace, {}).setdefault(entry.key, None)
            batch.statements.append((DELETE_EXPIRED, (batch.now,)))
            return len(expired)

        return await self._submit(plan)

    def _plan_set(self, batch: _Batch, namespace: str, key: str, value: str, ttl_ms: int | None,
                  max_keys: int | None) -> Entry:
        new = batch.lookup(namespace, key) is None
        if new and max_keys and batch.upper_bound(namespace) >= max_keys and batch.count(namespace) >= max_keys:
            raise NamespaceFull(namespace, max_keys)
        entry = Entry(namespace, key, value, normalise_ttl(ttl_ms), expiry(ttl_ms, batch.now))
        batch.ensure_namespace(namespace, self._next_seq)
        batch.put(entry, self._next_seq() if new else None)
        return entry

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def _submit(self, plan: Callable[[_Batch], Any]) -> Any:
        if self._writer is None or self._closing:
            raise StoreUnavailable("the key-value store is not running")
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Write(plan, future))
        self._wakeup.set()
        return await future

    async def _write_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                writes, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._commit(writes)
            if self._closing:
                return

    async def _commit(self, writes: list[_Write]) -> None:
        batch = _Batch(self._space, self._clock())
        outcomes: list[tuple[_Write, Any, BaseException | None]] = []
        for write in writes:
            try:
                outcomes.append((write, write.plan(batch), None))
            except NamespaceFull as exc:
                outcomes.append((write, None, exc))
        if batch.statements:
            assert self._executor is not None
            try:
                # The statements only change pages in sqlite's cache: microseconds of CPU, run
                # here. The commit (WAL write + fsync) runs on the writer thread, so the event
                # loop keeps serving requests meanwhile. Running the statements on that thread
                # too would make it take the interpreter lock once per row, and under load each
                # take can wait a whole switch interval (5 ms) for the busy event loop.
                self._stage(batch.statements)
                await asyncio.get_running_loop().run_in_executor(self._executor, self._finish)
            except Exception as exc:
                log.exception("Writing to the key-value store %s failed", self.path)
                for write in writes:
                    if not write.future.done():
                        write.future.set_exception(StoreUnavailable(f"writing to {self.path} failed: {exc}"))
                return
        batch.apply()
        for write, result, error in outcomes:
            if write.future.done():
                continue
            if error is None:
                write.future.set_result(result)
            else:
                write.future.set_exception(error)

    def _stage(self, statements: list[Statement]) -> None:
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, group in itertools.groupby(statements, key=lambda statement: statement[0]):
                conn.executemany(sql, [params for _, params in group])
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _finish(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def read_snapshot(path: Path, now: float) -> KeySpace:
    """The live keys committed to the file, read without taking the writer's lock.

    For looking at the store while a running qbutler owns it (write-ahead logging lets a reader
    in beside the writer).
    """
    space = KeySpace()
    if not path.exists():
        return space
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            rows = conn.execute(SELECT_ALL).fetchall()
            # A file the running qbutler has not yet upgraded has no namespaces table: then the
            # namespaces are those of the keys.
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            namespaces = conn.execute(SELECT_NAMESPACES).fetchall() if "namespaces" in tables else []
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot read the key-value store {path}: {exc}") from None
    for namespace, _ in namespaces:
        space.create(namespace)
    for namespace, key, value, ttl_ms, expires_at, _ in rows:
        space.put(Entry(namespace, key, value, ttl_ms, expires_at))
    space.sweep(now)
    return space
