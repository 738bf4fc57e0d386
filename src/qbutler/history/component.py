"""The history as a service component: listens to task events, alert deliveries and task starts,
and hands rows to the recorder."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from qbutler.actions.tasks import Trigger
from qbutler.alerts.channels.base import Message
from qbutler.config import Config
from qbutler.events.enrich import RELOAD_TASK, EnrichedEvent
from qbutler.history.factory import open_history
from qbutler.history.model import Delivery, StartRequest
from qbutler.history.recorder import Recorder
from qbutler.history.rows import execution_of
from qbutler.history.store import HistoryStore

log = logging.getLogger("qbutler.history")

# Fetches an event's script log (the enricher's call), for failures no alert channel fetched it for.
ScriptLogFetcher = Callable[[EnrichedEvent], Awaitable[None]]


class History:
    def __init__(self, config: Config, instance: str, fetch_script_log: ScriptLogFetcher | None = None,
                 store: HistoryStore | None = None):
        self.settings = config.Butler.qbutler.history
        self.store = store if store is not None else open_history(config)
        self.recorder = Recorder(self.store, self.settings, instance)
        self.instance = instance
        self.fetch_script_log = fetch_script_log
        self._fetches: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.recorder.start()

    async def stop(self) -> None:
        for fetch in list(self._fetches):
            fetch.cancel()
        await self.recorder.stop()

    # ---------------------------------------------------------------- observers

    def on_event(self, enriched: EnrichedEvent, received_at: float) -> None:
        if (self.fetch_script_log is not None and self.settings.scriptLogTailLines and enriched.script_log is None
                and enriched.script_log_error is None and enriched.event.outcome == "failed"
                and enriched.task_type == RELOAD_TASK):
            # Fetched now, off the alert path (its retries may take seconds).
            fetch = asyncio.create_task(self._with_script_log(enriched, received_at))
            self._fetches.add(fetch)
            fetch.add_done_callback(self._fetches.discard)
            return
        self._record(enriched, received_at)

    async def _with_script_log(self, enriched: EnrichedEvent, received_at: float) -> None:
        assert self.fetch_script_log is not None
        try:
            await self.fetch_script_log(enriched)
        except Exception as exc:
            log.warning("Script log of execution %s for the history: %s", enriched.event.executionId, exc)
        self._record(enriched, received_at)

    def _record(self, enriched: EnrichedEvent, received_at: float) -> None:
        self.recorder.record(execution_of(enriched, received_at, self.settings.scriptLogTailLines, self.instance))

    def on_delivery(self, message: Message, outcome: str, error: str | None) -> None:
        if outcome == "retried":
            return  # the final outcome carries the attempt count
        execution_id = message.about.get("executionId")
        if not execution_id:
            return  # not about a task execution (e.g. PUT /v4/slackpostmessage)
        self.recorder.record(Delivery(execution_id=str(execution_id), channel=message.channel, target=message.target,
                                      outcome=outcome, attempts=message.attempts, at=time.time(), error=error or ""))

    def on_start(self, task_id: str, task_name: str, trigger: Trigger, error: str | None) -> None:
        self.recorder.record(StartRequest(task_id=task_id, trigger=trigger.kind, detail=trigger.detail,
                                          requested_at=time.time(), task_name=task_name, ok=error is None,
                                          error=error or ""))
