"""Time for the scheduler, behind a small interface so tests can drive it without waiting."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock time in epoch seconds."""

    async def sleep_until(self, when: float) -> None:
        """Return at (or just after) wall-clock time `when`."""


class SystemClock:
    # Sleep in slices so a wall-clock step (NTP, suspend) is noticed within a minute.
    slice_seconds = 60.0

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        delay = when - time.time()
        while delay > 0:
            await asyncio.sleep(min(delay, self.slice_seconds))
            delay = when - time.time()
