"""Microsoft Teams through a Power Automate workflow webhook (`Butler.teamsNotification`).

Workflow webhooks take a message with an Adaptive Card attachment. Butler's basic message is a
legacy connector MessageCard, which workflow webhooks do not display; qbutler sends the basic
text as a small Adaptive Card instead.
"""

from __future__ import annotations

from typing import Any

import httpx

from qbutler.alerts.channels.base import EVENT_KEYS, Message, about, enabled_for_task, post_json, safe_target
from qbutler.alerts.channels.chat import chat_content
from qbutler.alerts.config import ChatEvent
from qbutler.alerts.context import build_context
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent

# Teams refuses messages over ~28 KB; three excerpts of this size leave room for the rest.
TEXT_LIMIT = 6000


def adaptive_card(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                    "version": "1.4", "msteams": {"width": "Full"}, "body": body, "actions": actions}}]}


def basic_card(text: str, qmc: str, hub: str) -> dict[str, Any]:
    actions = [{"type": "Action.OpenUrl", "title": title, "url": url}
               for title, url in (("Qlik Sense QMC", qmc), ("Qlik Sense Hub", hub)) if url]
    return adaptive_card([{"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True,
                           "text": text}], actions)


class TeamsChannel:
    name = "teams"

    def __init__(self, config: Config, client: httpx.AsyncClient):
        self.config = config
        self.settings = config.Butler.teamsNotification
        self.client = client

    def messages(self, enriched: EnrichedEvent) -> list[Message]:
        key = EVENT_KEYS[enriched.event.outcome]
        event: ChatEvent | None = getattr(self.settings, key, None)
        if not self.settings.enable or event is None or not event.enable or not event.webhookURL:
            return []
        if not enabled_for_task(enriched, event.alertEnableByCustomProperty):
            return []
        context = build_context(enriched, self.config, head_lines=event.headScriptLogLines,
                                tail_lines=event.tailScriptLogLines, text_limit=TEXT_LIMIT, user_slashes=True)
        return [Message(channel=self.name, target=safe_target(event.webhookURL),
                        payload={"url": event.webhookURL, "body": chat_content(
                            self.config, event, context, channel="Teams", default="teams-reload.hbs",
                            basic=basic_card)},
                        rate_key=f"teams|{key}|{enriched.event.taskId}", rate_seconds=event.rateLimit,
                        about=about(enriched))]

    async def send(self, payload: dict[str, Any]) -> None:
        await post_json(self.client, payload["url"], payload["body"])

    async def aclose(self) -> None:
        """The HTTP client is shared and closed by its owner."""
