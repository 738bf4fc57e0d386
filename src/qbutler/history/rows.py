"""History rows built from what the alert pipeline already knows about a task event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from qbutler.actions.tasks import status_name
from qbutler.events.enrich import EnrichedEvent
from qbutler.history.model import Execution


def qrs_time(value: Any) -> float | None:
    """A QRS timestamp as epoch seconds; QRS's null date (1753-01-01) and junk are None."""
    text = str(value or "")
    if not text or text.startswith("1753"):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def last_result(enriched: EnrichedEvent) -> dict[str, Any] | None:
    if enriched.execution is not None:
        return enriched.execution
    result = (enriched.task.get("operational") or {}).get("lastExecutionResult")
    return result if isinstance(result, dict) else None


def execution_of(enriched: EnrichedEvent, received_at: float, tail_lines: int, instance: str) -> Execution:
    event = enriched.event
    result = last_result(enriched) or {}
    started = qrs_time(result.get("startTime"))
    stopped = qrs_time(result.get("stopTime"))
    duration = result.get("duration")
    if not isinstance(duration, int | float) or isinstance(duration, bool) or duration <= 0:
        duration = None if started is None or stopped is None else round((stopped - started) * 1000)
    details = sorted((d for d in result.get("details") or [] if isinstance(d, dict)),
                     key=lambda d: str(d.get("detailCreatedDate", "")))
    app = enriched.app or enriched.task.get("app") or {}
    tail = None
    if event.outcome == "failed" and enriched.script_log is not None and tail_lines:
        tail = enriched.script_log[-tail_lines:]
    status = result.get("status")
    return Execution(
        execution_id=event.executionId, task_id=event.taskId,
        task_name=event.taskName or str(enriched.task.get("name", "")),
        task_type=enriched.task_type, outcome=event.outcome,
        status=status_name(int(status)) if isinstance(status, int) else event.outcome,
        ended_at=stopped if stopped is not None else received_at, started_at=started,
        duration_ms=None if duration is None else int(duration),
        app_id=event.appId or str(app.get("id") or ""), app_name=event.appName or str(app.get("name") or ""),
        node=str(result.get("executingNodeName") or event.hostName), user=event.user,
        log_message=event.logMessage, details=[str(d.get("message", "")) for d in details],
        script_log_tail=tail, recorded_by=instance)
