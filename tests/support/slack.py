"""A stand-in for Slack on loopback (aiohttp): the Web API methods qbutler calls, answering as
Slack documents them, and incoming webhooks under /services/.

Web API: `Authorization: Bearer <token>` checked on every call (`not_authed`, `invalid_auth`);
HTTP 200 with `{"ok": false, "error": …}` for refusals; lists paginated with `cursor`/`limit`;
`chat.postMessage` refuses unknown channels, channels the bot is not in, archived channels and
blocks over Slack's limits. `script(method, …)` queues answers given before the normal ones (for
429 with Retry-After, or any error code).
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

TOKEN = "xoxb-1111-2222-standin"
BOT = "UBOT000001"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    time: float

    def json(self) -> Any:
        return orjson.loads(self.body)


def _user(uid: str, name: str, real: str, email: str, display: str = "") -> dict[str, Any]:
    return {"id": uid, "name": name, "real_name": real, "deleted": False,
            "profile": {"real_name": real, "display_name": display, "email": email}}


@dataclass
class FakeSlack:
    users: list[dict[str, Any]] = field(default_factory=lambda: [
        _user("U0ANNA0001", "anna", "Anna Berg", "anna@example.com", display="anna.b"),
        _user("U0BOB00001", "bob", "Bob Stone", "bob@example.com"),
        _user("U0CARL0001", "carl", "Carl Frost", "carl@example.com"),
        _user(BOT, "qbutler", "qbutler", ""),
    ])
    channels: list[dict[str, Any]] = field(default_factory=lambda: [
        {"id": "C0FINANCE1", "name": "finance-reloads", "is_private": False, "is_archived": False, "members": [BOT]},
        {"id": "C0GENERAL1", "name": "general", "is_private": False, "is_archived": False, "members": []},
        {"id": "C0SECRET01", "name": "board", "is_private": True, "is_archived": False, "members": [BOT]},
        {"id": "C0HIDDEN01", "name": "hidden", "is_private": True, "is_archived": False, "members": []},
        {"id": "C0OLD00001", "name": "old-stuff", "is_private": False, "is_archived": True, "members": [BOT]},
    ])
    token: str = TOKEN
    page_size: int = 2
    calls: list[Call] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)
    scripts: dict[str, deque[tuple[int, dict[str, str], dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(deque))
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def webhook_url(self, name: str = "rest") -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/{name}"

    def script(self, method: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.scripts[method].append((status, headers or {}, body))

    def to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.path == f"/api/{method}"]

    def webhook_posts(self, name: str = "rest") -> list[Call]:
        return [c for c in self.calls if c.path == f"/services/T000/B000/{name}"]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/services/{a}/{b}/{c}", self._webhook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _record(self, request: web.Request) -> Call:
        call = Call(request.method, request.path, dict(request.query),
                    {k.lower(): v for k, v in request.headers.items()}, await request.read(), time.time())
        self.calls.append(call)
        return call

    async def _webhook(self, request: web.Request) -> web.Response:
        await self._record(request)
        # Scripted as "webhook:<last path part>".
        script = self.scripts[f"webhook:{request.match_info['c']}"]
        if script:
            status, headers, _ = script.popleft()
            return web.Response(status=status, headers=headers, text="service_unavailable")
        return web.Response(text="ok", content_type="text/html")

    async def _api(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        method = request.match_info["method"]
        if self.scripts[method]:
            status, headers, body = self.scripts[method].popleft()
            return web.json_response(body, status=status, headers=headers)
        auth = call.headers.get("authorization", "")
        if not auth:
            return self._error("not_authed")
        if auth != f"Bearer {self.token}":
            return self._error("invalid_auth")
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return self._error("unknown_method")
        return web.json_response(handler(call))

    @staticmethod
    def _error(code: str, **extra: Any) -> web.Response:
        return web.json_response({"ok": False, "error": code, **extra})

    @staticmethod
    def _fail(code: str) -> dict[str, Any]:
        return {"ok": False, "error": code}

    def _page(self, call: Call, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        start = int(call.query.get("cursor") or 0)
        size = min(int(call.query.get("limit") or 100), self.page_size)
        following = start + size
        return {"ok": True, key: items[start:following],
                "response_metadata": {"next_cursor": str(following) if following < len(items) else ""}}

    def _users_list(self, call: Call) -> dict[str, Any]:
        return self._page(call, "members", self.users)

    def _users_lookupByEmail(self, call: Call) -> dict[str, Any]:
        email = call.query.get("email", "").lower()
        for user in self.users:
            if user["profile"]["email"].lower() == email and email:
                return {"ok": True, "user": user}
        return self._fail("users_not_found")

    def _conversations_list(self, call: Call) -> dict[str, Any]:
        types = call.query.get("types", "public_channel").split(",")
        listed = [c for c in self.channels
                  if (("private_channel" in types and c["is_private"] and BOT in c["members"])
                      or ("public_channel" in types and not c["is_private"]))
                  and not (c["is_archived"] and call.query.get("exclude_archived") == "true")]
        return self._page(call, "channels", [{"id": c["id"], "name": c["name"]} for c in listed])

    def _chat_postMessage(self, call: Call) -> dict[str, Any]:
        if call.method != "POST" or not call.headers.get("content-type", "").startswith("application/json"):
            return self._fail("invalid_arguments")
        body = call.json()
        target = str(body.get("channel", ""))
        channel = next((c for c in self.channels if c["id"] == target), None)
        user = next((u for u in self.users if u["id"] == target), None)
        if channel is None and user is None:
            return self._fail("channel_not_found")
        if channel is not None and channel["is_private"] and BOT not in channel["members"]:
            return self._fail("channel_not_found")
        if channel is not None and channel["is_archived"]:
            return self._fail("is_archived")
        if channel is not None and BOT not in channel["members"]:
            return self._fail("not_in_channel")
        blocks = body.get("blocks") or []
        if not body.get("text") and not blocks:
            return self._fail("no_text")
        if len(blocks) > 50 or any(not 0 < len((b.get("text") or {}).get("text", "")) <= 3000
                                   or b["text"].get("type") not in ("mrkdwn", "plain_text")
                                   for b in blocks if b.get("type") == "section"):
            return self._fail("invalid_blocks")
        self.posted.append(body)
        where = channel["id"] if channel is not None else "D" + target[1:]
        return {"ok": True, "channel": where, "ts": f"{1700000000 + len(self.posted)}.000100",
                "message": {"text": body.get("text", ""), "blocks": blocks}}
