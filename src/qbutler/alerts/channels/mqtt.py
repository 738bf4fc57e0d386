"""MQTT (`Butler.mqttConfig`): the task name on the failure/aborted topic, and the full JSON.

Publishing goes through the service's MQTT client (`qbutler.mqtt`). While the broker is
unreachable the message stays in the alert outbox (durable) instead of the client's in-memory one.
"""

from __future__ import annotations

from typing import Any

import orjson

from qbutler.alerts.channels.base import DeliveryError, Message, about, delivery_id
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent
from qbutler.mqtt import MqttClient, MqttUnavailable


def _cps(entity: dict[str, Any] | None) -> list[dict[str, str]]:
    return [{"name": (cp.get("definition") or {}).get("name", ""), "value": cp.get("value", "")}
            for cp in (entity or {}).get("customProperties") or []]


def _tags(entity: dict[str, Any] | None) -> list[str]:
    return [tag.get("name", "") for tag in (entity or {}).get("tags") or []]


def full_payload(enriched: EnrichedEvent) -> dict[str, Any]:
    """Butler's `task_failure_full` / `task_aborted_full` JSON, keys in Butler's order."""
    event = enriched.event
    payload: dict[str, Any] = {
        "hostName": event.hostName, "user": event.user.replace("\\\\", "\\"), "taskName": event.taskName,
        "taskId": event.taskId, "appName": event.appName, "appId": event.appId,
        "logTimeStamp": event.logTimeStamp, "logLevel": event.logLevel, "executionId": event.executionId,
        "logMessage": event.logMessage, "qs_appTags": _tags(enriched.app),
        "qs_appCustomProperties": _cps(enriched.app), "qs_taskTags": _tags(enriched.task),
        "qs_taskCustomProperties": _cps(enriched.task),
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
        if not self.settings.enable or self.client is None or outcome not in ("failed", "aborted"):
            return []
        settings = self.settings
        topic, full_topic, send_full = (
            (settings.taskFailureTopic, settings.taskFailureFullTopic, settings.taskFailureSendFull)
            if outcome == "failed" else
            (settings.taskAbortedTopic, settings.taskAbortedFullTopic, settings.taskAbortedSendFull))
        messages = [Message(channel=self.name, target=topic, about=about(enriched),
                            payload={"topic": topic, "payload": enriched.event.taskName})]
        if send_full:
            messages.append(Message(channel=self.name, target=full_topic, about=about(enriched),
                                    payload={"topic": full_topic, "payload": orjson.dumps(
                                        {**full_payload(enriched),
                                         "deliveryId": delivery_id(enriched, self.name, full_topic)}).decode()}))
        return messages

    async def send(self, payload: dict[str, Any]) -> None:
        if self.client is None:
            raise DeliveryError("MQTT is disabled (Butler.mqttConfig.enable)", retryable=False)
        if not self.client.connected:
            raise DeliveryError(f"MQTT broker not connected; {payload['topic']} kept for later", retryable=True)
        try:
            await self.client.publish(payload["topic"], payload["payload"])
        except MqttUnavailable as exc:
            raise DeliveryError(str(exc), retryable=True) from None

    async def aclose(self) -> None:
        """The MQTT client belongs to the service."""
