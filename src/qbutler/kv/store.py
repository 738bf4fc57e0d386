"""What every key-value backend provides.

Values are strings. Expiry is an absolute wall-clock time, so a restart neither revives nor
extends a key. A namespace exists from its first write until it is deleted, also while empty
(Butler's rule: a load script may delete its last key and then clear the namespace). Namespaces
and keys are listed in creation order (Butler's order); overwriting a key keeps its place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

# Longer TTLs are cut to this (about 100 years): far enough to mean "practically never", small
# enough for every backend's expiry arithmetic.
MAX_TTL_MS = 100 * 365 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Entry:
    namespace: str
    key: str
    value: str
    # TTL in milliseconds as last written (None: no expiry) and the absolute expiry it gave.
    ttl_ms: int | None = None
    expires_at: float | None = None

    def alive(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


def normalise_ttl(ttl_ms: int | None) -> int | None:
    """TTL <= 0 or absent means no expiry (Butler's rule); huge TTLs are capped."""
    if ttl_ms is None or ttl_ms <= 0:
        return None
    return min(int(ttl_ms), MAX_TTL_MS)


def expiry(ttl_ms: int | None, now: float) -> float | None:
    ttl = normalise_ttl(ttl_ms)
    return None if ttl is None else now + ttl / 1000.0


def wall_clock() -> float:
    return time.time()


class NamespaceFull(Exception):
    """A new key would take a namespace past its key limit; nothing was written."""

    def __init__(self, namespace: str, limit: int):
        super().__init__(f"Namespace {namespace} already holds the maximum of {limit} keys "
                         "(Butler.keyValueStore.maxKeysPerNamespace); delete keys or raise the limit")
        self.namespace = namespace
        self.limit = limit


# Namespaces whose name starts with this (in any case) hold qbutler's own records: alert dedup and
# scheduler reservations. They share the store (and so its durability and cross-instance
# atomicity), but the REST endpoints and task-start items neither list nor touch them, so a load
# script cannot delete a reservation and break exactly-once processing.
INTERNAL_PREFIX = "qbutler."


def internal_namespace(name: str) -> str:
    return INTERNAL_PREFIX + name


def is_internal(namespace: str) -> bool:
    return namespace[:len(INTERNAL_PREFIX)].lower() == INTERNAL_PREFIX


class ReservedNamespace(Exception):
    """A client named a namespace of qbutler's internal records."""

    def __init__(self, namespace: str):
        super().__init__(f"Namespace {namespace} is reserved for qbutler's internal records "
                         f"(namespaces starting with '{INTERNAL_PREFIX}')")
        self.namespace = namespace


class StoreUnavailable(OSError):
    """The store cannot be used (in use by another process, unreachable server, bad file).

    An OSError, so `qbutler serve` reports it as a start-up failure rather than a crash.
    """


class Store(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def get(self, namespace: str, key: str) -> Entry | None:
        """The live entry, or None (expired entries are invisible at once)."""

    async def set(self, namespace: str, key: str, value: str, ttl_ms: int | None = None, *,
                  max_keys: int | None = None) -> Entry:
        """Write (or overwrite) a key; an overwrite resets the TTL. Durable once it returns.

        With `max_keys`, creating a key in a namespace that already holds that many live keys
        raises NamespaceFull (overwriting an existing key is always allowed).
        """

    async def set_if_absent(self, namespace: str, key: str, value: str, ttl_ms: int | None = None) -> bool:
        """Atomically create a key that does not exist (or has expired); False if it is live.

        This is the primitive for reservations shared between instances (alert dedup, one
        firing per schedule occurrence).
        """

    async def delete(self, namespace: str, key: str) -> bool:
        """True if a live key was removed."""

    async def create_namespace(self, namespace: str) -> None:
        """Make the namespace exist (empty, if new) without writing a key."""

    async def has_namespace(self, namespace: str) -> bool:
        """True from the namespace's first write until it is deleted, keys or not."""

    async def delete_namespace(self, namespace: str) -> bool:
        """Remove the namespace and its keys; True if it existed."""

    async def namespaces(self) -> list[str]:
        """Every namespace, empty ones included, in creation order."""

    async def entries(self, namespace: str) -> list[Entry]:
        """Live entries of a namespace, in creation order."""

    async def count(self, namespace: str) -> int:
        """Number of live keys in a namespace."""
