"""Writing history without ever holding up an alert.

Callers hand rows over with a non-blocking `record_*` call; one writer task takes whatever is
queued (up to `batchSize`) and writes it in one transaction. When the database is slow or down
the batch is retried with backoff while new rows wait in a bounded queue; once that is full, new
rows are dropped, counted by reason and logged (the first at once, then once a minute).
A retention loop applies the age and count limits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

from qbutler.background import cancel_and_wait
from qbutler.batching import BatchQueue
from qbutler.history.config import HistoryConfig
from qbutler.history.model import Delivery, Execution, StartRequest
from qbutler.history.store import HistoryStore, HistoryUnavailable
from qbutler.logs import Throttle

log = logging.getLogger("qbutler.history")

MAX_BACKOFF = 30.0
# At shutdown, queued rows get this long to reach the database.
FLUSH_SECONDS = 5.0


class Recorder:
    def __init__(self, store: HistoryStore, settings: HistoryConfig, instance: str):
        self.store = store
        self.settings = settings
        self.instance = instance
        self.rows: BatchQueue[Execution | Delivery | StartRequest] = BatchQueue(
            "qbutler-history-writer", settings.queueSize, settings.batchSize, self._write, log, "History row(s)")
        self.written: Counter[str] = Counter()
        self.removed = 0
        self.available = False
        self._throttle = Throttle()
        self._retention: asyncio.Task[None] | None = None

    @property
    def queue(self) -> asyncio.Queue[Execution | Delivery | StartRequest]:
        return self.rows.queue

    @property
    def dropped(self) -> Counter[str]:
        return self.rows.dropped

    async def start(self) -> None:
        try:
            await self.store.start()
            self.available = True
        except HistoryUnavailable as exc:
            # Not fatal: tasks and alerts go on; rows wait in the queue and are retried.
            log.error("History database unavailable at start-up, retrying in the background: %s", exc)
        self.rows.start()
        self._retention = asyncio.create_task(self._retention_loop(), name="qbutler-history-retention")

    async def stop(self) -> None:
        await cancel_and_wait(self._retention)
        await self.rows.stop(FLUSH_SECONDS)
        await self.store.stop()

    def record(self, row: Execution | Delivery | StartRequest) -> None:
        """Hand a row over; never waits."""
        self.rows.put(row)

    async def wait_idle(self) -> None:
        """Until everything handed over so far is written (or dropped)."""
        await self.rows.wait_idle()

    # ---------------------------------------------------------------- writing

    async def _write(self, batch: list[Any]) -> None:
        executions = [row for row in batch if isinstance(row, Execution)]
        deliveries = [row for row in batch if isinstance(row, Delivery)]
        starts = [row for row in batch if isinstance(row, StartRequest)]
        delay = 0.5
        while True:
            try:
                await self.store.write(executions, deliveries, starts)
            except HistoryUnavailable as exc:
                self.available = False
                self._log_failure(exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            except Exception:
                log.exception("History write failed; %d row(s) dropped", len(batch))
                self.rows.drop("error", "the database refused the batch", len(batch))
                return
            if not self.available:
                log.info("History database reachable again")
            self.available = True
            self.written.update(execution=len(executions), delivery=len(deliveries), start=len(starts))
            return

    def _log_failure(self, exc: Exception, delay: float) -> None:
        if self._throttle.due("unavailable"):
            log.error("History write failed, %d row(s) waiting, retrying in %.1fs: %s", self.queue.qsize(),
                      delay, exc)

    # ---------------------------------------------------------------- retention

    async def apply_retention(self) -> int:
        retention = self.settings.retention
        older_than = time.time() - retention.maxAgeDays * 86400 if retention.maxAgeDays else None
        keep = retention.maxExecutions or None
        removed = await self.store.apply_retention(older_than, keep)
        self.removed += removed
        if removed:
            log.info("History retention removed %d execution(s)", removed)
        return removed

    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.apply_retention()
            except HistoryUnavailable as exc:
                log.warning("History retention skipped: %s", exc)
            except Exception:
                log.exception("History retention failed")
            await asyncio.sleep(self.settings.retention.intervalSeconds)
