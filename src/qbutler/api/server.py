"""HTTP listeners: uvicorn serving an ASGI app on one socket, optionally over TLS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

import uvicorn

from qbutler.config import Config

log = logging.getLogger("qbutler.api")


class _EmbeddedServer(uvicorn.Server):
    # The service owns signal handling; uvicorn must not install its own handlers.
    def capture_signals(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class AsgiListener:
    """One ASGI app on one host/port (0 = a free port, readable as `.port` once started)."""

    def __init__(self, app: Any, host: str, port: int, **uvicorn_options: Any):
        self.app = app
        self.host = host
        self.port = port
        self.options = uvicorn_options
        self._task: asyncio.Task[None] | None = None
        self._server: _EmbeddedServer | None = None

    async def start(self) -> None:
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        server_config = uvicorn.Config(
            self.app, http="httptools", ws="none", lifespan="off", log_config=None, interface="asgi3",
            access_log=False, server_header=False, timeout_graceful_shutdown=5, **self.options,
        )
        self._server = _EmbeddedServer(server_config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise OSError(f"could not listen on {self.host}:{self.port}")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = None


class HttpServer(AsgiListener):
    """The REST API listener, from `Butler.restServerConfig`."""

    def __init__(self, app: Any, config: Config):
        rest = config.Butler.restServerConfig
        tls: dict[str, Any] = {}
        self.scheme = "http"
        if rest.tls.enable:
            tls = {"ssl_certfile": str(config.resolve_path(rest.tls.cert)),
                   "ssl_keyfile": str(config.resolve_path(rest.tls.key))}
            if rest.tls.ca:
                tls["ssl_ca_certs"] = str(config.resolve_path(rest.tls.ca))
            self.scheme = "https"
        super().__init__(app, rest.serverHost, rest.serverPort, **tls)

    async def start(self) -> None:
        await super().start()
        log.info("REST API listening on %s://%s:%d", self.scheme, self.host, self.port)
