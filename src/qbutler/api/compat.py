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

log = logging.getLogger("qbutler.api")

BODY_METHODS = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
KNOWN_METHODS = {"GET", "HEAD", *BODY_METHODS}

# Told of every answered request: method, route template ("unmatched" when none), status, seconds.
RequestObserver = Callable[[str, str, int, float], None]


def not_found(method: str, url: str) -> Response:
    # Fastify's exact key order: message, error, statusCode.
    return json_response(
        {"message": f"Route {method}:{url} not found", "error": "Not Found", "statusCode": 404}, 404
    )


def parser_error(status: int, code: str, message: str) -> HttpError:
    return HttpError(status, message, code=code)


class WireApp:
    def __init__(self, routes: list[Route], context: Any, *, body_limit: int = 1024 * 1024,
                 rate_limiter: RateLimiter | None = None, observer: RequestObserver | None = None):
        self.router = Router(routes)
        self.observer = observer
        self.context = context
        self.body_limit = body_limit
        self.rate_limiter = rate_limiter

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
        response = await self._respond(request, receive)
        head = scope["method"] == "HEAD"
        await self._send(send, response, head)
        if self.observer is not None:
            self.observer(method if method in KNOWN_METHODS else "other", request.route or "unmatched",
                          response.status, time.perf_counter() - started)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s %d %.1fms", client, method, request.url, response.status,
                      (time.perf_counter() - started) * 1000)

    async def _respond(self, request: Request, receive: Any) -> Response:
        extra_headers: list[tuple[bytes, bytes]] = []
        try:
            if self.rate_limiter is not None:
                allowed, extra_headers = self.rate_limiter.hit(request.client)
                if not allowed:
                    raise HttpError(429, self.rate_limiter.retry_message(request.client))
            lookup = "GET" if request.method == "HEAD" else request.method
            found = self.router.match(lookup, request.path)
            if found is None:
                response = not_found(request.method, request.url)
            else:
                route, params = found
                request.params = params
                request.route = route.path
                await self._read_body(request, receive)
                response = await self._dispatch(route, request)
        except HttpError as exc:
            response = exc.to_response()
        except Exception:
            log.exception("Unhandled error in %s %s", request.method, request.path)
            response = HttpError(500, "Internal Server Error").to_response()
        response.headers.extend(extra_headers)
        return response

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

