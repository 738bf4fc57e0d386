"""Routes and the router: Fastify's matching rules (exact case, no trailing-slash folding, static
segments beat parameters, empty segments match parameters)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from qbutler.api.http import Request, Response, decode_path_segment

Handler = Callable[[Request, Any], Awaitable[Response | dict | list]]
# What a request changed, for the audit trail (never a key, a KV value or a message body).
Changes = Callable[[Request], dict[str, Any]]


def body_fields(*names: str) -> Changes:
    """The audit record of a route: its path parameters plus these fields of the body."""

    def changes(request: Request) -> dict[str, Any]:
        body = request.json if isinstance(request.json, dict) else {}
        return {**request.params, **{name: body[name] for name in names if name in body}}

    return changes


@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    # Dotted path below Butler.restServerEndpointsEnable; None means always registered.
    switch: str | None = None
    # Dotted path below Butler of a boolean that must be true too (qbutler's own features).
    config_switch: str | None = None
    params: dict[str, Any] | None = None
    query: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    # Response schemas by status: object responses are filtered and coerced through them.
    responses: dict[int, dict[str, Any]] = field(default_factory=dict)
    summary: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    # Documented responses that carry no schema (status -> description).
    documented: dict[int, str] = field(default_factory=dict)
    include_in_schema: bool = True
    # The scope a caller needs when Butler.qbutler.api.requireAuth is on (qbutler.auth.scopes).
    # Every route declares one; a route without is refused to everyone but admin.
    scope: str | None = None
    # What the audit trail records for a call of a route that changes something.
    changes: Changes | None = None

    def __post_init__(self) -> None:
        self.segments = self.path.split("/")
        self.param_names = [s[1:-1] for s in self.segments if s.startswith("{")]
        # Sort key: static segments first, position by position.
        self.rank = tuple(1 if s.startswith("{") else 0 for s in self.segments)


class RouteTable:
    """A module's routes, declared with decorators and registered by the app builder."""

    def __init__(self, tag: str):
        self.tag = tag
        self.routes: list[Route] = []

    def add(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            options.setdefault("tags", [self.tag])
            self.routes.append(Route(method, path, handler, **options))
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.add("GET", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.add("PUT", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.add("POST", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.add("DELETE", path, **options)


class Router:
    def __init__(self, routes: list[Route]):
        self.routes = routes
        self._static: dict[tuple[str, str], Route] = {}
        self._dynamic: dict[str, list[Route]] = {}
        for route in routes:
            if route.param_names:
                self._dynamic.setdefault(route.method, []).append(route)
            else:
                key = (route.method, route.path)
                if key in self._static:
                    raise ValueError(f"route registered twice: {route.method} {route.path}")
                self._static[key] = route
        for candidates in self._dynamic.values():
            candidates.sort(key=lambda r: r.rank)

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """`raw_path` is still percent-encoded, so an encoded '/' stays inside its segment."""
        if "%" not in raw_path:
            static = self._static.get((method, raw_path))
            if static is not None:
                return static, {}
        segments = [decode_path_segment(s) for s in raw_path.split("/")]
        static = self._static.get((method, "/".join(segments)))
        if static is not None and "%2f" not in raw_path.lower():
            return static, {}
        best: tuple[Route, dict[str, str]] | None = None
        for route in self._dynamic.get(method, ()):
            if len(route.segments) != len(segments):
                continue
            params: dict[str, str] = {}
            for pattern, actual in zip(route.segments, segments, strict=True):
                if pattern.startswith("{"):
                    params[pattern[1:-1]] = actual
                elif pattern != actual:
                    break
            else:
                if best is None or route.rank < best[0].rank:
                    best = (route, params)
        return best

    def allows(self, method: str) -> bool:
        return any(r.method == method for r in self.routes)
