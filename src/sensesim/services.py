"""The site's nodes and the state of each node's Sense services (QRS `ServiceStatus`).

Qlik's repository keeps one ServiceStatus entity per service per node, refreshed by the
repository's own polling: `serviceType` (0 Repository, 1 Proxy, 2 Scheduler, 3 Engine,
4 AppMigration, 5 Printing), `serviceState` (0 Initializing, 1 CertificatesNotInstalled,
2 Running, 3 NoCommunication, 4 Disabled, 5 Unknown), `timestamp` of the last check and the
condensed `serverNodeConfiguration` it runs on. Every service starts Running; the control API
changes one (`PUT /services/{host}/{type}`) or replaces the node list (`PUT /nodes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SERVICE_TYPES = {0: "Repository", 1: "Proxy", 2: "Scheduler", 3: "Engine", 4: "AppMigration", 5: "Printing"}
SERVICE_STATES = {0: "Initializing", 1: "CertificatesNotInstalled", 2: "Running", 3: "NoCommunication",
                  4: "Disabled", 5: "Unknown"}
RUNNING = 2
# What a node runs unless told otherwise (app migration is a transient service).
DEFAULT_TYPES = (0, 1, 2, 3, 5)


@dataclass
class ServiceStatus:
    id: str
    host_name: str
    node_id: str
    service_type: int
    state: int
    timestamp: datetime
    created: datetime


def _lookup(table: dict[int, str], value: Any, what: str) -> int:
    """A type or state given as its number or its name (case-insensitive)."""
    if isinstance(value, int) and not isinstance(value, bool) and value in table:
        return value
    if isinstance(value, str):
        for number, name in table.items():
            if name.lower() == value.strip().lower() or value.strip() == str(number):
                return number
    raise ValueError(f"{what} must be one of {list(table.values())} or their numbers, got {value!r}")


class Services:
    """Every node's services, by id; `nodes` keeps the order nodes were given in. `derive_id`
    is the repository's stable id function (state.derive_id), passed in as state imports this."""

    def __init__(self, derive_id: Callable[[str, str], str]) -> None:
        self.derive_id = derive_id
        self.by_id: dict[str, ServiceStatus] = {}
        self.nodes: list[str] = []
        self._pristine: tuple[list[str], list[int]] = ([], list(DEFAULT_TYPES))

    def configure(self, hosts: list[str], types: list[int] | tuple[int, ...] = DEFAULT_TYPES) -> None:
        """Replace the node list; every service of every node starts Running."""
        if not hosts:
            raise ValueError("at least one node is needed")
        if len(set(h.lower() for h in hosts)) != len(hosts):
            raise ValueError("node host names must be unique")
        now = datetime.now(UTC)
        self.nodes = list(hosts)
        self.by_id = {}
        for host in hosts:
            for service_type in types:
                status = ServiceStatus(self.derive_id("servicestatus", f"{host.lower()}|{service_type}"), host,
                                       self.derive_id("node", host), service_type, RUNNING, now, now)
                self.by_id[status.id] = status

    def seed(self, hosts: list[str], types: list[int] | tuple[int, ...] = DEFAULT_TYPES) -> None:
        self._pristine = (list(hosts), list(types))
        self.configure(hosts, types)

    def reset(self) -> None:
        self.configure(*self._pristine)

    def find(self, host: str, service_type: int) -> ServiceStatus | None:
        for status in self.by_id.values():
            if status.host_name.lower() == host.lower() and status.service_type == service_type:
                return status
        return None

    def set_state(self, host: str, service: Any, state: Any) -> ServiceStatus:
        service_type = _lookup(SERVICE_TYPES, service, "service")
        new_state = _lookup(SERVICE_STATES, state, "state")
        status = self.find(host, service_type)
        if status is None:
            raise LookupError(f"node {host!r} runs no {SERVICE_TYPES[service_type]} service")
        status.state = new_state
        status.timestamp = datetime.now(UTC)
        return status


# ----------------------------------------------------------------------------- QRS shapes


def node_ref(status: ServiceStatus) -> dict[str, Any]:
    """The condensed ServerNodeConfiguration a ServiceStatus points at."""
    return {"id": status.node_id, "name": status.host_name, "hostName": status.host_name, "privileges": None}


def full_service_status(status: ServiceStatus, iso: Callable[[datetime], str]) -> dict[str, Any]:
    return {
        "id": status.id,
        "createdDate": iso(status.created),
        "modifiedDate": iso(status.timestamp),
        "modifiedByUserName": "INTERNAL\\sa_repository",
        "serviceType": status.service_type,
        "serviceState": status.state,
        "timestamp": iso(status.timestamp),
        "serverNodeConfiguration": node_ref(status),
        "privileges": None,
        "schemaPath": "ServiceStatus",
    }


def condensed_service_status(status: ServiceStatus) -> dict[str, Any]:
    return {"id": status.id, "privileges": None}


# ----------------------------------------------------------------------------- control API


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def describe(status: ServiceStatus) -> dict[str, Any]:
    return {"id": status.id, "host": status.host_name, "service": SERVICE_TYPES[status.service_type],
            "serviceType": status.service_type, "state": SERVICE_STATES[status.state],
            "serviceState": status.state}


async def _body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ValueError("body must be JSON") from None


def control_routes(services: Services) -> list[Route]:
    """GET /services; PUT /services/{host}/{service} {"state": ...}; PUT /nodes {"nodes": [...], "services": [...]}."""

    async def list_services(request: Request) -> Response:
        return _json([describe(s) for s in services.by_id.values()])

    async def set_state(request: Request) -> Response:
        try:
            body = await _body(request)
            if not isinstance(body, dict) or "state" not in body:
                raise ValueError('body must be {"state": <name or number>}')
            status = services.set_state(request.path_params["host"], request.path_params["service"], body["state"])
        except LookupError as exc:
            return _json({"error": str(exc).strip('"')}, 404)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        return _json(describe(status))

    async def set_nodes(request: Request) -> Response:
        try:
            body = await _body(request)
            if not isinstance(body, dict) or not isinstance(body.get("nodes"), list):
                raise ValueError('body must be {"nodes": [host, ...], "services": [type, ...]}')
            types = [_lookup(SERVICE_TYPES, t, "service") for t in body.get("services") or DEFAULT_TYPES]
            services.configure([str(h) for h in body["nodes"]], types)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        return _json([describe(s) for s in services.by_id.values()])

    return [
        Route("/services", list_services, methods=["GET"]),
        Route("/services/{host}/{service}", set_state, methods=["PUT"]),
        Route("/nodes", set_nodes, methods=["PUT"]),
    ]
