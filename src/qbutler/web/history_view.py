"""The reload history as the dashboard shows it: outcomes per hour for the overview's strip, and a
task's runs with their duration trend.

The hourly counts of the last 24 hours are read from the history at most every REFRESH seconds,
in the background, and the task events received since are added on top, so an overview costs no
history query most of the time, whatever the number of stored executions.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qbutler.activity import ActivityFeed
from qbutler.background import cancel_and_wait
from qbutler.history.model import Execution, ExecutionFilter, TaskStats
from qbutler.history.queries import list_executions, task_stats
from qbutler.web.sources import HourBucket, count_outcome, hour_buckets

REFRESH = 60.0
PAGE = 500


@dataclass(frozen=True)
class DayTrend:
    day: str
    runs: int
    p50_ms: float | None
    p95_ms: float | None


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class HistoryView:
    def __init__(self, history: Any, feed: ActivityFeed, patience: float = 2.0):
        self.store = history.store
        self.feed = feed
        self.patience = patience
        self._counted: list[tuple[float, str]] = []
        self._counted_at = 0.0
        self._reading: asyncio.Task[None] | None = None

    async def _read_hours(self) -> None:
        now = time.time()
        since = hour_buckets(now)[0].start
        found: list[tuple[float, str]] = []
        cursor = None
        while True:
            page = await list_executions(self.store, ExecutionFilter(since=since), limit=PAGE, cursor=cursor)
            found.extend((e.ended_at, e.outcome) for e in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        self._counted, self._counted_at = found, now

    async def hourly(self, now: float) -> list[HourBucket]:
        if self._reading is None and now - self._counted_at > REFRESH:
            self._reading = asyncio.create_task(self._read_hours())
            self._reading.add_done_callback(self._read_done)
        if self._reading is not None and not self._counted_at:
            # Only the very first view waits (briefly) for the history; later ones show the last read.
            await asyncio.wait([self._reading], timeout=self.patience)
        buckets = hour_buckets(now)
        for ended, outcome in self._counted:
            count_outcome(buckets, ended, outcome)
        for event in self.feed.recent("reload."):
            if event.time > self._counted_at:
                count_outcome(buckets, event.time, event.kind.removeprefix("reload."))
        return buckets

    def _read_done(self, task: asyncio.Task[None]) -> None:
        self._reading = None
        if not task.cancelled():
            task.exception()  # logged by the history itself; the strip keeps its last read

    async def close(self) -> None:
        await cancel_and_wait(self._reading)

    async def task_runs(self, task_id: str, limit: int = 200) -> list[Execution]:
        return (await list_executions(self.store, ExecutionFilter(task_id=task_id), limit=limit)).items

    async def task_stats(self, task_id: str, days: int = 30) -> TaskStats | None:
        found = await task_stats(self.store, task_id=task_id, since=time.time() - days * 86400)
        return found[0] if found else None


def daily_trend(runs: list[Execution]) -> list[DayTrend]:
    """p50 and p95 of successful runs' durations per day, oldest first."""
    days: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for run in runs:
        day = datetime.fromtimestamp(run.ended_at, UTC).strftime("%Y-%m-%d")
        counts[day] = counts.get(day, 0) + 1
        if run.outcome == "success" and run.duration_ms:
            days.setdefault(day, []).append(run.duration_ms)
    return [DayTrend(day, counts[day], _percentile(days.get(day, []), 0.5), _percentile(days.get(day, []), 0.95))
            for day in sorted(counts)]


@dataclass(frozen=True)
class Chart:
    """An SVG line chart's geometry (attributes only: the CSP allows no inline style)."""

    width: int
    height: int
    p50: str
    p95: str
    top_ms: float
    first_day: str
    last_day: str


def trend_chart(trend: list[DayTrend], width: int = 640, height: int = 160) -> Chart | None:
    points = [t for t in trend if t.p50_ms is not None]
    if len(points) < 2:
        return None
    top = max(t.p95_ms or 0 for t in points) or 1.0
    step = (width - 20) / (len(points) - 1)

    def line(values: list[float]) -> str:
        return " ".join(f"{10 + i * step:.1f},{height - 10 - (v / top) * (height - 20):.1f}"
                        for i, v in enumerate(values))

    return Chart(width, height, line([t.p50_ms or 0 for t in points]), line([t.p95_ms or 0 for t in points]), top,
                 points[0].day, points[-1].day)
