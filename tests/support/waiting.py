"""Waiting for something a background task does (an MQTT message handled, a chained start)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def until(condition: Callable[[], Awaitable[object] | object], within: float = 5.0) -> None:
    """Poll `condition` until it is truthy; TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        while True:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.02)
