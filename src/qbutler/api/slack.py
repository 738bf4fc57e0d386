"""PUT /v4/slackpostmessage (REST reference §5.2; formatting and the Web API: docs/slack.md)."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict
from typing import Any

from qbutler.alerts.channels.base import DeliveryError
from qbutler.alerts.slack_api import SlackApiError
from qbutler.api.http import HttpError, Request, Response, json_response
from qbutler.api.routing import RouteTable, body_fields

log = logging.getLogger("qbutler.api.slack")

routes = RouteTable("Slack")

# Slack's error codes as answers to the script; any other code is 502.
STATUS_BY_SLACK_ERROR = {
    "no_text": 400, "invalid_blocks": 400, "msg_too_long": 413,
    "invalid_auth": 401, "not_authed": 401, "account_inactive": 401, "token_revoked": 401, "token_expired": 401,
    "not_in_channel": 403, "is_archived": 403, "missing_scope": 403, "restricted_action": 403,
    "cannot_dm_bot": 403,
    "channel_not_found": 404, "users_not_found": 404,
    "ratelimited": 429,
}


@routes.put(
    "/v4/slackpostmessage",
    switch="slackPostMessage",
    scope="messages",
    changes=body_fields("channel"),
    summary="Send a message to Slack",
    description="Without `Butler.slackNotification.restMessage.botToken`: posted to `restMessage.webhookURL` "
                "through qbutler's alert outbox (retried, survives a restart; the answer does not wait for "
                "Slack). With a bot token: sent with Slack's `chat.postMessage` to `channel` (`#name`, a "
                "channel id, `@name`, a member id or an email address for a direct message) before the answer, "
                "and Slack's refusals come back as 4xx. `format` `mrkdwn` keeps Slack's links and mentions "
                "(`<url|text>`, `<@U…>`, `<!here>`) and resolves plain `@name`/`#channel` with a bot token; "
                "`plain` (default: `restMessage.format`) is Butler's plain text. Long messages are split "
                "into sections. Except for plain messages through the webhook, the answer adds `slack`: what "
                "was sent.",
    body={"type": "object", "required": ["channel", "from_user", "msg"],
          "properties": {"channel": {"type": "string"}, "from_user": {"type": "string"},
                         "msg": {"type": "string"}, "emoji": {"type": "string"},
                         "format": {"type": "string", "enum": ["plain", "mrkdwn"]}}},
    documented={201: "The message fields, echoed (plus `slack`, what was sent, in mrkdwn or Web API mode)",
                400: "Invalid request, or Slack refused the message's blocks",
                401: "Slack refused the bot token (invalid_auth, token_revoked, ...)",
                403: "The Slack app may not post there (not_in_channel, missing_scope, is_archived)",
                404: "No such Slack channel or user (channel_not_found, users_not_found)",
                413: "Slack says the message is too long",
                429: "Slack's rate limit; Retry-After says when to try again",
                500: "The message could not be queued",
                502: "Slack could not be reached, or refused with another error"},
)
async def slack_post_message(request: Request, ctx: Any) -> Response:
    body = request.json
    emoji = body.get("emoji")
    try:
        posted = await ctx.alerts.slack_messages.post(body["channel"], body["from_user"], body["msg"], emoji,
                                                      body.get("format"))
    except SlackApiError as exc:
        return _refused(exc)
    except DeliveryError as exc:
        raise HttpError(502, f"Failed sending Slack message: {exc}") from exc
    except OSError as exc:
        raise HttpError(500, "Failed sending Slack message") from exc
    if posted is None:
        # Butler answers 201 here too (its send fails and is logged).
        log.warning("PUT /v4/slackpostmessage: Butler.slackNotification.restMessage.webhookURL is not set; "
                    "message not sent")
    echo: dict[str, Any] = {"channel": body["channel"], "from_user": body["from_user"], "msg": body["msg"]}
    if emoji is not None:
        echo["emoji"] = emoji
    if posted is not None and (posted.via == "webApi" or posted.format == "mrkdwn"):
        echo["slack"] = asdict(posted)
    return json_response(echo, 201)


def _refused(exc: SlackApiError) -> Response:
    status = STATUS_BY_SLACK_ERROR.get(exc.error, 502)
    log.warning("PUT /v4/slackpostmessage: %s", exc)
    answer = HttpError(status, f"Failed sending Slack message: {exc}").to_response()
    if status == 429 and exc.retry_after is not None:
        answer.headers.append((b"retry-after", str(max(1, math.ceil(exc.retry_after))).encode()))
    return answer
