"""Parsing the log4net datagrams the Sense scheduler sends (qlik-sense-apis.md §3).

A datagram is `;`-separated UTF-8 text with no escaping. Scheduler events have exactly 11 fields:
marker, host, task name, app name, user, task id, app id, timestamp, level, execution id, message.
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

Outcome = Literal["failed", "aborted", "success"]

MARKERS: dict[str, Outcome] = {
    "/scheduler-task-failed/": "failed",
    "/scheduler-reload-failed/": "failed",
    "/scheduler-reloadtask-failed/": "failed",
    "/scheduler-task-aborted/": "aborted",
    "/scheduler-reload-aborted/": "aborted",
    "/scheduler-task-success/": "success",
    "/scheduler-reloadtask-success/": "success",
}
# Known but not acted on (Butler logs them only, or handles them outside alerting).
IGNORED_MARKERS = {"/engine-reload-failed/", "/scheduler-distribute/"}


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
    outcome = MARKERS.get(marker)
    if outcome is None:
        if marker in IGNORED_MARKERS:
            raise DatagramError("ignored", f"{marker} events do not raise alerts")
        raise DatagramError("unknown", f"Unknown UDP message type {marker[:60]!r}")
    if len(fields) != 11:
        raise DatagramError("malformed", f"{marker} needs 11 fields, got {len(fields)}")
    values = [clean(field) for field in fields]
    task_id, app_id, execution_id = values[5].strip(), values[6].strip(), values[9].strip()
    if not _GUID.match(task_id):
        raise DatagramError("malformed", f"task id {task_id[:60]!r} is not a GUID")
    if app_id and not _GUID.match(app_id):
        raise DatagramError("malformed", f"app id {app_id[:60]!r} is not a GUID")
    if not _GUID.match(execution_id):
        raise DatagramError("malformed", f"execution id {execution_id[:60]!r} is not a GUID")
    return TaskEvent(
        outcome=outcome, marker=marker, hostName=values[1], taskName=values[2], appName=values[3],
        user=values[4], taskId=task_id.lower(), appId=app_id.lower(), logTimeStamp=values[7],
        logLevel=values[8], executionId=execution_id.lower(), logMessage=values[10])
