"""The interface every alert channel implements, and what they share.

A channel turns an enriched event into zero or more `Message`s (routing, recipients, rendering),
which are plain JSON data so the outbox can keep them across restarts, and later sends one
message's payload, raising `DeliveryError` to say whether trying again can help.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from qbutler.alerts.config import AlertEnableByCustomProperty
from qbutler.events.enrich import EnrichedEvent

log = logging.getLogger("qbutler.alerts")



# uuid5 namespace of delivery ids (any fixed value: ids only need to be equal for equal inputs).
_DELIVERY_IDS = uuid.UUID("6f1c2d4e-8a3b-5c7d-9e0f-1a2b3c4d5e6f")


def delivery_id(enriched: EnrichedEvent, channel: str, target: str) -> str:
    """The same for every attempt to send one event's alert to one target, across retries,
    restarts and a re-processed event, so a receiver can drop a repeat (docs/alerts.md)."""
    return str(uuid.uuid5(_DELIVERY_IDS, f"{enriched.event.executionId}|{channel}|{target}"))


class DeliveryError(Exception):
    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class Message:
    channel: str
    # Where it goes, for logs (a URL without its secret path, an address, a topic).
    target: str
    payload: dict[str, Any]
    # Rate-limit key and window; an empty key means not rate limited.
    rate_key: str = ""
    rate_seconds: float = 0.0
    # What it is about, for logs and the activity feed.
    about: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    created: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        # Shallow: the payload is already plain JSON data (asdict would deep-copy it).
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(**data)


class Channel(Protocol):
    name: str

    def messages(self, enriched: EnrichedEvent) -> list[Message]:
        """What this channel sends for the event (empty when it is off for it)."""

    async def send(self, payload: dict[str, Any]) -> None:
        """Deliver one message; DeliveryError on failure."""

    async def aclose(self) -> None: ...


def about(enriched: EnrichedEvent) -> dict[str, Any]:
    event = enriched.event
    return {"outcome": event.outcome, "taskType": enriched.type_name, "taskId": event.taskId,
            "taskName": event.taskName, "executionId": event.executionId}


def event_section(settings: Any, key: str) -> Any:
    """The channel's section for event `key` (`preloadTaskFailure`, ...), None if it has none.

    Only declared sections count: unknown keys kept from the file are no switch.
    """
    return getattr(settings, key) if key in type(settings).model_fields else None


def rate_subject(enriched: EnrichedEvent) -> str:
    """What a rate limit counts per: the task, or the app for a reload outside the scheduler."""
    return enriched.event.taskId or f"app:{enriched.event.appId}"


def enabled_for_task(enriched: EnrichedEvent, rule: AlertEnableByCustomProperty) -> bool:
    """All tasks, or only those whose custom property has the enabling value."""
    if not rule.enable:
        return True
    return rule.enabledValue in enriched.task_custom_property(rule.customPropertyName)
