"""Butler's REST wire contract as one ASGI application.

Everything a client can observe regardless of the endpoint lives here: X-HTTP-Method-Override on
POST, Fastify's body-parser rules (415/413/400), its 404 body, validation order and error shapes,
HEAD for GET routes, rate-limit headers and one debug log line per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson

from qbutler.api.http import (
    HttpError,
    Request,
    Response,
    json_response,
)
from qbutler.api.ratelimit import RateLimiter
from qbutler.api.routing import Route, Router
from qbutler.api.schema import serialize, validate
from qbutler.auth.audit import AuditTrail
from qbutler.auth.guard import Guard, host_name
from qbutler.auth.scopes import grants

log = logging.getLogger("qbutler.api")

BODY_METHODS = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
KNOWN_METHODS = {"GET", "HEAD", *BODY_METHODS}

# Told of every answered request: method, route template ("unmatched" when none), status, seconds.
RequestObserver = Callable[[str, str, int, float], None]


# No request qbutler serves needs more; deeper bodies only exhaust recursive code further on
# (the schedule file's YAML writer, for one).
MAX_JSON_DEPTH = 32


def too_deep(value: object) -> bool:
    """Whether `value` nests lists and dicts more than MAX_JSON_DEPTH levels (walked without recursion)."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_JSON_DEPTH:
                    return True
                pending.append((child, depth + 1))
    return False


def not_found(method: str, url: str) -> Response:
    # Fastify's exact key order: message, error, statusCode.
    return json_response(
        {"message": f"Route {method}:{url} not found", "error": "Not Found", "statusCode": 404}, 404
    )


class Unauthorized(Exception):
    """No identity: answered 401 with a WWW-Authenticate challenge."""


def parser_error(status: int, code: str, message: str) -> HttpError:
    return HttpError(status, message, code=code)


MUTATING = frozenset({"POST", "PUT", "DELETE", "PATCH"})
# Refusals the audit trail records for every route: no or a wrong key, a missing scope (or a path
# outside the approved folders), a foreign Host header, too many requests.
REFUSALS = frozenset({401, 403, 421, 429})
_CHALLENGE = [(b"www-authenticate", b'Bearer realm="qbutler", charset="UTF-8"')]


class WireApp:
    def __init__(self, routes: list[Route], context: Any, *, body_limit: int = 1024 * 1024,
                 rate_limiter: RateLimiter | None = None, guard: Guard | None = None,
                 public_paths: frozenset[str] = frozenset(), hosts: frozenset[str] | None = None,
                 audit: AuditTrail | None = None, switched_off: list[Route] | None = None,
                 observer: RequestObserver | None = None):
        self.router = Router(routes)
        self.observer = observer
        # Routes whose switch is off: they answer Butler's 404, and the first request to each
        # switch's routes logs which switch would enable them.
        self.switched_off = Router(switched_off or [])
        self._explained: set[str] = set()
        self.context = context
        self.body_limit = body_limit
        self.rate_limiter = rate_limiter
        # None: auth off (Butler's behaviour), nothing is asked of the client.
        self.guard = guard
        self.public_paths = public_paths
        # None: any Host header.
        self.hosts = hosts
        self._hosts_seen: set[str] = set()
        self.audit = audit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        if method == "POST" and "x-http-method-override" in headers:
            method = headers["x-http-method-override"].strip().upper()
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        client = (scope.get("client") or ("", 0))[0]
        request = Request(method=method, path=path, raw_query=query, headers=headers, client=client)
        extensions = scope.get("extensions")
        if extensions is not None and "tls" in extensions:
            request.cert_subject = extensions["tls"].get("client_cert_name")
        response = await self._respond(request, receive)
        head = scope["method"] == "HEAD"
        await self._send(send, response, head)
        if self.observer is not None:
            self.observer(method if method in KNOWN_METHODS else "other",
                          request.route.path if request.route is not None else "unmatched",
                          response.status, time.perf_counter() - started)
        if self.audit is not None and (response.status in REFUSALS
                                       or (request.route is not None and request.route.method in MUTATING)):
            self._record(request, response.status)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s %d %.1fms", client, method, request.url, response.status,
                      (time.perf_counter() - started) * 1000)

    async def _respond(self, request: Request, receive: Any) -> Response:
        extra_headers: list[tuple[bytes, bytes]] = []
        try:
            if self.hosts is not None:
                self._check_host(request.headers.get("host", ""))
            lookup = "GET" if request.method == "HEAD" else request.method
            found = self.router.match(lookup, request.path)
            guarded = self.guard is not None and (found is None or found[0].path not in self.public_paths)
            if guarded:
                request.identity = self.guard.identify(request.headers, request.client, request.cert_subject)
            if self.rate_limiter is not None:
                # Per key (or certificate) when one identifies the caller, else per address.
                identity = request.identity
                who = identity.name if identity is not None and identity.kind != "address" else request.client
                allowed, extra_headers = self.rate_limiter.hit(who)
                if not allowed:
                    raise HttpError(429, self.rate_limiter.retry_message(who))
            if guarded and request.identity is None:
                raise Unauthorized()
            if found is None:
                self._explain_switched_off(lookup, request.path)
                response = not_found(request.method, request.url)
            else:
                route, params = found
                request.route = route
                request.params = params
                identity = request.identity
                if identity is not None and not grants(identity.scopes, route.scope or "admin"):
                    raise HttpError(403, f"{identity.name} lacks the scope {route.scope or 'admin'!r} that "
                                         f"{route.method} {route.path} needs")
                await self._read_body(request, receive)
                response = await self._dispatch(route, request)
        except Unauthorized:
            response = HttpError(401, "A valid API key is required: send it as 'Authorization: Bearer <key>' "
                                      "or 'X-API-Key: <key>'").to_response()
            extra_headers.extend(_CHALLENGE)
        except HttpError as exc:
            response = exc.to_response()
        except Exception:
            log.exception("Unhandled error in %s %s", request.method, request.path)
            response = HttpError(500, "Internal Server Error").to_response()
        response.headers.extend(extra_headers)
        return response

    def _explain_switched_off(self, method: str, path: str) -> None:
        found = self.switched_off.match(method, path)
        if found is None or found[0].switch is None or found[0].switch in self._explained:
            return
        switch = found[0].switch
        self._explained.add(switch)
        log.warning("%s %s answered 404: the endpoint is switched off; set "
                    "Butler.restServerEndpointsEnable.%s: true to enable it (logged once)", method, path, switch)

    def _check_host(self, header: str) -> None:
        if header in self._hosts_seen:
            return
        if host_name(header) not in self.hosts:  # type: ignore[operator]
            raise HttpError(421, f"Host {header!r} is not a name of this server (Butler.qbutler.api.allowedHosts)")
        # Accepted Host values as sent (with their port), so the next request skips the parsing.
        if len(self._hosts_seen) < 256:
            self._hosts_seen.add(header)

    def _record(self, request: Request, status: int) -> None:
        route = request.route
        entry: dict[str, Any] = {"client": request.client,
                                 "identity": request.identity.name if request.identity is not None else None,
                                 "method": request.method, "path": request.path, "status": status}
        if route is not None and route.method in MUTATING:
            try:
                entry["changed"] = route.changes(request) if route.changes is not None else dict(request.params)
            except Exception:  # a malformed body the handler refused: the path still says what was tried
                log.debug("No audit details for %s %s", request.method, request.path, exc_info=True)
        assert self.audit is not None
        self.audit.record(**entry)

    async def _read_body(self, request: Request, receive: Any) -> None:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.body_limit:
            raise parser_error(413, "FST_ERR_CTP_BODY_TOO_LARGE", "Request body is too large")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.body_limit:
                raise parser_error(413, "FST_ERR_CTP_BODY_TOO_LARGE", "Request body is too large")
            chunks.append(chunk)
            more = message.get("more_body", False)
        request.body = b"".join(chunks)

    def _parse_body(self, route: Route, request: Request) -> None:
        if request.method not in BODY_METHODS:
            return
        content_type = request.headers.get("content-type")
        body = request.body
        if content_type is None:
            if not body and "transfer-encoding" not in request.headers:
                return
            raise parser_error(415, "FST_ERR_CTP_INVALID_MEDIA_TYPE", "Unsupported Media Type")
        media = content_type.split(";", 1)[0].strip().lower()
        if media == "application/json" or media.endswith("+json"):
            if not body.strip():
                # Butler (Fastify) refuses this everywhere; load scripts send it on bodiless
                # DELETE overrides, so qbutler accepts it where the route takes no body.
                if route.body is None:
                    return
                raise parser_error(400, "FST_ERR_CTP_EMPTY_JSON_BODY",
                                   "Body cannot be empty when content-type is set to 'application/json'")
            try:
                request.json = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise parser_error(400, "FST_ERR_CTP_INVALID_JSON_BODY",
                                   "Body is not valid JSON but content-type is set to 'application/json'"
                                   ) from None
            # Counting brackets is cheap; only a body with enough of them is walked.
            if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and too_deep(request.json):
                raise parser_error(400, "QB_ERR_BODY_TOO_DEEP",
                                   f"body nests objects and arrays more than {MAX_JSON_DEPTH} levels deep")
            request.has_body = True
        elif media == "text/plain":
            request.json = body.decode("utf-8", errors="replace")
            request.has_body = True
        else:
            raise parser_error(415, "FST_ERR_CTP_INVALID_MEDIA_TYPE", "Unsupported Media Type")

    async def _dispatch(self, route: Route, request: Request) -> Response:
        self._parse_body(route, request)
        if route.params is not None:
            request.params = validate(request.params, route.params, "params")
        if route.body is not None:
            body = request.json if request.has_body else None
            if body is None and route.body.get("type") == "array":
                # Ajv reports the first item of the missing array, as Fastify does.
                body_path = "body/0"
                first = route.body.get("items", {}).get("type", "object")
                raise HttpError(400, f"{body_path} must be {first}", code="FST_ERR_VALIDATION")
            request.json = validate(body, route.body, "body")
        if route.query is not None:
            request.query = validate(parse_query(request.raw_query), route.query, "querystring")
        else:
            request.query = parse_query(request.raw_query)
        result = await route.handler(request, self.context)
        if isinstance(result, Response):
            return result
        return json_response(serialize(result, route.responses.get(200)), 200)

    async def _send(self, send: Any, response: Response, head: bool) -> None:
        headers = list(response.headers)
        if response.content_type is not None:
            headers.append((b"content-type", response.content_type))
        if response.status != 204:
            headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        body = b"" if head or response.status == 204 else response.body
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def parse_query(raw: str) -> dict[str, Any]:
    """Query values URL-decoded ('+' is a space); a repeated key becomes a list, as in Node."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if key in result:
            existing = result[key]
            result[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            result[key] = value
    return result

