"""GET /health (liveness) and GET /health/ready (readiness, per component), on the REST server and
on Butler's Docker health-check port. Not part of Butler's v4 API, so not in its OpenAPI document."""

from __future__ import annotations

from typing import Any

from qbutler.api.http import Request, Response, json_response
from qbutler.api.routing import RouteTable
from qbutler.auth.scopes import AUTHENTICATED
from qbutler.watch.health import LIVENESS

routes = RouteTable("Health")


# With Butler.qbutler.api.requireAuth, any key will do; list the paths in publicEndpoints for a
# probe without one. The Docker health-check port never asks for a key.
@routes.get("/health", summary="qbutler is running and answers", include_in_schema=False, scope=AUTHENTICATED)
async def health(request: Request, ctx: Any) -> dict[str, Any]:
    return LIVENESS


@routes.get("/health/ready", summary="Every component qbutler uses is healthy", include_in_schema=False,
            scope=AUTHENTICATED)
async def ready(request: Request, ctx: Any) -> Response:
    healthy, report = await ctx.readiness.check()
    return json_response(report, 200 if healthy else 503)
