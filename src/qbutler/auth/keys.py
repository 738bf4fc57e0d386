"""API keys: made by `qbutler apikey new`, configured as salted SHA-256 hashes (or read from the
environment), checked in constant time.

A key looks like `qbk_<id>_<secret>`: the id picks the one configured hash to compare with, so a
request costs one hash whatever the number of keys. The secret is 256 random bits, which is why a
fast hash is enough (nothing to guess), unlike a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qbutler.auth.config import HASH_PREFIX, ApiKeyConfig
from qbutler.auth.scopes import expand


@dataclass(frozen=True)
class Identity:
    """Who a request comes from, as the audit trail names it, and what it may do."""

    name: str
    scopes: frozenset[str]
    # "key", "certificate" or "address": an address rule is shared, so it rate-limits per client.
    kind: str


def _digest(salt: bytes, key: str) -> bytes:
    return hashlib.sha256(salt + key.encode("utf-8")).digest()


def _salted(salt: bytes) -> Any:
    """A SHA-256 already fed the salt: copying it per request halves the hashing cost."""
    return hashlib.sha256(salt)


def _digest_after(prefix: Any, key: str) -> bytes:
    hasher = prefix.copy()
    hasher.update(key.encode("utf-8"))
    return hasher.digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key() -> tuple[str, str]:
    """A fresh key and the hash to configure for it."""
    key_id = secrets.token_hex(4)
    key = f"qbk_{key_id}_{secrets.token_urlsafe(32)}"
    return key, hash_key(key, key_id)


def hash_key(key: str, key_id: str) -> str:
    salt = secrets.token_bytes(16)
    return f"{HASH_PREFIX}${key_id}${_b64(salt)}${_b64(_digest(salt, key))}"


_VERIFIED_MAX = 1024


class MissingKeyVariable(Exception):
    """A key configured with `env` whose environment variable is not set."""


class KeyRing:
    def __init__(self, keys: list[ApiKeyConfig], environ: Mapping[str, str] | None = None):
        environ = os.environ if environ is None else environ
        # key id -> (salted hasher, digest, identity) for hashed keys
        self._by_id: dict[str, tuple[Any, bytes, Identity]] = {}
        # keys from the environment, hashed here with a salt of this process
        self._env_prefix = _salted(secrets.token_bytes(16))
        self._from_env: list[tuple[bytes, Identity]] = []
        # Keys already verified, so that a client's next requests cost a dictionary lookup instead
        # of a hash. Only correct keys get here; str hashing is keyed by a random per-process
        # secret, so the lookup's timing tells an attacker nothing about a key.
        self._verified: dict[str, Identity] = {}
        for entry in keys:
            identity = Identity(f"key:{entry.name}", expand(entry.scopes), "key")
            if entry.hash:
                _, key_id, salt, digest = entry.hash.split("$")
                self._by_id[key_id] = (_salted(_unb64(salt)), _unb64(digest), identity)
            if entry.env:
                value = environ.get(entry.env, "")
                if not value:
                    raise MissingKeyVariable(
                        f"Butler.qbutler.api.keys ({entry.name}): environment variable {entry.env} is not set")
                self._from_env.append((_digest_after(self._env_prefix, value), identity))

    def identify(self, presented: str) -> Identity | None:
        identity = self._verified.get(presented)
        if identity is None:
            identity = self._check(presented)
            if identity is not None:
                if len(self._verified) >= _VERIFIED_MAX:
                    self._verified.clear()
                self._verified[presented] = identity
        return identity

    def _check(self, presented: str) -> Identity | None:
        # qbk_<8 hex id>_<secret>: the id picks the hash to compare with.
        found = self._by_id.get(presented[4:12]) if presented.startswith("qbk_") else None
        if found is not None:
            prefix, digest, identity = found
            return identity if hmac.compare_digest(_digest_after(prefix, presented), digest) else None
        if self._from_env:
            candidate = _digest_after(self._env_prefix, presented)
            for digest, identity in self._from_env:
                if hmac.compare_digest(candidate, digest):
                    return identity
        return None
