"""Remembered state of the watch: a small JSON document per monitor in the data directory, so a
restart knows what was last announced and does not announce it again."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson

from qbutler.durable import write_atomic

log = logging.getLogger("qbutler.watch")


class Memory:
    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as exc:
            # Starting from nothing re-announces current states once; better than not starting.
            log.warning("%s cannot be read (%s); starting without remembered states", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    async def save(self) -> None:
        data = orjson.dumps(self.data, option=orjson.OPT_SORT_KEYS)
        await asyncio.to_thread(write_atomic, self.path, data)
