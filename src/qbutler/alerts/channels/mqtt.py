"""MQTT (`Butler.mqttConfig`): the task name on the failure/aborted topic, and the full JSON.

Failures and aborts are reload tasks only, as in Butler. qbutler adds "Sense is done": the success
of any task type on `taskSuccessTopic` (task name) and `taskSuccessFullTopic` (the full JSON,
shaped like the failure payload), optionally kept retained per task.

Publishing goes through the service's MQTT client (`qbutler.mqtt`). While the broker is
unreachable the message stays in the alert outbox (durable) instead of the client's in-memory one.
"""

from __future__ import annotations

from typing import Any

import orjson

from qbutler.alerts.channels.base import DeliveryError, Message, about, delivery_id, enabled_for_task
from qbutler.alerts.context import custom_properties, tag_names
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent
from qbutler.mqtt import MqttClient, MqttUnavailable


def full_payload(enriched: EnrichedEvent) -> dict[str, Any]:
    """Butler's `task_failure_full` / `task_aborted_full` JSON, keys in Butler's order."""
    event = enriched.event
    payload: dict[str, Any] = {
        "hostName": event.hostName, "user": event.user.replace("\\\\", "\\"), "taskName": event.taskName,
        "taskId": event.taskId, "appName": event.appName, "appId": event.appId,
        "logTimeStamp": event.logTimeStamp, "logLevel": event.logLevel, "executionId": event.executionId,
        "logMessage": event.logMessage, "qs_appTags": tag_names(enriched.app),
        "qs_appCustomProperties": custom_properties(enriched.app), "qs_taskTags": tag_names(enriched.task),
        "qs_taskCustomProperties": custom_properties(enriched.task),
    }
    if event.outcome == "aborted":
        payload["qs_appMetadata"] = enriched.app or {}
    payload["qs_taskMetadata"] = enriched.task
    return payload


class MqttChannel:
    name = "mqtt"

    def __init__(self, config: Config, client: MqttClient | None):
        self.settings = config.Butler.mqttConfig
        self.client = client

    def messages(self, enriched: EnrichedEvent) -> list[Message]:
        outcome = enriched.event.outcome
        if not self.settings.enable or self.client is None:
            return []
        settings = self.settings
        if outcome == "success":
            return self._success(enriched)
        if outcome not in ("failed", "aborted") or enriched.task_type != 0:
            return []
        topic, full_topic, send_full = (
            (settings.taskFailureTopic, settings.taskFailureFullTopic, settings.taskFailureSendFull)
            if outcome == "failed" else
            (settings.taskAbortedTopic, settings.taskAbortedFullTopic, settings.taskAbortedSendFull))
        messages = [self._message(enriched, topic, enriched.event.taskName)]
        if send_full:
            messages.append(self._message(enriched, full_topic, self._full_json(enriched, full_topic)))
        return messages

    def _success(self, enriched: EnrichedEvent) -> list[Message]:
        settings = self.settings
        if not enabled_for_task(enriched, settings.taskSuccessAlertEnableByCustomProperty):
            return []
        messages = []
        if settings.taskSuccessTopic:
            messages.append(self._message(enriched, settings.taskSuccessTopic, enriched.event.taskName))
        if settings.taskSuccessFullTopic:
            topic = settings.taskSuccessFullTopic
            messages.append(self._message(enriched, topic, self._full_json(enriched, topic)))
            if settings.taskSuccessRetainPerTask:
                per_task = f"{topic}/{enriched.event.taskId}"
                messages.append(self._message(enriched, per_task, self._full_json(enriched, per_task), retain=True))
        return messages

    def _full_json(self, enriched: EnrichedEvent, topic: str) -> str:
        """Butler's full JSON, then qbutler's delivery id for this topic."""
        return orjson.dumps({**full_payload(enriched), "deliveryId": delivery_id(enriched, self.name, topic)}).decode()

    def _message(self, enriched: EnrichedEvent, topic: str, text: str, retain: bool = False) -> Message:
        payload: dict[str, Any] = {"topic": topic, "payload": text}
        if retain:
            payload["retain"] = True
        return Message(channel=self.name, target=topic, about=about(enriched), payload=payload)

    async def send(self, payload: dict[str, Any]) -> None:
        if self.client is None:
            raise DeliveryError("MQTT is disabled (Butler.mqttConfig.enable)", retryable=False)
        if not self.client.connected:
            raise DeliveryError(f"MQTT broker not connected; {payload['topic']} kept for later", retryable=True)
        try:
            await self.client.publish(payload["topic"], payload["payload"], retain=payload.get("retain", False))
        except MqttUnavailable as exc:
            raise DeliveryError(str(exc), retryable=True) from None

    async def aclose(self) -> None:
        """The MQTT client belongs to the service."""
