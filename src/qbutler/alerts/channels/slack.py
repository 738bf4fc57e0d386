"""Slack (`Butler.slackNotification`): Block Kit messages through incoming webhooks or, for
`/v4/slackpostmessage` with a bot token, the Web API; alerts may mention people.

Outbox payloads of this channel:
- `{"url", "body"}`: one webhook post (alerts carry `mention`, the people to mention, resolved
  when sent);
- `{"url", "bodies"}` or `{"webApi": true, "bodies"}`: a long message in parts, posted in order.
"""

from __future__ import annotations

import logging
from typing import Any

from qbutler.alerts.channels.base import DeliveryError, Message, event_section
from qbutler.alerts.channels.chat import WebhookChatChannel, chat_content
from qbutler.alerts.config import SlackEvent
from qbutler.alerts.http import HttpSender
from qbutler.alerts.slack_api import SlackApiError, SlackWebApi
from qbutler.alerts.slack_text import escape, section_block
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent

log = logging.getLogger("qbutler.alerts.slack")

# A section's text may hold 3000 characters; leave room for the labels around an excerpt.
TEXT_LIMIT = 2800
HEADER_LIMIT = 150
OWNER = "@owner"


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


def mention_refs(event: SlackEvent, enriched: EnrichedEvent) -> list[str]:
    """Whom an alert mentions: the configured users (`@owner` = the app owner's email) and the
    values of the task's mention custom property, once each, in that order."""
    refs: list[str] = []
    owner = enriched.owner
    for ref in [*event.mention.users, *(enriched.task_custom_property(event.mention.customPropertyName)
                                         if event.mention.customPropertyName else [])]:
        ref = ref.strip()
        if ref.lower() == OWNER:
            if owner is None or not owner.emails:
                log.info("Slack alert for task %s: the app owner has no email address to mention",
                         enriched.event.taskId)
                continue
            ref = owner.emails[0]
        if ref and ref not in refs:
            refs.append(ref)
    return refs


def with_mentions(body: dict[str, Any], line: str) -> dict[str, Any]:
    """`body` with a mrkdwn section naming the people (after a leading header) and the names in
    front of the notification text."""
    blocks = list(body.get("blocks") or [])
    at = 1 if blocks and blocks[0].get("type") == "header" else 0
    blocks.insert(at, section_block(line, "mrkdwn"))
    text = body.get("text")
    return {**body, "blocks": blocks, "text": f"{line} {text}" if text else line}


class SlackChannel(WebhookChatChannel):
    name = "slack"
    text_limit = TEXT_LIMIT

    def __init__(self, config: Config, http: HttpSender):
        super().__init__(config, http)
        rest = self.settings.restMessage
        # The bot token serves /v4/slackpostmessage and finds the people alerts mention.
        self.api = SlackWebApi(http, rest.apiUrl, rest.botToken, max_wait=rest.maxWaitSeconds) \
            if rest.botToken else None

    def section(self, config: Config) -> Any:
        return config.Butler.slackNotification

    def body(self, event: SlackEvent, context: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"username": event.fromUser, "channel": event.channel, "icon_emoji": event.iconEmoji}
        body.update(chat_content(self.config, event, context, channel="Slack", default="slack-reload.hbs",
                                 basic=lambda text, qmc, hub: {"blocks": basic_blocks(text, qmc, hub)}))
        return body

    def messages(self, enriched: EnrichedEvent) -> list[Message]:
        messages = super().messages(enriched)
        if messages:
            refs = mention_refs(event_section(self.settings, enriched.event_key), enriched)
            if refs:
                for message in messages:
                    message.payload["mention"] = refs
        return messages

    async def send(self, payload: dict[str, Any]) -> None:
        if "bodies" not in payload:
            body = payload["body"]
            if payload.get("mention"):
                body = with_mentions(body, await self.mention_line(payload["mention"]))
            await self.http.post_json(payload["url"], body)
            return
        parts: list[dict[str, Any]] = payload["bodies"]
        while parts:
            if payload.get("webApi"):
                await self.post_via_api(parts[0])
            else:
                await self.http.post_json(payload["url"], parts[0])
            # Dropped once delivered: a retry (and the outbox record written before it) goes on
            # with the parts not yet sent.
            parts.pop(0)

    async def post_via_api(self, body: dict[str, Any]) -> dict[str, Any]:
        """chat.postMessage; Slack's refusals as a DeliveryError (retryable when rate limited)."""
        if self.api is None:
            raise DeliveryError("Slack Web API message, but Butler.slackNotification.restMessage.botToken "
                                "is no longer set", retryable=False)
        try:
            # No waiting here: the outbox retries after Retry-After.
            return await self.api.post_message(body)
        except SlackApiError as exc:
            raise DeliveryError(str(exc), retryable=exc.error == "ratelimited",
                                retry_after=exc.retry_after) from None

    async def mention_line(self, refs: list[str]) -> str:
        """`<@U…>` for everyone Slack knows; the others as plain text."""
        names = []
        for ref in refs:
            user_id = await self.user_id(ref)
            names.append(f"<@{user_id}>" if user_id else escape(ref))
        return " ".join(names)

    async def user_id(self, ref: str) -> str | None:
        """Slack's id of a member id, email address or @name; None (logged) when not found."""
        if self.api is None:
            found = SlackWebApi.member_id(ref)
            if found is None:
                log.warning("Slack: cannot look up %r without a bot token (restMessage.botToken)", ref)
            return found
        try:
            destination = await self.api.destination(ref if "@" in ref or SlackWebApi.member_id(ref) else f"@{ref}")
        except (SlackApiError, DeliveryError) as exc:
            # The alert matters more than the mention: it goes out with the name as text.
            log.warning("Slack mention of %r left as text: %s", ref, exc)
            return None
        return destination.id if destination.direct else None
