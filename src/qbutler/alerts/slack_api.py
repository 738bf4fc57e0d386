"""A client for Slack's Web API with a bot token: post messages, find users and channels.

Every call carries `Authorization: Bearer <token>`; reads are GET with query parameters (what
`users.lookupByEmail` requires), `chat.postMessage` is a JSON POST. Slack answers HTTP 200 with
`{"ok": false, "error": "<code>"}` for refusals and HTTP 429 with `Retry-After` when rate
limited; a rate-limited call is repeated after Retry-After while the caller's wait budget lasts.
User and channel directories (`users.list`, `conversations.list`) are cached for a few minutes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from qbutler.alerts.channels.base import DeliveryError
from qbutler.alerts.http import HttpSender, retry_after_seconds, safe_target

log = logging.getLogger("qbutler.alerts.slack")

DIRECTORY_SECONDS = 300.0
# A name missing from a cached directory reloads it, at most this often.
RELOAD_ON_MISS_SECONDS = 30.0

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_CONVERSATION_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")

# What each of Slack's error codes means for whoever sent the message.
HINTS = {
    "channel_not_found": "the channel does not exist or the Slack app cannot see it (private channels: "
                         "invite the app)",
    "not_in_channel": "the Slack app is not a member of the channel: invite it (/invite @app) or give it "
                      "the chat:write.public scope",
    "is_archived": "the channel is archived",
    "users_not_found": "no Slack user has this email address or name (or the app lacks users:read.email)",
    "invalid_auth": "Slack does not accept the bot token (Butler.slackNotification.restMessage.botToken)",
    "not_authed": "no bot token was sent",
    "account_inactive": "the bot token belongs to a deactivated user or app",
    "token_revoked": "the bot token was revoked",
    "token_expired": "the bot token has expired",
    "missing_scope": "the Slack app lacks a scope this needs",
    "ratelimited": "Slack's rate limit for this method is reached",
    "msg_too_long": "the message is too long for Slack",
    "invalid_blocks": "Slack refused the message blocks",
    "no_text": "the message is empty",
    "cannot_dm_bot": "a bot user cannot receive direct messages",
    "restricted_action": "the workspace does not allow the app to post there",
    "not_slack": "the answer is not Slack's JSON (check Butler.slackNotification.restMessage.apiUrl)",
}


class SlackApiError(Exception):
    """Slack refused a call: `error` is Slack's code (`channel_not_found`, `ratelimited`, ...)."""

    def __init__(self, method: str, error: str, *, subject: str = "", retry_after: float | None = None,
                 needed: str = "", note: str = ""):
        about = f" {subject!r}" if subject else ""
        hint = HINTS.get(error, "see Slack's documentation of the method")
        detail = f" (needs scope {needed})" if needed else ""
        super().__init__(f"Slack {method}{about}: {error}: {hint}{detail}{f' ({note})' if note else ''}")
        self.method = method
        self.error = error
        self.retry_after = retry_after


@dataclass
class Destination:
    """Where a message goes: Slack's id for a channel, or a user's id for a direct message."""

    id: str
    direct: bool


class _Directory:
    """Name -> id, loaded page by page from a list method and kept for DIRECTORY_SECONDS."""

    def __init__(self, load: Any):
        self._load = load
        self._ids: dict[str, str] = {}
        self._loaded = float("-inf")
        self._lock = asyncio.Lock()

    async def find(self, name: str) -> str | None:
        key = name.lower()
        async with self._lock:
            age = time.monotonic() - self._loaded
            if age > DIRECTORY_SECONDS or (key not in self._ids and age > RELOAD_ON_MISS_SECONDS):
                self._ids = await self._load()
                self._loaded = time.monotonic()
            return self._ids.get(key)


class SlackWebApi:
    def __init__(self, http: HttpSender, base_url: str, token: str, *, max_wait: float = 10.0):
        self.http = http
        # Longest total Retry-After wait of one lookup.
        self.max_wait = max_wait
        self.base_url = base_url.rstrip("/")
        self.target = safe_target(self.base_url)
        self._auth = {"Authorization": f"Bearer {token}"}
        self._emails: dict[str, tuple[float, str]] = {}
        self._users = _Directory(self._load_users)
        self._channels = _Directory(self._load_channels)

    async def call(self, method: str, *, query: dict[str, Any] | None = None, body: dict[str, Any] | None = None,
                   max_wait: float = 0.0, subject: str = "") -> dict[str, Any]:
        """One Web API method: GET with `query`, or POST with the JSON `body`. Slack's refusals raise
        SlackApiError; no answer or a 5xx raises DeliveryError (retryable). A rate-limited call is
        repeated after Retry-After as long as the waits add up to no more than `max_wait` seconds."""
        url = f"{self.base_url}/{method}" + (f"?{urlencode(query)}" if query else "")
        headers = dict(self._auth)
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
            content = orjson.dumps(body)
        waited = 0.0
        while True:
            answer = await self.http.exchange("POST" if body is not None else "GET", url, target=self.target,
                                              content=content, headers=headers)
            if answer.status >= 500:
                raise DeliveryError(f"Slack {method} answered {answer.status}", retryable=True,
                                    retry_after=retry_after_seconds(answer.headers.get("Retry-After")))
            try:
                data = orjson.loads(answer.body)
            except orjson.JSONDecodeError:
                data = None
            if not isinstance(data, dict):
                data = {"error": "not_slack"}
            if answer.status == 200 and data.get("ok") is True:
                return data
            error = "ratelimited" if answer.status == 429 else str(data.get("error") or f"http_{answer.status}")
            retry_after = retry_after_seconds(answer.headers.get("Retry-After"))
            if error == "ratelimited":
                retry_after = 1.0 if retry_after is None else retry_after
                if waited + retry_after <= max_wait:
                    log.info("Slack %s rate limited, trying again in %.1f s", method, retry_after)
                    await asyncio.sleep(retry_after)
                    waited += retry_after
                    continue
            raise SlackApiError(method, error, subject=subject, retry_after=retry_after,
                                needed=str(data.get("needed") or ""))

    async def post_message(self, body: dict[str, Any], *, max_wait: float = 0.0) -> dict[str, Any]:
        return await self.call("chat.postMessage", body=body, max_wait=max_wait, subject=str(body.get("channel")))

    # ------------------------------------------------------------------ finding people and channels

    async def user_by_email(self, email: str) -> str:
        """The user id of an email address; SlackApiError users_not_found when there is none."""
        key = email.lower()
        cached = self._emails.get(key)
        if cached is not None and time.monotonic() - cached[0] < DIRECTORY_SECONDS:
            return cached[1]
        found = await self.call("users.lookupByEmail", query={"email": email}, subject=email,
                                max_wait=self.max_wait)
        user_id = str((found.get("user") or {}).get("id") or "")
        if not user_id:
            raise SlackApiError("users.lookupByEmail", "users_not_found", subject=email)
        if len(self._emails) >= 1024:
            self._emails.clear()
        self._emails[key] = (time.monotonic(), user_id)
        return user_id

    async def user_by_name(self, name: str) -> str | None:
        """A user id by user name, display name or full name (any case)."""
        return await self._users.find(name)

    async def channel_by_name(self, name: str) -> str | None:
        """A channel id by name (without '#'): public channels, and private ones the app is in."""
        return await self._channels.find(name.lstrip("#"))

    @staticmethod
    def member_id(text: str) -> str | None:
        """`text` when it is a Slack member id (U…/W…)."""
        return text if _USER_ID.match(text) else None

    async def destination(self, channel: str) -> Destination:
        """Where a message for `channel` goes: `#name` or `name` (a channel), a channel id, `@name`
        (a user), a user id, or an email address (a direct message to its user)."""
        text = channel.strip()
        if _CONVERSATION_ID.match(text):
            return Destination(text, direct=text.startswith("D"))
        if _USER_ID.match(text):
            return Destination(text, direct=True)
        if _EMAIL.match(text):
            return Destination(await self.user_by_email(text), direct=True)
        if text.startswith("@") and len(text) > 1:
            user_id = await self.user_by_name(text[1:])
            if user_id is None:
                raise SlackApiError("users.list", "users_not_found", subject=text)
            return Destination(user_id, direct=True)
        channel_id = await self.channel_by_name(text) if text.lstrip("#") else None
        if channel_id is None:
            raise SlackApiError("conversations.list", "channel_not_found", subject=text)
        return Destination(channel_id, direct=False)

    async def _pages(self, method: str, key: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = await self.call(method, query={**query, **({"cursor": cursor} if cursor else {})},
                                   max_wait=self.max_wait)
            items.extend(item for item in page.get(key) or [] if isinstance(item, dict))
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return items

    async def _load_users(self) -> dict[str, str]:
        ids: dict[str, str] = {}
        for member in await self._pages("users.list", "members", {"limit": 200}):
            if member.get("deleted"):
                continue
            profile = member.get("profile") or {}
            # Full names first, so a user name or display name wins over someone else's full name.
            for name in (member.get("real_name"), profile.get("real_name"), profile.get("display_name"),
                         member.get("name")):
                if name:
                    ids[str(name).lower()] = str(member.get("id"))
        return ids

    async def _load_channels(self) -> dict[str, str]:
        listed = await self._pages("conversations.list", "channels",
                                   {"types": "public_channel,private_channel", "exclude_archived": "true",
                                    "limit": 1000})
        return {str(c.get("name", "")).lower(): str(c.get("id")) for c in listed if c.get("name")}
