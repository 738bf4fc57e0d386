"""An async client for the Qlik Repository Service (QRS) over HTTPS with a client certificate.

Every call carries a fresh xrfkey (header and query), the static headers from the config and a
timeout. Connection errors and 5xx answers are retried with backoff; 4xx answers never are.
Errors say what failed: host, method, path, status and an excerpt of the body.

Calls go out through aiohttp (imported with the first call, not at start-up), and answers come
back as `QrsResponse` (status_code, headers, content, text, json(): the part of httpx's Response
callers used, without importing httpx). httpx's own connection pool checks every pooled
connection's socket on every request; measured against sensesim that took 40% of qbutler's CPU
and capped the client at about 550 calls a second on one core (bench/qrs_throughput.py,
docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import string
from collections import Counter
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote, urlencode

import orjson

from qbutler.config import Config
from qbutler.http_client import load_http_client

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("qbutler.sense.qrs")

# Connections to the repository kept open at most; every one that is released stays alive for
# reuse (no separate, smaller keep-alive cap that would close and re-handshake under load).
MAX_CONNECTIONS = 50

_XRF_ALPHABET = string.ascii_letters + string.digits


def new_xrfkey() -> str:
    return "".join(random.choices(_XRF_ALPHABET, k=16))


class QrsError(Exception):
    """A QRS call failed: unreachable, timed out, or answered with an unexpected status."""

    def __init__(self, method: str, url: str, status: int | None, detail: str, attempts: int = 1):
        self.method = method
        self.url = url
        self.status = status
        self.detail = detail
        self.attempts = attempts
        where = f"QRS {method} {url}"
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"{where} answered {status}{tries}: {detail}" if status is not None
                         else f"{where} failed{tries}: {detail}")


def client_ssl_context(config: Config, verify: bool) -> ssl.SSLContext:
    """TLS context with the QMC-exported client certificate; used for QRS and the Engine."""
    cert = config.Butler.cert
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if verify and cert.clientCertCA:
        context.load_verify_locations(cafile=str(config.resolve_path(cert.clientCertCA)))
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert.clientCert:
        context.load_cert_chain(str(config.resolve_path(cert.clientCert)),
                                str(config.resolve_path(cert.clientCertKey)) if cert.clientCertKey else None)
    return context


def encode_query(params: dict[str, Any]) -> str:
    """Spaces as %20 and quotes as %27, as Butler (axios) sends QRS filters; never '+'."""
    return urlencode(params, quote_via=quote, safe="")


class _Answer(NamedTuple):
    """What came back: the raw answer (get/get_text parse it directly)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    content: bytes
    charset: str | None

    @property
    def text(self) -> str:
        # The declared charset, else UTF-8, undecodable bytes replaced.
        return self.content.decode(self.charset or "utf-8", errors="replace")


class QrsResponse:
    """A QRS answer for callers that need more than the parsed body."""

    def __init__(self, answer: _Answer):
        self._answer = answer
        self.status_code = answer.status
        self.content = answer.content

    @property
    def headers(self) -> dict[str, str]:
        """Header names in lower case; a repeated header keeps its last value."""
        return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self._answer.headers}

    @property
    def text(self) -> str:
        return self._answer.text

    def json(self) -> Any:
        return orjson.loads(self.content) if self.content else None


def _excerpt(answer: _Answer, limit: int = 300) -> str:
    text = answer.text.strip().replace("\r", " ").replace("\n", " ")
    return (text[:limit] + "…") if len(text) > limit else (text or "(empty body)")


def _describe(exc: BaseException) -> str:
    """The failure in the words qbutler has always logged (httpx's names for the same failures)."""
    import aiohttp

    kind = "ConnectError" if isinstance(exc, aiohttp.ClientConnectorError) else type(exc).__name__
    return f"{kind}: {exc}" if str(exc) else kind


class QrsClient:
    def __init__(self, config: Config):
        qrs = config.Butler.configQRS
        self.config = config
        self.base_url = f"{'https' if qrs.useSSL else 'http'}://{qrs.host}:{qrs.port}/qrs/"
        self.retries = qrs.retries
        self.timeout = qrs.timeout
        self.backoff = qrs.retryBackoff
        self.headers = {"Content-Type": "application/json", "Accept": "application/json, text/plain, */*"}
        for header in qrs.headers.static:
            self.headers[header.name] = header.value
        self._session: aiohttp.ClientSession | None = None
        # Calls by (method, ok | error) and retries, for the metrics.
        self.calls: Counter[tuple[str, str]] = Counter()
        self.retried = 0

    def _http(self) -> aiohttp.ClientSession:
        """Built on first use, so a site that never talks to Sense needs no certificate files (and
        start-up does not import aiohttp)."""
        if self._session is None:
            import aiohttp

            qrs = self.config.Butler.configQRS
            context: ssl.SSLContext | bool = False
            if qrs.useSSL:
                context = client_ssl_context(self.config, verify=qrs.rejectUnauthorized)
            connector = aiohttp.TCPConnector(ssl=context, limit=MAX_CONNECTIONS, limit_per_host=0)
            # auto_decompress off: QRS is asked for plain answers.
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self.headers, auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=qrs.timeout))
        return self._session

    async def start(self) -> None:
        """Nothing to connect up front: QRS is reached per call."""

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _send(self, method: str, target: str, body: bytes | None, xrfkey: str) -> _Answer:
        from yarl import URL

        url = self.base_url + target
        async with self._http().request(method, URL(url, encoded=True), data=body,
                                        headers={"X-Qlik-Xrfkey": xrfkey}) as answer:
            content = await answer.read()
            return _Answer(answer.status, list(answer.raw_headers), content, answer.charset)

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None, expect: tuple[int, ...] = (200, 201, 204)) -> QrsResponse:
        """Send one call; `path` is relative to /qrs/ (e.g. `task/<id>/start`)."""
        return QrsResponse(await self._call(method, path, params, json, expect))

    async def _call(self, method: str, path: str, params: dict[str, Any] | None, json: Any,
                    expect: tuple[int, ...]) -> _Answer:
        """One call with its retries; the answer as received."""
        await load_http_client()
        import aiohttp

        path = path.lstrip("/")
        # The URL in errors shows the query without the xrfkey, so a filter that failed is visible.
        url = self.base_url + path + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
        try:
            self._http()
        except (OSError, ssl.SSLError) as exc:
            self.calls[method, "error"] += 1
            raise QrsError(method, url, None, f"cannot load the client certificate (Butler.cert.*): {exc}") from exc
        body = None if json is None else orjson.dumps(json)
        query = encode_query(params) + "&" if params else ""
        attempt = 0
        while True:
            xrfkey = new_xrfkey()
            try:
                answer = await self._send(method, f"{path}?{query}xrfkey={xrfkey}", body, xrfkey)
            except TimeoutError:
                error = QrsError(method, url, None, f"no answer within {self.timeout:g}s", attempt + 1)
            except (aiohttp.ClientError, OSError) as exc:
                error = QrsError(method, url, None, _describe(exc), attempt + 1)
            else:
                if answer.status in expect:
                    self.calls[method, "ok"] += 1
                    return answer
                error = QrsError(method, url, answer.status, _excerpt(answer), attempt + 1)
                if answer.status < 500:
                    self.calls[method, "error"] += 1
                    raise error
            if attempt >= self.retries:
                self.calls[method, "error"] += 1
                raise error
            self.retried += 1
            delay = self.backoff * (2 ** attempt) * (0.5 + random.random())
            log.warning("%s; retrying in %.1fs", error, delay)
            attempt += 1
            await asyncio.sleep(delay)

    async def probe(self, within: float) -> None:
        """One GET /qrs/about, no retries, within `within` seconds: QrsError if QRS does not answer
        it with 200 (the readiness check)."""
        import aiohttp  # loaded by _http() below anyway; named here for the except clause

        url = self.base_url + "about"
        try:
            self._http()
            xrfkey = new_xrfkey()
            async with asyncio.timeout(within):
                answer = await self._send("GET", f"about?xrfkey={xrfkey}", None, xrfkey)
        except TimeoutError:
            raise QrsError("GET", url, None, f"no answer within {within:g}s") from None
        except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
            raise QrsError("GET", url, None, _describe(exc)) from None
        if answer.status != 200:
            raise QrsError("GET", url, answer.status, _excerpt(answer))

    # The two calls made per alert and per lookup skip the response object and parse with orjson.
    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return orjson.loads((await self._call("GET", path, params, None, (200,))).content)

    async def get_text(self, path: str, params: dict[str, Any] | None = None) -> str:
        return (await self._call("GET", path, params, None, (200,))).text

    async def post(self, path: str, json: Any = None, params: dict[str, Any] | None = None,
                   expect: tuple[int, ...] = (200, 201, 204)) -> QrsResponse:
        return await self.request("POST", path, params=params, json=json, expect=expect)

    async def put(self, path: str, json: Any = None, params: dict[str, Any] | None = None) -> QrsResponse:
        return await self.request("PUT", path, params=params, json=json)

    async def delete(self, path: str, params: dict[str, Any] | None = None) -> QrsResponse:
        return await self.request("DELETE", path, params=params)
