"""Per-channel alert rate limits (`rateLimit` seconds per task, or per task and recipient).

Unlike Butler, a limit is consumed only by a delivered message: while a message for a key is on
its way, further messages for that key are held back; if it finally fails, the key is free again.
Limits live in memory, as in Butler, and pending messages reloaded from the outbox re-take theirs.
"""

from __future__ import annotations

import time


class RateLimits:
    def __init__(self) -> None:
        self._delivered: dict[str, tuple[float, float]] = {}
        self._pending: dict[str, int] = {}

    def try_hold(self, key: str, seconds: float) -> bool:
        """Reserve `key` for one message; False while it is limited or already held."""
        if seconds <= 0:
            return True
        if self._pending.get(key):
            return False
        delivered = self._delivered.get(key)
        if delivered is not None and time.monotonic() < delivered[0] + delivered[1]:
            return False
        self._pending[key] = 1
        return True

    def hold(self, key: str) -> None:
        """Re-take a hold unconditionally (a message reloaded from the outbox)."""
        self._pending[key] = self._pending.get(key, 0) + 1

    def delivered(self, key: str, seconds: float) -> None:
        self._release(key)
        if seconds > 0:
            self._delivered[key] = (time.monotonic(), seconds)

    def failed(self, key: str) -> None:
        self._release(key)

    def _release(self, key: str) -> None:
        count = self._pending.get(key, 0) - 1
        if count > 0:
            self._pending[key] = count
        else:
            self._pending.pop(key, None)
