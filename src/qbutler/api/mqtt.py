"""PUT /v4/mqttpublishmessage (REST reference §5.1)."""

from __future__ import annotations

from typing import Any

from qbutler.api.http import HttpError, Request, Response, json_response
from qbutler.api.routing import RouteTable, body_fields
from qbutler.mqtt import InvalidTopic, MqttUnavailable

routes = RouteTable("MQTT")


@routes.put(
    "/v4/mqttpublishmessage",
    switch="mqttPublishMessage",
    scope="messages",
    changes=body_fields("topic"),
    summary="Publish a message to an MQTT topic",
    description="Published at the configured QoS (default 1), not retained. While the broker is unreachable "
                "the message waits in qbutler's outbox and is sent after reconnecting; 503 when MQTT is "
                "disabled or the outbox is full.",
    body={"type": "object", "required": ["topic", "message"],
          "properties": {"topic": {"type": "string"}, "message": {"type": "string"}}},
    documented={201: "The request body, echoed", 400: "Invalid request, or a topic that cannot be published to",
                503: "MQTT is disabled, or the broker is unreachable and the outbox is full"},
)
async def publish_message(request: Request, ctx: Any) -> Response:
    if ctx.mqtt is None:
        raise HttpError(503, "Failed publishing MQTT message: MQTT is disabled (Butler.mqttConfig.enable)")
    body = request.json
    try:
        await ctx.mqtt.publish(body["topic"], body["message"])
    except InvalidTopic as exc:
        raise HttpError(400, f"body/topic cannot be published to: {exc}") from None
    except MqttUnavailable as exc:
        raise HttpError(503, f"Failed publishing MQTT message: {exc}") from None
    # Butler echoes the whole body, unknown fields included.
    return json_response(body, 201)
