"""Parsing the log4net datagrams the Sense scheduler sends (qlik-sense-apis.md §3).

A datagram is `;`-separated UTF-8 text with no escaping. Scheduler events have exactly 11 fields:
marker, host, task name, app name, user, task id, app id, timestamp, level, execution id, message;
`/scheduler-distribute/` has at least 11 (its outcome is read from QRS later). The engine's
`/engine-reload-failed/` (a reload started outside the scheduler) has 9: marker, host, app id,
app name, user directory, user id, timestamp, execution id, message.
Every field loses its control characters and is cut to 500 characters, as in Butler.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

FIELD_LIMIT = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
# Several trailing slashes collapse to one: Butler's shipped appender sends `/scheduler-task-success//`.
_TRAILING_SLASHES = re.compile(r"/+$")

# "distribute": a distribution ended; whether it succeeded is read from QRS (enrich).
Outcome = Literal["failed", "aborted", "success", "distribute"]
# Which logger sent the datagram.
Source = Literal["scheduler", "engine"]

MARKERS: dict[str, Outcome] = {
    "/scheduler-task-failed/": "failed",
    "/scheduler-reload-failed/": "failed",
    "/scheduler-reloadtask-failed/": "failed",
    "/scheduler-task-aborted/": "aborted",
    "/scheduler-reload-aborted/": "aborted",
    "/scheduler-task-success/": "success",
    "/scheduler-reloadtask-success/": "success",
}
DISTRIBUTE_MARKER = "/scheduler-distribute/"
ENGINE_MARKER = "/engine-reload-failed/"


class DatagramError(ValueError):
    """The datagram is not a scheduler task event qbutler can act on; `reason` is a short tag."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class TaskEvent:
    outcome: Outcome
    marker: str
    hostName: str
    taskName: str
    appName: str
    user: str
    taskId: str
    appId: str
    logTimeStamp: str
    logLevel: str
    executionId: str
    logMessage: str
    source: Source = "scheduler"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskEvent:
        return cls(**data)


def clean(field: str) -> str:
    return _CONTROL.sub("", field)[:FIELD_LIMIT]


def normalise_marker(marker: str) -> str:
    return _TRAILING_SLASHES.sub("/", clean(marker).strip().lower())


def parse(payload: bytes) -> TaskEvent:
    """The task event in `payload`, or DatagramError saying why it is not one."""
    text = payload.decode("utf-8", errors="replace")
    fields = text.split(";")
    marker = normalise_marker(fields[0])
    if marker == ENGINE_MARKER:
        return _engine_event(marker, fields)
    outcome = MARKERS.get(marker) or ("distribute" if marker == DISTRIBUTE_MARKER else None)
    if outcome is None:
        raise DatagramError("unknown", f"Unknown UDP message type {marker[:60]!r}")
    if len(fields) != 11 and not (outcome == "distribute" and len(fields) > 11):
        raise DatagramError("malformed", f"{marker} needs 11 fields, got {len(fields)}")
    if len(fields) > 11:
        # A distribute message with `;` in its text: the rest is the message (Butler reads field 10 only).
        fields = [*fields[:10], ";".join(fields[10:])]
    values = [clean(field) for field in fields]
    task_id, app_id, execution_id = values[5].strip(), values[6].strip(), values[9].strip()
    _check_guid("task id", task_id)
    if app_id:
        _check_guid("app id", app_id)
    _check_guid("execution id", execution_id)
    return TaskEvent(
        outcome=outcome, marker=marker, hostName=values[1], taskName=values[2], appName=values[3],
        user=values[4], taskId=task_id.lower(), appId=app_id.lower(), logTimeStamp=values[7],
        logLevel=values[8], executionId=execution_id.lower(), logMessage=values[10])


def _check_guid(name: str, value: str) -> None:
    if not _GUID.match(value):
        raise DatagramError("malformed", f"{name} {value[:60]!r} is not a GUID")


def _engine_event(marker: str, fields: list[str]) -> TaskEvent:
    """A reload failure the engine reported (hub, Engine API): no task, so no task id or name."""
    if len(fields) != 9:
        raise DatagramError("malformed", f"{marker} needs 9 fields, got {len(fields)}")
    values = [clean(field) for field in fields]
    app_id, execution_id = values[2].strip(), values[7].strip()
    _check_guid("app id", app_id)
    _check_guid("execution id", execution_id)
    return TaskEvent(
        outcome="failed", marker=marker, hostName=values[1], taskName="", appName=values[3],
        user=f"{values[4]}\\{values[5]}", taskId="", appId=app_id.lower(), logTimeStamp=values[6],
        logLevel="", executionId=execution_id.lower(), logMessage=values[8], source="engine")
