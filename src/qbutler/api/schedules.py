"""`/v4/schedules`: Butler's scheduler endpoints, plus `PUT /v4/schedules/{id}` to update one."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from qbutler.api.http import TEXT_TYPE, HttpError, Request, Response, empty_response, json_response
from qbutler.api.routing import RouteTable, body_fields
from qbutler.scheduler.manager import ScheduleNotFound, Scheduler
from qbutler.scheduler.model import STARTUP_STATES, ScheduleError
from qbutler.scheduler.store import ScheduleFileError

log = logging.getLogger("qbutler.api.schedules")

routes = RouteTable("Scheduler")

_FIELDS: dict[str, Any] = {
    "name": {"type": "string"},
    "cronSchedule": {"type": "string"},
    "timezone": {"type": "string"},
    "qlikSenseTaskId": {"type": "string"},
    "startupState": {"type": "string", "enum": list(STARTUP_STATES)},
    "tags": {"type": "array", "items": {"type": "string"}},
}
_NEW_SCHEDULE = {"type": "object", "required": ["name", "cronSchedule", "timezone", "qlikSenseTaskId", "startupState"],
                 "properties": _FIELDS}
_SCHEDULE_CHANGES = {"type": "object", "properties": {"id": {"type": "string"}, **_FIELDS}}
# GET /v4/schedules filters each schedule to these fields, in this order (Butler's schema).
_LISTED = {"type": "object", "properties": {
    "id": {"type": "string"}, "created": {"type": "string"}, **_FIELDS, "lastKnownState": {"type": "string"}}}
_ID_PARAM = {"type": "object", "properties": {"scheduleId": {"type": "string"}}}
_OPTIONAL_TEXT = {"type": ["string", "null"]}
_STATUS = {"type": "array", "items": {"type": "object", "properties": {
    "id": _OPTIONAL_TEXT, "name": _OPTIONAL_TEXT, "cronSchedule": _OPTIONAL_TEXT, "timezone": _OPTIONAL_TEXT,
    "state": {"type": "string", "enum": ["running", "stopped", "invalid"]},
    "lastFireTime": _OPTIONAL_TEXT, "lastOutcome": _OPTIONAL_TEXT, "nextFireTime": _OPTIONAL_TEXT,
    "error": {"type": "string"}}}}


def _text(value: Any, status: int = 200) -> Response:
    """Compact JSON sent as text/plain, as Butler's scheduler handlers send their pre-built strings."""
    return Response(status, orjson.dumps(value), TEXT_TYPE)


def _scheduler(ctx: Any) -> Scheduler:
    scheduler = getattr(ctx, "scheduler", None)
    if scheduler is None:
        raise HttpError(503, "The scheduler is disabled (Butler.scheduler.enable is false)")
    return scheduler


def _file_error(message: str, exc: ScheduleFileError) -> HttpError:
    log.error("REST SCHEDULER: %s: %s", message, exc)
    return HttpError(500, message)


@routes.get("/v4/schedules", switch="scheduler.getSchedule", scope="schedules:read",
            summary="Get all information about one or all schedules",
            query={"type": "object", "properties": {"id": {"type": "string"}}},
            responses={200: {"type": "array", "items": _LISTED}},
            description="Without `id`: every schedule as JSON. With `id`: that schedule, all stored fields, "
                        "in a one-element array sent as text/plain (Butler's format).")
async def get_schedules(request: Request, ctx: Any) -> Any:
    scheduler = _scheduler(ctx)
    if "id" not in request.query:
        return scheduler.entries()
    schedule_id = request.query["id"]
    found = scheduler.find(schedule_id)
    if found is None:
        raise HttpError(400, f"REST SCHEDULER: Schedule ID {schedule_id} not found.")
    return _text([found])


@routes.post("/v4/schedules", switch="scheduler.createNewSchedule", scope="schedules:write",
             changes=body_fields("name", "qlikSenseTaskId"), summary="Create a new schedule",
             body=_NEW_SCHEDULE, documented={201: "The new schedule (text/plain JSON)"},
             description="Unknown fields are kept. An invalid cron expression or time zone is refused with 400.")
async def create_schedule(request: Request, ctx: Any) -> Response:
    scheduler = _scheduler(ctx)
    try:
        created = await scheduler.create(request.json)
    except ScheduleError as exc:
        raise HttpError(400, str(exc)) from None
    except ScheduleFileError as exc:
        raise _file_error("Failed adding new schedule", exc) from None
    return _text(created, 201)


@routes.put("/v4/schedules/{scheduleId}", switch="scheduler.updateSchedule", scope="schedules:write",
            changes=body_fields("name", "qlikSenseTaskId"), summary="Update a schedule (qbutler)",
            params=_ID_PARAM, body=_SCHEDULE_CHANGES, documented={200: "The updated schedule"},
            description="Fields in the body replace the stored ones; other fields are kept. `id`, `created` and "
                        "`lastKnownState` cannot be changed. A new cron expression or zone takes effect at once.")
async def update_schedule(request: Request, ctx: Any) -> Response:
    scheduler = _scheduler(ctx)
    schedule_id = request.params["scheduleId"]
    try:
        updated = await scheduler.update(schedule_id, request.json)
    except ScheduleNotFound:
        raise HttpError(400, f"REST SCHEDULER: Schedule ID {schedule_id} not found.") from None
    except ScheduleError as exc:
        raise HttpError(400, str(exc)) from None
    except ScheduleFileError as exc:
        raise _file_error("Failed updating schedule", exc) from None
    return json_response(updated)


@routes.delete("/v4/schedules/{scheduleId}", switch="scheduler.deleteSchedule", scope="schedules:write",
               summary="Delete a schedule",
               params=_ID_PARAM, documented={204: "Deleted"})
async def delete_schedule(request: Request, ctx: Any) -> Response:
    scheduler = _scheduler(ctx)
    schedule_id = request.params["scheduleId"]
    try:
        await scheduler.delete(schedule_id)
    except ScheduleNotFound:
        raise HttpError(400, f"REST SCHEDULER: Delete for schedule ID {schedule_id} failed.") from None
    except ScheduleFileError as exc:
        raise _file_error("Failed deleting schedule", exc) from None
    return empty_response(204)


async def _set_state(ctx: Any, schedule_id: str | None, state: str) -> Response:
    scheduler = _scheduler(ctx)
    verb = "starting" if state == "started" else "stopping"
    try:
        changed = await scheduler.set_state(schedule_id, state)
    except ScheduleNotFound:
        raise HttpError(400, f"REST SCHEDULER: Failed {verb} schedule ID {schedule_id}.") from None
    except ScheduleFileError as exc:
        raise _file_error(f"Failed {verb} schedule", exc) from None
    return _text(changed)


@routes.put("/v4/schedules/{scheduleId}/start", switch="scheduler.startSchedule", scope="schedules:write",
            summary="Start a schedule",
            params=_ID_PARAM, documented={200: "The schedule, in a one-element array (text/plain JSON)"})
async def start_schedule(request: Request, ctx: Any) -> Response:
    # An empty id starts every schedule, as in Butler.
    return await _set_state(ctx, request.params["scheduleId"] or None, "started")


@routes.put("/v4/schedules/{scheduleId}/stop", switch="scheduler.stopSchedule", scope="schedules:write",
            summary="Stop a schedule",
            params=_ID_PARAM, documented={200: "The schedule, in a one-element array (text/plain JSON)"})
async def stop_schedule(request: Request, ctx: Any) -> Response:
    return await _set_state(ctx, request.params["scheduleId"] or None, "stopped")


@routes.put("/v4/schedules/startall", switch="scheduler.startSchedule", scope="schedules:write",
            summary="Start all schedules",
            documented={200: "Every schedule (text/plain JSON)"})
async def start_all(request: Request, ctx: Any) -> Response:
    return await _set_state(ctx, None, "started")


@routes.put("/v4/schedules/stopall", switch="scheduler.stopSchedule", scope="schedules:write",
            summary="Stop all schedules",
            documented={200: "Every schedule (text/plain JSON)"})
async def stop_all(request: Request, ctx: Any) -> Response:
    return await _set_state(ctx, None, "stopped")


@routes.get("/v4/schedules/status", switch="scheduler.getScheduleStatusAll", scope="schedules:read",
            summary="Each schedule's state, last and next fire time", responses={200: _STATUS},
            description="qbutler: a JSON array (Butler sends a text dump of its cron jobs). `state` is running, "
                        "stopped or invalid (with `error` saying why); times are ISO-8601 UTC.")
async def schedule_status(request: Request, ctx: Any) -> Response:
    # Sent as built: times not known yet are explicit nulls rather than missing keys.
    return json_response(_scheduler(ctx).status())
