"""The history's read model: plain async functions over a `HistoryStore`, for the REST API, the
`qbutler history` command and the dashboard alike."""

from __future__ import annotations

import time

from qbutler.history.model import (
    ExecutionDetail,
    ExecutionFilter,
    Page,
    TaskStats,
    decode_cursor,
    encode_cursor,
)
from qbutler.history.store import HistoryStore

MAX_PAGE = 500
# Statistics of every task look back this far unless told otherwise (all time means every stored run).
DEFAULT_STATS_DAYS = 7


async def list_executions(store: HistoryStore, where: ExecutionFilter, *, limit: int = 50,
                          cursor: str | None = None) -> Page:
    """Newest first; `cursor` (from the previous page) continues where that page ended.
    Raises BadCursor for a cursor this API did not hand out."""
    limit = max(1, min(limit, MAX_PAGE))
    after = decode_cursor(cursor) if cursor else None
    rows = await store.list_executions(where, limit + 1, after)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].ended_at, rows[-1].execution_id) if more else None
    return Page(rows, next_cursor)


async def get_execution(store: HistoryStore, execution_id: str) -> ExecutionDetail | None:
    return await store.get_execution(execution_id.lower())


async def task_stats(store: HistoryStore, *, task_id: str | None = None, since: float | None = None) -> list[TaskStats]:
    """One task's statistics over all its runs, or every task's over the last DEFAULT_STATS_DAYS days,
    unless `since` says from when."""
    if task_id is None and since is None:
        since = time.time() - DEFAULT_STATS_DAYS * 86400
    return await store.task_stats(task_id, since)


async def recent_failures(store: HistoryStore, limit: int = 100, since: float | None = None) -> Page:
    return await list_executions(store, ExecutionFilter(outcome="failed", since=since), limit=limit)
