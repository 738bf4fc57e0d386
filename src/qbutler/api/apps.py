"""App reload and app list through the Engine (REST reference §8.1, §8.3)."""

from __future__ import annotations

from typing import Any

from qbutler.actions.apps import ReloadRequest
from qbutler.api.http import HttpError, Request, Response, json_response
from qbutler.api.routing import RouteTable
from qbutler.sense.engine import APP_NOT_FOUND, GENERIC_ACCESS_DENIED, EngineError, EngineUnavailable

routes = RouteTable("Qlik Sense apps")

_TASK_IDS = {"type": "array", "items": {"type": "string"}}


def engine_refusal(failure: str, app_id: str, exc: EngineError) -> HttpError:
    """The engine's answer about one app: 404 unknown app, 403 access denied, else 500."""
    if exc.code == APP_NOT_FOUND:
        return HttpError(404, f"{failure}: app {app_id} not found on the Qlik Sense engine")
    if exc.code == GENERIC_ACCESS_DENIED:
        return HttpError(403, f"{failure}: the Qlik Sense engine denied access to app {app_id}")
    return HttpError(500, f"{failure}: {exc}")


@routes.put(
    "/v4/app/{appId}/reload",
    switch="senseAppReload",
    scope="apps",
    summary="Reload a Qlik Sense app without a task, then start tasks depending on the outcome",
    description="Answers 201 once the app is open; the reload, the save and the chained task starts run "
                "afterwards. Chained tasks are not checked against Butler.startTaskFilter.",
    params={"type": "object", "properties": {"appId": {"type": "string"}}},
    body={"type": "object", "properties": {
        "reloadMode": {"type": "integer", "description": "0 (default), 1 or 2; other values mean 0"},
        "partialReload": {"type": "boolean"},
        "startQSEoWTaskOnSuccess": _TASK_IDS,
        "startQSEoWTaskOnFailure": _TASK_IDS,
    }},
    responses={201: {"type": "object", "properties": {"appId": {"type": "string"}}}},
    documented={400: "Invalid request", 403: "The engine refused access to the app",
                404: "The engine has no app with this id", 500: "The app could not be opened"},
)
async def reload_app(request: Request, ctx: Any) -> Response:
    app_id = request.params["appId"]
    body = request.json
    mode = body.get("reloadMode")
    reload = ReloadRequest(
        app_id=app_id,
        mode=mode if mode in (0, 1, 2) else 0,
        partial=body.get("partialReload") is True,
        on_success=list(body.get("startQSEoWTaskOnSuccess") or []),
        on_failure=list(body.get("startQSEoWTaskOnFailure") or []),
    )
    try:
        await ctx.apps.reload(reload)
    except EngineError as exc:
        raise engine_refusal(f"Failed reloading app {app_id}", app_id, exc) from None
    except EngineUnavailable as exc:
        raise HttpError(500, f"Failed reloading app {app_id}: {exc}") from None
    return json_response({"appId": app_id}, 201)


_APP_LIST = {"type": "array", "items": {"type": "object", "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}}}}


async def list_apps(request: Request, ctx: Any) -> list[dict[str, str]]:
    try:
        return await ctx.apps.list_apps()
    except (EngineError, EngineUnavailable) as exc:
        raise HttpError(500, f"Failed getting list of Sense apps: {exc}") from None


for _path in ("/v4/senselistapps", "/v4/apps/list"):
    routes.get(_path, switch="senseListApps", scope="apps",
               summary="Get the id and name of every app in the Sense site",
               responses={200: _APP_LIST}, documented={500: "The engine could not be asked"})(list_apps)
