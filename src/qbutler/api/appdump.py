"""App dump endpoints (REST §8.2): an app's metadata as JSON, read through the Engine API."""

from __future__ import annotations

from typing import Any

from qbutler.actions.appdump import dump_app
from qbutler.api.apps import engine_refusal
from qbutler.api.http import HttpError, Request, Response, json_response
from qbutler.api.routing import RouteTable
from qbutler.sense.engine import EngineError, EngineTimeout, EngineUnavailable

routes = RouteTable("Qlik Sense apps")

_PARAMS = {"type": "object", "required": ["appId"], "properties": {"appId": {"type": "string"}}}
_DESCRIPTION = (
    "Opens the app without data through the Engine API and returns its metadata: properties, load "
    "script, lineage, sheets, stories, master objects, app properties, dimensions, measures, bookmarks, "
    "embedded media, snapshots, fields, data connections and variables, then appId.")
_DOCUMENTED = {404: "The engine has no app with this id", 403: "The engine refused access to the app",
               503: "The Qlik Sense engine cannot be reached", 504: "The engine did not answer in time",
               500: "The engine failed otherwise"}


async def _dump(request: Request, ctx: Any) -> Response:
    app_id = request.params["appId"]
    try:
        dump = await dump_app(ctx.engine, app_id)
    except EngineError as exc:
        raise engine_refusal("Failed dumping app", app_id, exc) from None
    except EngineTimeout as exc:
        raise HttpError(504, f"Failed dumping app: {exc}") from None
    except EngineUnavailable as exc:
        raise HttpError(503, f"Failed dumping app: {exc}") from None
    return json_response(dump)


for _path in ("/v4/senseappdump/{appId}", "/v4/app/{appId}/dump"):
    routes.get(_path, switch="senseAppDump", scope="apps", params=_PARAMS, summary="Dump a Sense app to JSON",
               description=_DESCRIPTION, documented=_DOCUMENTED)(_dump)
