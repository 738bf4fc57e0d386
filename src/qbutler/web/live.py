"""Server-sent events: the activity feed, pushed to every open dashboard page.

One stream per open page. It costs nothing while nothing happens but a comment every
KEEPALIVE seconds (so proxies keep the connection and a dead browser is noticed). The browser's
EventSource reconnects on its own after a qbutler restart, `retry` milliseconds later.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson

from qbutler.activity import Activity, ActivityFeed

KEEPALIVE = 20.0
RETRY_MS = 2000


def event_text(activity: Activity) -> bytes:
    # Only what happened, not the details (a key's value, a task's name): the page fetches what
    # its viewer may see, so the stream cannot show more than the pages do.
    data = {"kind": activity.kind, "time": activity.time}
    return b"event: activity\ndata: " + orjson.dumps(data) + b"\n\n"


class LiveHub:
    def __init__(self, feed: ActivityFeed):
        self.feed = feed
        self._streams: set[asyncio.Queue[Activity | None]] = set()

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    async def stream(self) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[Activity | None] = self.feed.subscribe(size=200)  # type: ignore[assignment]
        self._streams.add(queue)
        try:
            yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
            while True:
                try:
                    activity = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if activity is None:
                    return  # qbutler is stopping
                yield event_text(activity)
        finally:
            self._streams.discard(queue)
            self.feed.unsubscribe(queue)  # type: ignore[arg-type]

    def close_all(self) -> None:
        """End every stream, so stopping the HTTP server does not wait for open pages."""
        for queue in list(self._streams):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)
