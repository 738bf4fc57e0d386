"""`qbutler test-alert`: one alert through every enabled destination, now, with each result.

The event is a sample reload failure, or the last execution of a real task (`--task`), enriched
through QRS as a real event is. Each enabled channel builds its messages from it exactly as for a
real event (routing, recipients, templates) and sends them at once: no outbox, no retries and no
rate limit, so the report says what each destination answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from qbutler.alerts.channels.base import Channel, DeliveryError
from qbutler.alerts.context import status_text
from qbutler.alerts.router import SECTIONS, switched_on
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent
from qbutler.events.log4net import TaskEvent

CHANNELS = tuple(SECTIONS)
SAMPLE_TASK_ID = "00000000-0000-4000-8000-00000000a1e7"
SAMPLE_APP_ID = "00000000-0000-4000-8000-0000000000a9"
# Sense's status numbers of a finished execution -> the alert's outcome.
OUTCOMES = {6: "aborted", 7: "success", 8: "failed"}


@dataclass(frozen=True)
class Outcome:
    channel: str
    target: str
    ok: bool
    detail: str


def sample_event(now: datetime | None = None) -> EnrichedEvent:
    """A failed reload that looks like a real one in every template, marked as a test."""
    now = now or datetime.now(UTC)
    started = now - timedelta(seconds=83)
    iso = "%Y-%m-%dT%H:%M:%S.000Z"
    event = TaskEvent(
        outcome="failed", marker="/scheduler-task-failed/", hostName=socket.gethostname(),
        taskName="qbutler test alert", appName="qbutler test app", user="INTERNAL\\sa_scheduler",
        taskId=SAMPLE_TASK_ID, appId=SAMPLE_APP_ID,
        logTimeStamp=now.astimezone().strftime("%Y-%m-%d %H:%M:%S,000"), logLevel="ERROR",
        executionId=str(uuid.uuid4()),
        logMessage="Max retries reached (a test alert sent by `qbutler test-alert`; nothing failed)")
    task = {"id": SAMPLE_TASK_ID, "name": event.taskName, "taskType": 0, "maxRetries": 0,
            "customProperties": [], "tags": [{"name": "qbutler-test"}],
            "app": {"id": SAMPLE_APP_ID, "name": event.appName}}
    app = {"id": SAMPLE_APP_ID, "name": event.appName, "description": "Not a real app: a qbutler test alert",
           "stream": {"name": "Test"}, "customProperties": [], "tags": []}
    execution = {"status": 8, "executingNodeName": socket.gethostname(), "duration": 83_000,
                 "startTime": started.strftime(iso), "stopTime": now.strftime(iso),
                 "details": [{"detailCreatedDate": now.strftime(iso), "message": event.logMessage,
                              "detailsType": 3}]}
    script_log = [f"{started:%Y%m%dT%H%M%S}.000+0000 Execution started.",
                  f"{now:%Y%m%dT%H%M%S}.000+0000 Error: this is a test alert from qbutler; no reload failed.",
                  f"{now:%Y%m%dT%H%M%S}.000+0000 Execution Failed"]
    return EnrichedEvent(event=event, task=task, app=app, execution=execution, script_log=script_log)


async def task_event(config: Config, task_id: str) -> EnrichedEvent:
    """The last execution of reload task `task_id`, enriched through QRS like a real event."""
    from qbutler.events.enrich import Enricher
    from qbutler.sense.qrs import QrsClient

    qrs = QrsClient(config)
    try:
        task = await qrs.get(f"reloadtask/{task_id}")
        result = (task.get("operational") or {}).get("lastExecutionResult") or {}
        app = task.get("app") or {}
        status = int(result.get("status") or 0)
        outcome = OUTCOMES.get(status, "failed")
        event = TaskEvent(
            outcome=outcome,  # type: ignore[arg-type]
            marker=f"/scheduler-task-{outcome}/", hostName=str(result.get("executingNodeName") or ""),
            taskName=str(task.get("name", "")), appName=str(app.get("name", "")),
            user="INTERNAL\\sa_scheduler", taskId=task_id, appId=str(app.get("id", "")),
            logTimeStamp=datetime.now().strftime("%Y-%m-%d %H:%M:%S,000"), logLevel="ERROR",
            executionId=str(result.get("executionID") or uuid.uuid4()),
            logMessage=f"Test alert from the task's last execution ({status_text(status)})")
        return await Enricher(qrs, config.Butler.scriptLog).enrich(event)
    finally:
        await qrs.stop()


class _DirectMqtt:
    """Publishes the MQTT channel's messages on a connection of its own: the service's client
    would also subscribe (and could start tasks) and announce itself on the status topics."""

    connected = True

    def __init__(self, client: Any, qos: int):
        self.client = client
        self.qos = qos

    async def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        await self.client.publish(topic, payload, qos=self.qos, retain=retain)


def with_test_email(config: Config, address: str, sender: str | None) -> Config:
    """The config with email on for this event, to `address` only (Butler's --test-email-address)."""
    copy = config.model_copy(deep=True)
    email = copy.Butler.emailNotification
    email.enable = True
    for event in (email.reloadTaskFailure, email.reloadTaskAborted, email.reloadTaskSuccess):
        event.enable = True
        event.recipients = [address]
        event.alertEnableByCustomProperty.enable = False
        event.alertEnabledByEmailAddress.customPropertyName = ""
        event.appOwnerAlert.enable = False
        if sender:
            event.fromAddress = sender
    return copy


async def send_test_alert(config: Config, enriched: EnrichedEvent, channels: tuple[str, ...]) -> list[Outcome]:
    """Every message the chosen, switched-on channels build for `enriched`, sent now; one outcome
    per message, or one per channel that sends nothing (and why)."""
    from qbutler.alerts.http import HttpSender
    from qbutler.alerts.service import build_channels

    on = switched_on(config)
    outcomes = [Outcome(name, "-", False, f"off: Butler.{SECTIONS[name]}.enable is false")
                for name in channels if not on[name]]
    active = tuple(name for name in channels if on[name])
    http = HttpSender(timeout=config.Butler.alertDelivery.timeoutSeconds)
    try:
        async with _mqtt_connection(config, "mqtt" in active) as mqtt:
            built = build_channels(config, http, mqtt)  # type: ignore[arg-type]
            for name in active:
                channel = built[name]
                if name == "mqtt" and mqtt is None:
                    outcomes.append(Outcome(name, "-", False, "the broker did not accept a connection"))
                    continue
                outcomes += await _send_all(name, channel, enriched)
    finally:
        await http.aclose()
    order = {name: index for index, name in enumerate(channels)}
    return sorted(outcomes, key=lambda outcome: order[outcome.channel])


async def _send_all(name: str, channel: Channel, enriched: EnrichedEvent) -> list[Outcome]:
    messages = channel.messages(enriched)
    if not messages:
        return [Outcome(name, "-", False, f"no message: the {enriched.event.outcome} event is off for this "
                                          "channel, or its custom-property rule excludes the task")]
    outcomes = []
    for message in messages:
        try:
            await channel.send(message.payload)
        except DeliveryError as exc:
            outcomes.append(Outcome(name, message.target, False, str(exc)))
        else:
            outcomes.append(Outcome(name, message.target, True, "delivered"))
    return outcomes


@contextlib.asynccontextmanager
async def _mqtt_connection(config: Config, wanted: bool) -> AsyncIterator[_DirectMqtt | None]:
    """A connected `_DirectMqtt`, or None when not wanted or the broker refuses (then reported)."""
    if not wanted:
        yield None
        return
    import aiomqtt

    from qbutler.mqtt import broker_client, broker_tls_context

    settings = config.Butler.mqttConfig
    try:
        client = broker_client(config, f"qbutler-test-alert-{uuid.uuid4().hex[:8]}", broker_tls_context(config),
                               settings.publishTimeoutSeconds)
    except RuntimeError:  # an unusable TLS file, named by doctor
        yield None
        return
    try:
        await asyncio.wait_for(client.__aenter__(), settings.publishTimeoutSeconds * 2)
    except (aiomqtt.MqttError, OSError, TimeoutError):
        yield None
        return
    try:
        yield _DirectMqtt(client, settings.qos)
    finally:
        await client.__aexit__(None, None, None)
