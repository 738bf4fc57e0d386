"""The audit trail: one JSON line per change or refusal, in a file per UTC day under
`dataDirectory/audit/`, files older than the retention deleted.

Callers pass what happened (never a key, a KV value or a message body); other areas (a license
release by the site watch, for one) record their own actions through `record` too.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson

log = logging.getLogger("qbutler.audit")

PREFIX = "audit-"
SUFFIX = ".jsonl"


class AuditTrail:
    def __init__(self, folder: Path, retention_days: int, clock: Any = time.time):
        self.folder = folder
        self.retention = timedelta(days=retention_days)
        self._clock = clock
        self._day = ""
        self._file: IO[bytes] | None = None

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    async def stop(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def record(self, **fields: Any) -> None:
        """Append one entry; `time` (ISO-8601 UTC) is added first. Never raises: a full disk is logged."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        line = orjson.dumps({"time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"), **fields},
                            default=str) + b"\n"
        try:
            self._file_for(now).write(line)
            # Each line reaches the OS at once: a crash loses nothing already answered.
            self._file.flush()  # type: ignore[union-attr]
        except OSError as exc:
            log.error("Could not write the audit trail in %s: %s", self.folder, exc)

    def _file_for(self, now: datetime) -> IO[bytes]:
        day = now.strftime("%Y-%m-%d")
        if day != self._day or self._file is None:
            if self._file is not None:
                self._file.close()
            self.folder.mkdir(parents=True, exist_ok=True)
            self._file = open(self.folder / f"{PREFIX}{day}{SUFFIX}", "ab")  # kept open all day
            self._day = day
            self._forget_before(now - self.retention)
        return self._file

    def _forget_before(self, cutoff: datetime) -> None:
        oldest = cutoff.strftime("%Y-%m-%d")
        for path in self.folder.glob(f"{PREFIX}*{SUFFIX}"):
            if path.name[len(PREFIX):-len(SUFFIX)] < oldest:
                try:
                    path.unlink()
                except OSError as exc:
                    log.warning("Could not delete old audit file %s: %s", path, exc)
