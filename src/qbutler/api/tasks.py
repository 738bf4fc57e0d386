"""PUT and POST /v4/reloadtask/{taskId}/start (REST reference §7), plus qbutler's `?wait=true`."""

from __future__ import annotations

from typing import Any

from qbutler.actions.tasks import ITEM_TYPES, InvalidStartRequest, KvLimitExceeded, TaskStartError, Trigger
from qbutler.api.http import HttpError, Request, Response, ValidationFailed, text_json_response
from qbutler.api.routing import RouteTable
from qbutler.kv.store import NamespaceFull, ReservedNamespace

routes = RouteTable("Qlik Sense tasks")

_BODY = {
    "type": "array",
    "description": "Tasks to start and key-value pairs to write; send [] when the path names the task.",
    "items": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": list(ITEM_TYPES)},
            "payload": {"type": "object"},
        },
    },
}
_QUERY = {
    "type": "object",
    "properties": {
        "allTaskIdsMustExist": {"type": "boolean",
                                "description": "Start none of the tasks given by id unless all of them exist."},
        "wait": {"type": "boolean",
                 "description": "qbutler: wait (bounded) for the started tasks to finish and report each "
                                "task's executionId, final status and duration (ms)."},
    },
}
_PARAMS = {"type": "object", "properties": {"taskId": {"type": "string"}}}


def _task_changes(request: Request) -> dict[str, Any]:
    """The task id in the path and each body item's selector; a key-value item's value is left out."""
    items = request.json if isinstance(request.json, list) else []
    listed = [{"type": item.get("type"),
               **{k: v for k, v in item["payload"].items() if k != "value"}}
              for item in items if isinstance(item, dict) and isinstance(item.get("payload"), dict)]
    return {"taskId": request.params.get("taskId"), "items": listed}


async def start_tasks(request: Request, ctx: Any) -> Response:
    task_id = request.params["taskId"]
    if task_id == "":
        raise HttpError(400, 'Required parameter (task ID) missing. Should be a task ID or "-" if task info '
                             "is passed in body")
    try:
        report = await ctx.tasks.run(task_id, request.json,
                                     all_must_exist=request.query.get("allTaskIdsMustExist") is True,
                                     wait=request.query.get("wait") is True,
                                     trigger=Trigger("rest", request.client))
    except InvalidStartRequest as exc:
        raise ValidationFailed(str(exc)) from None
    except (KvLimitExceeded, NamespaceFull, ReservedNamespace) as exc:
        raise HttpError(400, str(exc)) from None
    except TaskStartError as exc:
        raise HttpError(500, f"Failed starting task: {exc}") from None
    # Butler sends this pre-stringified: indented JSON as text/plain.
    return text_json_response(report.to_wire())


for _method in ("put", "post"):
    getattr(routes, _method)(
        "/v4/reloadtask/{taskId}/start",
        switch="senseStartTask",
        scope="tasks",
        changes=_task_changes,
        params=_PARAMS,
        body=_BODY,
        query=_QUERY,
        summary="Start Qlik Sense tasks by id, tag or custom property, optionally writing key-value pairs",
        documented={200: "Seven arrays: tasks started, invalid and denied, per way of selecting them",
                    400: "Invalid request", 500: "Failed starting task"},
    )(start_tasks)
