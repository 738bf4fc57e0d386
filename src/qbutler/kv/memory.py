"""Keys in this process's memory: fast, shared with nothing, lost at exit (Butler's behaviour)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from qbutler.kv.store import Entry, expiry, wall_clock


class MemoryStore:
    def __init__(self, clock: Callable[[], float] = wall_clock, sweep_interval: float = 60.0):
        self._data: dict[str, dict[str, Entry]] = {}
        self._clock = clock
        self._sweep_interval = sweep_interval
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def _live(self, namespace: str, key: str) -> Entry | None:
        entry = self._data.get(namespace, {}).get(key)
        if entry is not None and not entry.alive(self._clock()):
            self._remove(namespace, key)
            return None
        return entry

    def _remove(self, namespace: str, key: str) -> None:
        keys = self._data.get(namespace)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._data[namespace]

    async def get(self, namespace: str, key: str) -> Entry | None:
        return self._live(namespace, key)

    async def set(self, namespace: str, key: str, value: str, ttl_ms: int | None = None) -> Entry:
        ttl = ttl_ms if ttl_ms is not None and ttl_ms > 0 else None
        entry = Entry(namespace, key, value, ttl, expiry(ttl, self._clock()))
        self._data.setdefault(namespace, {})[key] = entry
        return entry

    async def set_if_absent(self, namespace: str, key: str, value: str, ttl_ms: int | None = None) -> bool:
        if self._live(namespace, key) is not None:
            return False
        await self.set(namespace, key, value, ttl_ms)
        return True

    async def delete(self, namespace: str, key: str) -> bool:
        existed = self._live(namespace, key) is not None
        self._remove(namespace, key)
        return existed

    async def delete_namespace(self, namespace: str) -> bool:
        existed = await self.count(namespace) > 0
        self._data.pop(namespace, None)
        return existed

    async def namespaces(self) -> list[str]:
        self.sweep()
        return sorted(self._data)

    async def entries(self, namespace: str) -> list[Entry]:
        now = self._clock()
        return sorted((e for e in self._data.get(namespace, {}).values() if e.alive(now)),
                      key=lambda e: e.key)

    async def count(self, namespace: str) -> int:
        return len(await self.entries(namespace))

    def sweep(self) -> int:
        """Drop expired keys; returns how many."""
        now = self._clock()
        expired = [(e.namespace, e.key) for keys in self._data.values() for e in keys.values()
                   if not e.alive(now)]
        for namespace, key in expired:
            self._remove(namespace, key)
        return len(expired)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            self.sweep()
