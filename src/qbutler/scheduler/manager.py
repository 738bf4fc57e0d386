"""The scheduler component: the schedule file, the firing loop, and the operations the REST API
and CLI use (list, create, update, delete, start, stop, status)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from typing import Any

from qbutler.actions.tasks import Trigger
from qbutler.background import cancel_and_wait
from qbutler.config import Config
from qbutler.kv.store import internal_namespace
from qbutler.scheduler.clock import Clock, SystemClock
from qbutler.scheduler.cron import Dialect, iso
from qbutler.scheduler.model import STARTED_STATES, Schedule, ScheduleError, check_schedule, schedule_label
from qbutler.scheduler.runner import Firing, Reserver, Runner, Starter
from qbutler.scheduler.state import StateFile
from qbutler.scheduler.store import ScheduleFileError, ScheduleStore

log = logging.getLogger("qbutler.scheduler")

# KV namespace of the per-occurrence reservations shared between instances (internal: hidden
# from the REST endpoints).
RESERVATION_NAMESPACE = internal_namespace("scheduler")


class ScheduleNotFound(KeyError):
    pass


def startup_to_state(fields: dict[str, Any]) -> str:
    return "started" if fields.get("startupState") in STARTED_STATES else "stopped"


class Scheduler:
    def __init__(self, config: Config, service: Any):
        settings = config.Butler.scheduler
        self.config = config
        self.service = service
        self.settings = settings
        # Read at start(); tests put a clock they drive by hand here before that.
        self.clock: Clock = SystemClock()
        self.dialect = Dialect(settings.cronDialect)
        self.honour_timezone = settings.timezoneMode == "schedule"
        self.grace = settings.missedRunGraceSeconds
        self.instance_id = settings.instanceId or f"{socket.gethostname()}:{os.getpid()}"
        self.store = ScheduleStore(config.resolve_path(settings.configfile))
        self.state = StateFile(config.data_dir / "scheduler-state.json")
        # Why each schedule that cannot run cannot, by position in the file.
        self.problems: dict[int, str] = {}
        self.runner: Runner | None = None
        self.observers: list[Callable[[Firing], None]] = []
        self._watcher: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """The firing loop is alive (for the readiness check)."""
        return self.runner is not None and self.runner.running

    async def start(self) -> None:
        self.state.load()
        self.runner = Runner(self.clock, self.state, self._task_starter(), grace=self.grace,
                             reserve=self._reserver(), observer=self._observe,
                             max_concurrent_starts=self.settings.maxConcurrentStarts)
        try:
            entries = await self.store.load()
        except ScheduleFileError as exc:
            log.error("SCHEDULER: Failed loading schedules from file: %s", exc)
            entries = []
        self._apply(entries, initial=True)
        await self._write_startup_states(entries)
        await self.state.start()
        await self.runner.start()
        self._watcher = asyncio.create_task(self._watch_file(), name="scheduler-file-watch")
        log.info("SCHEDULER: %d schedule(s) loaded from %s", len(entries), self.store.path)

    async def stop(self) -> None:
        await cancel_and_wait(self._watcher)
        if self.runner is not None:
            await self.runner.stop()
        await self.state.stop()

    def _task_starter(self) -> Starter:
        # The same path as REST and MQTT task starts: POST /qrs/task/{id}/start.
        tasks = self.service.tasks

        async def start(task_id: str, schedule: str) -> None:
            await tasks.start_task(task_id, Trigger("schedule", schedule))

        return start

    def _reserver(self) -> Reserver | None:
        mode = self.settings.coordination
        shared = self.config.Butler.keyValueStore.backend == "redis"
        if mode == "off" or (mode == "auto" and not shared):
            return None
        kv = self.service.kv
        # Long enough that every instance has passed the occurrence, catch-ups included.
        ttl_ms = int((self.grace + 60) * 1000)
        instance = self.instance_id

        async def reserve(schedule_id: str, occurrence: float) -> bool:
            return await kv.set_if_absent(RESERVATION_NAMESPACE, f"{schedule_id}:{iso(occurrence)}", instance, ttl_ms)

        return reserve

    def _observe(self, firing: Firing) -> None:
        self.service.activity.publish(f"scheduler.{firing.outcome}",
                                      f"Schedule {firing.name or firing.schedule_id}: {firing.outcome}",
                                      scheduleId=firing.schedule_id, taskId=firing.task_id,
                                      occurrence=iso(firing.occurrence), catchUp=firing.catch_up,
                                      error=firing.error)
        for observer in self.observers:
            observer(firing)

    # ------------------------------------------------------------------ file <-> runner

    def _check(self, fields: dict[str, Any]) -> Schedule:
        return check_schedule(fields, self.dialect, self.honour_timezone)

    def _apply(self, entries: list[dict[str, Any]], *, initial: bool) -> None:
        """Make the runner match the file. At start-up each schedule's `startupState` decides
        whether it runs (Butler's rule); afterwards its `lastKnownState`."""
        assert self.runner is not None
        runner = self.runner
        problems: dict[int, str] = {}
        seen: set[str] = set()
        for index, fields in enumerate(entries):
            try:
                schedule = self._check(fields)
                if schedule.id in seen:
                    raise ScheduleError(f"{schedule_label(fields)}: field 'id': duplicate of an earlier schedule")
            except ScheduleError as exc:
                problems[index] = str(exc)
                if self.problems.get(index) != str(exc) or initial:
                    log.error("SCHEDULER: %s", exc)
                continue
            seen.add(schedule.id)
            runner.put(schedule)
            wanted = startup_to_state(fields) if initial else fields.get("lastKnownState")
            if wanted == "started":
                runner.activate(schedule.id, catch_up=initial)
            else:
                runner.deactivate(schedule.id)
        for schedule_id in [key for key in runner.jobs if key not in seen]:
            runner.remove(schedule_id)
        self.problems = problems

    async def _write_startup_states(self, entries: list[dict[str, Any]]) -> None:
        """Butler recomputes `lastKnownState` from `startupState` at start and saves it."""
        if all(fields.get("lastKnownState") == startup_to_state(fields) for fields in entries):
            return  # nothing to change: leave the file (and its comments) alone

        def reset(current: list[dict[str, Any]]) -> None:
            for fields in current:
                fields["lastKnownState"] = startup_to_state(fields)

        try:
            await self.store.mutate(reset)
        except ScheduleFileError as exc:
            log.error("SCHEDULER: %s", exc)

    async def _watch_file(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reloadIntervalSeconds)
            if not self.store.changed_on_disk():
                continue
            try:
                entries = await self.store.load()
            except ScheduleFileError as exc:
                log.error("SCHEDULER: schedule file changed but cannot be used; keeping the schedules "
                          "in memory and not writing the file until it is fixed: %s", exc)
                continue
            log.info("SCHEDULER: schedule file %s changed on disk; %d schedule(s) reloaded",
                     self.store.path, len(entries))
            self._apply(entries, initial=False)

    async def _change(self, change: Callable[[list[dict[str, Any]]], Any]) -> Any:
        result = await self.store.mutate(change)
        self._apply(self.store.entries, initial=False)
        return result

    # ------------------------------------------------------------------ operations

    def entries(self) -> list[dict[str, Any]]:
        return list(self.store.entries)

    def find(self, schedule_id: str) -> dict[str, Any] | None:
        return next((fields for fields in self.store.entries if _id_of(fields) == schedule_id), None)

    async def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Raises ScheduleError for a schedule that cannot run (nothing is saved then)."""
        fields = dict(fields)
        fields["id"] = str(uuid.uuid4())
        fields["created"] = iso(self.clock.now())
        fields["lastKnownState"] = startup_to_state(fields)
        self._check(fields)
        await self._change(lambda entries: entries.append(fields))
        return fields

    async def update(self, schedule_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change fields of a schedule; `id`, `created` and `lastKnownState` are qbutler's."""
        current = self.find(schedule_id)
        if current is None:
            raise ScheduleNotFound(schedule_id)
        if "id" in changes and str(changes["id"]) != schedule_id:
            raise ScheduleError(f"{schedule_label(current)}: field 'id' cannot be changed")
        for managed in ("created", "lastKnownState"):
            if managed in changes and changes[managed] != current.get(managed):
                raise ScheduleError(f"{schedule_label(current)}: field '{managed}' is set by qbutler "
                                    "(use start/stop to change the state)")
        updated = {**current, **changes}
        self._check(updated)

        def replace(entries: list[dict[str, Any]]) -> None:
            index = next(i for i, fields in enumerate(entries) if _id_of(fields) == schedule_id)
            entries[index] = updated

        await self._change(replace)
        return updated

    async def delete(self, schedule_id: str) -> None:
        if self.find(schedule_id) is None:
            raise ScheduleNotFound(schedule_id)

        def remove(entries: list[dict[str, Any]]) -> None:
            index = next(i for i, fields in enumerate(entries) if _id_of(fields) == schedule_id)
            del entries[index]

        await self._change(remove)

    async def set_state(self, schedule_id: str | None, state: str) -> list[dict[str, Any]]:
        """Start or stop one schedule (or all with None); returns the schedules changed."""
        if schedule_id is not None and self.find(schedule_id) is None:
            raise ScheduleNotFound(schedule_id)

        def mark(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
            chosen = [f for f in entries if schedule_id is None or _id_of(f) == schedule_id]
            for fields in chosen:
                fields["lastKnownState"] = state
            return chosen[:1] if schedule_id is not None else chosen

        return await self._change(mark)

    def status(self) -> list[dict[str, Any]]:
        """Each schedule's state, last and next fire time, in file order."""
        assert self.runner is not None
        report = []
        for index, fields in enumerate(self.store.entries):
            schedule_id = _id_of(fields)
            job = self.runner.jobs.get(schedule_id) if index not in self.problems else None
            history = self.state.schedules.get(schedule_id) if schedule_id is not None else None
            item: dict[str, Any] = {
                "id": schedule_id,
                "name": fields.get("name"),
                "cronSchedule": fields.get("cronSchedule"),
                "timezone": str(getattr(job.schedule.zone, "key", job.schedule.zone)) if job else None,
                "state": "invalid" if job is None else ("running" if job.active else "stopped"),
                "lastFireTime": iso(history.last_fire) if history and history.last_fire else None,
                "lastOutcome": history.last_outcome if history else None,
                "nextFireTime": iso(job.next_at) if job and job.active and job.next_at else None,
            }
            if job is None:
                item["error"] = self.problems.get(index, "")
            report.append(item)
        return report


def _id_of(fields: dict[str, Any]) -> str | None:
    value = fields.get("id")
    return None if value is None else str(value)
