"""The admin dashboard at /ui/: server-rendered pages over the domain rooms, with a small live layer.

`mount` puts it beside the REST API without importing it: Jinja2, Starlette and the pages load on
the first request to /ui/, so a qbutler nobody opens the dashboard of starts as fast as before.
"""

from __future__ import annotations

import time
from typing import Any

PREFIX = "/ui"


class LazyDashboard:
    """A service component standing in for `qbutler.web.app.Dashboard` until /ui/ is first asked for."""

    def __init__(self, service: Any):
        self.service = service
        self.dashboard: Any = None
        # When qbutler started: the overview counts the task events received since.
        self.started = time.time()

    def _built(self) -> Any:
        if self.dashboard is None:
            from qbutler.web.app import Dashboard

            self.dashboard = Dashboard(self.service, self.started)
        return self.dashboard

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._built()(scope, receive, send)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        if self.dashboard is not None:
            await self.dashboard.stop()


def mount(rest: Any, dashboard: LazyDashboard) -> Any:
    """One ASGI app: /ui and /ui/... to the dashboard, everything else to the REST API unchanged."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == PREFIX or path.startswith(f"{PREFIX}/")):
            await dashboard(scope, receive, send)
        else:
            await rest(scope, receive, send)

    return app
