"""Assembles the ASGI application: every area's routes, each behind its endpoint switch."""

from __future__ import annotations

from typing import Any

from qbutler.api import appdump, apps, files, health, kv, mqtt, schedules, slack, system, tasks
from qbutler.api.compat import WireApp
from qbutler.api.openapi import documentation_routes
from qbutler.api.ratelimit import RateLimiter
from qbutler.api.routing import Route, RouteTable
from qbutler.config import Config

# One table per area; a route is registered only when its switch is true in the config.
ROUTE_TABLES: list[RouteTable] = [
    system.routes,
    kv.routes,
    tasks.routes,
    mqtt.routes,
    slack.routes,
    apps.routes,
    appdump.routes,
    files.routes,
    schedules.routes,
    health.routes,
]


def enabled_routes(config: Config, tables: list[RouteTable] | None = None) -> list[Route]:
    switches = config.Butler.restServerEndpointsEnable
    return [
        route
        for table in (ROUTE_TABLES if tables is None else tables)
        for route in table.routes
        if route.switch is None or switches.is_enabled(route.switch)
    ]


def build_app(config: Config, context: Any, tables: list[RouteTable] | None = None) -> WireApp:
    routes = enabled_routes(config, tables)
    rest = config.Butler.restServerConfig
    limiter = RateLimiter(rest.rateLimit.maxPerMinute) if rest.rateLimit.enable else None
    return WireApp(routes + documentation_routes(routes), context,
                   body_limit=rest.bodyLimit, rate_limiter=limiter)
