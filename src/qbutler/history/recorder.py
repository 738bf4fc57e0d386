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
        self.queue: asyncio.Queue[Execution | Delivery | StartRequest] = asyncio.Queue(settings.queueSize)
        self.dropped: Counter[str] = Counter()
        self.written: Counter[str] = Counter()
        self.removed = 0
        self.available = False
        self._throttle = Throttle()
        self._writer: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = False

    async def start(self) -> None:
        try:
            await self.store.start()
            self.available = True
        except HistoryUnavailable as exc:
            # Not fatal: tasks and alerts go on; rows wait in the queue and are retried.
            log.error("History database unavailable at start-up, retrying in the background: %s", exc)
        self._writer = asyncio.create_task(self._write_loop(), name="qbutler-history-writer")
        self._retention = asyncio.create_task(self._retention_loop(), name="qbutler-history-retention")

    async def stop(self) -> None:
        await cancel_and_wait(self._retention)
        try:
            await asyncio.wait_for(self.wait_idle(), FLUSH_SECONDS)
        except TimeoutError:
            pass
        await cancel_and_wait(self._writer)
        left = self.queue.qsize()
        if left:
            self.dropped["shutdown"] += left
            log.error("History: %d row(s) not written at shutdown (the database did not take them in time)", left)
        await self.store.stop()

    # ---------------------------------------------------------------- handing rows over

    def record(self, row: Execution | Delivery | StartRequest) -> None:
        try:
            self.queue.put_nowait(row)
        except asyncio.QueueFull:
            self._drop("queue_full", f"{self.queue.maxsize} rows are waiting for the database")
            return
        self._idle.clear()

    def _drop(self, reason: str, detail: str, count: int = 1) -> None:
        self.dropped[reason] += count
        if self._throttle.due(reason):
            log.error("History row(s) dropped (%s): %s; %d dropped for this reason so far", reason, detail,
                      self.dropped[reason])

    async def wait_idle(self) -> None:
        """Until everything handed over so far is written (or dropped)."""
        await self._idle.wait()

    # ---------------------------------------------------------------- writing

    async def _write_loop(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.settings.batchSize and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            await self._write(batch)
            if self.queue.empty():
                self._idle.set()

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
                self._drop("error", "the database refused the batch", len(batch))
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
