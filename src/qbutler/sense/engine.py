"""An async client for the Qlik Sense Engine (QIX) JSON-RPC API over a websocket.

One `EngineSession` is one websocket: it waits for the engine's `OnConnected` notification,
numbers requests, matches answers by id (several calls may be in flight at once), tracks the
handles the engine hands out and drops those it closes. Errors are typed:

* `EngineError`: the engine answered a request with a JSON-RPC error (`code`, `message`,
  `parameter`), or answered "object not found" the way GetObject does (code -2, as enigma.js).
* `EngineUnavailable`: no usable connection (refused, TLS failure, upgrade refused, closed
  underway, session refused in `OnConnected`); `EngineTimeout` when the engine did not answer in
  time.

`EngineClient(config)` builds sessions from `Butler.configEngine` (host, port, useSSL, static
headers such as X-Qlik-User, rejectUnauthorized, timeout) and `Butler.cert` (client certificate).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from qbutler.config import Config
from qbutler.sense.qrs import client_ssl_context

# websockets is imported when a session opens: start-up does not load it.
if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

log = logging.getLogger("qbutler.sense.engine")

GLOBAL_HANDLE = -1
# The virtual-app route enigma.js (and Butler's dump) connects to when it opens a doc itself.
VIRTUAL_APP = "engineData"

# Engine error codes (schema LocalizedErrorCode, plus JSON-RPC's own and enigma's -2).
OBJECT_NOT_FOUND = -2
GENERIC_NOT_FOUND = 2
GENERIC_ACCESS_DENIED = 5
APP_ALREADY_OPEN = 1002
APP_NOT_FOUND = 1003
ERROR_NAMES = {
    -32700: "PARSE_ERROR",
    -32600: "INVALID_REQUEST",
    -32601: "METHOD_NOT_FOUND",
    -32602: "INVALID_PARAMETERS",
    -32603: "INTERNAL_ERROR",
    OBJECT_NOT_FOUND: "OBJECT_NOT_FOUND",
    GENERIC_NOT_FOUND: "GENERIC_NOT_FOUND",
    3: "GENERIC_ALREADY_EXISTS",
    GENERIC_ACCESS_DENIED: "GENERIC_ACCESS_DENIED",
    15: "GENERIC_ABORTED",
    APP_ALREADY_OPEN: "LOCERR_APP_ALREADY_OPEN",
    APP_NOT_FOUND: "LOCERR_APP_NOT_FOUND",
    1007: "LOCERR_APP_INVALID",
    1009: "LOCERR_APP_ALREADY_OPEN_IN_DIFFERENT_MODE",
}
_GOOD_SESSION_STATES = ("SESSION_CREATED", "SESSION_ATTACHED")


class EngineError(Exception):
    """The engine refused one request."""

    def __init__(self, code: int, message: str, parameter: str = "", method: str = ""):
        self.code = code
        self.message = message
        self.parameter = parameter
        self.method = method
        detail = f"{message} ({parameter})" if parameter else message
        super().__init__(f"Engine {method or 'call'} failed with {code} {self.name}: {detail}")

    @property
    def name(self) -> str:
        return ERROR_NAMES.get(self.code, "UNKNOWN_ERROR")


class EngineUnavailable(Exception):
    """The engine could not be reached, refused the session, or dropped the connection."""

    def __init__(self, url: str, detail: str):
        self.url = url
        self.detail = detail
        super().__init__(f"Qlik Sense engine at {url}: {detail}")


class EngineTimeout(EngineUnavailable):
    """The engine accepted the connection but did not answer in time."""


@dataclass(frozen=True)
class HandleInfo:
    """What the engine said about an object when it handed out its handle."""

    handle: int
    q_type: str
    generic_type: str | None = None
    generic_id: str | None = None


class EngineSession:
    """One websocket to the engine. Use through `EngineClient.session()` or `connect()`."""

    def __init__(self, ws: ClientConnection, url: str, timeout: float, max_parallel: int,
                 reload_timeout: float = 0.0, calls: Counter[str] | None = None):
        self._ws = ws
        # Calls by outcome (ok / error), shared by the client's sessions, for the metrics.
        self.calls: Counter[str] = Counter() if calls is None else calls
        self.url = url
        self.timeout = timeout
        self.reload_timeout = reload_timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        # A real engine serialises much of its work per app; a bound keeps a big dump from
        # flooding it with thousands of requests at once.
        self._slots = asyncio.Semaphore(max_parallel)
        self._reader: asyncio.Task[None] | None = None
        self._closed_reason: str | None = None
        self.session_state = ""
        self.handles: dict[int, HandleInfo] = {}
        # The handle of the open document, once `open_doc` succeeded.
        self.doc: int | None = None

    # ------------------------------------------------------------------ lifecycle

    async def _handshake(self) -> None:
        """Wait for OnConnected; the engine sends it (sometimes after other notices) first."""
        async with asyncio.timeout(self.timeout):
            while True:
                try:
                    frame = orjson.loads(await self._ws.recv())
                except orjson.JSONDecodeError:
                    raise EngineUnavailable(self.url, "answered with a frame that is not JSON; is this "
                                                      "the Qlik Sense engine port?") from None
                if not isinstance(frame, dict) or frame.get("method") != "OnConnected":
                    log.debug("Engine notice before OnConnected: %s", frame)
                    continue
                self.session_state = str((frame.get("params") or {}).get("qSessionState", ""))
                if self.session_state not in _GOOD_SESSION_STATES:
                    raise EngineUnavailable(self.url, f"session refused: {self.session_state or 'no state'}")
                break
        self._reader = asyncio.create_task(self._read(), name=f"engine-reader {self.url}")

    async def close(self) -> None:
        await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._fail_pending("session closed")

    def _fail_pending(self, reason: str) -> None:
        self._closed_reason = self._closed_reason or reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(EngineUnavailable(self.url, reason))
        self._pending.clear()

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        reason = "connection closed by the engine"
        try:
            async for message in self._ws:
                try:
                    frame = orjson.loads(message)
                except orjson.JSONDecodeError:
                    log.warning("Engine sent a frame that is not JSON: %.200r", message)
                    continue
                self._dispatch(frame)
        except ConnectionClosed as exc:
            reason = f"connection closed ({exc})"
        finally:
            self._fail_pending(reason)

    def _dispatch(self, frame: Any) -> None:
        if not isinstance(frame, dict):
            return
        for handle in frame.get("close") or ():
            self.handles.pop(handle, None)
        request_id = frame.get("id")
        if request_id is None:
            if frame.get("method") == "OnClosed":
                log.info("Engine closed the session %s", self.url)
            else:
                log.debug("Engine notification: %s", frame)
            return
        future = self._pending.pop(request_id, None)
        if future is not None and not future.done():
            future.set_result(frame)

    # ------------------------------------------------------------------ calls

    async def call(self, handle: int, method: str, params: list[Any] | dict[str, Any] | None = None,
                   *, time_limit: float | None = None) -> dict[str, Any]:
        """Send one request and return its `result` object (the out parameters by name).

        `time_limit` (seconds) overrides the session's timeout; 0 waits without limit.
        """
        try:
            result = await self._call(handle, method, params, time_limit)
        except (EngineError, EngineUnavailable):
            self.calls["error"] += 1
            raise
        self.calls["ok"] += 1
        return result

    async def _call(self, handle: int, method: str, params: list[Any] | dict[str, Any] | None,
                    time_limit: float | None) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        if self._closed_reason is not None:
            raise EngineUnavailable(self.url, self._closed_reason)
        async with self._slots:
            request_id = next(self._ids)
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending[request_id] = future
            frame = {"jsonrpc": "2.0", "id": request_id, "method": method, "handle": handle,
                     "params": [] if params is None else params}
            try:
                await self._ws.send(orjson.dumps(frame).decode())
            except ConnectionClosed as exc:
                self._pending.pop(request_id, None)
                raise EngineUnavailable(self.url, f"connection closed ({exc})") from None
            limit = self.timeout if time_limit is None else time_limit
            try:
                async with asyncio.timeout(limit or None):
                    answer = await future
            except TimeoutError:
                self._pending.pop(request_id, None)
                raise EngineTimeout(self.url, f"no answer to {method} within {limit:g} s") from None
        error = answer.get("error")
        if error is not None:
            raise EngineError(int(error.get("code", 0)), str(error.get("message", "")),
                              str(error.get("parameter", "")), method)
        result = answer.get("result")
        return result if isinstance(result, dict) else {}

    async def call_for_handle(self, handle: int, method: str, params: list[Any] | None = None) -> int:
        """Call a method that returns an object (`qReturn`) and register the new handle."""
        result = await self.call(handle, method, params)
        ref = result.get("qReturn") or {}
        if ref.get("qHandle") is None:
            # GetObject & co. answer a null handle for a missing object; enigma.js makes it -2.
            wanted = params[0] if params else ""
            raise EngineError(OBJECT_NOT_FOUND, "Object not found", str(wanted), method)
        info = HandleInfo(int(ref["qHandle"]), str(ref.get("qType") or ""), ref.get("qGenericType"),
                          ref.get("qGenericId"))
        self.handles[info.handle] = info
        return info.handle

    # ------------------------------------------------------------------ Global

    async def engine_version(self) -> str:
        result = await self.call(GLOBAL_HANDLE, "EngineVersion")
        return str((result.get("qVersion") or {}).get("qComponentVersion", ""))

    async def get_doc_list(self) -> list[dict[str, Any]]:
        return list((await self.call(GLOBAL_HANDLE, "GetDocList")).get("qDocList") or [])

    async def open_doc(self, app_id: str, no_data: bool = True) -> int:
        """Open an app; returns the Doc handle (also kept as `self.doc`).

        On a session another websocket already opened the app in (`SESSION_ATTACHED`), the engine
        answers 1002 and the open doc is taken over with GetActiveDoc.
        """
        try:
            handle = await self.call_for_handle(GLOBAL_HANDLE, "OpenDoc", [app_id, "", "", "", no_data])
        except EngineError as exc:
            if exc.code != APP_ALREADY_OPEN or self.session_state != "SESSION_ATTACHED":
                raise
            handle = await self.call_for_handle(GLOBAL_HANDLE, "GetActiveDoc")
        self.doc = handle
        return handle

    # ------------------------------------------------------------------ Doc

    async def do_reload(self, handle: int, mode: int = 0, partial: bool = False, *,
                        time_limit: float | None = None) -> bool:
        """Reload; True when the script ran through. `time_limit` defaults to
        configEngine.reloadTimeout; 0 waits without limit."""
        limit = self.reload_timeout if time_limit is None else time_limit
        result = await self.call(handle, "DoReload", [mode, partial], time_limit=limit)
        return result.get("qReturn") is True

    async def do_save(self, handle: int) -> None:
        await self.call(handle, "DoSave")

    async def get_script(self, handle: int) -> str:
        return str((await self.call(handle, "GetScript")).get("qScript", ""))

    async def set_script(self, handle: int, script: str) -> None:
        await self.call(handle, "SetScript", [script])

    async def create_session_object(self, handle: int, props: dict[str, Any]) -> int:
        return await self.call_for_handle(handle, "CreateSessionObject", [props])

    # ------------------------------------------------------------------ any generic object

    async def get_layout(self, handle: int) -> dict[str, Any]:
        return dict((await self.call(handle, "GetLayout")).get("qLayout") or {})

    async def get_properties(self, handle: int) -> dict[str, Any]:
        return dict((await self.call(handle, "GetProperties")).get("qProp") or {})


class EngineClient:
    """Opens engine sessions as configured in `Butler.configEngine`."""

    def __init__(self, config: Config):
        self.config = config
        engine = config.Butler.configEngine
        self.base_url = f"{'wss' if engine.useSSL else 'ws'}://{engine.host}:{engine.port}"
        self.headers = [(h.name, h.value) for h in engine.headers.static]
        self.timeout = engine.timeout
        self.reload_timeout = engine.reloadTimeout
        self.max_parallel = engine.maxParallelRequests
        self._ssl: ssl.SSLContext | None = None
        # Every session's calls by outcome, and connection attempts by outcome (for the metrics).
        self.calls: Counter[str] = Counter()
        self.connections: Counter[str] = Counter()

    async def start(self) -> None:
        """Nothing to connect up front: each use opens its own session."""

    async def stop(self) -> None:
        """Sessions are closed by their users."""

    def url(self, app: str | None = None, identity: str | None = None) -> str:
        """`/` without `app`, else `/app/<app>`; an identity gives a session of its own."""
        if app is None:
            return self.base_url + "/"
        path = f"/app/{quote(app, safe='')}"
        if identity:
            path += f"/identity/{quote(identity, safe='')}"
        return self.base_url + path

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.base_url.startswith("wss:"):
            return None
        if self._ssl is None:
            engine = self.config.Butler.configEngine
            try:
                self._ssl = client_ssl_context(self.config, verify=engine.rejectUnauthorized)
            except (OSError, ssl.SSLError) as exc:
                raise EngineUnavailable(self.base_url, f"cannot load the client certificate: {exc}") from None
        return self._ssl

    async def connect(self, app: str | None = None, identity: str | None = None) -> EngineSession:
        """Open a websocket and wait for the engine's OnConnected. The caller closes it."""
        try:
            session = await self._connect(app, identity)
        except BaseException:
            self.connections["error"] += 1
            raise
        self.connections["ok"] += 1
        return session

    async def _connect(self, app: str | None, identity: str | None) -> EngineSession:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

        url = self.url(app, identity)
        context = self._ssl_context()
        try:
            ws = await connect(url, ssl=context, additional_headers=self.headers, open_timeout=self.timeout,
                               max_size=None, ping_interval=None, compression=None)
        except InvalidStatus as exc:
            raise EngineUnavailable(url, f"websocket upgrade refused with HTTP {exc.response.status_code}") from None
        except TimeoutError:
            raise EngineTimeout(url, f"no connection within {self.timeout:g} s") from None
        except ssl.SSLError as exc:
            raise EngineUnavailable(url, f"TLS handshake failed: {exc.reason or exc}") from None
        except InvalidHandshake as exc:
            # With TLS 1.3 a server that rejects the client certificate only drops the connection
            # once the handshake is over, so it surfaces here rather than as an SSL error.
            raise EngineUnavailable(url, f"websocket handshake failed ({exc}); does the engine trust the "
                                         "client certificate in Butler.cert?") from None
        except OSError as exc:
            raise EngineUnavailable(url, f"unreachable: {exc or type(exc).__name__}") from None
        session = EngineSession(ws, url, self.timeout, self.max_parallel, self.reload_timeout, self.calls)
        try:
            await session._handshake()
        except TimeoutError:
            await ws.close()
            raise EngineTimeout(url, f"no OnConnected within {self.timeout:g} s") from None
        except ConnectionClosed as exc:
            raise EngineUnavailable(url, f"connection closed before OnConnected ({exc})") from None
        except BaseException:
            await ws.close()
            raise
        return session

    @contextlib.asynccontextmanager
    async def session(self, app_id: str | None = None, *, no_data: bool = False, virtual: bool = False,
                      identity: str | None = None) -> AsyncIterator[EngineSession]:
        """`async with engine.session(app_id) as s:` with `s.doc` open; closed on exit.

        Without `app_id` the session has the Global object only (URL `/`). `virtual` connects to
        `/app/engineData` and opens the app there (Butler's dump) instead of `/app/<appId>`.
        """
        route = None if app_id is None else (VIRTUAL_APP if virtual else app_id)
        session = await self.connect(route, identity)
        try:
            if app_id is not None:
                await session.open_doc(app_id, no_data=no_data)
            yield session
        finally:
            await session.close()

    async def get_doc_list(self) -> list[dict[str, Any]]:
        """Every app the engine knows (`GetDocList` on a session of its own)."""
        async with self.session() as session:
            return await session.get_doc_list()
