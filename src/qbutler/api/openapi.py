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


# Methods whose body the wire layer parses (see compat.BODY_METHODS), whatever the route declares.
_BODY_METHODS = {"POST", "PUT", "DELETE", "PATCH"}
_ERROR = {"type": "object", "properties": {
    "statusCode": {"type": "integer"}, "code": {"type": "string"}, "error": {"type": "string"},
    "message": {"type": "string"}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def build_document(routes: list[Route], common: dict[int, str] | None = None,
                   key_required: bool = False) -> dict[str, Any]:
    """`common`: answers any route can give in this configuration (Host refused, rate limit,
    no key...); `key_required`: the API-key security schemes apply to every operation."""
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
        if not any(status < 300 for status in (*route.responses, *route.documented)):
            responses["200"] = {"description": "Success"}
        # What the wire layer itself answers: validation and body-parser errors.
        if route.param_names or route.query is not None or route.method in _BODY_METHODS:
            responses.setdefault("400", _error("Invalid request; the message names the problem"))
        if route.method in _BODY_METHODS:
            responses.setdefault("413", _error("The body is larger than restServerConfig.bodyLimit"))
            responses.setdefault("415", _error("The body is neither JSON nor text/plain"))
        for status, description in (common or {}).items():
            responses.setdefault(str(status), _error(description))
        operation["responses"] = responses
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "qbutler REST API", "version": __version__,
                 "description": "Butler v4 compatible REST API served by qbutler."},
        "paths": paths,
    }
    if key_required:
        document["components"] = {"securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "bearer": {"type": "http", "scheme": "bearer"}}}
        document["security"] = [{"apiKey": []}, {"bearer": []}]
    return document


_SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>qbutler API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/documentation/json", dom_id: "#swagger-ui"});</script>
</body></html>
"""


def documentation_routes(document_routes: list[Route], common: dict[int, str] | None = None,
                         key_required: bool = False) -> list[Route]:
    """Routes serving the document of `document_routes` (filled in after registration)."""
    table = RouteTable("Documentation")
    cache: dict[str, Any] = {}

    def document() -> dict[str, Any]:
        if "doc" not in cache:
            cache["doc"] = build_document(document_routes, common, key_required)
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


