"""HTTP listeners: uvicorn serving an ASGI app on one socket, optionally over TLS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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
        options = {"http": "httptools", **self.options}
        server_config = uvicorn.Config(
            self.app, ws="none", lifespan="off", log_config=None, interface="asgi3",
            access_log=False, server_header=False, timeout_graceful_shutdown=5, **options,
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


def certificate_subject(transport: asyncio.BaseTransport) -> str | None:
    """The verified client certificate's subject as RFC 4514 writes it, or None without one."""
    ssl_object = transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return None
    # Imported here: only mTLS listeners see client certificates, and cryptography costs about
    # 6 MiB of resident memory in every other qbutler.
    from cryptography import x509

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


class ClientCertProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol that hands the client certificate's subject to the app, as the
    ASGI TLS extension's `client_cert_name` (read once per connection)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls = {"client_cert_name": certificate_subject(transport)}

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {"tls": self._tls}  # type: ignore[typeddict-unknown-key]


class HttpServer(AsgiListener):
    """The REST API listener, from `Butler.restServerConfig`."""

    def __init__(self, app: Any, config: Config):
        rest = config.Butler.restServerConfig
        options: dict[str, Any] = {}
        self.scheme = "http"
        if rest.tls.enable:
            options = {"ssl_certfile": str(config.resolve_path(rest.tls.cert)),
                       "ssl_keyfile": str(config.resolve_path(rest.tls.key))}
            if rest.tls.ca:
                options["ssl_ca_certs"] = str(config.resolve_path(rest.tls.ca))
                # Without requireClientCert a certificate is still asked for (and checked when sent),
                # so that its subject can identify the client.
                options["ssl_cert_reqs"] = ssl.CERT_REQUIRED if rest.tls.requireClientCert else ssl.CERT_OPTIONAL
                options["http"] = ClientCertProtocol
            self.scheme = "https"
        super().__init__(app, rest.serverHost, rest.serverPort, **options)

    async def start(self) -> None:
        await super().start()
        log.info("REST API listening on %s://%s:%d", self.scheme, self.host, self.port)
