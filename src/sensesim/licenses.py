"""Control-API routes for what license and version monitors read: access allocations (with their
last-used dates), the server license's expiry, the user flags license release looks at, and the
product version port 9032 reports.

GET  /licenses                       [{id, kind, user, lastUsed, quarantined}]
POST /licenses                       {"kind": "professional"|"analyzer", "user": "DIR\\id", "lastUsed": iso}
PUT  /licenses/{id}                  {"lastUsed": iso, "quarantined": bool}
PUT  /license                        {"validTo": "2030-12-31"} (the server license's `Valid To:`)
PUT  /users/{directory}/{userId}     {"inactive": bool, "blocked": bool, "removedExternally": bool}
PUT  /version                        {"version": ..., "releaseLabel": ..., "productName": ...}
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .state import LicenseAccess, Meta, State, derive_id, iso, parse_iso, utcnow

KINDS = ("professional", "analyzer")
USER_FLAGS = {"inactive": "inactive", "blocked": "blacklisted", "removedExternally": "removed_externally"}
VERSION_FIELDS = {"version": "version", "releaseLabel": "release_label", "productName": "product_name"}


class BadRequest(ValueError):
    pass


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def _object(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _date(value: Any, name: str) -> Any:
    try:
        return parse_iso(str(value))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO-8601 date, got {value!r}") from None


def describe(access: LicenseAccess) -> dict[str, Any]:
    return {"id": access.id, "kind": access.kind, "user": access.user.domain_user,
            "lastUsed": iso(access.last_used), "quarantined": access.quarantined}


def control_routes(state: State) -> list[Route]:
    def guarded(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except BadRequest as exc:
                return _json({"error": str(exc)}, 400)
        return run

    async def list_licenses(request: Request) -> Response:
        return _json([describe(a) for a in state.licenses.values()])

    async def add_license(request: Request) -> Response:
        body = await _object(request)
        kind = body.get("kind")
        if kind not in KINDS:
            raise BadRequest(f"kind must be one of {list(KINDS)}")
        user = state.user_by_name(str(body.get("user", "")))
        if user is None:
            return _json({"error": f"unknown user {body.get('user')!r} (DIRECTORY\\userId)"}, 404)
        access_id = derive_id(f"license-{kind}", user.domain_user.lower())
        if access_id in state.licenses:
            return _json({"error": f"{user.domain_user} already has a {kind} allocation"}, 409)
        now = utcnow()
        access = LicenseAccess(id=access_id, kind=kind, user=user,
                               last_used=_date(body["lastUsed"], "lastUsed") if body.get("lastUsed") else now,
                               quarantined=False, quarantine_end=None, meta=Meta(created=now, modified=now))
        state.licenses[access.id] = access
        return _json(describe(access), 201)

    async def change_license(request: Request) -> Response:
        access = state.licenses.get(request.path_params["license_id"].lower())
        if access is None:
            return _json({"error": "unknown license allocation"}, 404)
        body = await _object(request)
        if "lastUsed" in body:
            access.last_used = _date(body["lastUsed"], "lastUsed")
        if "quarantined" in body:
            access.quarantined = bool(body["quarantined"])
        return _json(describe(access))

    async def server_license(request: Request) -> Response:
        body = await _object(request)
        if not isinstance(body.get("validTo"), str):
            raise BadRequest('body must be {"validTo": "<date>"}')
        state.site.license_valid_to = body["validTo"]
        return _json({"validTo": state.site.license_valid_to})

    async def change_user(request: Request) -> Response:
        user = state.user_by_name(f"{request.path_params['directory']}\\{request.path_params['user_id']}")
        if user is None:
            return _json({"error": "unknown user"}, 404)
        body = await _object(request)
        unknown = set(body) - set(USER_FLAGS)
        if unknown:
            raise BadRequest(f"unknown keys {sorted(unknown)}; allowed: {list(USER_FLAGS)}")
        for key, attribute in USER_FLAGS.items():
            if key in body:
                setattr(user, attribute, bool(body[key]))
        return _json({key: getattr(user, attribute) for key, attribute in USER_FLAGS.items()})

    async def version(request: Request) -> Response:
        body = await _object(request)
        unknown = set(body) - set(VERSION_FIELDS)
        if unknown or not body:
            raise BadRequest(f"give some of {list(VERSION_FIELDS)}")
        for key, attribute in VERSION_FIELDS.items():
            if key in body:
                setattr(state.site, attribute, str(body[key]))
        return _json({key: getattr(state.site, attribute) for key, attribute in VERSION_FIELDS.items()})

    return [
        Route("/licenses", guarded(list_licenses), methods=["GET"]),
        Route("/licenses", guarded(add_license), methods=["POST"]),
        Route("/licenses/{license_id}", guarded(change_license), methods=["PUT"]),
        Route("/license", guarded(server_license), methods=["PUT"]),
        Route("/users/{directory}/{user_id}", guarded(change_user), methods=["PUT"]),
        Route("/version", guarded(version), methods=["PUT"]),
    ]
