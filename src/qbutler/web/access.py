"""Who uses the dashboard and what they may do: a signed session cookie, CSRF tokens, scopes.

The API keys themselves belong to `qbutler.auth`: the login page hands the key to the REST API's
guard once, and the session cookie carries only the key's name, its scopes and an expiry, signed
with a secret kept in the data directory (so a restart keeps people logged in). With API
authentication off, the REST API is open to anyone who can reach it, and so is the dashboard:
everyone gets an anonymous session with every scope, still with CSRF tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

COOKIE = "qbutler_session"
# The scopes of issue "Security"; `admin` implies every other one.
ALL_SCOPES = frozenset({"kv:read", "kv:write", "tasks", "files", "schedules:read", "schedules:write", "apps",
                        "messages", "admin"})


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: frozenset[str]
    # True when API authentication is off (nobody logged in; every scope).
    anonymous: bool = False

    def can(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


ANONYMOUS = Principal("anonymous", ALL_SCOPES, anonymous=True)


@dataclass(frozen=True)
class Session:
    id: str
    principal: Principal
    expires: float


def load_secret(folder: Path) -> bytes:
    """The signing secret, created on first use (readable by qbutler's user only)."""
    path = folder / "session.key"
    try:
        secret = path.read_bytes()
        if len(secret) >= 32:
            return secret
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(secret)
    return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, secret: bytes, lifetime_seconds: float):
        self.secret = secret
        self.lifetime = lifetime_seconds

    def _mac(self, purpose: str, data: bytes) -> bytes:
        return hmac.new(self.secret, purpose.encode() + b"\0" + data, hashlib.sha256).digest()

    def issue(self, principal: Principal, now: float | None = None) -> tuple[Session, str]:
        session = Session(secrets.token_urlsafe(16), principal, (now or time.time()) + self.lifetime)
        body = orjson.dumps({"sid": session.id, "who": principal.name, "scopes": sorted(principal.scopes),
                             "anon": principal.anonymous, "exp": session.expires})
        return session, f"{_b64(body)}.{_b64(self._mac('session', body))}"

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie stands for; None when missing, forged, damaged or expired."""
        if not cookie or "." not in cookie:
            return None
        body_text, mac_text = cookie.split(".", 1)
        try:
            body = _unb64(body_text)
            if not hmac.compare_digest(_unb64(mac_text), self._mac("session", body)):
                return None
            data: dict[str, Any] = orjson.loads(body)
            expires = float(data["exp"])
            principal = Principal(str(data["who"]), frozenset(map(str, data["scopes"])), bool(data["anon"]))
            session_id = str(data["sid"])
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            return None
        if expires <= (now or time.time()):
            return None
        return Session(session_id, principal, expires)

    def csrf_token(self, session: Session) -> str:
        """Bound to the session: a token from another session (or none) is refused."""
        return _b64(self._mac("csrf", session.id.encode()))

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token.encode(), self.csrf_token(session).encode())
