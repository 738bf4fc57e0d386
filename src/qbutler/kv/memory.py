"""Keys in this process's memory: fast, shared with nothing, lost at exit (Butler's behaviour)."""

from __future__ import annotations

from collections.abc import Callable

from qbutler.kv.keyspace import KeySpace, KeySpaceReads
from qbutler.kv.store import Entry, NamespaceFull, expiry, normalise_ttl, wall_clock
from qbutler.kv.sweeper import Sweeper


class MemoryStore(KeySpaceReads):
    def __init__(self, clock: Callable[[], float] = wall_clock, sweep_interval: float = 60.0,
                 space: KeySpace | None = None):
        self._space = space if space is not None else KeySpace()
        self._clock = clock
        self._sweeper = Sweeper(self.sweep, sweep_interval)

    async def start(self) -> None:
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    async def set(self, namespace: str, key: str, value: str, ttl_ms: int | None = None, *,
                  max_keys: int | None = None) -> Entry:
        now = self._clock()
        if self._space.peek(namespace, key, now) is None:
            if max_keys and self._space.upper_bound(namespace) >= max_keys \
                    and self._space.count(namespace, now) >= max_keys:
                raise NamespaceFull(namespace, max_keys)
            # An expired leftover must not keep its old place in the listing.
            self._space.remove(namespace, key)
        entry = Entry(namespace, key, value, normalise_ttl(ttl_ms), expiry(ttl_ms, now))
        self._space.put(entry)
        return entry

    async def set_if_absent(self, namespace: str, key: str, value: str, ttl_ms: int | None = None) -> bool:
        if self._space.peek(namespace, key, self._clock()) is not None:
            return False
        await self.set(namespace, key, value, ttl_ms)
        return True

    async def delete(self, namespace: str, key: str) -> bool:
        existed = self._space.peek(namespace, key, self._clock()) is not None
        self._space.remove(namespace, key)
        return existed

    async def create_namespace(self, namespace: str) -> None:
        self._space.create(namespace)

    async def delete_namespace(self, namespace: str) -> bool:
        existed = self._space.has(namespace)
        self._space.drop(namespace)
        return existed

    async def sweep(self) -> int:
        """Drop expired keys; returns how many."""
        return self._space.sweep(self._clock())
