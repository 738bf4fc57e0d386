"""Microsoft Teams through a Power Automate workflow webhook (`Butler.teamsNotification`).

Workflow webhooks take a message with an Adaptive Card attachment. Butler's basic message is a
legacy connector MessageCard, which workflow webhooks do not display; qbutler sends the basic
text as a small Adaptive Card instead.
"""

from __future__ import annotations

from typing import Any

from qbutler.alerts.channels.chat import WebhookChatChannel, chat_content
from qbutler.alerts.config import ChatEvent
from qbutler.config import Config

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


class TeamsChannel(WebhookChatChannel):
    name = "teams"
    text_limit = TEXT_LIMIT

    def section(self, config: Config) -> Any:
        return config.Butler.teamsNotification

    def body(self, event: ChatEvent, context: dict[str, Any]) -> dict[str, Any]:
        return chat_content(self.config, event, context, channel="Teams", default="teams-reload.hbs",
                            basic=basic_card)
