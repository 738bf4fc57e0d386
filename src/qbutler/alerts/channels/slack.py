"""Slack incoming webhooks (`Butler.slackNotification`): Block Kit messages."""

from __future__ import annotations

from typing import Any

import httpx

from qbutler.alerts.channels.base import EVENT_KEYS, Message, about, enabled_for_task, post_json, safe_target
from qbutler.alerts.channels.chat import chat_content
from qbutler.alerts.config import SlackEvent
from qbutler.alerts.context import build_context
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent

# A section's text may hold 3000 characters; leave room for the labels around an excerpt.
TEXT_LIMIT = 2800
HEADER_LIMIT = 150


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def basic_blocks(text: str, qmc: str, hub: str) -> list[dict[str, Any]]:
    buttons = [{"type": "button", "style": "primary", "text": {"type": "plain_text", "text": label}, "url": url}
               for label, url in (("Open QMC", qmc), ("Open Hub", hub)) if url]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(text or " ", HEADER_LIMIT)}},
        {"type": "divider"},
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def rest_message_body(channel: str, from_user: str, msg: str, emoji: str | None) -> dict[str, Any]:
    """The body Butler posts for PUT /v4/slackpostmessage (plain text, so no markdown)."""
    body: dict[str, Any] = {"username": from_user, "channel": channel}
    if emoji is not None:
        body["icon_emoji"] = emoji
    body["blocks"] = [{"type": "section", "text": {"type": "plain_text", "text": _cut(msg or " ", 3000)}}]
    return body


class SlackChannel:
    name = "slack"

    def __init__(self, config: Config, client: httpx.AsyncClient):
        self.config = config
        self.settings = config.Butler.slackNotification
        self.client = client

    def messages(self, enriched: EnrichedEvent) -> list[Message]:
        key = EVENT_KEYS[enriched.event.outcome]
        event: SlackEvent | None = getattr(self.settings, key, None)
        if not self.settings.enable or event is None or not event.enable or not event.webhookURL:
            return []
        if not enabled_for_task(enriched, event.alertEnableByCustomProperty):
            return []
        context = build_context(enriched, self.config, head_lines=event.headScriptLogLines,
                                tail_lines=event.tailScriptLogLines, text_limit=TEXT_LIMIT, user_slashes=True)
        body: dict[str, Any] = {"username": event.fromUser, "channel": event.channel, "icon_emoji": event.iconEmoji}
        body.update(chat_content(self.config, event, context, channel="Slack", default="slack-reload.hbs",
                                 basic=lambda text, qmc, hub: {"blocks": basic_blocks(text, qmc, hub)}))
        return [Message(channel=self.name, target=safe_target(event.webhookURL),
                        payload={"url": event.webhookURL, "body": body},
                        rate_key=f"slack|{key}|{enriched.event.taskId}", rate_seconds=event.rateLimit,
                        about=about(enriched))]

    async def send(self, payload: dict[str, Any]) -> None:
        await post_json(self.client, payload["url"], payload["body"])

    async def aclose(self) -> None:
        """The HTTP client is shared and closed by its owner."""
