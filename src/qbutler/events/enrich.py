"""What QRS knows about a task event: task, app, app owner, execution result and script log.

Call order follows Butler (butler-subsystems.md §4.6-4.7) with fewer calls: `reloadtask/{id}` is
the task's full entity (metadata and execution result in one answer; `task/full` is asked only
when it is 404, to tell another task type from an unknown task); the owner (and the owner's email addresses)
is fetched once per event, not once per channel, and shared by the events of the same app for
a few seconds. The execution result and script log are read
while the app and owner are fetched. A script log that stays unavailable after the configured
attempts leaves `script_log` None with the reason in `script_log_error`; the alert still goes out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from qbutler.alerts.config import ScriptLogConfig
from qbutler.events.log4net import TaskEvent
from qbutler.sense.qrs import QrsClient, QrsError

log = logging.getLogger("qbutler.events.enrich")

NULL_GUID = "00000000-0000-0000-0000-000000000000"
RELOAD_TASK, EXTERNAL_PROGRAM_TASK, USER_SYNC_TASK, DISTRIBUTE_TASK, PRELOAD_TASK = range(5)
# Butler's config-section prefix per task type (`reloadTaskFailure`, `distributeTaskSuccess`, ...).
TYPE_PREFIXES = {RELOAD_TASK: "reloadTask", EXTERNAL_PROGRAM_TASK: "externalProgramTask",
                 USER_SYNC_TASK: "userSyncTask", DISTRIBUTE_TASK: "distributeTask", PRELOAD_TASK: "preloadTask"}
TYPE_NAMES = {RELOAD_TASK: "reload", EXTERNAL_PROGRAM_TASK: "external program", USER_SYNC_TASK: "user sync",
              DISTRIBUTE_TASK: "distribute", PRELOAD_TASK: "preload"}
OUTCOME_SUFFIXES = {"failed": "Failure", "aborted": "Aborted", "success": "Success"}
# Distribution results (butler-monitoring.md §6.3): final ones, and the ones still worth waiting for.
DISTRIBUTE_SUCCESS, DISTRIBUTE_FAILED = {7}, {6, 8, 11}
DISTRIBUTE_PENDING = {1, 2, 3, 4, 5, 10, 13, 14}
# An app and its owner change rarely; events within this many seconds share one lookup.
APP_CACHE_SECONDS = 10.0


class TaskNotFound(Exception):
    pass


class NotActionable(Exception):
    """QRS says there is nothing to alert on (a distribute event of another task type, an odd status)."""


@dataclass
class Owner:
    id: str
    directory: str
    userId: str
    userName: str
    emails: list[str]


@dataclass
class EnrichedEvent:
    event: TaskEvent
    task: dict[str, Any]
    app: dict[str, Any] | None = None
    owner: Owner | None = None
    execution: dict[str, Any] | None = None
    script_log: list[str] | None = None
    script_log_error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def task_type(self) -> int:
        value = self.task.get("taskType")
        return RELOAD_TASK if value is None else int(value)

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.task_type, f"type {self.task_type}")

    @property
    def event_key(self) -> str:
        """The config section of this event in Butler's naming, e.g. `preloadTaskFailure`."""
        prefix = TYPE_PREFIXES.get(self.task_type, f"type{self.task_type}Task")
        return prefix + OUTCOME_SUFFIXES.get(self.event.outcome, self.event.outcome)

    def task_custom_property(self, name: str) -> list[str]:
        return [str(cp.get("value", "")) for cp in self.task.get("customProperties") or []
                if (cp.get("definition") or {}).get("name") == name]


def _last_result(task: Any) -> dict[str, Any] | None:
    result = ((task if isinstance(task, dict) else {}).get("operational") or {}).get("lastExecutionResult")
    return result if isinstance(result, dict) else None


def _quote(value: str) -> str:
    return value.replace("'", "''")


class Enricher:
    def __init__(self, qrs: QrsClient, settings: ScriptLogConfig, *, distribute_poll_seconds: float = 30.0,
                 distribute_max_wait_seconds: float = 6 * 3600.0):
        self.qrs = qrs
        self.attempts = settings.retries
        self.retry_delay = settings.retryDelaySeconds
        self.distribute_poll = distribute_poll_seconds
        self.distribute_max_wait = distribute_max_wait_seconds
        self._apps: dict[str, tuple[float, asyncio.Future[tuple[dict[str, Any] | None, Owner | None, list[str]]]]] = {}

    async def enrich(self, event: TaskEvent, *, want_script_log: bool = True) -> EnrichedEvent:
        if event.source == "engine":
            # A reload outside the scheduler: there is no task, only the app.
            enriched = EnrichedEvent(event=event, task={})
            await self._app_and_owner(enriched)
            return enriched
        try:
            # A reload task's full entity: metadata and the execution result in one call
            # (sensesim, like Butler, also reads distribute and preload tasks here).
            task = await self.qrs.get(f"reloadtask/{event.taskId}")
        except QrsError as exc:
            if exc.status != 404:
                raise
            # Another task type, or no task at all.
            task = await self._full_task(event.taskId)
        enriched = EnrichedEvent(event=event, task=task)
        if event.outcome == "distribute":
            enriched = await self._distribution_outcome(enriched)
        if enriched.task_type != RELOAD_TASK:
            enriched.execution = _last_result(enriched.task)
            if enriched.task.get("app"):
                await self._app_and_owner(enriched)
            return enriched
        jobs = [self._app_and_owner(enriched)]
        if want_script_log:
            jobs.append(self._execution_and_log(enriched, task))
        else:
            enriched.execution = _last_result(task)
        await asyncio.gather(*jobs)
        return enriched

    async def _full_task(self, task_id: str) -> dict[str, Any]:
        tasks = await self.qrs.get("task/full", {"filter": f"id eq {task_id}"})
        if not isinstance(tasks, list) or not tasks:
            raise TaskNotFound(f"Task ID {task_id} does not exist in Sense")
        return dict(tasks[0])

    async def _distribution_outcome(self, enriched: EnrichedEvent) -> EnrichedEvent:
        """The distribute event as a success or failure, waiting while the distribution is still running."""
        event = enriched.event
        if enriched.task_type != DISTRIBUTE_TASK:
            raise NotActionable(f"Task {event.taskId} is not a distribute task (type {enriched.task_type})")
        waited = 0.0
        while True:
            status = (_last_result(enriched.task) or {}).get("status")
            if status in DISTRIBUTE_SUCCESS or status in DISTRIBUTE_FAILED:
                outcome = "success" if status in DISTRIBUTE_SUCCESS else "failed"
                return EnrichedEvent(event=replace(event, outcome=outcome), task=enriched.task)
            if status not in DISTRIBUTE_PENDING:
                raise NotActionable(f"Unexpected execution status {status!r} of distribute task {event.taskId}")
            if waited >= self.distribute_max_wait:
                raise NotActionable(f"Distribute task {event.taskId} still not finished after {waited:.0f} s")
            await asyncio.sleep(self.distribute_poll)
            waited += self.distribute_poll
            try:
                enriched.task = await self._full_task(event.taskId)
            except QrsError as exc:
                log.warning("Distribute task %s: status check failed, trying again: %s", event.taskId, exc)

    # ---------------------------------------------------------------- app and owner

    async def _app_and_owner(self, enriched: EnrichedEvent) -> None:
        app_id = enriched.event.appId or ((enriched.task.get("app") or {}).get("id") or "")
        if not app_id:
            return
        now = time.monotonic()
        cached = self._apps.get(app_id)
        if cached is None or cached[0] <= now:
            # Concurrent events of one app share one lookup; a burst of failures of the same app
            # (a chain, a broken data source) then costs QRS two calls, not two per event.
            cached = (now + APP_CACHE_SECONDS, asyncio.ensure_future(self._fetch_app(app_id, enriched.event.taskId)))
            self._apps[app_id] = cached
            if len(self._apps) > 1000:
                self._apps = {k: v for k, v in self._apps.items() if v[0] > now}
        try:
            app, owner, notes = await asyncio.shield(cached[1])
        except Exception:
            self._apps.pop(app_id, None)
            raise
        if notes:
            self._apps.pop(app_id, None)  # an incomplete answer is not kept
        enriched.app, enriched.owner = app, owner
        enriched.notes.extend(notes)

    async def _fetch_app(self, app_id: str, task_id: str) -> tuple[dict[str, Any] | None, Owner | None, list[str]]:
        try:
            apps = await self.qrs.get("app/full", {"filter": f"id eq {_quote(app_id)}"})
        except QrsError as exc:
            log.warning("App %s of task %s: %s", app_id, task_id, exc)
            return None, None, [f"app metadata unavailable: {exc}"]
        if not isinstance(apps, list) or not apps:
            return None, None, [f"app {app_id} not found in QRS"]
        app = apps[0]
        owner = app.get("owner") or {}
        if not owner.get("id"):
            return app, None, []
        emails: list[str] = []
        notes: list[str] = []
        try:
            user = await self.qrs.get(f"user/{owner['id']}")
            emails = [str(a.get("attributeValue", "")) for a in user.get("attributes") or []
                      if str(a.get("attributeType", "")).lower() == "email" and a.get("attributeValue")]
        except QrsError as exc:
            notes.append(f"app owner's email unavailable: {exc}")
            log.warning("Owner %s of app %s: %s", owner.get("id"), app_id, exc)
        return app, Owner(id=owner["id"], directory=str(owner.get("userDirectory", "")),
                          userId=str(owner.get("userId", "")), userName=str(owner.get("name", "")),
                          emails=emails), notes

    # ---------------------------------------------------------------- execution result and script log

    async def fetch_script_log(self, enriched: EnrichedEvent) -> None:
        """The script log of an event enriched without it (no alert channel wanted it)."""
        await self._execution_and_log(enriched, enriched.task)

    async def _execution_and_log(self, enriched: EnrichedEvent, task: dict[str, Any]) -> None:
        """Execution result and script log; `task` is the entity already read for the first attempt."""
        task_id = enriched.event.taskId
        error = "not tried"
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.retry_delay)
                try:
                    task = await self.qrs.get(f"reloadtask/{task_id}")
                except QrsError as exc:
                    error = f"execution result unavailable: {exc}"
                    continue
            result = _last_result(task)
            if result is None:
                error = "the task has no execution result"
                continue
            enriched.execution = result
            reference = str(result.get("fileReferenceID") or NULL_GUID)
            if reference == NULL_GUID:
                error = "the script log is not available yet (null file reference)"
                continue
            try:
                text = await download_script_log(self.qrs, task_id, reference, str(result.get("id", "")))
            except QrsError as exc:
                error = f"script log download failed: {exc}"
                continue
            # Lines end in CRLF; the last line's end does not start another line.
            enriched.script_log = text.replace("\r\n", "\n").removesuffix("\n").split("\n")
            enriched.script_log_error = None
            return
        enriched.script_log_error = error
        log.warning("No script log for task %s (execution %s) after %d attempt(s): %s", task_id,
                    enriched.event.executionId, self.attempts, error)


async def download_script_log(qrs: QrsClient, task_id: str, reference: str, result_id: str) -> str:
    """A reload task execution's script log, by its file reference (or execution result id)."""
    try:
        ticket = await qrs.get(f"reloadtask/{task_id}/scriptlog", {"fileReferenceId": reference})
    except QrsError as first:
        if not result_id:
            raise
        # The newer API, keyed by execution result (Butler's fallback).
        try:
            ticket = await qrs.get(f"reloadtask/{task_id}/scriptlogfile", {"executionResultId": result_id})
        except QrsError:
            raise first from None
    temp_id = ticket.get("value") if isinstance(ticket, dict) else ticket
    if not temp_id:
        raise QrsError("GET", f"reloadtask/{task_id}/scriptlog", 200, "no download id in the answer")
    return await qrs.get_text(f"download/reloadtask/{temp_id}/scriptlog.txt")
