"""The heartbeat (`Butler.heartbeat`): a GET to `remoteURL` at start-up and at `frequency`, so a
monitoring tool knows qbutler is alive. The answer is ignored; failures are logged with back-off
(see loop.Monitor) and never stop anything."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from qbutler.config import Config
from qbutler.http_client import load_http_client
from qbutler.watch.loop import Monitor

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("qbutler.watch.heartbeat")


class Heartbeat(Monitor):
    name = "heartbeat"

    def __init__(self, config: Config):
        settings = config.Butler.heartbeat
        super().__init__(settings.frequency)
        self.url = settings.remoteURL
        self.timeout = settings.timeoutSeconds
        self._http: aiohttp.ClientSession | None = None
        self.sent = 0

    async def stop(self) -> None:
        await super().stop()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def check(self) -> None:
        if self._http is None:
            await load_http_client()
            import aiohttp

            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        async with self._http.get(self.url) as answer:
            await answer.read()
        self.sent += 1
        log.debug("Heartbeat sent to %s: %d", self.url, answer.status)
