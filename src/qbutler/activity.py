"""A feed of what the service just did (a task started, a schedule fired, an alert delivered…).

Components publish short records; the demo's live view, and later a dashboard, read them. Nothing
depends on anyone listening: publishing is a non-blocking append to a bounded ring buffer.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Activity:
    kind: str
    message: str
    time: float = field(default_factory=time.time)
    data: dict[str, Any] = field(default_factory=dict)


class ActivityFeed:
    def __init__(self, size: int = 1000):
        self._recent: deque[Activity] = deque(maxlen=size)
        self._subscribers: set[asyncio.Queue[Activity]] = set()

    def publish(self, kind: str, message: str, **data: Any) -> Activity:
        activity = Activity(kind, message, data=data)
        self._recent.append(activity)
        for queue in self._subscribers:
            if queue.full():
                # A slow reader loses its oldest record, never blocks a publisher.
                queue.get_nowait()
            queue.put_nowait(activity)
        return activity

    def recent(self, kind_prefix: str = "") -> list[Activity]:
        return [a for a in self._recent if a.kind.startswith(kind_prefix)]

    def subscribe(self, size: int = 1000) -> asyncio.Queue[Activity]:
        queue: asyncio.Queue[Activity] = asyncio.Queue(maxsize=size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Activity]) -> None:
        self._subscribers.discard(queue)
