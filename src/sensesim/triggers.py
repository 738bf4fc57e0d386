"""Schema events (time triggers) and composite events (task chains) driving the runner.

Qlik's scheduler starts a task when one of its triggers fires:

- a SchemaEvent fires at `startDate` and then every increment (`incrementOption` 1 hourly,
  2 daily, 3 weekly, 4 monthly, 5 custom by `incrementDescription` "minutes hours days weeks";
  0 is once) until `expirationDate`, read in its `timeZone` (schedules.py); sensesim fires it
  when its clock (real time, or a chosen start instant, plus whatever the control API advanced
  it by) reaches `nextExecution`;
- a CompositeEvent starts its task once every rule ("task X finished successfully" /
  "task X failed") has been met within the time constraint window.

The `ruleState` values 1 TaskSuccessful and 2 TaskFail follow the QRS CompositeEventRule model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from . import shapes
from .schedules import next_after
from .state import (
    EVENT_COMPOSITE,
    EVENT_SCHEMA,
    RULE_TASK_FAIL,
    RULE_TASK_SUCCESSFUL,
    CompositeEvent,
    CompositeRule,
    SchemaEvent,
    State,
    Task,
    User,
    derive_id,
    iso,
    utcnow,
)

log = logging.getLogger("sensesim.triggers")

FINISHED_SUCCESS, FINISHED_FAIL = 7, 8
_TICK_SECONDS = 0.25


class SimClock:
    """Real time plus an offset the control API can move forward (never backward).

    With `start`, the clock reads `start` when created and runs on from there; `rewind` goes back
    to that first offset (the control API's reset).
    """

    def __init__(self, base: Callable[[], datetime] = utcnow, start: datetime | None = None) -> None:
        self.base = base
        self._initial = start - base() if start is not None else timedelta()
        self.offset = self._initial

    def rewind(self) -> None:
        self.offset = self._initial

    def now(self) -> datetime:
        return self.base() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += timedelta(seconds=seconds)


def window(event: CompositeEvent) -> timedelta:
    c = event.time_constraint
    return timedelta(days=c.get("days", 0), hours=c.get("hours", 0), minutes=c.get("minutes", 0),
                     seconds=c.get("seconds", 0))


class Triggers:
    """Fires schema events on the clock and composite events on task outcomes."""

    def __init__(self, state: State, start: Callable[[Task, User], Any], clock: SimClock) -> None:
        self.state = state
        self.start_task = start
        self.clock = clock
        self._loop_task: asyncio.Task[None] | None = None

    # ---- schema events

    def schedule(self, event: SchemaEvent) -> None:
        """(Re)compute nextExecution from now, e.g. after a create or an update."""
        event.next_execution = next_after(event, self.clock.now() - timedelta(microseconds=1))

    def schedule_all(self) -> None:
        for event in self.state.schema_events.values():
            self.schedule(event)

    def tick(self) -> int:
        """Fire every due schema event once; the number fired."""
        now = self.clock.now()
        fired = 0
        scheduler = self.state.service_user("sa_scheduler")
        for event in list(self.state.schema_events.values()):
            if event.next_execution is None or event.next_execution > now:
                continue
            event.last_trigger = now
            event.times_triggered += 1
            event.next_execution = next_after(event, now)
            task = self.state.tasks.get(event.task_id)
            if event.enabled and task is not None:
                fired += 1
                self.start_task(task, scheduler)
        return fired

    def run_in_background(self) -> None:
        if self._loop_task is None:
            self.schedule_all()
            self._loop_task = asyncio.get_running_loop().create_task(self._loop(), name="sensesim-triggers")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(_TICK_SECONDS)
            try:
                self.tick()
            except Exception:  # one bad event must not stop every schedule
                log.exception("schema event tick failed")

    # ---- composite events

    def task_finished(self, task: Task, status: int) -> None:
        """Mark rules this outcome meets; start each composite event whose rules are all met."""
        wanted = {FINISHED_SUCCESS: RULE_TASK_SUCCESSFUL, FINISHED_FAIL: RULE_TASK_FAIL}.get(status)
        if wanted is None:
            return
        now = self.clock.now()
        scheduler = self.state.service_user("sa_scheduler")
        for event in list(self.state.composite_events.values()):
            if not event.enabled:
                continue
            hit = False
            for rule in event.rules:
                if rule.task_id == task.id:
                    # The other outcome of the same task un-meets the rule.
                    rule.met_at = now if rule.rule_state == wanted else None
                    hit = hit or rule.rule_state == wanted
            if not hit:
                continue
            limit = now - window(event)
            if all(rule.met_at is not None and rule.met_at >= limit for rule in event.rules):
                for rule in event.rules:
                    rule.met_at = None
                event.last_trigger = now
                event.times_triggered += 1
                follower = self.state.tasks.get(event.task_id)
                if follower is not None:
                    self.start_task(follower, scheduler)

    def forget_task(self, task_id: str) -> None:
        """A deleted task takes its triggers along, as the repository's cascade does."""
        for eid in [e.id for e in self.state.schema_events.values() if e.task_id == task_id]:
            del self.state.schema_events[eid]
        for eid in [e.id for e in self.state.composite_events.values() if e.task_id == task_id]:
            del self.state.composite_events[eid]
        for event in self.state.composite_events.values():
            event.rules = [r for r in event.rules if r.task_id != task_id]


# --------------------------------------------------------------------------- shapes


def _task_refs(state: State, task_id: str) -> dict[str, Any]:
    """The reloadTask/externalProgramTask/userSyncTask trio; only the task's own kind is set."""
    task = state.tasks.get(task_id)
    refs: dict[str, Any] = {"reloadTask": None, "userSyncTask": None, "externalProgramTask": None}
    if task is not None:
        key = {0: "reloadTask", 1: "externalProgramTask", 2: "userSyncTask"}.get(task.task_type, "reloadTask")
        refs[key] = shapes.condensed_task(task)
    return refs


def _condensed_event(event: SchemaEvent | CompositeEvent, event_type: int,
                     next_run: datetime | None) -> dict[str, Any]:
    """The condensed shape both event kinds share; only a schema event has a next execution."""
    return {
        "id": event.id,
        "name": event.name,
        "enabled": event.enabled,
        "eventType": event_type,
        "operational": {"id": event.operational_id, "lastTrigger": iso(event.last_trigger),
                        "nextExecution": iso(next_run), "timesTriggered": event.times_triggered,
                        "privileges": None},
        "privileges": None,
    }


def condensed_schema_event(event: SchemaEvent, state: State) -> dict[str, Any]:
    return _condensed_event(event, EVENT_SCHEMA, event.next_execution)


def full_schema_event(event: SchemaEvent, state: State) -> dict[str, Any]:
    return {
        "id": event.id,
        **shapes.audit(event.meta),
        "timeZone": event.time_zone,
        "daylightSavingTime": event.daylight_saving_time,
        "startDate": iso(event.start_date),
        "expirationDate": iso(event.expiration_date) if event.expiration_date else "9999-01-01T00:00:00.000Z",
        "schemaFilterDescription": list(event.schema_filter_description),
        "incrementDescription": event.increment_description,
        "incrementOption": event.increment_option,
        **condensed_schema_event(event, state),
        **_task_refs(state, event.task_id),
        "schemaPath": "SchemaEvent",
    }


def _rule(rule: CompositeRule, state: State) -> dict[str, Any]:
    return {
        "id": rule.id,
        **shapes.audit(rule.meta),
        "ruleState": rule.rule_state,
        **_task_refs(state, rule.task_id),
        "privileges": None,
        "schemaPath": "CompositeEventRule",
    }


def condensed_composite_event(event: CompositeEvent, state: State) -> dict[str, Any]:
    return _condensed_event(event, EVENT_COMPOSITE, None)


def full_composite_event(event: CompositeEvent, state: State) -> dict[str, Any]:
    return {
        "id": event.id,
        **shapes.audit(event.meta),
        "timeConstraint": {
            "id": derive_id("timeconstraint", event.id),
            **{key: event.time_constraint.get(key, 0) for key in ("seconds", "minutes", "hours", "days")},
            "privileges": None,
        },
        "compositeRules": [_rule(r, state) for r in event.rules],
        **condensed_composite_event(event, state),
        **_task_refs(state, event.task_id),
        "schemaPath": "CompositeEvent",
    }
