"""Sending alert messages over HTTP(S): one aiohttp connection pool for Slack, Teams and webhooks.

Every released connection stays alive for the next message, so a burst of alerts to the same
receiver costs no new TLS handshakes. An unsuccessful send raises `DeliveryError`, saying whether
trying again can help: connection errors, timeouts, 5xx, 408 and 429 can, other answers cannot.
Certificates are verified against certifi's CA bundle unless a call brings its own SSL context.
The proxy environment variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) are honoured; they are read
once, when the sender is made, and the choice is kept per receiver host (aiohttp's own
`trust_env` reads the environment again on every request: 0.35 ms of CPU per delivery in
bench/alerts_latency.py).
"""

from __future__ import annotations

import email.utils
import ssl
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from qbutler import __version__
from qbutler.alerts.channels.base import DeliveryError
from qbutler.http_client import load_http_client

if TYPE_CHECKING:
    import aiohttp
    from yarl import URL

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


@lru_cache(maxsize=256)
def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme (lower case), host and port of a URL; empty strings where it has none."""
    try:
        parsed = urlsplit(url)
        return parsed.scheme.lower(), parsed.hostname or "", parsed.port
    except ValueError:
        return "", "", None


def safe_target(url: str) -> str:
    """A webhook URL for logs: scheme, host and port only (the path is often the secret)."""
    scheme, host, port = _origin(url)
    if not scheme or not host:
        return "(invalid URL)"
    return f"{scheme}://{host}{f':{port}' if port else ''}/…"


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpSender:
    def __init__(self, *, timeout: float, max_connections: int = 100):
        self._timeout = timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._proxies = urllib.request.getproxies_environment()
        self._proxy_by_origin: dict[tuple[str, str], str | None] = {}

    def proxy_for(self, scheme: str, host: str) -> str | None:
        """The proxy the environment names for this receiver, or None to connect directly."""
        origin = (scheme, host)
        if origin not in self._proxy_by_origin:
            proxy = self._proxies.get(scheme)
            if proxy and urllib.request.proxy_bypass_environment(host, self._proxies):
                proxy = None
            if len(self._proxy_by_origin) >= 256:
                self._proxy_by_origin.clear()
            self._proxy_by_origin[origin] = proxy
        return self._proxy_by_origin[origin]

    def _http(self) -> aiohttp.ClientSession:
        """Opened on first use, inside the event loop that sends (aiohttp is imported then, not at
        start-up)."""
        if self._session is None:
            import aiohttp
            import certifi

            verified = ssl.create_default_context(cafile=certifi.where())
            connector = aiohttp.TCPConnector(ssl=verified, limit=self._max_connections, limit_per_host=0)
            # No cookie jar: one receiver's cookies are no business of the next message.
            timeout = aiohttp.ClientTimeout(sock_connect=self._timeout, sock_read=self._timeout)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout,
                                                  cookie_jar=aiohttp.DummyCookieJar(),
                                                  headers={"User-Agent": f"qbutler/{__version__}"})
        return self._session

    async def post_json(self, url: str, body: Any) -> None:
        await self.send("POST", url, target=safe_target(url), content=orjson.dumps(body), headers=JSON_HEADERS)

    async def send(self, method: str, url: str | URL, *, target: str, content: bytes | None = None,
                   headers: dict[str, str] | None = None,
                   ssl_context: ssl.SSLContext | None = None) -> None:
        """One request; DeliveryError unless the receiver answered 1xx-2xx."""
        answer = await self.exchange(method, url, target=target, content=content, headers=headers,
                                     ssl_context=ssl_context)
        if answer.status >= 300:
            text = answer.body.decode(errors="replace").strip().replace("\n", " ")[:200]
            raise DeliveryError(f"{target} answered {answer.status}: {text or '(empty body)'}",
                                retryable=answer.status >= 500 or answer.status in (408, 429),
                                retry_after=retry_after_seconds(answer.headers.get("Retry-After")))

    async def exchange(self, method: str, url: str | URL, *, target: str, content: bytes | None = None,
                       headers: dict[str, str] | None = None,
                       ssl_context: ssl.SSLContext | None = None) -> HttpAnswer:
        """One request and whatever the receiver answered; DeliveryError only when there is no answer."""
        await load_http_client()
        import aiohttp

        scheme, host = _origin(url)[:2] if isinstance(url, str) else (url.scheme, url.host or "")
        try:
            async with self._http().request(method, url, data=content, headers=headers, allow_redirects=False,
                                            proxy=self.proxy_for(scheme, host),
                                            ssl=ssl_context if ssl_context is not None else True) as answer:
                return HttpAnswer(answer.status, answer.headers, await answer.read())
        except (aiohttp.InvalidURL, ValueError) as exc:
            raise DeliveryError(f"{target}: unusable URL: {exc}", retryable=False) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            detail = str(exc) or ("timed out" if isinstance(exc, TimeoutError) else "no details")
            raise DeliveryError(f"{target}: {type(exc).__name__}: {detail}", retryable=True) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
