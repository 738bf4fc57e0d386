"""Per-client fixed-window rate limit with @fastify/rate-limit's headers and 429 body."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, max_per_window: int, window_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.max = max_per_window
        self.window = window_seconds
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, client: str) -> tuple[bool, list[tuple[bytes, bytes]]]:
        """Count one request; return whether it may proceed and the headers to send."""
        now = self._clock()
        start, count = self._windows.get(client, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        if len(self._windows) > 10_000:
            self._forget_expired(now)
        count += 1
        self._windows[client] = (start, count)
        reset = max(0, math.ceil(start + self.window - now))
        allowed = count <= self.max
        headers = [
            (b"x-ratelimit-limit", str(self.max).encode()),
            (b"x-ratelimit-remaining", str(max(0, self.max - count)).encode()),
            (b"x-ratelimit-reset", str(reset).encode()),
        ]
        if not allowed:
            headers.append((b"retry-after", str(reset).encode()))
        return allowed, headers

    def retry_message(self, client: str) -> str:
        start, _ = self._windows.get(client, (self._clock(), 0))
        seconds = max(0, math.ceil(start + self.window - self._clock()))
        return f"Rate limit exceeded, retry in {seconds} seconds"

    def _forget_expired(self, now: float) -> None:
        self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self.window}
