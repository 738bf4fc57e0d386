"""qbutler's own observability endpoints: GET /metrics (Prometheus) and the reload history under
/qbutler/v1/ (not Butler's /v4/). Each handler is one call into `qbutler.history.queries`.

The response schemas document the shapes; answers are sent as built (JSON null included, which
the schema-driven serializer would leave out).

Access: with Butler.qbutler.api.requireAuth, the history needs the `history:read` scope and
/metrics `metrics:read` (or list /metrics in publicEndpoints for a scraper without a key).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from qbutler.api.http import HttpError, Request, Response, json_response
from qbutler.api.routing import RouteTable
from qbutler.history import queries
from qbutler.history.model import (
    OUTCOMES,
    TRIGGERS,
    BadCursor,
    Execution,
    ExecutionFilter,
    TaskStats,
    iso,
    parse_time,
)
from qbutler.history.store import HistoryUnavailable
from qbutler.metrics import CONTENT_TYPE

routes = RouteTable("Observability")

METRICS_SWITCH = "qbutler.metrics.enable"
HISTORY_SWITCH = "qbutler.history.enable"
METRICS_SCOPE = "metrics:read"
HISTORY_SCOPE = "history:read"

_TIME = {"type": "string", "description": "ISO 8601 time (e.g. 2026-12-01T00:00:00Z), seconds since the epoch, "
                                         "or an age such as 24h or 7d."}
_LIST_QUERY = {"type": "object", "properties": {
    "task": {"type": "string", "description": "Task id."},
    "app": {"type": "string", "description": "App id."},
    "status": {"type": "string", "enum": list(OUTCOMES), "description": "Outcome of the run."},
    "trigger": {"type": "string", "enum": list(TRIGGERS), "description": "Who started the run."},
    "from": {**_TIME, "description": "Runs that ended at or after this time. " + _TIME["description"]},
    "to": {**_TIME, "description": "Runs that ended before this time. " + _TIME["description"]},
    "limit": {"type": "integer", "minimum": 1, "maximum": queries.MAX_PAGE, "default": 50},
    "cursor": {"type": "string", "description": "nextCursor of the previous page."},
}}
_DELIVERY = {"type": "object", "properties": {
    "channel": {"type": "string"}, "target": {"type": "string"}, "outcome": {"type": "string"},
    "attempts": {"type": "integer"}, "at": {"type": "string"}, "error": {"type": "string"}}}
_EXECUTION_PROPERTIES: dict[str, Any] = {
    "executionId": {"type": "string"}, "taskId": {"type": "string"}, "taskName": {"type": "string"},
    "taskType": {"type": "integer"}, "outcome": {"type": "string"}, "status": {"type": "string"},
    "startedAt": {"type": "string", "nullable": True}, "endedAt": {"type": "string"},
    "durationMs": {"type": "integer", "nullable": True}, "appId": {"type": "string"}, "appName": {"type": "string"},
    "node": {"type": "string"}, "user": {"type": "string"}, "trigger": {"type": "string"},
    "triggerDetail": {"type": "string"}, "logMessage": {"type": "string"},
    "details": {"type": "array", "items": {"type": "string"}},
    "scriptLogTail": {"type": "array", "items": {"type": "string"}, "nullable": True},
    "recordedBy": {"type": "string"},
}
_EXECUTION = {"type": "object", "properties": _EXECUTION_PROPERTIES}
_STATS = {"type": "object", "properties": {
    "taskId": {"type": "string"}, "taskName": {"type": "string"}, "runs": {"type": "integer"},
    "failures": {"type": "integer"}, "aborts": {"type": "integer"},
    "p50DurationMs": {"type": "number", "nullable": True}, "p95DurationMs": {"type": "number", "nullable": True},
    "lastSuccessAt": {"type": "string", "nullable": True}, "lastRunAt": {"type": "string", "nullable": True}}}


def _time(query: dict[str, Any], name: str) -> float | None:
    if not query.get(name):
        return None
    try:
        return parse_time(query[name])
    except ValueError as exc:
        raise HttpError(400, f"querystring/{name}: {exc}") from None


def execution_wire(execution: Execution) -> dict[str, Any]:
    return {
        "executionId": execution.execution_id, "taskId": execution.task_id, "taskName": execution.task_name,
        "taskType": execution.task_type, "outcome": execution.outcome, "status": execution.status,
        "startedAt": iso(execution.started_at), "endedAt": iso(execution.ended_at),
        "durationMs": execution.duration_ms, "appId": execution.app_id, "appName": execution.app_name,
        "node": execution.node, "user": execution.user, "trigger": execution.trigger,
        "triggerDetail": execution.trigger_detail, "logMessage": execution.log_message,
        "details": execution.details, "scriptLogTail": execution.script_log_tail,
        "recordedBy": execution.recorded_by,
    }


def stats_wire(stats: TaskStats) -> dict[str, Any]:
    return {"taskId": stats.task_id, "taskName": stats.task_name, "runs": stats.runs, "failures": stats.failures,
            "aborts": stats.aborts, "p50DurationMs": stats.p50_duration_ms, "p95DurationMs": stats.p95_duration_ms,
            "lastSuccessAt": iso(stats.last_success_at), "lastRunAt": iso(stats.last_run_at)}


def _store(ctx: Any) -> Any:
    return ctx.history.store


@contextlib.contextmanager
def _database() -> Iterator[None]:
    try:
        yield
    except HistoryUnavailable as exc:
        raise HttpError(503, f"The history database is unavailable: {exc}") from None


@routes.get("/metrics", config_switch=METRICS_SWITCH, scope=METRICS_SCOPE,
            summary="Prometheus metrics (text exposition format 0.0.4)",
            documented={200: "Metrics in the Prometheus text format"})
async def metrics(request: Request, ctx: Any) -> Response:
    return Response(200, await ctx.metrics.render(), CONTENT_TYPE)


@routes.get("/qbutler/v1/executions", config_switch=HISTORY_SWITCH, scope=HISTORY_SCOPE, query=_LIST_QUERY,
            summary="Task executions qbutler recorded, newest first, with filters and cursor pagination",
            responses={200: {"type": "object", "properties": {
                "executions": {"type": "array", "items": _EXECUTION},
                "nextCursor": {"type": "string", "nullable": True}}}},
            documented={400: "A filter or the cursor is not valid", 503: "The history database is unavailable"})
async def list_executions(request: Request, ctx: Any) -> Response:
    query = request.query
    where = ExecutionFilter(
        task_id=query.get("task", "").lower() or None, app_id=query.get("app", "").lower() or None,
        outcome=query.get("status"), trigger=query.get("trigger"),
        since=_time(query, "from"), until=_time(query, "to"))
    try:
        with _database():
            page = await queries.list_executions(_store(ctx), where, limit=query.get("limit", 50),
                                                 cursor=query.get("cursor") or None)
    except BadCursor as exc:
        raise HttpError(400, str(exc)) from None
    return json_response({"executions": [execution_wire(e) for e in page.items], "nextCursor": page.next_cursor})


@routes.get("/qbutler/v1/executions/{executionId}", config_switch=HISTORY_SWITCH, scope=HISTORY_SCOPE,
            summary="One execution with the alert deliveries it caused",
            responses={200: {"type": "object", "properties": {
                **_EXECUTION_PROPERTIES, "deliveries": {"type": "array", "items": _DELIVERY}}}},
            documented={404: "No execution with this id is recorded", 503: "The history database is unavailable"})
async def get_execution(request: Request, ctx: Any) -> Response:
    execution_id = request.params["executionId"]
    with _database():
        found = await queries.get_execution(_store(ctx), execution_id)
    if found is None:
        raise HttpError(404, f"No execution {execution_id} in the history")
    deliveries = [{"channel": d.channel, "target": d.target, "outcome": d.outcome, "attempts": d.attempts,
                   "at": iso(d.at), "error": d.error} for d in found.deliveries]
    return json_response({**execution_wire(found), "deliveries": deliveries})


@routes.get("/qbutler/v1/stats/tasks", config_switch=HISTORY_SWITCH, scope=HISTORY_SCOPE,
            query={"type": "object", "properties": {
                "task": {"type": "string", "description": "Only this task id."},
                "from": {**_TIME, "description": "Only runs that ended at or after this time (default: all of a "
                                                 "task's runs; for every task, the last 7 days)."}}},
            summary="Per-task statistics: runs, failures, aborts, p50/p95 duration of successful runs, last success",
            responses={200: {"type": "object", "properties": {"tasks": {"type": "array", "items": _STATS}}}},
            documented={503: "The history database is unavailable"})
async def task_stats(request: Request, ctx: Any) -> Response:
    query = request.query
    since = _time(query, "from")
    with _database():
        stats = await queries.task_stats(_store(ctx), task_id=query.get("task", "").lower() or None, since=since)
    return json_response({"tasks": [stats_wire(s) for s in stats]})
