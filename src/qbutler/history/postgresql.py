"""The history in PostgreSQL (asyncpg), shared by every qbutler instance pointing at the database.

Each execution is stored once: its id is the primary key and a second instance's insert of the
same execution does nothing. The connection pool is made on first use, so a database that is down
at start-up (or goes away later) only delays history writes; the recorder retries them.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg

from qbutler.history import store as sql
from qbutler.history.model import Delivery, Execution, StartRequest
from qbutler.history.store import HistoryUnavailable, SqlReads

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS executions (
        execution_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, task_name TEXT NOT NULL, task_type INTEGER NOT NULL,
        outcome TEXT NOT NULL, status TEXT NOT NULL, ended_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION, duration_ms BIGINT, app_id TEXT NOT NULL, app_name TEXT NOT NULL,
        node TEXT NOT NULL, user_name TEXT NOT NULL, trigger TEXT NOT NULL, trigger_detail TEXT NOT NULL,
        log_message TEXT NOT NULL, details TEXT NOT NULL, script_log_tail TEXT, recorded_by TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        id BIGSERIAL PRIMARY KEY, execution_id TEXT NOT NULL, channel TEXT NOT NULL, target TEXT NOT NULL,
        outcome TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS task_starts (
        id BIGSERIAL PRIMARY KEY, task_id TEXT NOT NULL, task_name TEXT NOT NULL, trigger TEXT NOT NULL,
        detail TEXT NOT NULL, requested_at DOUBLE PRECISION NOT NULL, ok BOOLEAN NOT NULL, error TEXT NOT NULL,
        execution_id TEXT)""",
    *sql.INDEXES,
)
# Instances starting together would race on CREATE TABLE IF NOT EXISTS; one at a time.
SCHEMA_LOCK = 0x71627574  # "qbut"
# Two instances attributing executions of the same task at once each take a different start.
CLAIM_START = ("UPDATE task_starts SET execution_id = $1 WHERE id = (SELECT id FROM task_starts WHERE task_id = $2 "
               "AND execution_id IS NULL AND ok AND requested_at BETWEEN $3 AND $4 ORDER BY requested_at DESC "
               "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING trigger, detail")


def numbered(statement: str) -> str:
    """`?` placeholders as PostgreSQL's $1, $2, …"""
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", statement)


INSERT_EXECUTION = numbered(sql.INSERT_EXECUTION) + " RETURNING execution_id"
INSERT_DELIVERY = numbered(sql.INSERT_DELIVERY)
INSERT_START = numbered(sql.INSERT_START)
SET_TRIGGER = numbered(sql.SET_TRIGGER)
DELETE_OLDER = numbered(sql.DELETE_OLDER)
DELETE_BEYOND = numbered(sql.DELETE_BEYOND)
DELETE_OLD_STARTS = numbered(sql.DELETE_OLD_STARTS)


class PostgresHistory(SqlReads):
    def __init__(self, dsn: str, pool_size: int = 4, timeout: float = 10.0):
        self.dsn = dsn
        self.pool_size = pool_size
        self.timeout = timeout
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _connected(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._pool is None:
                try:
                    pool = await asyncpg.create_pool(self.dsn, min_size=0, max_size=self.pool_size,
                                                     timeout=self.timeout, command_timeout=self.timeout)
                    async with pool.acquire() as connection, connection.transaction():
                        await connection.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
                        for statement in SCHEMA:
                            await connection.execute(statement)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                    raise HistoryUnavailable(f"history database: {type(exc).__name__}: {exc}") from exc
                self._pool = pool
        return self._pool

    async def start(self) -> None:
        await self._connected()

    async def stop(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), self.timeout)
            except TimeoutError:
                pool.terminate()

    async def _run(self, job: Any) -> Any:
        pool = await self._connected()
        try:
            async with pool.acquire(timeout=self.timeout) as connection:
                return await job(connection)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise HistoryUnavailable(f"history database: {type(exc).__name__}: {exc}") from exc

    # ---------------------------------------------------------------- writing

    async def write(self, executions: list[Execution], deliveries: list[Delivery],
                    starts: list[StartRequest]) -> None:
        async def job(connection: asyncpg.Connection) -> None:
            async with connection.transaction():
                if starts:
                    await connection.executemany(INSERT_START, [sql.start_row(s) for s in starts])
                for execution in executions:
                    if await connection.fetchval(INSERT_EXECUTION, *sql.execution_row(execution)) is not None:
                        low, high = sql.start_window(execution)
                        found = await connection.fetchrow(CLAIM_START, execution.execution_id, execution.task_id,
                                                          low, high)
                        if found is not None:
                            await connection.execute(SET_TRIGGER, found[0], found[1], execution.execution_id)
                            execution.trigger, execution.trigger_detail = found[0], found[1]
                if deliveries:
                    await connection.executemany(INSERT_DELIVERY, [sql.delivery_row(d) for d in deliveries])

        await self._run(job)

    async def apply_retention(self, older_than: float | None, keep: int | None) -> int:
        async def job(connection: asyncpg.Connection) -> int:
            removed = 0
            async with connection.transaction():
                if older_than is not None:
                    removed += _count(await connection.execute(DELETE_OLDER, older_than))
                    await connection.execute(DELETE_OLD_STARTS, older_than)
                if keep is not None:
                    removed += _count(await connection.execute(DELETE_BEYOND, keep))
                if removed:
                    await connection.execute(sql.DELETE_ORPHAN_DELIVERIES)
            return removed

        return await self._run(job)

    # ---------------------------------------------------------------- reading

    async def _read(self, query: str, args: list[Any] | tuple[Any, ...]) -> list[Any]:
        async def job(connection: asyncpg.Connection) -> list[Any]:
            return [tuple(row) for row in await connection.fetch(numbered(query), *args)]

        return await self._run(job)


def _count(status: str) -> int:
    """Rows affected, from asyncpg's command tag ("DELETE 12")."""
    return int(status.rsplit(" ", 1)[-1])
