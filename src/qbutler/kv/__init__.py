"""The key-value store: one protocol (`store.Store`), one backend per module, `open_store` to pick one."""

from __future__ import annotations

from pathlib import Path

from qbutler.config import Config
from qbutler.kv.store import Entry, NamespaceFull, Store, StoreUnavailable

__all__ = ["Entry", "NamespaceFull", "Store", "StoreUnavailable", "open_store", "sqlite_path"]


def sqlite_path(config: Config) -> Path:
    configured = config.Butler.keyValueStore.sqlite.path
    return config.resolve_path(configured) if configured else config.data_dir / "kv.sqlite"


def open_store(config: Config) -> Store:
    """The backend `Butler.keyValueStore.backend` names, not yet started."""
    settings = config.Butler.keyValueStore
    interval = settings.sweepIntervalSeconds
    if settings.backend == "memory":
        from qbutler.kv.memory import MemoryStore

        return MemoryStore(sweep_interval=interval)
    if settings.backend == "redis":
        from qbutler.kv.redis import RedisStore

        return RedisStore(settings.redis.url, settings.redis.keyPrefix, sweep_interval=interval)
    from qbutler.kv.sqlite import SqliteStore

    return SqliteStore(sqlite_path(config), sweep_interval=interval)
