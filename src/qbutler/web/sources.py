"""What the pages show, read from the domain rooms: QRS tasks (cached), the activity feed, the
scheduler, the alert outbox, and the optional rooms (reload history, site watch) when present.

Every function here takes plain values and returns plain values; no HTTP.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qbutler.actions.tasks import status_name
from qbutler.activity import Activity, ActivityFeed
from qbutler.background import cancel_and_wait
from qbutler.scheduler.cron import parse_iso
from qbutler.sense.qrs import QrsClient, QrsError

FAILED_STATUSES = {"FinishedFail", "Aborted", "Error"}
OUTCOME_STATUS = {"failed": "FinishedFail", "aborted": "Aborted", "success": "FinishedSuccess"}


def _time(text: Any) -> float | None:
    if not isinstance(text, str) or not text or text.startswith("1753"):
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None


@dataclass
class TaskRow:
    id: str
    name: str
    app_name: str
    app_id: str
    enabled: bool
    status: str
    started: float | None
    stopped: float | None
    duration_ms: int | None
    result_id: str
    file_reference: str
    node: str
    tags: list[str] = field(default_factory=list)

    @property
    def failing(self) -> bool:
        return self.status in FAILED_STATUSES


def task_row(task: dict[str, Any]) -> TaskRow:
    result = (task.get("operational") or {}).get("lastExecutionResult") or {}
    app = task.get("app") or {}
    return TaskRow(
        id=str(task.get("id", "")), name=str(task.get("name", "")), app_name=str(app.get("name", "")),
        app_id=str(app.get("id", "")), enabled=bool(task.get("enabled", False)),
        status=status_name(int(result.get("status", 0) or 0)), started=_time(result.get("startTime")),
        stopped=_time(result.get("stopTime")), duration_ms=result.get("duration") or None,
        result_id=str(result.get("id", "")), file_reference=str(result.get("fileReferenceID", "")),
        node=str(result.get("executingNodeName", "")), tags=[str(t.get("name", "")) for t in task.get("tags") or []])


class TaskCatalog:
    """The site's reload tasks from QRS, read at most every `max_age` seconds (and again after a
    task event newer than the last read), so a page view costs no QRS call most of the time."""

    def __init__(self, qrs: QrsClient, activity: ActivityFeed, max_age: float = 30.0, patience: float = 2.0):
        self.qrs = qrs
        self.activity = activity
        self.max_age = max_age
        # How long a page waits for a read in progress before it shows what it has.
        self.patience = patience
        self._rows: list[TaskRow] = []
        self._by_id: dict[str, TaskRow] = {}
        self._read_at = 0.0
        self.error: str | None = None
        self._reading: asyncio.Task[None] | None = None

    def _stale(self) -> bool:
        if time.time() - self._read_at > self.max_age:
            return True
        latest = last_activity(self.activity, "reload.") or last_activity(self.activity, "task.started")
        return latest is not None and latest.time > self._read_at

    async def rows(self) -> list[TaskRow]:
        if self._reading is None and self._stale():
            self._reading = asyncio.create_task(self._read())
            self._reading.add_done_callback(self._read_done)
        if self._reading is not None:
            # Shielded: a page that stops waiting leaves the read running for the next one.
            try:
                await asyncio.wait_for(asyncio.shield(self._reading), self.patience)
            except TimeoutError:
                self.error = "Still reading the tasks from the Repository Service; the list may be out of date."
        return self._rows

    def _read_done(self, task: asyncio.Task[None]) -> None:
        self._reading = None
        if not task.cancelled() and task.exception() is not None:
            self.error = f"Tasks could not be read: {task.exception()}"

    async def close(self) -> None:
        await cancel_and_wait(self._reading)

    async def get(self, task_id: str) -> TaskRow | None:
        await self.rows()
        return self._by_id.get(task_id)

    async def _read(self) -> None:
        read_at = time.time()
        try:
            tasks = await self.qrs.get("reloadtask/full")
        except QrsError as exc:
            self.error = f"Tasks could not be read from the Repository Service: {exc}"
            self._read_at = read_at  # try again after max_age, not on every view
            return
        self.error = None
        self._rows = sorted((task_row(t) for t in tasks if isinstance(t, dict)), key=lambda r: r.name.lower())
        self._by_id = {row.id: row for row in self._rows}
        self._read_at = read_at


def last_activity(feed: ActivityFeed, prefix: str) -> Activity | None:
    recent = feed.recent(prefix)
    return recent[-1] if recent else None


def latest_outcomes(feed: ActivityFeed) -> dict[str, Activity]:
    """The newest task event qbutler received per task id (kinds `reload.<outcome>`)."""
    return {a.data.get("taskId", ""): a for a in feed.recent("reload.")}


def with_latest_outcomes(rows: list[TaskRow], feed: ActivityFeed) -> list[TaskRow]:
    """Rows whose status a newer task event changed get that event's outcome (QRS may lag)."""
    outcomes = latest_outcomes(feed)
    result = []
    for row in rows:
        event = outcomes.get(row.id)
        if event is not None and (row.stopped is None or event.time > row.stopped + 1):
            status = OUTCOME_STATUS.get(event.kind.removeprefix("reload."), row.status)
            row = TaskRow(**{**row.__dict__, "status": status, "stopped": event.time})
        result.append(row)
    return result


@dataclass
class HourBucket:
    start: float
    success: int = 0
    failed: int = 0
    aborted: int = 0

    @property
    def total(self) -> int:
        return self.success + self.failed + self.aborted

    @property
    def label(self) -> str:
        return datetime.fromtimestamp(self.start).strftime("%H:00")


def hour_buckets(now: float, hours: int = 24) -> list[HourBucket]:
    """Empty buckets for the last `hours` whole hours, the current one last."""
    first = (int(now) // 3600 - hours + 1) * 3600
    return [HourBucket(first + 3600 * i) for i in range(hours)]


def count_outcome(buckets: list[HourBucket], when: float, outcome: str) -> None:
    index = int(when - buckets[0].start) // 3600
    if 0 <= index < len(buckets) and outcome in ("success", "failed", "aborted"):
        setattr(buckets[index], outcome, getattr(buckets[index], outcome) + 1)


def hourly_outcomes(feed: ActivityFeed, now: float) -> list[HourBucket]:
    """Reload outcomes per hour over the last 24 hours, from the task events qbutler received."""
    buckets = hour_buckets(now)
    for event in feed.recent("reload."):
        count_outcome(buckets, event.time, event.kind.removeprefix("reload."))
    return buckets


def heat_level(bucket: HourBucket) -> str:
    """A CSS class for the heat strip: no runs, all fine, some failed, mostly failed."""
    if bucket.total == 0:
        return "none"
    bad = bucket.failed + bucket.aborted
    if bad == 0:
        return "ok"
    return "bad" if bad * 2 >= bucket.total else "some"


def next_firings(scheduler: Any) -> dict[str, float]:
    """The next time qbutler's scheduler starts each task (task id → epoch seconds)."""
    if scheduler is None or scheduler.runner is None:
        return {}
    soonest: dict[str, float] = {}
    for job in scheduler.runner.jobs.values():
        if job.active and job.next_at:
            task_id = job.schedule.task_id
            soonest[task_id] = min(job.next_at, soonest.get(task_id, job.next_at))
    return soonest


def site_watch(service: Any) -> dict[str, Any] | None:
    """The site watch's last observations (Sense services, the server license, access-license use),
    None when it watches nothing."""
    watch = getattr(service, "watch", None)
    if watch is None:
        return None
    services: list[dict[str, Any]] = []
    for monitor in (getattr(watch, "services", None), getattr(watch, "windows_services", None)):
        if monitor is not None:
            services.extend(monitor.services.values())
    server = getattr(getattr(watch, "server_license", None), "status", None) or None
    usage = getattr(getattr(watch, "access_licenses", None), "usage", None) or {}
    if not services and not server and not usage:
        return None
    return {"services": sorted(services, key=lambda s: (str(s.get("host")), str(s.get("serviceName")))),
            "server_license": server, "usage": usage}

