"""The template context of a reload-task alert: Butler's variable names (butler-subsystems.md §5.2).

Values are plain (not escaped): escaping belongs to the renderer and depends on the channel.
Long script-log excerpts are cut to the channel's limit, keeping the start of the head and the end
of the tail, with a marker line saying so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent

STATUS_NAMES = ["NeverStarted", "Triggered", "Started", "Queued", "AbortInitiated", "Aborting", "Aborted",
                "FinishedSuccess", "FinishedFail", "Skipped", "Retry", "Error", "Reset"]
NEVER = "1753-01-01T00:00:00.000Z"
TRUNCATED = "----Script log truncated by qbutler----"


def status_text(status: Any) -> str:
    try:
        return STATUS_NAMES[int(status)]
    except (TypeError, ValueError, IndexError):
        return "Unknown"


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def time_formats(iso: Any, prefix: str) -> dict[str, str]:
    """`<prefix>UTC` and `<prefix>Local1..5` (host's zone, US English); '-' for Sense's null date."""
    text = str(iso or "")
    keys = [f"{prefix}UTC", *(f"{prefix}Local{n}" for n in range(1, 6))]
    if not text or text.startswith("1753"):
        return dict.fromkeys(keys, "-")
    try:
        local = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return {keys[0]: text, **dict.fromkeys(keys[1:], text)}
    # Built from the fields rather than strftime: five formats per timestamp, several timestamps
    # per alert, and strftime's month and AM/PM names would follow the host's locale.
    year, month, day = local.year, local.month, local.day
    clock = f"{local.hour % 12 or 12}:{local.minute:02d}:{local.second:02d} {'PM' if local.hour >= 12 else 'AM'}"
    name = MONTHS[month - 1]
    full = f"{name} {day}, {year} at {clock} {local.tzname()}"
    return {
        keys[0]: text,
        keys[1]: f"{year:04d}-{month:02d}-{day:02d} {local.hour:02d}:{local.minute:02d}:{local.second:02d}",
        keys[2]: f"{month}/{day}/{year}, {clock}",
        keys[3]: f"{name[:3]} {day}, {year}, {clock}",
        keys[4]: full,
        keys[5]: full,
    }


def cut_head(text: str, limit: int | None) -> str:
    if limit is None or len(text) < limit:
        return text
    return text[: limit - len(TRUNCATED) - 1] + "\n" + TRUNCATED


def cut_tail(text: str, limit: int | None) -> str:
    if limit is None or len(text) < limit:
        return text
    return TRUNCATED + "\n" + text[-(limit - len(TRUNCATED) - 1):]


def custom_properties(entity: dict[str, Any] | None) -> list[dict[str, str]]:
    return [{"name": str((cp.get("definition") or {}).get("name", "")), "value": str(cp.get("value", ""))}
            for cp in (entity or {}).get("customProperties") or []]


def tag_names(entity: dict[str, Any] | None) -> list[str]:
    return [str(tag.get("name", "")) for tag in (entity or {}).get("tags") or []]


def app_url(config: Config, app_id: str) -> str:
    base = config.Butler.qlikSenseUrls.appBaseUrl
    if not base or not app_id:
        return ""
    return base + ("" if base.endswith("/") else "/") + app_id


def build_context(enriched: EnrichedEvent, config: Config, *, head_lines: int, tail_lines: int,
                  text_limit: int | None = None, user_slashes: bool = False) -> dict[str, Any]:
    """Every variable of §5.2 for one channel; `text_limit` caps each script-log excerpt."""
    event = enriched.event
    task, app, owner, execution = enriched.task, enriched.app or {}, enriched.owner, enriched.execution or {}
    butler = config.Butler
    user = event.user.replace("\\", "/") if user_slashes else event.user.replace("\\\\", "\\")
    duration_ms = int(execution.get("duration") or 0)
    seconds = duration_ms // 1000
    details = sorted(execution.get("details") or [], key=lambda d: str(d.get("detailCreatedDate", "")))
    log_lines = enriched.script_log
    if log_lines is None:
        unavailable = f"(script log not available: {enriched.script_log_error or 'not fetched'})"
        head = tail = unavailable
        head_count = tail_count = 0
    else:
        head_part = log_lines[:head_lines] if head_lines else []
        tail_part = log_lines[-tail_lines:] if tail_lines else []
        head = cut_head("\n".join(head_part), text_limit)
        tail = cut_tail("\n".join(tail_part), text_limit)
        head_count, tail_count = len(head_part), len(tail_part)
    next_execution = str((task.get("operational") or {}).get("nextExecution") or "")
    context: dict[str, Any] = {
        # qbutler: "failed", "aborted" or "success", so one template can serve every event.
        "eventType": event.outcome,
        # qbutler: "reload", "external program", "user sync", "distribute" or "preload".
        "taskType": enriched.type_name,
        "hostName": event.hostName, "user": user, "taskName": event.taskName, "taskId": event.taskId,
        "appName": event.appName or str(app.get("name", "")), "appId": event.appId,
        "appUrl": app_url(config, event.appId), "logTimeStamp": event.logTimeStamp, "logLevel": event.logLevel,
        "logMessage": event.logMessage, "executionId": event.executionId,
        "taskCustomProperties": custom_properties(task), "taskTags": tag_names(task),
        "taskIsManuallyTriggered": bool(task.get("isManuallyTriggered", False)),
        "taskIsPartialReload": bool(task.get("isPartialReload", False)),
        "taskMaxRetries": task.get("maxRetries", 0),
        "taskModifiedByUsername": str(task.get("modifiedByUserName", "")),
        "taskModifiedDate": str(task.get("modifiedDate", "")),
        "taskSessionTimeout": task.get("taskSessionTimeout", ""),
        "taskNextExecution": "Never" if next_execution in ("", NEVER) else next_execution,
        "appDescription": str(app.get("description", "")), "appFileSize": app.get("fileSize", ""),
        "appLastSuccessfulReload": str(app.get("lastReloadTime", "")),
        "appLastModifiedDate": str(app.get("modifiedDate", "")),
        "appLastModifiedByUserName": str(app.get("modifiedByUserName", "")),
        "appPublishTime": str(app.get("publishTime", "")), "appPublished": bool(app.get("published", False)),
        # Butler passes QRS's stream object here; `{{appStreamName.name}}` works in both.
        "appStreamName": app.get("stream"),
        "appCustomProperties": custom_properties(app), "appTags": tag_names(app),
        "appOwnerName": owner.userName if owner else "", "appOwnerUserId": owner.userId if owner else "",
        "appOwnerUserDirectory": owner.directory if owner else "",
        "appOwnerEmail": owner.emails[0] if owner and owner.emails else "",
        "executingNodeName": str(execution.get("executingNodeName", "")),
        "executionStatusNum": execution.get("status", ""),
        "executionStatusText": status_text(execution.get("status")) if execution else "",
        "executionDuration": {"hours": seconds // 3600, "minutes": (seconds % 3600) // 60, "seconds": seconds % 60},
        "executionStartTime": time_formats(execution.get("startTime"), "startTime"),
        "executionStopTime": time_formats(execution.get("stopTime"), "stopTime"),
        "executionDetails": [{**time_formats(d.get("detailCreatedDate"), "timestamp"),
                              "message": str(d.get("message", "")), "detailsType": d.get("detailsType", "")}
                             for d in details],
        "executionDetailsConcatenated": cut_tail("".join(
            f"{d.get('detailCreatedDate', '')}\t{d.get('message', '')}\n" for d in details), text_limit),
        "scriptLogAvailable": log_lines is not None,
        "scriptLogError": enriched.script_log_error or "",
        "scriptLogSize": execution.get("scriptLogSize", 0),
        "scriptLogSizeRows": len(log_lines) if log_lines is not None else 0,
        "scriptLogSizeCharacters": sum(len(line) for line in log_lines) if log_lines is not None else 0,
        "scriptLogHead": head, "scriptLogTail": tail,
        "scriptLogHeadCount": head_count, "scriptLogTailCount": tail_count,
        "qlikSenseQMC": butler.qlikSenseUrls.qmc, "qlikSenseHub": butler.qlikSenseUrls.hub,
        "genericUrls": [url.model_dump() for url in butler.genericUrls],
    }
    return context
