"""Task-event deduplication by ExecutionId, kept in the key-value store.

The store makes the reservation atomic across instances sharing a backend (Redis) and durable
across restarts (SQLite). A reservation is released when processing fails, so a resent datagram
is processed; once processing succeeded the id stays for the configured TTL.
"""

from __future__ import annotations

from qbutler.alerts.config import UdpDeduplication
from qbutler.kv.store import Store, internal_namespace

NAMESPACE = internal_namespace("udp-dedup")


class Dedup:
    def __init__(self, store: Store, settings: UdpDeduplication):
        self.store = store
        self.enabled = settings.enable
        self.ttl_ms = int(settings.ttlMinutes * 60_000)

    async def reserve(self, execution_id: str) -> bool:
        """True if this instance may process the execution; False for a duplicate."""
        if not self.enabled:
            return True
        return await self.store.set_if_absent(NAMESPACE, execution_id, "reserved", self.ttl_ms)

    async def processed(self, execution_id: str) -> None:
        if self.enabled:
            await self.store.set(NAMESPACE, execution_id, "processed", self.ttl_ms)

    async def release(self, execution_id: str) -> None:
        if self.enabled:
            await self.store.delete(NAMESPACE, execution_id)
