"""A small HTTP server standing in for Slack, Teams and webhook receivers: it records every
request it gets, so the demo can show (and check) what qbutler delivered."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from qbutler.api.server import AsgiListener


@dataclass(frozen=True)
class Received:
    channel: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    time: float = field(default_factory=time.time)

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Receiver:
    """`POST /<channel>/...` is recorded under `<channel>` (slack, teams, webhook, …)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.records: list[Received] = []
        self._arrived = asyncio.Condition()
        self._listener = AsgiListener(self._app, host, port)

    @property
    def port(self) -> int:
        return self._listener.port

    def url(self, channel: str) -> str:
        return f"http://127.0.0.1:{self.port}/{channel}"

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    def received(self, channel: str) -> list[Received]:
        return [r for r in self.records if r.channel == channel]

    async def wait_for(self, channel: str, count: int = 1) -> list[Received]:
        """Wait until `count` requests arrived on `channel` (callers bound it with asyncio.timeout)."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.received(channel)) >= count)
        return self.received(channel)

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        path = scope["path"]
        record = Received(
            channel=path.strip("/").split("/", 1)[0] or "root",
            method=scope["method"],
            path=path,
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            body=b"".join(chunks),
        )
        async with self._arrived:
            self.records.append(record)
            self._arrived.notify_all()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})
