"""Picking the history backend `Butler.qbutler.history.backend` names."""

from __future__ import annotations

from pathlib import Path

from qbutler.config import Config
from qbutler.history.store import HistoryStore


def sqlite_path(config: Config) -> Path:
    configured = config.Butler.qbutler.history.sqlite.path
    return config.resolve_path(configured) if configured else config.data_dir / "history.sqlite"


def open_history(config: Config) -> HistoryStore:
    """The configured backend, not yet started."""
    settings = config.Butler.qbutler.history
    if settings.backend == "postgresql":
        from qbutler.history.postgresql import PostgresHistory

        pg = settings.postgresql
        return PostgresHistory(pg.dsn, pool_size=pg.poolSize, timeout=pg.timeoutSeconds)
    from qbutler.history.sqlite import SqliteHistory

    return SqliteHistory(sqlite_path(config))
