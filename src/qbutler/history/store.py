"""The protocol every history backend implements, and the SQL they share.

Statements are written once with `?` placeholders (SQLite's); the PostgreSQL backend numbers them.
Times are seconds since the epoch (float), durations milliseconds, lists JSON text.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from qbutler.history.model import (
    Delivery,
    Execution,
    ExecutionDetail,
    ExecutionFilter,
    StartRequest,
    TaskStats,
    percentile,
)


class HistoryUnavailable(Exception):
    """The database cannot be reached or refused the statement."""


class HistoryStore(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def write(self, executions: list[Execution], deliveries: list[Delivery],
                    starts: list[StartRequest]) -> None:
        """One transaction; an execution already stored (by this or another instance) is kept as it is."""

    async def list_executions(self, where: ExecutionFilter, limit: int,
                              after: tuple[float, str] | None) -> list[Execution]:
        """Newest first, strictly older than `after` (ended_at, execution_id) when given."""

    async def get_execution(self, execution_id: str) -> ExecutionDetail | None: ...

    async def task_stats(self, task_id: str | None, since: float | None) -> list[TaskStats]: ...

    async def apply_retention(self, older_than: float | None, keep: int | None) -> int:
        """Remove executions ended before `older_than` and beyond the newest `keep`; how many went."""


EXECUTION_COLUMNS = ("execution_id", "task_id", "task_name", "task_type", "outcome", "status", "ended_at",
                     "started_at", "duration_ms", "app_id", "app_name", "node", "user_name", "trigger",
                     "trigger_detail", "log_message", "details", "script_log_tail", "recorded_by")
SELECT_EXECUTION = f"SELECT {', '.join(EXECUTION_COLUMNS)} FROM executions"
INSERT_EXECUTION = (f"INSERT INTO executions ({', '.join(EXECUTION_COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in EXECUTION_COLUMNS)}) ON CONFLICT (execution_id) DO NOTHING")
INSERT_DELIVERY = ("INSERT INTO deliveries (execution_id, channel, target, outcome, attempts, error, at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)")
INSERT_START = ("INSERT INTO task_starts (task_id, task_name, trigger, detail, requested_at, ok, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)")
SET_TRIGGER = "UPDATE executions SET trigger = ?, trigger_detail = ? WHERE execution_id = ?"
SELECT_DELIVERIES = ("SELECT execution_id, channel, target, outcome, attempts, at, error FROM deliveries "
                     "WHERE execution_id = ? ORDER BY at, id")
# Both backends index the columns the filters and the order use. The first two also hold what the
# statistics read, so those are answered from the index alone (bench/history_queries.py).
INDEXES = (
    "CREATE INDEX IF NOT EXISTS executions_by_end ON executions (ended_at, task_id, outcome, duration_ms, task_name)",
    "CREATE INDEX IF NOT EXISTS executions_by_task ON executions (task_id, ended_at, outcome, duration_ms, task_name)",
    "CREATE INDEX IF NOT EXISTS executions_by_outcome ON executions (outcome, ended_at)",
    "CREATE INDEX IF NOT EXISTS executions_by_app ON executions (app_id, ended_at)",
    "CREATE INDEX IF NOT EXISTS deliveries_by_execution ON deliveries (execution_id)",
    "CREATE INDEX IF NOT EXISTS task_starts_by_task ON task_starts (task_id, requested_at)",
)
# A start qbutler made up to this long before the execution began (or ended, without a start
# time) is taken as its trigger; a little after allows for clocks that differ.
START_WINDOW_BEFORE = 600.0
START_WINDOW_AFTER = 5.0


class SqlReads:
    """The read side of both SQL backends, over their `_read(query with ? placeholders, args)`."""

    async def _read(self, query: str, args: list[Any] | tuple[Any, ...]) -> list[Any]:
        raise NotImplementedError

    async def list_executions(self, where: ExecutionFilter, limit: int,
                              after: tuple[float, str] | None) -> list[Execution]:
        query, args = list_query(where, limit, after)
        return [execution_from_row(row) for row in await self._read(query, args)]

    async def get_execution(self, execution_id: str) -> ExecutionDetail | None:
        rows = await self._read(f"{SELECT_EXECUTION} WHERE execution_id = ?", (execution_id,))
        if not rows:
            return None
        detail = execution_from_row(rows[0], ExecutionDetail)
        assert isinstance(detail, ExecutionDetail)
        detail.deliveries = [Delivery(*row) for row in await self._read(SELECT_DELIVERIES, (execution_id,))]
        return detail

    async def task_stats(self, task_id: str | None, since: float | None) -> list[TaskStats]:
        query, args = stats_query(task_id, since)
        return build_stats(await self._read(query, args))


def execution_row(execution: Execution) -> tuple[Any, ...]:
    return (execution.execution_id, execution.task_id, execution.task_name, execution.task_type, execution.outcome,
            execution.status, execution.ended_at, execution.started_at, execution.duration_ms, execution.app_id,
            execution.app_name, execution.node, execution.user, execution.trigger, execution.trigger_detail,
            execution.log_message, orjson.dumps(execution.details).decode(),
            None if execution.script_log_tail is None else orjson.dumps(execution.script_log_tail).decode(),
            execution.recorded_by)


def execution_from_row(row: Any, kind: type[Execution] = Execution) -> Execution:
    values = dict(zip(EXECUTION_COLUMNS, row, strict=True))
    values["user"] = values.pop("user_name")
    values["details"] = orjson.loads(values["details"] or "[]")
    tail = values["script_log_tail"]
    values["script_log_tail"] = None if tail is None else orjson.loads(tail)
    return kind(**values)


def delivery_row(delivery: Delivery) -> tuple[Any, ...]:
    return (delivery.execution_id, delivery.channel, delivery.target, delivery.outcome, delivery.attempts,
            delivery.error, delivery.at)


def start_row(start: StartRequest) -> tuple[Any, ...]:
    return (start.task_id, start.task_name, start.trigger, start.detail, start.requested_at, start.ok, start.error)


def start_window(execution: Execution) -> tuple[float, float]:
    anchor = execution.started_at if execution.started_at is not None else execution.ended_at
    return anchor - START_WINDOW_BEFORE, anchor + START_WINDOW_AFTER


def filter_clause(where: ExecutionFilter, after: tuple[float, str] | None) -> tuple[str, list[Any]]:
    """The WHERE clause (with its leading keyword, or empty) and its arguments."""
    terms: list[str] = []
    args: list[Any] = []
    for column, value in (("task_id", where.task_id), ("app_id", where.app_id), ("outcome", where.outcome),
                          ("trigger", where.trigger)):
        if value is not None:
            terms.append(f"{column} = ?")
            args.append(value)
    if where.since is not None:
        terms.append("ended_at >= ?")
        args.append(where.since)
    if where.until is not None:
        terms.append("ended_at < ?")
        args.append(where.until)
    if after is not None:
        # The plain range on ended_at first, so the index narrows the rows before the tie-break.
        terms.append("ended_at <= ? AND (ended_at < ? OR execution_id < ?)")
        args.extend((after[0], after[0], after[1]))
    return (" WHERE " + " AND ".join(terms)) if terms else "", args


def list_query(where: ExecutionFilter, limit: int, after: tuple[float, str] | None) -> tuple[str, list[Any]]:
    clause, args = filter_clause(where, after)
    return f"{SELECT_EXECUTION}{clause} ORDER BY ended_at DESC, execution_id DESC LIMIT {int(limit)}", args


def stats_query(task_id: str | None, since: float | None) -> tuple[str, list[Any]]:
    """The runs the statistics are computed from. The covering indexes answer it without touching the
    table; aggregating them here measured faster than SQLite's GROUP BY and window functions, whose
    plans walk every task (bench/history_queries.py, docs/performance.md)."""
    clause, args = filter_clause(ExecutionFilter(task_id=task_id, since=since), None)
    return f"SELECT task_id, task_name, outcome, duration_ms, ended_at FROM executions{clause}", args


def build_stats(rows: list[Any]) -> list[TaskStats]:
    """Per task: counts, last success and last run, and the percentiles of successful runs' durations."""
    tasks: dict[str, list[Any]] = {}
    for task_id, name, outcome, duration, ended in rows:
        # name, runs, failures, aborts, last success, last run, durations of successful runs
        task = tasks.get(task_id)
        if task is None:
            task = tasks[task_id] = [name, 0, 0, 0, None, ended, []]
        task[1] += 1
        if ended >= task[5]:
            task[5], task[0] = ended, name
        if outcome == "success":
            if duration is not None:
                task[6].append(duration)
            if task[4] is None or ended > task[4]:
                task[4] = ended
        elif outcome == "failed":
            task[2] += 1
        elif outcome == "aborted":
            task[3] += 1
    result = []
    for task_id in sorted(tasks):
        name, runs, failures, aborts, last_success, last_run, durations = tasks[task_id]
        durations.sort()
        result.append(TaskStats(task_id=task_id, task_name=name or "", runs=runs, failures=failures, aborts=aborts,
                                p50_duration_ms=percentile(durations, 0.5), p95_duration_ms=percentile(durations, 0.95),
                                last_success_at=last_success, last_run_at=last_run))
    return result


# Retention: by age, then by count (everything at or older than the newest `keep`+1-th row).
DELETE_OLDER = "DELETE FROM executions WHERE ended_at < ?"
DELETE_BEYOND = ("DELETE FROM executions WHERE (ended_at, execution_id) <= "
                 "(SELECT ended_at, execution_id FROM executions ORDER BY ended_at DESC, execution_id DESC "
                 "LIMIT 1 OFFSET ?)")
DELETE_ORPHAN_DELIVERIES = ("DELETE FROM deliveries WHERE NOT EXISTS "
                            "(SELECT 1 FROM executions e WHERE e.execution_id = deliveries.execution_id)")
DELETE_OLD_STARTS = "DELETE FROM task_starts WHERE requested_at < ?"
