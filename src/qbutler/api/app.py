"""Assembles the ASGI application: every area's routes, each behind its endpoint switch."""

from __future__ import annotations

from typing import Any

from qbutler.api import (
    appdump,
    apps,
    files,
    health,
    kv,
    mqtt,
    newrelic,
    observability,
    schedules,
    slack,
    system,
    tasks,
)
from qbutler.api.compat import WireApp
from qbutler.api.openapi import documentation_routes
from qbutler.api.ratelimit import RateLimiter
from qbutler.api.routing import Route, RouteTable
from qbutler.auth.audit import AuditTrail
from qbutler.auth.guard import Guard, allowed_hosts
from qbutler.config import Config

# One table per area; a route is registered only when its switch is true in the config.
ROUTE_TABLES: list[RouteTable] = [
    system.routes,
    kv.routes,
    tasks.routes,
    mqtt.routes,
    slack.routes,
    newrelic.routes,
    apps.routes,
    appdump.routes,
    files.routes,
    schedules.routes,
    health.routes,
    observability.routes,
]


def _config_flag(config: Config, path: str) -> bool:
    node: Any = config.Butler
    for part in path.split("."):
        node = getattr(node, part, None)
    return node is True


def enabled_routes(config: Config, tables: list[RouteTable] | None = None) -> list[Route]:
    switches = config.Butler.restServerEndpointsEnable
    return [
        route
        for table in (ROUTE_TABLES if tables is None else tables)
        for route in table.routes
        if (route.switch is None or switches.is_enabled(route.switch))
        and (route.config_switch is None or _config_flag(config, route.config_switch))
    ]


def build_app(config: Config, context: Any, tables: list[RouteTable] | None = None, *,
              guard: Guard | None = None, audit: AuditTrail | None = None) -> WireApp:
    """`guard` None: no authentication (Butler's behaviour); `audit` None: no audit trail."""
    routes = enabled_routes(config, tables)
    switched_off = [route for table in (ROUTE_TABLES if tables is None else tables)
                    for route in table.routes if route not in routes]
    rest = config.Butler.restServerConfig
    access = config.Butler.qbutler.api
    limiter = RateLimiter(rest.rateLimit.maxPerMinute) if rest.rateLimit.enable else None
    hosts = allowed_hosts(rest.serverHost, access.allowedHosts)
    # Answers any route may give in this configuration, for the OpenAPI document.
    common: dict[int, str] = {}
    if guard is not None:
        common |= {401: "No valid API key (or mapped client certificate or address)",
                   403: "The caller lacks the route's scope"}
    if hosts is not None:
        common[421] = "The Host header is not one of Butler.qbutler.api.allowedHosts"
    if limiter is not None:
        common[429] = "Rate limit exceeded (restServerConfig.rateLimit)"
    documentation = documentation_routes(routes, common, key_required=guard is not None)
    metrics = getattr(context, "metrics", None)
    return WireApp(routes + documentation, context, body_limit=rest.bodyLimit, rate_limiter=limiter,
                   guard=guard, public_paths=frozenset(access.publicEndpoints), hosts=hosts, audit=audit,
                   switched_off=switched_off,
                   observer=metrics.on_request if metrics is not None else None)
