"""The firing loop: one timer heap for every schedule, one task start per occurrence.

Rules:
- A firing never overlaps the previous firing of the same schedule: while one is still in
  flight (for instance a slow QRS call being retried), the next occurrence is skipped and logged.
- Missed runs (qbutler was down, or the process was stalled): the most recent missed occurrence
  inside the grace period runs once, late; older ones are skipped and logged. At most one
  catch-up per schedule.
- With a reservation function (several instances sharing a schedule file), an occurrence fires
  only in the instance that reserves it first.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from qbutler.background import cancel_and_wait
from qbutler.scheduler.clock import Clock
from qbutler.scheduler.cron import iso
from qbutler.scheduler.model import Schedule
from qbutler.scheduler.state import StateFile

log = logging.getLogger("qbutler.scheduler")

# Starts a task: (task id, the schedule that fired, as its name or id).
Starter = Callable[[str, str], Awaitable[Any]]
# (schedule id, occurrence) -> True when this instance may fire the occurrence.
Reserver = Callable[[str, float], Awaitable[bool]]


@dataclass(frozen=True)
class Firing:
    schedule_id: str
    name: str
    task_id: str
    occurrence: float
    # When the scheduler fired (handed the occurrence to a firing); lateness is measured to here.
    started_at: float
    # started | failed | skipped-overlap | skipped-late | other-instance
    outcome: str
    catch_up: bool = False
    error: str | None = None
    # When the task-start call went out (after waiting for a free start slot), if it did.
    sent_at: float | None = None


@dataclass
class Job:
    schedule: Schedule
    active: bool = False
    next_at: float | None = None
    firing: asyncio.Task[None] | None = None
    # Bumped whenever the job is rescheduled, so stale heap entries are ignored.
    generation: int = 0
    # Occurrences skipped in a row because the previous firing was still running.
    overlaps: int = 0


class Runner:
    def __init__(self, clock: Clock, state: StateFile, start_task: Starter, *, grace: float,
                 reserve: Reserver | None = None, observer: Callable[[Firing], None] | None = None,
                 max_concurrent_starts: int = 20):
        self.clock = clock
        self.state = state
        self.start_task = start_task
        self.grace = grace
        self.reserve = reserve
        self.observer = observer
        self.jobs: dict[str, Job] = {}
        self._heap: list[tuple[float, int, str, int]] = []
        self._sequence = itertools.count()
        self._changed = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        # Task starts in flight at once. Beyond the QRS client's kept-alive connections, more
        # parallel calls only add connection churn; firings wait here instead (and a schedule
        # whose firing is still waiting skips its next occurrence, as for any overlap).
        self._start_slots = asyncio.Semaphore(max_concurrent_starts)

    # ------------------------------------------------------------------ schedule set

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    def put(self, schedule: Schedule) -> None:
        """Add a schedule, or replace one with the same id (new expression, zone or task)."""
        job = self.jobs.get(schedule.id)
        if job is None:
            self.jobs[schedule.id] = Job(schedule)
            return
        previous, job.schedule = job.schedule, schedule
        if job.active and (previous.expression != schedule.expression or previous.zone != schedule.zone):
            self._schedule_next(job, self.clock.now())

    def remove(self, schedule_id: str) -> None:
        job = self.jobs.pop(schedule_id, None)
        if job is not None:
            job.generation += 1
        self.state.forget(schedule_id)

    def activate(self, schedule_id: str, *, catch_up: bool) -> None:
        """Start firing. With `catch_up`, runs missed since the last recorded one are considered."""
        job = self.jobs[schedule_id]
        if job.active:
            return
        job.active = True
        now = self.clock.now()
        history = self.state.get(schedule_id)
        if catch_up and history.owed_from is not None:
            self._catch_up(job, history.owed_from, now)
        history.owed_from = now
        self.state.changed()
        self._schedule_next(job, now)

    def deactivate(self, schedule_id: str) -> None:
        job = self.jobs.get(schedule_id)
        if job is None or not job.active:
            return
        job.active = False
        job.next_at = None
        job.generation += 1
        self.state.get(schedule_id).owed_from = None
        self.state.changed()

    def _catch_up(self, job: Job, owed_from: float, now: float) -> None:
        schedule = job.schedule
        first_missed = schedule.expression.next_fire(owed_from, schedule.zone)
        if first_missed > now:
            return
        candidate = schedule.expression.next_fire(max(owed_from, now - self.grace), schedule.zone)
        if first_missed < now - self.grace:
            log.warning("SCHEDULER: schedule %s (%s) missed runs from %s outside the %ss grace period; "
                        "not run", schedule.id, schedule.name, iso(first_missed), self.grace)
        if candidate <= now:
            log.info("SCHEDULER: schedule %s (%s) missed its run at %s while qbutler was down; running it now",
                     schedule.id, schedule.name, iso(candidate))
            self._fire(job, candidate, now, catch_up=True)

    def _schedule_next(self, job: Job, after: float) -> None:
        schedule = job.schedule
        job.generation += 1
        job.next_at = schedule.expression.next_fire(after, schedule.zone)
        heapq.heappush(self._heap, (job.next_at, next(self._sequence), schedule.id, job.generation))
        self._changed.set()

    # ------------------------------------------------------------------ loop

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run_loop(), name="scheduler-loop")

    async def stop(self) -> None:
        await cancel_and_wait(self._loop_task)
        self._loop_task = None
        firings = [job.firing for job in self.jobs.values() if job.firing is not None and not job.firing.done()]
        if firings:
            # Give task starts already sent a moment to finish, so their outcome is recorded.
            _done, pending = await asyncio.wait(firings, timeout=5)
            for task in pending:
                task.cancel()

    async def _run_loop(self) -> None:
        while True:
            now = self.clock.now()
            fired = self._fire_due(now)
            if fired:
                # Let the firings just created send their start calls before the (slower) work
                # of computing every schedule's next time.
                await asyncio.sleep(0)
                for job, generation, after in fired:
                    if job.generation == generation and job.active:
                        self._schedule_next(job, after)
            self._changed.clear()
            wake = self._heap[0][0] if self._heap else None
            waiters = [asyncio.ensure_future(self._changed.wait())]
            if wake is not None:
                waiters.append(asyncio.ensure_future(self.clock.sleep_until(wake)))
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    def _fire_due(self, now: float) -> list[tuple[Job, int, float]]:
        """Fire every job due by `now`; returns them, to be rescheduled after `now`."""
        heap = self._heap
        fired = []
        while heap and heap[0][0] <= now:
            at, _, schedule_id, generation = heapq.heappop(heap)
            job = self.jobs.get(schedule_id)
            if job is None or job.generation != generation or not job.active:
                continue
            if now - at > self.grace:
                log.warning("SCHEDULER: schedule %s (%s) run at %s skipped: %.1fs late is beyond the grace period",
                            schedule_id, job.schedule.name, iso(at), now - at)
                self._report(job, at, now, "skipped-late")
            else:
                self._fire(job, at, now, catch_up=False)
            fired.append((job, generation, max(at, now)))
        return fired

    def _fire(self, job: Job, occurrence: float, now: float, *, catch_up: bool) -> None:
        if job.firing is not None and not job.firing.done():
            if not job.overlaps:
                # Once per run of skips: under a QRS backlog this would otherwise log every second.
                log.warning("SCHEDULER: schedule %s (%s) run at %s skipped: the previous firing is still running",
                            job.schedule.id, job.schedule.name, iso(occurrence))
            job.overlaps += 1
            self._advance(job, occurrence)
            self._report(job, occurrence, now, "skipped-overlap", catch_up)
            return
        if job.overlaps:
            log.warning("SCHEDULER: schedule %s (%s) fires again after %d run(s) skipped for overlap",
                        job.schedule.id, job.schedule.name, job.overlaps)
            job.overlaps = 0
        job.firing = asyncio.create_task(self._start(job, occurrence, self.clock.now(), catch_up))

    async def _start(self, job: Job, occurrence: float, now: float, catch_up: bool) -> None:
        schedule = job.schedule
        if self.reserve is not None:
            try:
                ours = await self.reserve(schedule.id, occurrence)
            except Exception as exc:
                # Better a possible second start than a missed one: fire, and say so.
                log.error("SCHEDULER: cannot reserve run %s of schedule %s with the other instances (%s); "
                          "starting the task anyway", iso(occurrence), schedule.id, exc)
                ours = True
            if not ours:
                self._advance(job, occurrence)
                self._report(job, occurrence, now, "other-instance", catch_up)
                return
        self._advance(job, occurrence)
        log.info("SCHEDULER: Cron event for schedule ID %s: %s", schedule.id, schedule.name)
        history = self.state.get(schedule.id)
        async with self._start_slots:
            sent = history.last_fire = self.clock.now()
            try:
                await self.start_task(schedule.task_id, schedule.name or schedule.id)
            except Exception as exc:
                history.last_outcome = "failed"
                log.error("SCHEDULER: schedule %s (%s) could not start task %s: %s",
                          schedule.id, schedule.name, schedule.task_id, exc)
                self._report(job, occurrence, now, "failed", catch_up, str(exc), sent)
            else:
                history.last_outcome = "started"
                self._report(job, occurrence, now, "started", catch_up, sent_at=sent)
        self.state.changed()

    def _advance(self, job: Job, occurrence: float) -> None:
        if job.active and job.schedule.id in self.jobs:
            history = self.state.get(job.schedule.id)
            history.owed_from = max(history.owed_from or occurrence, occurrence)
            self.state.changed()

    def _report(self, job: Job, occurrence: float, now: float, outcome: str, catch_up: bool = False,
                error: str | None = None, sent_at: float | None = None) -> None:
        if self.observer is not None:
            schedule = job.schedule
            self.observer(Firing(schedule.id, schedule.name, schedule.task_id, occurrence, now, outcome,
                                 catch_up, error, sent_at))
