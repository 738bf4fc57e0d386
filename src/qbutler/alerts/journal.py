"""A durable queue of JSON records: one file per record in a folder of the data directory.

A record is written to a temporary name and renamed into place, so after a crash (even SIGKILL)
every file is a whole record. Records load in the order they were written. qbutler uses two: the
inbox (task events received but not yet turned into messages) and the outbox (messages not yet
delivered). The folder belongs to one instance; instances share nothing here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("qbutler.alerts.journal")

_sequence = itertools.count()


class Journal:
    def __init__(self, folder: Path):
        self.folder = folder

    def new_id(self) -> str:
        # Sortable: write time, then a per-process sequence for records of the same nanosecond.
        return f"{time.time_ns():020d}-{os.getpid()}-{next(_sequence):08d}"

    async def put(self, record_id: str, record: dict[str, Any]) -> None:
        await asyncio.to_thread(self._write, record_id, orjson.dumps(record))

    async def remove(self, record_id: str) -> None:
        await asyncio.to_thread(self._unlink, record_id)

    def load(self) -> list[tuple[str, dict[str, Any]]]:
        """Every stored record, oldest first; unreadable files are moved aside and reported."""
        self.folder.mkdir(parents=True, exist_ok=True)
        records = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                records.append((path.stem, orjson.loads(path.read_bytes())))
            except (OSError, orjson.JSONDecodeError) as exc:
                log.error("Unreadable journal record %s (%s); moved to %s.bad", path, exc, path.name)
                path.rename(path.with_suffix(".bad"))
        return records

    def _write(self, record_id: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f"{record_id}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, self.folder / f"{record_id}.json")

    def _unlink(self, record_id: str) -> None:
        (self.folder / f"{record_id}.json").unlink(missing_ok=True)
