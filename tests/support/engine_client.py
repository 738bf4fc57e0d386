"""A minimal JSON-RPC client for the simulated Engine over WSS (plain `websockets`, no enigma)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from support.sensesim_support import client_context

ADMIN = "UserDirectory=INTERNAL; UserId=sa_repository"


class Rpc:
    """A minimal JSON-RPC peer: numbered requests, answers matched by id."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 1
        self.early: dict[int, dict[str, Any]] = {}
        self.first_frame: dict[str, Any] = {}

    async def send(self, method: str, handle: int = -1, params: Any = None, **extra: Any) -> int:
        request_id = self.next_id
        self.next_id += 1
        frame = {"jsonrpc": "2.0", "id": request_id, "method": method, "handle": handle}
        frame["params"] = [] if params is None else params
        frame.update(extra)
        await self.ws.send(orjson.dumps(frame).decode())
        return request_id

    async def receive(self, request_id: int) -> dict[str, Any]:
        while request_id not in self.early:
            message = orjson.loads(await asyncio.wait_for(self.ws.recv(), 5))
            self.early[message.get("id")] = message
        return self.early.pop(request_id)

    async def ask(self, method: str, handle: int = -1, params: Any = None, **extra: Any) -> dict[str, Any]:
        """The whole response frame."""
        return await self.receive(await self.send(method, handle, params, **extra))

    async def __call__(self, method: str, handle: int = -1, params: Any = None) -> dict[str, Any]:
        """Just `result`; an error frame fails the test."""
        response = await self.ask(method, handle, params)
        assert "error" not in response, response
        return response["result"]

    async def error(self, method: str, handle: int = -1, params: Any = None) -> dict[str, Any]:
        response = await self.ask(method, handle, params)
        assert "result" not in response, response
        return response["error"]

    async def open(self, doc: str, no_data: bool = False) -> int:
        result = await self("OpenDoc", -1, [doc, "", "", "", no_data])
        return int(result["qReturn"]["qHandle"])


@asynccontextmanager
async def session(
    engine: Any,
    certs: Path,
    path: str = "/app/engineData",
    user: str | None = ADMIN,
    with_cert: bool = True,
) -> AsyncIterator[Rpc]:
    headers = {"X-Qlik-User": user} if user is not None else {}
    async with connect(
        f"wss://localhost:{engine.port}{path}",
        ssl=client_context(certs, with_cert),
        additional_headers=headers,
        proxy=None,
        open_timeout=5,
    ) as ws:
        rpc = Rpc(ws)
        rpc.first_frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        yield rpc
