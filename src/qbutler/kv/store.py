"""What every key-value backend provides.

Values are strings. Expiry is an absolute wall-clock time, so a restart neither revives nor
extends a key. A namespace exists while it holds at least one live key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


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


def expiry(ttl_ms: int | None, now: float) -> float | None:
    """TTL <= 0 or absent means no expiry (Butler's rule)."""
    if ttl_ms is None or ttl_ms <= 0:
        return None
    return now + ttl_ms / 1000.0


def wall_clock() -> float:
    return time.time()


class Store(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def get(self, namespace: str, key: str) -> Entry | None:
        """The live entry, or None (expired entries are invisible at once)."""

    async def set(self, namespace: str, key: str, value: str, ttl_ms: int | None = None) -> Entry:
        """Write (or overwrite) a key; an overwrite resets the TTL. Durable once it returns."""

    async def set_if_absent(self, namespace: str, key: str, value: str, ttl_ms: int | None = None) -> bool:
        """Atomically create a key that does not exist (or has expired); False if it is live.

        This is the primitive for reservations shared between instances (alert dedup, one
        firing per schedule occurrence).
        """

    async def delete(self, namespace: str, key: str) -> bool:
        """True if a live key was removed."""

    async def delete_namespace(self, namespace: str) -> bool:
        """True if the namespace existed."""

    async def namespaces(self) -> list[str]:
        """Namespaces with at least one live key, sorted."""

    async def entries(self, namespace: str) -> list[Entry]:
        """Live entries of a namespace, in key order."""

    async def count(self, namespace: str) -> int:
        """Number of live keys in a namespace."""
