"""The request and response types every route handler sees, independent of any web framework."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

JSON_TYPE = b"application/json; charset=utf-8"
TEXT_TYPE = b"text/plain; charset=utf-8"

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    421: "Misdirected Request",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def reason(status: int) -> str:
    return REASONS.get(status, "Error")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: bytes | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, orjson.dumps(value), JSON_TYPE)


def text_json_response(value: Any, status: int = 200) -> Response:
    """JSON text sent as text/plain, as Butler does where its handler pre-stringifies the body."""
    return Response(status, orjson.dumps(value, option=orjson.OPT_INDENT_2), TEXT_TYPE)


def empty_response(status: int = 204) -> Response:
    return Response(status)


class HttpError(Exception):
    """A handler error: becomes `{"statusCode","error","message"}`, Butler's http-errors body."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def to_response(self) -> Response:
        body: dict[str, Any] = {"statusCode": self.status}
        if self.code:
            body["code"] = self.code
        body["error"] = reason(self.status)
        body["message"] = self.message
        return json_response(body, self.status)


class ValidationFailed(HttpError):
    """A request that does not match a route's schema: Fastify's FST_ERR_VALIDATION body."""

    def __init__(self, message: str):
        super().__init__(400, message, code="FST_ERR_VALIDATION")


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    client: str
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    # Set by validation: the coerced query, body and params.
    query: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    has_body: bool = False
    # The client certificate's subject (RFC 4514) on a TLS connection that sent one.
    cert_subject: str | None = None
    # Set by the app: who is calling (None when auth is off) and the route matched.
    identity: Any = None
    route: Any = None

    @property
    def url(self) -> str:
        return self.path + (f"?{self.raw_query}" if self.raw_query else "")


def decode_path_segment(segment: str) -> str:
    # Fastify keeps '+' in a path segment but decodes %XX, including %2F.
    return unquote(segment)
