"""An httpx transport that sends requests through aiohttp's connection pool.

httpx's own pool (httpcore) checks the socket of every pooled connection on each request and
closes connections beyond its keep-alive cap; under a burst of calls that pool bookkeeping, not
the network, was most of qbutler's CPU (docs/performance.md). With this transport callers keep
httpx's API (`httpx.AsyncClient`, `httpx.Response`, `httpx.TransportError` and its subclasses),
while connections are pooled by aiohttp: every released connection stays alive for reuse, up to
`max_connections`.
"""

from __future__ import annotations

import ssl

import aiohttp
import httpx
from yarl import URL

# httpx sets these itself; aiohttp must not add its own.
_SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, verify: ssl.SSLContext | bool = True, max_connections: int = 100):
        # True means what it means to httpx: verified against certifi's CA bundle.
        self._verify = httpx.create_ssl_context() if verify is True else verify
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        """Opened on first use, inside the event loop that serves the calls."""
        if self._session is None:
            # ssl=False: no certificate verification.
            connector = aiohttp.TCPConnector(ssl=self._verify, limit=self._max_connections, limit_per_host=0)
            # auto_decompress off: httpx.Response decodes a compressed body itself.
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                                  skip_auto_headers=_SKIP_AUTO_HEADERS, timeout=aiohttp.ClientTimeout())
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        timeout = aiohttp.ClientTimeout(sock_connect=timeouts.get("connect"), sock_read=timeouts.get("read"))
        body = await request.aread()
        try:
            async with self._http().request(
                    request.method, URL(str(request.url), encoded=True),
                    headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                    data=body or None, allow_redirects=False, timeout=timeout) as answer:
                content = await answer.read()
                return httpx.Response(answer.status, headers=answer.raw_headers, content=content)
        except TimeoutError as exc:
            raise httpx.TimeoutException(str(exc) or "timed out", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            # httpx's name for a connection that could not be made (refused, TLS handshake failed).
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                                  request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
