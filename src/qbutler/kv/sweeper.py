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
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        # A sweep in progress finishes rather than being cancelled halfway through a command
        # (an interrupted Redis call can leave its connection unusable).
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
            if self._stopping.is_set():
                return
            try:
                removed = await self._sweep()
            except Exception:
                # A failed sweep (e.g. Redis briefly down) is retried next time; reads already
                # hide expired keys, so nothing user-visible depends on it.
                log.exception("Sweeping expired keys failed")
            else:
                if removed:
                    log.debug("Removed %d expired keys", removed)
