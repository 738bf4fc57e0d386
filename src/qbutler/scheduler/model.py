"""One schedule from the file, checked: its cron expression parsed and its time zone resolved."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qbutler.scheduler.cron import CronError, CronExpression, Dialect

STARTED_STATES = ("started", "start")
STARTUP_STATES = ("started", "start", "stopped", "stop")


class ScheduleError(ValueError):
    """A schedule that cannot run; the message names the schedule and the field."""


def schedule_label(fields: dict[str, Any]) -> str:
    if fields.get("id") not in (None, ""):
        return f"schedule '{fields['id']}'" + (f" ({fields['name']})" if fields.get("name") else "")
    return f"schedule '{fields.get('name', '?')}' (no id)"


@functools.cache
def server_zone() -> tzinfo:
    """The server's local zone with its DST rules (what Butler's cron jobs run in)."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    localtime = Path("/etc/localtime")
    if localtime.exists():
        with localtime.open("rb") as file:
            return ZoneInfo.from_file(file, key="localtime")
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def zone_for(name: Any, label: str, honour: bool) -> tzinfo:
    """The zone a schedule runs in: its own `timezone` when honoured and given, else the server's."""
    if not honour or name in (None, ""):
        return server_zone()
    if not isinstance(name, str):
        raise ScheduleError(f"{label}: field 'timezone': expected an IANA zone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{label}: field 'timezone': unknown time zone '{name}'") from None


@dataclass(frozen=True)
class Schedule:
    id: str
    name: str
    task_id: str
    expression: CronExpression
    zone: tzinfo
    fields: dict[str, Any]

    @property
    def wants_start(self) -> bool:
        return self.fields.get("startupState") in STARTED_STATES


def check_schedule(fields: dict[str, Any], dialect: Dialect, honour_timezone: bool) -> Schedule:
    """Raise ScheduleError naming the schedule and field when the schedule cannot run."""
    label = schedule_label(fields)
    if fields.get("id") in (None, ""):
        raise ScheduleError(f"{label}: field 'id' is required")
    cron = fields.get("cronSchedule")
    if not isinstance(cron, str):
        raise ScheduleError(f"{label}: field 'cronSchedule' is required and must be a string")
    try:
        expression = CronExpression.parse(cron, dialect)
    except CronError as exc:
        where = f"{exc.field} field of " if exc.field else ""
        raise ScheduleError(f"{label}: field 'cronSchedule': {where}'{cron}': {exc.reason}") from None
    task_id = fields.get("qlikSenseTaskId")
    if task_id in (None, ""):
        raise ScheduleError(f"{label}: field 'qlikSenseTaskId' is required")
    zone = zone_for(fields.get("timezone"), label, honour_timezone)
    return Schedule(str(fields["id"]), str(fields.get("name", "")), str(task_id), expression, zone, fields)
