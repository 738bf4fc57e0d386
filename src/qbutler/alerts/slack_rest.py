"""A load script's Slack message (`PUT /v4/slackpostmessage`).

Without a bot token the message goes to `restMessage.webhookURL` through the alert outbox, as
Butler's would (retried, kept across restarts; the caller does not wait for Slack). With a bot
token it goes through `chat.postMessage` before the caller gets an answer, so a wrong channel, a
missing invitation or a bad token comes back to the script; only when Slack cannot be reached
(or answers 5xx) are the remaining parts left to the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from qbutler.alerts.channels.base import DeliveryError, Message
from qbutler.alerts.channels.slack import SlackChannel
from qbutler.alerts.config import SlackRestMessage
from qbutler.alerts.http import safe_target
from qbutler.alerts.slack_api import SlackApiError
from qbutler.alerts.slack_text import Format, escape, grouped, section_block, split_sections, to_mrkdwn

log = logging.getLogger("qbutler.alerts.slack")

SOURCE = {"source": "PUT /v4/slackpostmessage"}


@dataclass
class Posted:
    """What was done with a message."""

    format: Format
    via: Literal["webhook", "webApi"]
    # sent: Slack took every part; queued: (the rest) waits in the outbox, retried until Slack takes it.
    delivery: Literal["sent", "queued"]
    sections: int
    messages: int
    # Web API: Slack's id of the channel or person, and the timestamps of the posted messages.
    channel: str = ""
    ts: list[str] = field(default_factory=list)


def message_bodies(head: dict[str, Any], sections: list[str], kind: str, fallback: str | None) -> list[dict[str, Any]]:
    """One body per group of sections; `fallback` is the `text` field's form ("mrkdwn" or "plain")."""
    bodies = []
    for group in grouped(sections):
        body = dict(head)
        if fallback is not None:
            joined = "\n".join(group)
            body["text"] = joined if fallback == "mrkdwn" else escape(joined)
            if fallback == "plain":
                body["mrkdwn"] = False
        body["blocks"] = [section_block(text, kind) for text in group]
        bodies.append(body)
    return bodies


class RestMessages:
    def __init__(self, settings: SlackRestMessage, channel: SlackChannel,
                 submit: Callable[[Message], Awaitable[bool]]):
        self.settings = settings
        self.channel = channel
        self.submit = submit

    async def post(self, channel: str, from_user: str, msg: str, emoji: str | None,
                   format: Format | None = None) -> Posted | None:
        """Send (or queue) the message; None when neither a bot token nor a webhook is configured.
        SlackApiError when Slack refuses it, DeliveryError when Slack cannot be asked, OSError when
        the outbox cannot be written."""
        chosen: Format = format or self.settings.format
        if self.channel.api is not None:
            return await self._web_api(channel, from_user, msg, emoji, chosen)
        if not self.settings.webhookURL:
            return None
        return await self._webhook(channel, from_user, msg, emoji, chosen)

    async def _webhook(self, channel: str, from_user: str, msg: str, emoji: str | None, chosen: Format) -> Posted:
        url = self.settings.webhookURL
        head: dict[str, Any] = {"username": from_user, "channel": channel}
        if emoji is not None:
            head["icon_emoji"] = emoji
        if chosen == "mrkdwn":
            sections = split_sections(await to_mrkdwn(msg), markup=True)
            # Butler's body for plain text; mrkdwn adds the notification text.
            bodies = message_bodies(head, sections, "mrkdwn", "mrkdwn")
        else:
            sections = split_sections(msg, markup=False)
            bodies = message_bodies(head, sections, "plain_text", None)
        payload: dict[str, Any] = {"url": url, "body": bodies[0]} if len(bodies) == 1 else {"url": url,
                                                                                             "bodies": bodies}
        await self.submit(Message(channel="slack", target=safe_target(url), payload=payload, about=dict(SOURCE)))
        return Posted(chosen, "webhook", "queued", len(sections), len(bodies))

    async def _web_api(self, channel: str, from_user: str, msg: str, emoji: str | None, chosen: Format) -> Posted:
        api = self.channel.api
        assert api is not None
        destination = await api.destination(channel)
        head: dict[str, Any] = {"channel": destination.id, "username": from_user}
        if emoji:
            head["icon_emoji"] = f":{emoji.strip(':')}:"
        if chosen == "mrkdwn":
            text = await to_mrkdwn(msg, api.user_by_name, api.channel_by_name)
            sections = split_sections(text, markup=True)
            bodies = message_bodies(head, sections, "mrkdwn", "mrkdwn")
        else:
            sections = split_sections(msg, markup=False)
            bodies = message_bodies(head, sections, "plain_text", "plain")
        posted = Posted(chosen, "webApi", "sent", len(sections), len(bodies), channel=destination.id)
        for number, body in enumerate(bodies):
            try:
                answer = await api.post_message(body, max_wait=self.settings.maxWaitSeconds)
            except SlackApiError as exc:
                if number == 0:
                    raise
                raise SlackApiError(exc.method, exc.error, subject=destination.id, retry_after=exc.retry_after,
                                    note=f"after {number} of {len(bodies)} messages were posted") from None
            except DeliveryError as exc:
                if not exc.retryable:
                    raise
                log.warning("Slack Web API unreachable (%s): %d of %d message(s) queued for retry", exc,
                            len(bodies) - number, len(bodies))
                await self.submit(Message(channel="slack", target=api.target,
                                          payload={"webApi": True, "bodies": bodies[number:]}, about=dict(SOURCE)))
                posted.delivery = "queued"
                return posted
            posted.ts.append(str(answer.get("ts", "")))
        return posted
