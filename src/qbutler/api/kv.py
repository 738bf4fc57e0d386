"""Key-value store endpoints (Butler REST reference §4): Butler's wire shapes over the `ctx.kv` store."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import orjson

from qbutler.api.http import TEXT_TYPE, HttpError, Request, Response, empty_response, json_response
from qbutler.api.routing import RouteTable, body_fields
from qbutler.kv.store import NamespaceFull, ReservedNamespace, is_internal

log = logging.getLogger("qbutler.kv")

routes = RouteTable("Key-value store")

SWITCH = "keyValueStore"
T = TypeVar("T")

# Path parameters are always strings, so routes declare no schema for them (nothing to validate
# on the hot path; the OpenAPI document lists them anyway).
_KEY_QUERY = {"type": "object", "required": ["key"], "properties": {"key": {"type": "string"}}}
# A whole number of milliseconds; <= 0 means no expiry (Butler). qbutler refuses booleans,
# fractions and anything beyond ten years, which Butler turned into 1 ms, a truncated TTL or a 500.
MAX_TTL_MS = 10 * 365 * 24 * 3600 * 1000
_TTL = {"type": "number", "not": {"type": "boolean"}, "multipleOf": 1, "minimum": -MAX_TTL_MS,
        "maximum": MAX_TTL_MS, "description": "Milliseconds; 0 or less (or absent) means no expiry."}
_KEY_VALUE = {"type": "object", "properties": {
    "namespace": {"type": "string"}, "key": {"type": "string"}, "value": {"type": "string"}}}


async def _call(operation: Awaitable[T], failure: str) -> T:
    """Run a store operation; a failing store (disk, Redis) becomes Butler's 500 message."""
    try:
        return await operation
    except NamespaceFull as exc:
        raise HttpError(400, str(exc)) from None
    except HttpError:
        raise
    except Exception:
        log.exception(failure)
        raise HttpError(500, failure) from None


def _public(namespace: str) -> str:
    """The namespace a client named; 400 for one of qbutler's internal namespaces."""
    if is_internal(namespace):
        raise HttpError(400, str(ReservedNamespace(namespace)))
    return namespace


def namespace_not_found(namespace: str) -> HttpError:
    return HttpError(400, f"Namespace not found: {namespace}")


def key_not_found(namespace: str, key: str) -> HttpError:
    return HttpError(400, f"Key '{key}' not found in namespace: {namespace}")


async def _lookup(ctx: Any, namespace: str, key: str) -> dict[str, str] | None:
    """The entry as Butler shows it, None when the key is absent; 400 for an unknown namespace."""
    entry = await ctx.kv.get(namespace, key)
    if entry is not None:
        return {"namespace": namespace, "key": key, "value": entry.value}
    if not await ctx.kv.has_namespace(namespace):
        raise namespace_not_found(namespace)
    return None


@routes.get(
    "/v4/keyvaluesnamespaces",
    switch=SWITCH,
    scope="kv:read",
    summary="List all namespaces, empty ones included, in creation order",
    responses={200: {"type": "array", "items": {"type": "string"}}},
)
async def list_namespaces(request: Request, ctx: Any) -> list[str]:
    namespaces = await _call(ctx.kv.namespaces(), "Failed getting all namespaces")
    return [namespace for namespace in namespaces if not is_internal(namespace)]


@routes.get(
    "/v4/keyvalues/{namespace}",
    switch=SWITCH,
    scope="kv:read",
    summary="Get the value of a key",
    query=_KEY_QUERY,
    responses={200: _KEY_VALUE},
    documented={400: "Namespace or key not found"},
)
async def get_value(request: Request, ctx: Any) -> Response:
    namespace, key = _public(request.params["namespace"]), request.query["key"]
    found = await _call(_lookup(ctx, namespace, key), "Failed getting key-value data")
    if found is None:
        raise key_not_found(namespace, key)
    # Already in the response schema's shape and order (all strings): no filtering pass needed.
    return json_response(found)


@routes.get(
    "/v4/keyvalues/{namespace}/keyexists",
    switch=SWITCH,
    scope="kv:read",
    summary="Check whether a key exists in a namespace",
    query=_KEY_QUERY,
    responses={200: {"type": "object", "properties": {
        "keyExists": {"type": "boolean"}, "keyValue": _KEY_VALUE}}},
    documented={400: "Namespace not found"},
)
async def key_exists(request: Request, ctx: Any) -> dict[str, Any]:
    namespace, key = _public(request.params["namespace"]), request.query["key"]
    found = await _call(_lookup(ctx, namespace, key), "Failed getting key-value data")
    return {"keyExists": found is not None, "keyValue": found or {}}


@routes.post(
    "/v4/keyvalues/{namespace}",
    switch=SWITCH,
    scope="kv:write",
    changes=body_fields("key"),
    summary="Create or overwrite a key, optionally with a time to live in milliseconds",
    description="An overwrite replaces the value and restarts (or removes) the TTL. A new key in a "
                "namespace already holding Butler.keyValueStore.maxKeysPerNamespace keys gets 400.",
    body={"type": "object", "properties": {
        "key": {"type": "string"}, "value": {"type": "string"}, "ttl": _TTL}},
    documented={201: "Key stored", 400: "Key missing or namespace full"},
)
async def set_value(request: Request, ctx: Any) -> Response:
    namespace = _public(request.params["namespace"])
    body = request.json
    key = body.get("key")
    if not key:
        raise HttpError(400, "Required parameter is missing")
    ttl = int(body.get("ttl") or 0)
    echo: dict[str, Any] = {"namespace": namespace, "key": key}
    # An absent value is not stored, but the namespace is created (Butler answers 201 without a
    # value field).
    if "value" not in body:
        await _call(ctx.kv.create_namespace(namespace), "Failed adding key-value to namespace")
    else:
        limit = ctx.config.Butler.keyValueStore.maxKeysPerNamespace
        await _call(ctx.kv.set(namespace, key, body["value"], ttl, max_keys=limit or None),
                    "Failed adding key-value to namespace")
        echo["value"] = body["value"]
        ctx.activity.publish("kv.set", f"{namespace}/{key} = {str(body['value'])[:40]}"
                             + (f" (ttl {ttl} ms)" if ttl > 0 else ""), namespace=namespace, key=key)
    echo["ttl"] = ttl
    return json_response(echo, 201)


@routes.delete(
    "/v4/keyvalues/{namespace}/{key}",
    switch=SWITCH,
    scope="kv:write",
    summary="Delete a key",
    documented={204: "Key deleted", 400: "Key missing, or namespace or key not found"},
)
async def delete_key(request: Request, ctx: Any) -> Response:
    namespace, key = _public(request.params["namespace"]), request.params["key"]
    if not key:
        raise HttpError(400, "Required parameter is missing")

    async def delete() -> None:
        if not await ctx.kv.delete(namespace, key):
            if not await ctx.kv.has_namespace(namespace):
                raise namespace_not_found(namespace)
            raise key_not_found(namespace, key)

    await _call(delete(), "Failed deleting key-value data")
    return empty_response(204)


@routes.delete(
    "/v4/keyvalues/{namespace}",
    switch=SWITCH,
    scope="kv:write",
    summary="Delete a namespace and every key in it",
    documented={204: "Namespace deleted", 400: "Namespace not found"},
)
async def delete_namespace(request: Request, ctx: Any) -> Response:
    namespace = _public(request.params["namespace"])
    if not await _call(ctx.kv.delete_namespace(namespace), "Failed clearing namespace"):
        raise namespace_not_found(namespace)
    return empty_response(204)


@routes.get(
    "/v4/keylist/{namespace}",
    switch=SWITCH,
    scope="kv:read",
    summary="List the keys of a namespace",
    description="Compact JSON sent as text/plain, as Butler does.",
    documented={200: "The namespace and its keys", 400: "Namespace not found"},
)
async def list_keys(request: Request, ctx: Any) -> Response:
    namespace = _public(request.params["namespace"])
    async def listing() -> list[Any]:
        if not await ctx.kv.has_namespace(namespace):
            raise namespace_not_found(namespace)
        return await ctx.kv.entries(namespace)

    entries = await _call(listing(), "Failed getting list of keys in namespace")
    body = {"namespace": namespace, "keys": [{"key": entry.key} for entry in entries]}
    return Response(200, orjson.dumps(body), TEXT_TYPE)
