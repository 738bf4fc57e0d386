"""Entries by namespace in creation order: the memory backend's data and the sqlite backend's mirror.

Synchronous on purpose: every operation completes without yielding to the event loop, so a
check followed by a change (set-if-absent, the key limit) cannot interleave with another request.
"""

from __future__ import annotations

from collections.abc import Callable

from qbutler.kv.store import Entry


class KeySpace:
    def __init__(self) -> None:
        # Python dicts keep insertion order and an overwrite keeps the position: JavaScript
        # Map semantics, which give Butler's listing order.
        self.data: dict[str, dict[str, Entry]] = {}

    def peek(self, namespace: str, key: str, now: float) -> Entry | None:
        entry = self.data.get(namespace, {}).get(key)
        return entry if entry is not None and entry.alive(now) else None

    def get(self, namespace: str, key: str, now: float) -> Entry | None:
        """Like peek, but forgets an expired entry it finds."""
        keys = self.data.get(namespace)
        if keys is None:
            return None
        entry = keys.get(key)
        if entry is not None and not entry.alive(now):
            self.remove(namespace, key)
            return None
        return entry

    def put(self, entry: Entry) -> None:
        self.data.setdefault(entry.namespace, {})[entry.key] = entry

    def create(self, namespace: str) -> None:
        self.data.setdefault(namespace, {})

    def has(self, namespace: str) -> bool:
        return namespace in self.data

    def remove(self, namespace: str, key: str) -> None:
        """Forget a key; its namespace stays, possibly empty (Butler's rule)."""
        keys = self.data.get(namespace)
        if keys is not None:
            keys.pop(key, None)

    def drop(self, namespace: str) -> None:
        self.data.pop(namespace, None)

    def upper_bound(self, namespace: str) -> int:
        """Keys held, expired ones included: a cheap bound for the key-limit check."""
        return len(self.data.get(namespace, ()))

    def count(self, namespace: str, now: float) -> int:
        return sum(1 for entry in self.data.get(namespace, {}).values() if entry.alive(now))

    def entries(self, namespace: str, now: float) -> list[Entry]:
        return [entry for entry in self.data.get(namespace, {}).values() if entry.alive(now)]

    def namespaces(self) -> list[str]:
        return list(self.data)

    def expired(self, now: float) -> list[Entry]:
        return [entry for keys in self.data.values() for entry in keys.values() if not entry.alive(now)]

    def sweep(self, now: float) -> int:
        """Forget expired entries; returns how many."""
        gone = self.expired(now)
        for entry in gone:
            self.remove(entry.namespace, entry.key)
        return len(gone)


class KeySpaceReads:
    """The Store's read methods answered from a KeySpace (the memory store's keys, the sqlite
    store's mirror): a subclass sets `_space` and `_clock`."""

    _space: KeySpace
    _clock: Callable[[], float]

    async def get(self, namespace: str, key: str) -> Entry | None:
        return self._space.get(namespace, key, self._clock())

    async def namespaces(self) -> list[str]:
        return self._space.namespaces()

    async def has_namespace(self, namespace: str) -> bool:
        return self._space.has(namespace)

    async def entries(self, namespace: str) -> list[Entry]:
        return self._space.entries(namespace, self._clock())

    async def count(self, namespace: str) -> int:
        return self._space.count(namespace, self._clock())
