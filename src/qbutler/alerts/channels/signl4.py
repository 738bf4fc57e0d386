"""Signl4 (`Butler.incidentTool.signl4`): a failed or aborted reload opens an alert on the team's
webhook, correlated by task id (butler-monitoring.md §4.7). Like Butler, qbutler only opens
alerts: a later success does not resolve them.
"""

from __future__ import annotations

from typing import Any

from qbutler.alerts.channels.base import Message, about, delivery_id, event_section, rate_subject
from qbutler.alerts.config import Signl4Event
from qbutler.alerts.http import HttpSender, safe_target
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent

TITLES = {"failed": "Qlik Sense reload task failed", "aborted": "Qlik Sense task aborted"}
# Signl4 shows the message as text; a task name is short, but the field is not unbounded.
MESSAGE_LIMIT = 1000


def signl4_body(enriched: EnrichedEvent, event: Signl4Event, url: str) -> dict[str, Any]:
    """Butler's body, keys in its order, then qbutler's `deliveryId`."""
    subject = enriched.event.taskName or f"(reload of app {enriched.event.appName or enriched.event.appId})"
    return {"Title": TITLES[enriched.event.outcome], "Message": f"Task: {subject}"[:MESSAGE_LIMIT],
            "Severity": event.severity, "X-S4-Service": event.serviceName,
            "X-S4-ExternalID": rate_subject(enriched), "X-S4-Status": "new",
            "deliveryId": delivery_id(enriched, "signl4", url)}


class Signl4Channel:
    name = "signl4"

    def __init__(self, config: Config, http: HttpSender):
        self.settings = config.Butler.incidentTool.signl4
        self.http = http

    def messages(self, enriched: EnrichedEvent) -> list[Message]:
        settings = self.settings
        if not settings.enable or not settings.url or enriched.task_type != 0 or enriched.event.outcome not in TITLES:
            return []
        event: Signl4Event | None = event_section(settings, enriched.event_key)
        if event is None or not event.enable:
            return []
        return [Message(channel=self.name, target=safe_target(settings.url), about=about(enriched),
                        rate_key=f"signl4|{enriched.event_key}|{rate_subject(enriched)}", rate_seconds=event.rateLimit,
                        payload={"url": settings.url, "body": signl4_body(enriched, event, settings.url)})]

    async def send(self, payload: dict[str, Any]) -> None:
        await self.http.post_json(payload["url"], payload["body"])

    async def aclose(self) -> None:
        """The HTTP client is shared and closed by its owner."""
