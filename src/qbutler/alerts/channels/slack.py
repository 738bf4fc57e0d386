"""Slack incoming webhooks (`Butler.slackNotification`): Block Kit messages."""

from __future__ import annotations

from typing import Any

from qbutler.alerts.channels.chat import WebhookChatChannel, chat_content
from qbutler.alerts.config import SlackEvent
from qbutler.config import Config

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


class SlackChannel(WebhookChatChannel):
    name = "slack"
    text_limit = TEXT_LIMIT

    def section(self, config: Config) -> Any:
        return config.Butler.slackNotification

    def body(self, event: SlackEvent, context: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"username": event.fromUser, "channel": event.channel, "icon_emoji": event.iconEmoji}
        body.update(chat_content(self.config, event, context, channel="Slack", default="slack-reload.hbs",
                                 basic=lambda text, qmc, hub: {"blocks": basic_blocks(text, qmc, hub)}))
        return body
