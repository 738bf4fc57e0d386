"""The OpenAPI document of the registered routes, and the Swagger UI page that shows it."""

from __future__ import annotations

import re
from typing import Any

import yaml

from qbutler import __version__
from qbutler.api.http import TEXT_TYPE, Request, Response, json_response
from qbutler.api.routing import Route, RouteTable
from qbutler.auth.scopes import AUTHENTICATED


def _parameters(route: Route) -> list[dict[str, Any]]:
    result = []
    for location, schema in (("path", route.params), ("query", route.query)):
        if schema is None and location == "path":
            schema = {"properties": {name: {"type": "string"} for name in route.param_names},
                      "required": route.param_names}
        if not schema:
            continue
        required = set(schema.get("required", []))
        for name, sub in schema.get("properties", {}).items():
            entry: dict[str, Any] = {"name": name, "in": location, "schema": sub,
                                     "required": location == "path" or name in required}
            if "description" in sub:
                entry["description"] = sub["description"]
            result.append(entry)
    return result


def build_document(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not route.include_in_schema:
            continue
        operation: dict[str, Any] = {"summary": route.summary, "tags": route.tags}
        if route.description:
            operation["description"] = route.description
        operation["operationId"] = re.sub(r"\W+", "_", f"{route.method}{route.path}").strip("_").lower()
        parameters = _parameters(route)
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": route.body}}}
        responses: dict[str, Any] = {}
        for status, schema in route.responses.items():
            responses[str(status)] = {"description": route.documented.get(status, "Success"),
                                      "content": {"application/json": {"schema": schema}}}
        for status, description in route.documented.items():
            responses.setdefault(str(status), {"description": description})
        if not responses:
            responses["200"] = {"description": "Success"}
        operation["responses"] = responses
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "qbutler REST API", "version": __version__,
                 "description": "Butler v4 compatible REST API served by qbutler."},
        "paths": paths,
    }


_SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>qbutler API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/documentation/json", dom_id: "#swagger-ui"});</script>
</body></html>
"""


def documentation_routes(document_routes: list[Route]) -> list[Route]:
    """Routes serving the document of `document_routes` (filled in after registration)."""
    table = RouteTable("Documentation")
    cache: dict[str, Any] = {}

    def document() -> dict[str, Any]:
        if "doc" not in cache:
            cache["doc"] = build_document(document_routes)
        return cache["doc"]

    @table.get("/documentation", include_in_schema=False, scope=AUTHENTICATED)
    async def swagger_ui(request: Request, ctx: Any) -> Response:
        return Response(200, _SWAGGER_PAGE.encode(), b"text/html; charset=utf-8")

    @table.get("/documentation/json", include_in_schema=False, scope=AUTHENTICATED)
    async def openapi_json(request: Request, ctx: Any) -> Response:
        return json_response(document())

    @table.get("/documentation/yaml", include_in_schema=False, scope=AUTHENTICATED)
    async def openapi_yaml(request: Request, ctx: Any) -> Response:
        return Response(200, yaml.safe_dump(document(), sort_keys=False).encode(), TEXT_TYPE)

    return table.routes


