"""Butler's InfluxDB measurements built from qbutler's task events and process state
(butler-monitoring.md §1.5-1.7)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from qbutler.alerts.context import status_text, time_formats
from qbutler.config_types import StaticNameValues
from qbutler.events.enrich import EnrichedEvent
from qbutler.influx.config import InfluxDbConfig, InfluxEvent
from qbutler.influx.line import Point
from qbutler.metrics import process_memory

# Task type → (measurement prefix, config key prefix).
TASK_TYPES = {0: ("reload_task", "reloadTask"), 1: ("external_program_task", "externalProgramTask"),
              2: ("user_sync_task", "userSyncTask"), 3: ("distribute_task", "distributeTask"),
              4: ("preload_task", "preloadTask")}
CONFIRMED = "Changing task state from Started to FinishedSuccess"
NO_LOG = "Script log not available"
MB = 1024 * 1024


def static_tags(tags: StaticNameValues) -> dict[str, str]:
    return {tag.name: tag.value for tag in tags.static}


def _luxon_object(iso: Any) -> dict[str, int] | None:
    """luxon's `DateTime.fromISO(t).toUTC().toObject()` (external program and distribute tasks)."""
    try:
        moment = datetime.fromisoformat(str(iso).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None
    return {"year": moment.year, "month": moment.month, "day": moment.day, "hour": moment.hour,
            "minute": moment.minute, "second": moment.second, "millisecond": moment.microsecond // 1000}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _details_text(execution: dict[str, Any]) -> str:
    details = sorted(execution.get("details") or [], key=lambda d: str(d.get("detailCreatedDate", "")))
    return "".join(f"{d.get('detailCreatedDate', '')}\t{d.get('message', '')}\n" for d in details)


def _execution_part(enriched: EnrichedEvent, execution: dict[str, Any], tags: dict[str, str],
                    fields: dict[str, Any]) -> None:
    """§1.6.2: node, status and times of the execution result."""
    tags["task_executingNodeName"] = str(execution.get("executingNodeName", ""))
    tags["task_executionStatusNum"] = str(execution.get("status", ""))
    tags["task_exeuctionStatusText"] = status_text(execution.get("status"))
    if enriched.task_type in (1, 3):
        start, stop = _luxon_object(execution.get("startTime")), _luxon_object(execution.get("stopTime"))
    else:
        start = time_formats(execution.get("startTime"), "startTime")
        stop = time_formats(execution.get("stopTime"), "stopTime")
    seconds = int(execution.get("duration") or 0) // 1000
    h, m, s = seconds // 3600, (seconds % 3600) // 60, seconds % 60
    fields.update({
        "task_executionStartTime_json": _json(start), "task_executionStopTime_json": _json(stop),
        "task_executionDuration_json": _json({"hours": h, "minutes": m, "seconds": s}),
        "task_executionDuration_sec": float(h * 3600 + m * 60 + s),
        "task_executionDuration_min": h * 60 + m + s / 60,
        "task_executionDuration_h": h + m / 60 + s / 3600,
    })


def _execution_of(enriched: EnrichedEvent) -> dict[str, Any] | None:
    if enriched.execution is not None:
        return enriched.execution
    result = (enriched.task.get("operational") or {}).get("lastExecutionResult")
    return result if isinstance(result, dict) else None


def success_wanted(settings: InfluxDbConfig, enriched: EnrichedEvent) -> bool:
    """Butler's gates for reload_task_success: every reload task, or those with the custom property."""
    rule = settings.reloadTaskSuccess
    if rule.allReloadTasks.enable:
        return True
    return rule.byCustomProperty.enable and rule.byCustomProperty.enabledValue in enriched.task_custom_property(
        rule.byCustomProperty.customPropertyName)


def event_settings(settings: InfluxDbConfig, enriched: EnrichedEvent) -> InfluxEvent | None:
    """The config section of this event's measurement, when it is switched on (aborts have none)."""
    kind = TASK_TYPES.get(enriched.task_type)
    outcome = enriched.event.outcome
    if kind is None or outcome == "aborted":
        return None
    section: InfluxEvent = getattr(settings, f"{kind[1]}{'Failure' if outcome == 'failed' else 'Success'}")
    if not section.enable:
        return None
    if enriched.task_type == 0 and outcome == "success" and not success_wanted(settings, enriched):
        return None
    return section


def task_point(settings: InfluxDbConfig, enriched: EnrichedEvent) -> Point | None:
    """The point Butler writes for this task event, or None when it writes none."""
    section = event_settings(settings, enriched)
    if section is None:
        return None
    event = enriched.event
    task_type, outcome = enriched.task_type, event.outcome
    measurement = f"{TASK_TYPES[task_type][0]}_{'failed' if outcome == 'failed' else 'success'}"
    tags = static_tags(settings.tag)
    tags.update({"host": event.hostName, "user": event.user.replace("\\", "/"), "task_id": event.taskId,
                 "task_name": event.taskName, "log_level": event.logLevel})
    fields: dict[str, Any] = {"log_timestamp": event.logTimeStamp, "execution_id": event.executionId,
                              "log_message": event.logMessage}
    if task_type == 0:
        tags.update({"app_id": event.appId, "app_name": event.appName})
    elif task_type in (3, 4):
        app = enriched.task.get("app") or {}
        tags.update({"app_id": str(app.get("id") or ""), "app_name": str(app.get("name") or "")})
    execution = _execution_of(enriched)
    if task_type == 0:
        _reload_part(settings, enriched, execution, tags, fields)
    elif outcome == "success" and execution is not None:
        _execution_part(enriched, execution, tags, fields)
    # Dynamic task tags, when `tag.dynamic.useTaskTags` is true: written where Butler's handler
    # and writer agree on the key (§1.6.3). App tags (reload only) never reach Butler's writer.
    if section.tag.dynamic.useTaskTags and task_type != 0 and (outcome == "failed" or task_type in (1, 3)):
        tags.update({f"taskTag_{tag.get('name', '')}": "true" for tag in enriched.task.get("tags") or []
                     if tag.get("name")})
    tags.update(static_tags(section.tag))
    return Point(measurement, tags, fields)


def _reload_part(settings: InfluxDbConfig, enriched: EnrichedEvent, execution: dict[str, Any] | None,
                 tags: dict[str, str], fields: dict[str, Any]) -> None:
    failed = enriched.event.outcome == "failed"
    log = enriched.script_log
    if log is None or execution is None:
        if failed:
            tags.update({"task_executingNodeName": "unknown", "task_executionStatusNum": "-1",
                         "task_exeuctionStatusText": NO_LOG})
            fields.update({"task_scriptLogSize": 0.0, "task_scriptLogTailCount": 0.0, "scriptLog": NO_LOG})
            return
        if execution is not None:
            _execution_part(enriched, execution, tags, fields)
        fields.update({"task_scriptLogSize": 0.0, "task_scriptLogHeadCount": 0.0, "task_scriptLogTailCount": 0.0,
                       "scriptLog": NO_LOG})
        return
    _execution_part(enriched, execution, tags, fields)
    details = _details_text(execution)
    size = execution.get("scriptLogSize")
    fields["task_scriptLogSize"] = float(size) if isinstance(size, int | float) else None
    if failed:
        tail_count = settings.reloadTaskFailure.tailScriptLogLines
        tail = log[-tail_count:] if tail_count else []
        text = details + "\r\n-------------------------------\r\n\r\n" + "\r\n".join(tail)
        fields.update({"task_scriptLogTailCount": float(tail_count), "scriptLog": text, "reload_log": text})
        return
    rule = settings.reloadTaskSuccess
    head = log[:rule.headScriptLogLines] if rule.headScriptLogLines else []
    tail = log[-rule.tailScriptLogLines:] if rule.tailScriptLogLines else []
    text = (details + f"\r\n---------- SCRIPT LOG HEAD ({rule.headScriptLogLines} lines) ----------\r\n"
            + "\r\n".join(head) + f"\r\n\r\n---------- SCRIPT LOG TAIL ({rule.tailScriptLogLines} lines) ----------\r\n"
            + "\r\n".join(tail))
    fields.update({"task_scriptLogHeadCount": float(rule.headScriptLogLines),
                   "task_scriptLogTailCount": float(rule.tailScriptLogLines), "scriptLog": text, "reload_log": text})


def wants_script_log(settings: InfluxDbConfig, enriched: EnrichedEvent) -> bool:
    return enriched.task_type == 0 and event_settings(settings, enriched) is not None


def memory_point(settings: InfluxDbConfig, version: str) -> Point:
    """`butler_memory_usage`. Python has no V8 heap: heap_used and process_memory are the resident
    size, heap_total the virtual size, external 0 (docs/compatibility.md); 0 where the platform
    does not tell."""
    resident, virtual = process_memory() or (0.0, 0.0)
    tags = {**static_tags(settings.tag), "version": version}
    return Point("butler_memory_usage", tags, {
        "heap_used": round(resident / MB, 2), "heap_total": round(virtual / MB, 2), "external": 0.0,
        "process_memory": round(resident / MB, 2)})
