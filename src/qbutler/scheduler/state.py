"""What the scheduler must remember across restarts, per schedule, in the data folder.

- `owedFrom`: occurrences after this instant are owed a run. It advances with every occurrence
  handled (here or by another instance), is set to "now" when a schedule is started and cleared
  when it is stopped, so a restart knows which runs it missed, and that runs falling while a
  schedule was stopped were never owed.
- `lastFire` / `lastOutcome`: for the status report.

Changes are flushed at most once a second (and at shutdown), atomically; a crash loses at most
that second, which can cause one repeated catch-up run.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from qbutler.background import cancel_and_wait
from qbutler.durable import write_atomic
from qbutler.scheduler.cron import iso, parse_iso

log = logging.getLogger("qbutler.scheduler")


@dataclass
class ScheduleHistory:
    owed_from: float | None = None
    last_fire: float | None = None
    last_outcome: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"owedFrom": iso(self.owed_from) if self.owed_from is not None else None,
                "lastFire": iso(self.last_fire) if self.last_fire is not None else None,
                "lastOutcome": self.last_outcome}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScheduleHistory:
        def instant(key: str) -> float | None:
            value = data.get(key)
            return parse_iso(value) if isinstance(value, str) else None

        return cls(instant("owedFrom"), instant("lastFire"), data.get("lastOutcome"))


class StateFile:
    def __init__(self, path: Path, flush_interval: float = 1.0):
        self.path = path
        self.flush_interval = flush_interval
        self.schedules: dict[str, ScheduleHistory] = {}
        self._dirty = False
        self._flusher: asyncio.Task[None] | None = None

    def load(self) -> None:
        try:
            data = orjson.loads(self.path.read_bytes())
            self.schedules = {key: ScheduleHistory.from_json(value)
                              for key, value in data.get("schedules", {}).items()}
        except FileNotFoundError:
            self.schedules = {}
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            # Losing the history only costs catch-up runs; never refuse to start over it.
            log.error("SCHEDULER: ignoring unreadable state file %s: %s", self.path, exc)
            self.schedules = {}

    def get(self, schedule_id: str) -> ScheduleHistory:
        return self.schedules.setdefault(schedule_id, ScheduleHistory())

    def changed(self) -> None:
        self._dirty = True

    def forget(self, schedule_id: str) -> None:
        if self.schedules.pop(schedule_id, None) is not None:
            self._dirty = True

    async def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_forever(), name="scheduler-state-flush")

    async def stop(self) -> None:
        await cancel_and_wait(self._flusher)
        self._flusher = None
        await self.flush()

    async def flush(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        data = orjson.dumps({"schedules": {k: v.to_json() for k, v in self.schedules.items()}},
                            option=orjson.OPT_INDENT_2)
        try:
            await asyncio.to_thread(write_atomic, self.path, data)
        except OSError as exc:
            self._dirty = True
            log.error("SCHEDULER: cannot write state file %s: %s", self.path, exc)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            await self.flush()
