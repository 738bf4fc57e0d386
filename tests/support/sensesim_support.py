"""Plain-client helpers shared by the simulator tests (no sensesim or qbutler client code)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

XRFKEY = "abcdefghij012345"
ADMIN = "UserDirectory=INTERNAL; UserId=sa_repository"
SALES_TASK = "3c9e2f5a-6d1b-4c8e-9a0f-2b7d4e6f8a1c"
SALES_APP = "5e1f8a2c-3b4d-4c6e-8f0a-1b2c3d4e5f60"

# Minimal-seed runs take ~tens of ms at this scale: default 2000 ms run -> 40 ms.
FAST = {"time_scale": 0.02}


def client_context(certs: Path, with_cert: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs / "root.pem"))
    if with_cert:
        ctx.load_cert_chain(certs / "client.pem", certs / "client_key.pem")
    return ctx


class UdpListener:
    """A loopback UDP socket standing in for Butler's port 9998."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])

    async def receive(self, within: float = 5.0) -> bytes:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.sock_recv(self.sock, 65535), within)

    def pending(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self.sock.recv(65535))
            except BlockingIOError:
                return out

    def close(self) -> None:
        self.sock.close()


class Qrs:
    """A bare QRS client: xrfkey in query and header, the client certificate, nothing else."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params={**params, "xrfkey": XRFKEY})

    async def json(self, path: str, **params: Any) -> Any:
        response = await self.get(path, **params)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    async def post(self, path: str, body: Any = None, **params: Any) -> httpx.Response:
        payload = body if body is not None else {}
        return await self.client.post(path, params={**params, "xrfkey": XRFKEY}, json=payload)

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(path, params={"xrfkey": XRFKEY})

    async def wait_status(self, task_id: str, wanted: set[int], within: float = 5.0) -> dict[str, Any]:
        """Poll reloadtask/{id} (task/full for other types) until a wanted status shows."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            rows = await self.json("/qrs/task/full", filter=f"id eq {task_id}")
            result = rows[0]["operational"]["lastExecutionResult"]
            if result["status"] in wanted:
                return rows[0]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"task {task_id} stuck in status {result['status']}")
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def admin_qrs(site: Any, certs: Path, client_timeout: float = 5.0) -> AsyncIterator[Qrs]:
    """A QRS client for `site` with the client certificate, an xrfkey and an admin user."""
    async with httpx.AsyncClient(
        base_url=site.qrs_url,
        verify=client_context(certs),
        headers={"X-Qlik-Xrfkey": XRFKEY, "X-Qlik-User": ADMIN},
        timeout=client_timeout,
    ) as client:
        yield Qrs(client)


@contextlib.asynccontextmanager
async def running_engine(state: Any, certs_dir: Path, options: Any = None) -> AsyncIterator[Any]:
    """sensesim's Engine alone (wss on a free loopback port) serving `state`."""
    from sensesim.certs import server_ssl_context
    from sensesim.engine import EngineOptions, start_engine

    server = await start_engine(state, server_ssl_context(certs_dir), "127.0.0.1", 0, options or EngineOptions())
    try:
        yield server
    finally:
        await server.close()


@contextlib.contextmanager
def threaded_site(certs: Path, **site_options: Any) -> Iterator[tuple[Any, httpx.Client]]:
    """A Site running on its own event loop in a thread, and a blocking admin QRS client.

    Property tests (hypothesis) drive many examples from synchronous code; the site must keep
    serving while the test thread blocks on a request, hence the second loop.
    """
    import threading

    from sensesim.server import Site

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sensesim-site", daemon=True)
    thread.start()
    site = Site(**site_options)
    asyncio.run_coroutine_threadsafe(site.start(), loop).result(30)
    try:
        with httpx.Client(
            base_url=site.qrs_url,
            verify=client_context(certs),
            headers={"X-Qlik-Xrfkey": XRFKEY, "X-Qlik-User": ADMIN},
            params={"xrfkey": XRFKEY},
            timeout=10,
        ) as client:
            yield site, client
    finally:
        asyncio.run_coroutine_threadsafe(site.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
