"""Config of the history, metrics and observability settings below `Butler.qbutler` (all qbutler's own)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from qbutler.config_types import Section


class HistorySqlite(Section):
    # Database file; empty means `history.sqlite` in qbutler.dataDirectory. Relative paths
    # resolve against the config file's folder.
    path: str = ""


class HistoryPostgresql(Section):
    # libpq connection URI, e.g. postgresql://qbutler:secret@db.example:5432/qbutler. Several
    # instances may share one database: each execution is stored once.
    dsn: str = ""
    # Connections each instance keeps open.
    poolSize: int = Field(4, ge=1, le=100)
    # Seconds to wait for a connection or a statement before the write is retried later.
    timeoutSeconds: float = Field(10.0, gt=0)


class HistoryRetention(Section):
    # Executions older than this many days are removed (0: no age limit).
    maxAgeDays: float = Field(90.0, ge=0)
    # At most this many executions are kept, the newest ones (0: no count limit).
    maxExecutions: int = Field(1_000_000, ge=0)
    # How often the limits are applied.
    intervalSeconds: float = Field(3600.0, gt=0)


class HistoryConfig(Section):
    enable: bool = True
    backend: Literal["sqlite", "postgresql"] = "sqlite"
    sqlite: HistorySqlite = HistorySqlite()
    postgresql: HistoryPostgresql = HistoryPostgresql()
    retention: HistoryRetention = HistoryRetention()
    # Rows waiting to be written; when the database is slow or down and this fills up, new rows
    # are dropped (counted and logged), alerts never are.
    queueSize: int = Field(10_000, ge=10)
    # Rows written per transaction at most.
    batchSize: int = Field(500, ge=1)
    # Script-log lines kept with a failed execution (0: none).
    scriptLogTailLines: int = Field(20, ge=0, le=1000)

    @model_validator(mode="after")
    def _postgresql_needs_a_dsn(self) -> HistoryConfig:
        if self.enable and self.backend == "postgresql" and not self.postgresql.dsn.strip():
            raise PydanticCustomError(
                "dsn", "backend postgresql needs postgresql.dsn (e.g. postgresql://user:secret@host:5432/qbutler)")
        return self


class MetricsConfig(Section):
    # Prometheus text format at GET /metrics on the REST port.
    enable: bool = True
