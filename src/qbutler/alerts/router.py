"""Routing an enriched event to the channels that want it, through the rate limits to delivery."""

from __future__ import annotations

import asyncio
import logging

from qbutler.alerts.channels.base import Channel, Message
from qbutler.alerts.delivery import Deliverer
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent

log = logging.getLogger("qbutler.alerts.router")


# Each channel's Butler section: its `enable` switches the channel on for new events.
SECTIONS = {"slack": "slackNotification", "teams": "teamsNotification", "email": "emailNotification",
            "webhook": "webhookNotification", "mqtt": "mqttConfig", "newrelic": "incidentTool.newRelic",
            "signl4": "incidentTool.signl4"}


def switched_on(config: Config) -> dict[str, bool]:
    def section(path: str) -> object:
        node: object = config.Butler
        for part in path.split("."):
            node = getattr(node, part)
        return node

    return {name: bool(section(path).enable) for name, path in SECTIONS.items()}  # type: ignore[attr-defined]


class Router:
    def __init__(self, channels: dict[str, Channel], deliverer: Deliverer):
        self.channels = channels
        self.deliverer = deliverer

    def wants_script_log(self) -> bool:
        """MQTT, webhooks and Signl4 carry no script log; the other channels need it fetched."""
        return any(name in self.channels for name in ("slack", "teams", "email", "newrelic"))

    async def route(self, enriched: EnrichedEvent) -> tuple[int, int]:
        """Queue every message the event calls for: (queued, built); rate-limited ones are built, not queued."""
        messages = []
        for name, channel in self.channels.items():
            try:
                messages.extend(channel.messages(enriched))
            except Exception:
                # One channel's bug must not cost the other channels their alert.
                log.exception("Building the %s alert for task %s failed", name, enriched.event.taskId)
        return await self.submit(messages), len(messages)

    async def submit(self, messages: list[Message]) -> int:
        """Queue messages already built (task or site alerts); the number queued."""
        # Together, so they share one outbox write; one failed write does not stop the others.
        results = await asyncio.gather(*(self.deliverer.submit(m) for m in messages), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(results)
