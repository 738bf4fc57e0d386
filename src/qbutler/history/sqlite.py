"""The history in a SQLite file in the data directory: the embedded default, one instance per file.

One connection writes, another reads (WAL lets them run at once), each on its own thread so
neither blocks the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from qbutler.history import store as sql
from qbutler.history.model import Delivery, Execution, StartRequest
from qbutler.history.store import HistoryUnavailable, SqlReads

T = TypeVar("T")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS executions (
        execution_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, task_name TEXT NOT NULL, task_type INTEGER NOT NULL,
        outcome TEXT NOT NULL, status TEXT NOT NULL, ended_at REAL NOT NULL, started_at REAL, duration_ms INTEGER,
        app_id TEXT NOT NULL, app_name TEXT NOT NULL, node TEXT NOT NULL, user_name TEXT NOT NULL,
        trigger TEXT NOT NULL, trigger_detail TEXT NOT NULL, log_message TEXT NOT NULL, details TEXT NOT NULL,
        script_log_tail TEXT, recorded_by TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        id INTEGER PRIMARY KEY, execution_id TEXT NOT NULL, channel TEXT NOT NULL, target TEXT NOT NULL,
        outcome TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL, at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS task_starts (
        id INTEGER PRIMARY KEY, task_id TEXT NOT NULL, task_name TEXT NOT NULL, trigger TEXT NOT NULL,
        detail TEXT NOT NULL, requested_at REAL NOT NULL, ok BOOLEAN NOT NULL, error TEXT NOT NULL,
        execution_id TEXT)""",
    *sql.INDEXES,
)
CLAIM_START = ("SELECT id, trigger, detail FROM task_starts WHERE task_id = ? AND execution_id IS NULL AND ok "
               "AND requested_at BETWEEN ? AND ? ORDER BY requested_at DESC LIMIT 1")
MARK_CLAIMED = "UPDATE task_starts SET execution_id = ? WHERE id = ?"


class SqliteHistory(SqlReads):
    def __init__(self, path: Path):
        self.path = path
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="qbutler-history-write")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="qbutler-history-read")

    async def _run(self, pool: ThreadPoolExecutor, job: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, job)
        except sqlite3.Error as exc:
            raise HistoryUnavailable(f"history database {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def open_writer() -> sqlite3.Connection:
            connection = self._connect()
            for statement in SCHEMA:
                connection.execute(statement)
            return connection

        self._writer = await self._run(self._write_thread, open_writer)
        self._reader = await self._run(self._read_thread, self._connect)

    async def stop(self) -> None:
        for connection, pool in ((self._writer, self._write_thread), (self._reader, self._read_thread)):
            if connection is not None:
                await asyncio.get_running_loop().run_in_executor(pool, connection.close)
        self._writer = self._reader = None

    # ---------------------------------------------------------------- writing

    async def write(self, executions: list[Execution], deliveries: list[Delivery],
                    starts: list[StartRequest]) -> None:
        def job() -> None:
            connection = self._writer
            assert connection is not None
            connection.execute("BEGIN")
            try:
                # Starts first: an execution in the same batch may be the run one of them caused.
                connection.executemany(sql.INSERT_START, [sql.start_row(s) for s in starts])
                for execution in executions:
                    if connection.execute(sql.INSERT_EXECUTION, sql.execution_row(execution)).rowcount:
                        self._attribute(connection, execution)
                connection.executemany(sql.INSERT_DELIVERY, [sql.delivery_row(d) for d in deliveries])
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

        await self._run(self._write_thread, job)

    @staticmethod
    def _attribute(connection: sqlite3.Connection, execution: Execution) -> None:
        low, high = sql.start_window(execution)
        found = connection.execute(CLAIM_START, (execution.task_id, low, high)).fetchone()
        if found is not None:
            connection.execute(MARK_CLAIMED, (execution.execution_id, found[0]))
            connection.execute(sql.SET_TRIGGER, (found[1], found[2], execution.execution_id))
            execution.trigger, execution.trigger_detail = found[1], found[2]

    async def apply_retention(self, older_than: float | None, keep: int | None) -> int:
        def job() -> int:
            connection = self._writer
            assert connection is not None
            removed = 0
            connection.execute("BEGIN")
            try:
                if older_than is not None:
                    removed += connection.execute(sql.DELETE_OLDER, (older_than,)).rowcount
                    connection.execute(sql.DELETE_OLD_STARTS, (older_than,))
                if keep is not None:
                    removed += connection.execute(sql.DELETE_BEYOND, (keep,)).rowcount
                if removed:
                    connection.execute(sql.DELETE_ORPHAN_DELIVERIES)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            return removed

        return await self._run(self._write_thread, job)

    # ---------------------------------------------------------------- reading

    async def _read(self, query: str, args: list[Any] | tuple[Any, ...]) -> list[Any]:
        def job() -> list[Any]:
            assert self._reader is not None
            return self._reader.execute(query, args).fetchall()

        return await self._run(self._read_thread, job)
