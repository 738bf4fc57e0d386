"""The log4net UDP datagram a Sense scheduler sends to Butler, as bytes.

Pure functions only, so tests can compare output byte for byte.  Layout (reference §3.2):

    <marker>;%hostname;TaskName;AppName;User;TaskId;AppId;%date;%level;ExecutionId;%message

UTF-8, no BOM, no trailing newline.  Values are written verbatim: a `;` inside a task or
app name breaks the 11-field layout exactly as it does on a real site.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

EventKind = Literal["failed", "aborted", "success", "distribute"]
SuccessMarker = Literal["single", "double"]

MARKER_FAILED = "/scheduler-task-failed/"
MARKER_ABORTED = "/scheduler-task-aborted/"
# The shipped LocalLogConfig.xml renders a double slash; Butler only accepts the single form.
MARKER_SUCCESS_SINGLE = "/scheduler-task-success/"
MARKER_SUCCESS_DOUBLE = "/scheduler-task-success//"
# DistributionTaskLogger, on the slave's ReloadTask logger: sent when a distribution ends.
MARKER_DISTRIBUTE = "/scheduler-distribute/"

# The scheduler log texts the appender filters (stringToMatch) select on.
MESSAGE_FAILED = "Max retries reached"
MESSAGE_ABORTED = "Execution State Change to Aborting"
MESSAGE_SUCCESS = "Execution State Change to FinishedSuccess"
MESSAGE_DISTRIBUTE = "Exiting execute of Distribute task request."
# A preload that fails never reaches "Max retries reached"; the fail appender matches this instead.
MESSAGE_PRELOAD_FAILED = "Could not reserve an executor for task"


@dataclass(frozen=True)
class SchedulerEvent:
    kind: EventKind
    host: str
    task_name: str
    app_name: str  # empty for tasks without an app
    user: str  # DOMAIN\user
    task_id: str
    app_id: str  # empty for tasks without an app
    when: datetime
    execution_id: str
    level: str = "INFO"
    message: str | None = None  # None: the text the appender filter matches for this kind


def marker(kind: EventKind, success_marker: SuccessMarker = "single") -> str:
    if kind == "failed":
        return MARKER_FAILED
    if kind == "aborted":
        return MARKER_ABORTED
    if kind == "distribute":
        return MARKER_DISTRIBUTE
    return MARKER_SUCCESS_DOUBLE if success_marker == "double" else MARKER_SUCCESS_SINGLE


def default_message(kind: EventKind) -> str:
    return {"failed": MESSAGE_FAILED, "aborted": MESSAGE_ABORTED, "success": MESSAGE_SUCCESS,
            "distribute": MESSAGE_DISTRIBUTE}[kind]


def format_date(when: datetime) -> str:
    """log4net's ISO8601 date pattern: local time `yyyy-MM-dd HH:mm:ss,fff`.

    An aware datetime is shown in the host's local zone, as the scheduler's %date is;
    a naive one is taken as already local.
    """
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S,") + f"{when.microsecond // 1000:03d}"


def format_datagram(event: SchedulerEvent, success_marker: SuccessMarker = "single") -> bytes:
    fields = [
        marker(event.kind, success_marker),
        event.host,
        event.task_name,
        event.app_name,
        event.user,
        event.task_id,
        event.app_id,
        format_date(event.when),
        event.level,
        event.execution_id,
        event.message if event.message is not None else default_message(event.kind),
    ]
    return ";".join(fields).encode("utf-8")
