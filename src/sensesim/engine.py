"""The simulated Qlik Engine: JSON-RPC over a mutually authenticated websocket (port 4747).

Transport only; the object model lives in `engine_objects`, the shapes in
`engine_model`, the JSON-RPC helpers in `engine_rpc`.  Contract: qlik-sense-apis.md §2,
§4 and behaviours 7-10 of §5; choices on its unconfirmed points are `EngineOptions`.

Handshake rules (§2.1, §4):
* TLS with a client certificate from the simulator CA, enforced by the SSL context the
  caller passes (CERT_REQUIRED): without one the TLS handshake fails, no HTTP happens.
* Paths `/`, `/app`, `/app/`, `/app/engineData` and `/app/<appId>`, optionally followed by
  enigma's `/identity/<x>` and `/ttl/<n>` segments; anything else is 404.
* `X-Qlik-User: UserDirectory=<dir>; UserId=<id>` is required; without it (or with one
  naming no directory or user) the upgrade is refused with 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import weakref
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sensesim.engine_objects import DocObject, EngineCore, EngineOptions, Session, UserIdentity
from sensesim.engine_rpc import INTERNAL_ERROR, INVALID_REQUEST, PARSE_ERROR, EngineError, Reply, delta_wrap
from sensesim.state import State

__all__ = ["EngineOptions", "EngineServer", "UserIdentity", "parse_qlik_user", "start_engine"]

log = logging.getLogger("sensesim.engine")

VIRTUAL_APP = "engineData"
# Large scripts and property trees must fit in one frame; the real engine has no small cap.
MAX_FRAME = 64 * 2**20


@dataclass(frozen=True)
class Route:
    """What the upgrade request asked for."""

    path: str
    app_id: str | None  # None: the global-only `/` or a virtual-app session


def parse_route(raw_path: str) -> Route | None:
    path = urlsplit(raw_path).path or "/"
    if path == "/":
        return Route(path, None)
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if len(parts) >= 2 and parts[0] != "app" and parts[1] == "app":
        parts = parts[1:]  # a virtual proxy prefix: /<prefix>/app/<id>
    if parts[0] != "app":
        return None
    rest = parts[1:]
    app_id = rest.pop(0) if rest else ""
    # enigma's buildUrl appends identity and ttl segments after the app id.
    while rest:
        if len(rest) >= 2 and rest[0] in ("identity", "ttl"):
            rest = rest[2:]
            continue
        return None
    if app_id in ("", VIRTUAL_APP):
        return Route(path, None)
    return Route(path, app_id)


def parse_qlik_user(header: str | None) -> UserIdentity | None:
    """Parse `UserDirectory=X; UserId=Y` leniently: any order, any case, URL-encoded values."""
    if not header:
        return None
    values: dict[str, str] = {}
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            values[key.strip().lower()] = unquote(value.strip())
    directory, user_id = values.get("userdirectory"), values.get("userid")
    if not directory or not user_id:
        return None
    return UserIdentity(directory, user_id)


@dataclass
class _Upgrade:
    route: Route
    user: UserIdentity


class EngineServer:
    """A running engine endpoint; `close()` ends every session."""

    def __init__(self, state: State, options: EngineOptions) -> None:
        self.state = state
        self.options = options
        self.core = EngineCore(state, options)
        self.port = 0
        self._server: Server | None = None
        # Filled by the handshake check, read by the handler; weak so aborted handshakes leave nothing.
        self._upgrades: weakref.WeakKeyDictionary[ServerConnection, _Upgrade] = weakref.WeakKeyDictionary()

    async def start(self, ssl_context: ssl.SSLContext, host: str, port: int) -> None:
        self._server = await serve(
            self._serve_connection,
            host,
            port,
            ssl=ssl_context,
            process_request=self._check_upgrade,
            max_size=MAX_FRAME,
            server_header=None,
        )
        sockets = list(self._server.sockets)
        self.port = int(sockets[0].getsockname()[1]) if sockets else port

    async def close(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        await server.wait_closed()

    # ---- handshake

    def _check_upgrade(self, connection: ServerConnection, request: Request) -> Response | None:
        route = parse_route(request.path)
        if route is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
        user = parse_qlik_user(request.headers.get("X-Qlik-User"))
        if user is None:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "X-Qlik-User header missing or invalid\n")
        self._upgrades[connection] = _Upgrade(route, user)
        return None

    # ---- one websocket

    async def _serve_connection(self, connection: ServerConnection) -> None:
        upgrade = self._upgrades.pop(connection)
        session, attached = self.core.attach(upgrade.user, upgrade.route.app_id)
        send_lock = asyncio.Lock()
        tasks: set[asyncio.Task[None]] = set()

        async def send(message: dict[str, Any]) -> None:
            async with send_lock:
                await connection.send(orjson.dumps(message).decode())

        try:
            state_name = "SESSION_ATTACHED" if attached else "SESSION_CREATED"
            await send({"jsonrpc": "2.0", "method": "OnConnected", "params": {"qSessionState": state_name}})
            async for frame in connection:
                request = self._parse(frame)
                if isinstance(request, EngineError):
                    await send({"jsonrpc": "2.0", "id": None, "error": request.to_json()})
                    continue
                self._record(upgrade.route, session, request)
                # Each request runs on its own so a slow reload does not hold up the
                # calls a client sends meanwhile, as on the real engine.
                task = asyncio.create_task(self._answer(session, request, send))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except ConnectionClosed:
            pass
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self.core.detach(session)

    @staticmethod
    def _parse(frame: str | bytes) -> dict[str, Any] | EngineError:
        try:
            request = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return EngineError(PARSE_ERROR, "Invalid JSON")
        if not isinstance(request, dict):
            return EngineError(INVALID_REQUEST, "request must be an object")
        return request

    def _record(self, route: Route, session: Session, request: dict[str, Any]) -> None:
        """Log the call for the control API; path names the app the handle works on."""
        handle = request.get("handle")
        obj = session.handles.get(handle) if isinstance(handle, int) else None
        doc = obj if isinstance(obj, DocObject) else getattr(obj, "doc", None)
        path = f"/app/{doc.runtime.app.id}" if isinstance(doc, DocObject) else route.path
        # Plain text like the QRS log's unquoted query, so `DIR\user` stays readable.
        query = f"handle={handle}&id={request.get('id')}&user={session.user.domain_user}"
        self.state.record_call("engine", str(request.get("method", "")), path, query, request.get("params"))

    async def _answer(self, session: Session, request: dict[str, Any], send: Any) -> None:
        request_id = request.get("id")
        try:
            reply = await self._dispatch(session, request)
        except EngineError as exc:
            message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "error": exc.to_json()}
        except Exception:
            log.exception("engine method %s failed", request.get("method"))
            error = EngineError(INTERNAL_ERROR, str(request.get("method", "")))
            message = {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
        else:
            message = {"jsonrpc": "2.0", "id": request_id}
            if request.get("delta") is True and self.options.delta_patches:
                message["delta"] = True
                message["result"] = delta_wrap(reply.result)
            else:
                message["result"] = reply.result
            # Only handles the session still has are worth telling the client about.
            change = [h for h in reply.change if h in session.handles]
            if change:
                message["change"] = change
            if reply.close:
                message["close"] = reply.close
        if "id" not in request:
            return  # a JSON-RPC notification gets no answer
        with contextlib.suppress(ConnectionClosed):
            await send(message)

    async def _dispatch(self, session: Session, request: dict[str, Any]) -> Reply:
        method = request.get("method")
        handle = request.get("handle")
        if not isinstance(method, str) or not method:
            raise EngineError(INVALID_REQUEST, "method")
        if isinstance(handle, bool) or not isinstance(handle, int):
            raise EngineError(INVALID_REQUEST, "handle")
        return await session.object(handle).call(method, request.get("params"))


async def start_engine(
    state: State,
    ssl_context: ssl.SSLContext,
    host: str,
    port: int,
    options: EngineOptions | None = None,
) -> EngineServer:
    """Serve the Engine JSON-RPC API on wss://host:port (port 0 picks a free one)."""
    server = EngineServer(state, options or EngineOptions())
    await server.start(ssl_context, host, port)
    return server
