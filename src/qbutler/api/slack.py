"""PUT /v4/slackpostmessage (REST reference §5.2)."""

from __future__ import annotations

import logging
from typing import Any

from qbutler.alerts.channels.base import Message
from qbutler.alerts.channels.slack import rest_message_body
from qbutler.alerts.http import safe_target
from qbutler.api.http import HttpError, Request, Response, json_response
from qbutler.api.routing import RouteTable, body_fields

log = logging.getLogger("qbutler.api.slack")

routes = RouteTable("Slack")


@routes.put(
    "/v4/slackpostmessage",
    switch="slackPostMessage",
    scope="messages",
    changes=body_fields("channel"),
    summary="Send a basic message to Slack",
    description="Posted to `Butler.slackNotification.restMessage.webhookURL` as plain text with the given "
                "user name, channel and emoji. The message goes through qbutler's alert outbox: it is "
                "retried when Slack is unreachable or answers 5xx/429 and survives a restart; the answer "
                "does not wait for Slack.",
    body={"type": "object", "required": ["channel", "from_user", "msg"],
          "properties": {"channel": {"type": "string"}, "from_user": {"type": "string"},
                         "msg": {"type": "string"}, "emoji": {"type": "string"}}},
    documented={201: "The message fields, echoed", 400: "Invalid request",
                500: "The message could not be queued"},
)
async def slack_post_message(request: Request, ctx: Any) -> Response:
    body = request.json
    emoji = body.get("emoji")
    url = ctx.config.Butler.slackNotification.restMessage.webhookURL
    if url:
        message = Message(channel="slack", target=safe_target(url), about={"source": "PUT /v4/slackpostmessage"},
                          payload={"url": url, "body": rest_message_body(body["channel"], body["from_user"],
                                                                         body["msg"], emoji)})
        try:
            await ctx.alerts.deliverer.submit(message)
        except OSError as exc:
            raise HttpError(500, "Failed sending Slack message") from exc
    else:
        # Butler answers 201 here too (its send fails and is logged).
        log.warning("PUT /v4/slackpostmessage: Butler.slackNotification.restMessage.webhookURL is not set; "
                    "message not sent")
    echo = {"channel": body["channel"], "from_user": body["from_user"], "msg": body["msg"]}
    if emoji is not None:
        echo["emoji"] = emoji
    return json_response(echo, 201)
