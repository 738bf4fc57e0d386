"""The test-control API: plain HTTP on loopback, not part of any Qlik protocol.

GET  /health                    {"status": "ok", ...}
GET  /tasks                     [{id, name, app, appId, taskType, enabled, scenario, nextOutcome, status}]
PUT  /tasks/{id}/outcome        {"outcome": "success"|"fail"|"abort"} for the next run
GET  /calls[?since=N]           QRS, engine and systeminfo calls, oldest first
GET  /datagrams[?since=N]       UDP datagrams the runner sent
GET  /faults                    active fault rules and knobs
POST /faults                    one fault object or a list of them
DELETE /faults                  drop all faults
PUT  /qrs/reachable             {"reachable": false} closes QRS's listener (connection refused), true reopens it
POST /reset                     clear calls, faults, outcomes, runs, datagrams; restore services,
                                licenses, users and the site as seeded
Services (services.py): GET /services, PUT /services/{host}/{service}, PUT /nodes
Licenses, users, version (licenses.py): /licenses, /license, /users/{dir}/{id}, /version
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import licenses, services
from .enums import STATUS_NAMES
from .faults import FaultError
from .runner import OUTCOMES, Runner
from .state import State, iso


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status)


def _since(request: Request) -> int | Response:
    raw = request.query_params.get("since", "0")
    try:
        since = int(raw)
    except ValueError:
        return _error("since must be an integer")
    return max(since, 0)


def build_control_app(state: State, runner: Runner,
                      set_qrs_reachable: Callable[[bool], Awaitable[None]] | None = None) -> Starlette:
    async def health(request: Request) -> Response:
        return _json(
            {
                "status": "ok",
                "apps": len(state.apps),
                "tasks": len(state.tasks),
                "running": len(state.execution_sessions),
                "calls": len(state.calls),
            }
        )

    async def tasks(request: Request) -> Response:
        rows = []
        for task in state.tasks.values():
            rows.append(
                {
                    "id": task.id,
                    "name": task.name,
                    "app": task.app.name if task.app else None,
                    "appId": task.app.id if task.app else None,
                    "taskType": task.task_type,
                    "enabled": task.enabled,
                    "scenario": task.scenario,
                    "nextOutcome": runner.overrides.get(task.id),
                    "status": STATUS_NAMES[task.last_result.status],
                }
            )
        return _json(rows)

    async def set_outcome(request: Request) -> Response:
        task_id = request.path_params["task_id"].lower()
        if task_id not in state.tasks:
            return _error(f"unknown task {task_id}", 404)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error("body must be JSON")
        outcome = body.get("outcome") if isinstance(body, dict) else None
        if outcome not in OUTCOMES:
            return _error(f"outcome must be one of {list(OUTCOMES)}")
        runner.set_outcome(task_id, outcome)
        return _json({"id": task_id, "nextOutcome": outcome})

    async def calls(request: Request) -> Response:
        since = _since(request)
        if isinstance(since, Response):
            return since
        return _json([call.__dict__ for call in state.calls[since:]])

    async def datagrams(request: Request) -> Response:
        since = _since(request)
        if isinstance(since, Response):
            return since
        return _json([d.describe() for d in runner.datagrams[since:]])

    async def get_faults(request: Request) -> Response:
        return _json(state.faults.describe())

    async def add_faults(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error("body must be JSON")
        specs = body if isinstance(body, list) else [body]
        try:
            for spec in specs:
                state.faults.add(spec)
        except FaultError as exc:
            return _error(str(exc))
        return _json(state.faults.describe())

    async def clear_faults(request: Request) -> Response:
        state.faults.clear()
        return _json(state.faults.describe())

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await request.json()
                runner.sim_clock.advance(float(body["advanceSeconds"]))
            except (ValueError, KeyError, TypeError) as exc:
                return _error(f"body must be {{\"advanceSeconds\": <non-negative number>}} ({exc})")
            fired = runner.triggers.tick()
        else:
            fired = 0
        return _json({"now": iso(runner.clock()), "offsetSeconds": runner.sim_clock.offset.total_seconds(),
                      "fired": fired})
    async def qrs_reachable(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error("body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("reachable"), bool):
            return _error('body must be {"reachable": true|false}')
        if set_qrs_reachable is None:
            return _error("this site cannot switch its QRS listener", 409)
        await set_qrs_reachable(body["reachable"])
        return _json({"reachable": body["reachable"]})

    async def reset(request: Request) -> Response:
        await runner.reset()  # also clears calls and faults (State.reset_runtime)
        return _json({"status": "reset"})

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/tasks", tasks, methods=["GET"]),
            Route("/tasks/{task_id}/outcome", set_outcome, methods=["PUT"]),
            Route("/calls", calls, methods=["GET"]),
            Route("/datagrams", datagrams, methods=["GET"]),
            Route("/faults", get_faults, methods=["GET"]),
            Route("/faults", add_faults, methods=["POST"]),
            Route("/faults", clear_faults, methods=["DELETE"]),
            Route("/reset", reset, methods=["POST"]),
            Route("/clock", clock, methods=["GET", "POST"]),
            Route("/qrs/reachable", qrs_reachable, methods=["PUT"]),
            *services.control_routes(state.services),
            *licenses.control_routes(state),
        ]
    )
