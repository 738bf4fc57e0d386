"""A background task that removes expired keys every so often, whatever the backend."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("qbutler.kv")


class Sweeper:
    def __init__(self, sweep: Callable[[], Awaitable[int]], interval: float):
        self._sweep = sweep
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                removed = await self._sweep()
            except Exception:
                # A failed sweep (e.g. Redis briefly down) is retried next time; reads already
                # hide expired keys, so nothing user-visible depends on it.
                log.exception("Sweeping expired keys failed")
            else:
                if removed:
                    log.debug("Removed %d expired keys", removed)
