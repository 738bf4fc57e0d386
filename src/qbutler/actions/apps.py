"""Apps through the Engine API: a stand-alone reload that chains tasks (REST reference §8.1) and
the list of apps (§8.3).

A reload is acknowledged as soon as the app is open; the reload itself, the save and the chained
task starts run in the background, and the caller learns nothing more (as in Butler). Those
background reloads belong to this component, so stopping the service cancels them cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from qbutler.actions.tasks import TaskStarter, TaskStartError, Trigger
from qbutler.activity import ActivityFeed
from qbutler.sense.engine import EngineClient, EngineError, EngineSession, EngineUnavailable

log = logging.getLogger("qbutler.apps")


@dataclass(frozen=True)
class ReloadRequest:
    app_id: str
    mode: int = 0
    partial: bool = False
    on_success: list[str] = field(default_factory=list)
    on_failure: list[str] = field(default_factory=list)


class AppReloads:
    def __init__(self, engine: EngineClient, tasks: TaskStarter, activity: ActivityFeed | None = None):
        self.engine = engine
        self.tasks = tasks
        self.activity = activity
        self._running: set[asyncio.Task[bool]] = set()

    async def start(self) -> None:
        """Nothing to prepare: each reload opens its own Engine session."""

    async def stop(self) -> None:
        for reload in list(self._running):
            reload.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def reload(self, request: ReloadRequest) -> asyncio.Task[bool]:
        """Open the app (errors here are raised to the caller), then reload it in the background.

        The returned task resolves to True when the reload succeeded and was saved.
        """
        session = await self.engine.connect(request.app_id)
        try:
            version = await session.engine_version()
            log.debug("Engine version %s for the reload of %s", version, request.app_id)
            doc = await session.open_doc(request.app_id, no_data=False)
        except BaseException:
            await session.close()
            raise
        reload = asyncio.create_task(self._reload(session, doc, request), name=f"reload {request.app_id}")
        self._running.add(reload)
        reload.add_done_callback(self._running.discard)
        return reload

    async def _reload(self, session: EngineSession, doc: int, request: ReloadRequest) -> bool:
        try:
            try:
                succeeded = await session.do_reload(doc, request.mode, request.partial)
                if succeeded:
                    await session.do_save(doc)
            except (EngineError, EngineUnavailable) as exc:
                # The outcome is unknown or the save failed: the failure chain is the safe reading.
                log.error("Reload of app %s failed: %s", request.app_id, exc)
                succeeded = False
        finally:
            with contextlib.suppress(EngineUnavailable):
                await session.close()
        outcome = "succeeded" if succeeded else "failed"
        log.info("Reload of app %s %s", request.app_id, outcome)
        if self.activity is not None:
            self.activity.publish("app.reload", f"Reload of app {request.app_id} {outcome}",
                                  appId=request.app_id, succeeded=succeeded)
        for task_id in request.on_success if succeeded else request.on_failure:
            try:
                await self.tasks.start_task(task_id, Trigger("app_reload", request.app_id))
                log.info("Started task %s after the reload of app %s %s", task_id, request.app_id, outcome)
            except TaskStartError as exc:
                log.error("%s", exc)
        return succeeded

    async def list_apps(self) -> list[dict[str, str]]:
        """`id` and `name` of every app the engine knows."""
        return [{"id": doc.get("qDocId", ""), "name": doc.get("qDocName", "")}
                for doc in await self.engine.get_doc_list()]
