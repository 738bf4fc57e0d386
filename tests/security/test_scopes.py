"""Every registered route, with auth on: refused without a key (401), refused to a key without its
scope (403 naming the scope), allowed to a key with it and to admin. A route registered without a
scope fails here (routes: `RouteTable.add(..., scope=...)`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qbutler.api.app import ROUTE_TABLES
from qbutler.api.openapi import documentation_routes
from qbutler.api.routing import Route
from qbutler.auth.keys import new_key
from qbutler.auth.scopes import AUTHENTICATED, SCOPES
from support.net import free_port
from support.qbutler import ThreadedService, base_config

ROUTES: list[Route] = [route for table in ROUTE_TABLES for route in table.routes] + documentation_routes([])
# Keys with exactly one scope, and keys with every scope but one (and but admin).
ONLY = {scope: new_key() for scope in SCOPES}
ALL_BUT = {scope: new_key() for scope in SCOPES if scope != "admin"}


def every_switch_on(routes: list[Route]) -> dict[str, Any]:
    switches: dict[str, Any] = {}
    for route in routes:
        if route.switch is None:
            continue
        *parents, leaf = route.switch.split(".")
        node = switches
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = True
    return switches


def key_entries() -> list[dict[str, Any]]:
    entries = [{"name": f"only-{scope}", "hash": hashed, "scopes": [scope]} for scope, (_, hashed) in ONLY.items()]
    entries += [{"name": f"all-but-{scope}", "hash": hashed,
                 "scopes": [other for other in SCOPES if other not in (scope, "admin")]}
                for scope, (_, hashed) in ALL_BUT.items()]
    return entries


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder: Path = tmp_path_factory.mktemp("scopes")
    closed = free_port()  # Sense is "down": handlers that reach for it fail fast, after the scope check
    config = base_config(
        restServerEndpointsEnable=every_switch_on(ROUTES),
        configQRS={"host": "127.0.0.1", "port": closed, "retries": 0},
        configEngine={"host": "127.0.0.1", "port": closed, "timeout": 2},
        qbutler={"dataDirectory": "data", "api": {"requireAuth": True, "keys": key_entries()}})
    with ThreadedService(config, folder) as service, httpx.Client(base_url=service.url, timeout=10) as http:
        yield http


def call(client: httpx.Client, route: Route, key: str | None) -> httpx.Response:
    path = re.sub(r"\{[^}]+\}", "x1", route.path)
    headers = {"x-api-key": key} if key is not None else {}
    if route.method == "GET":
        return client.get(path, headers=headers)
    # A body the parser refuses (415) after the scope check: the route is reached, nothing changes.
    return client.request(route.method, path, headers={**headers, "content-type": "text/xml"}, content=b"<x/>")


def refused_for_scope(response: httpx.Response) -> bool:
    return response.status_code == 403 and "lacks the scope" in response.json()["message"]


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: f"{route.method} {route.path}")
def test_each_route_declares_a_scope_that_allows_and_refuses(client, route):
    assert route.scope in (*SCOPES, AUTHENTICATED), f"{route.method} {route.path} declares no known scope"

    anonymous = call(client, route, None)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer ")

    for allowed in ([ONLY["admin"][0]] + ([ONLY[route.scope][0]] if route.scope in ONLY else [])):
        response = call(client, route, allowed)
        assert response.status_code != 401 and not refused_for_scope(response), response.text

    if route.scope == AUTHENTICATED:
        for key, _ in ONLY.values():
            response = call(client, route, key)
            assert response.status_code != 401 and not refused_for_scope(response), response.text
    else:
        for scope, (key, _) in ONLY.items():
            if scope not in (route.scope, "admin"):
                assert refused_for_scope(call(client, route, key)), scope
        refused = call(client, route, ALL_BUT[route.scope][0])
        assert refused_for_scope(refused)
        assert refused.json()["message"] == (
            f"key:all-but-{route.scope} lacks the scope {route.scope!r} that {route.method} {route.path} needs")
