"""The history as a service component: listens to task events, alert deliveries and task starts,
and hands rows to the recorder."""

from __future__ import annotations

import time

from qbutler.actions.tasks import Trigger
from qbutler.alerts.channels.base import Message
from qbutler.config import Config
from qbutler.events.enrich import RELOAD_TASK, EnrichedEvent
from qbutler.history.factory import open_history
from qbutler.history.model import Delivery, StartRequest
from qbutler.history.recorder import Recorder
from qbutler.history.rows import execution_of
from qbutler.history.store import HistoryStore


class History:
    def __init__(self, config: Config, instance: str, store: HistoryStore | None = None):
        self.settings = config.Butler.qbutler.history
        self.store = store if store is not None else open_history(config)
        self.recorder = Recorder(self.store, self.settings, instance)
        self.instance = instance

    async def start(self) -> None:
        await self.recorder.start()

    async def stop(self) -> None:
        await self.recorder.stop()

    # ---------------------------------------------------------------- observers

    def wants_script_log(self, enriched: EnrichedEvent) -> bool:
        return bool(self.settings.scriptLogTailLines) and enriched.event.outcome == "failed" \
            and enriched.task_type == RELOAD_TASK

    def on_event(self, enriched: EnrichedEvent, received_at: float) -> None:
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
