"""What every monitor shares: a loop that runs one check at each time of its schedule, remembers
its last success and failure, and logs a failing check with back-off instead of at every run."""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from qbutler.background import cancel_and_wait
from qbutler.scheduler.cron import iso
from qbutler.scheduler.later import Schedule, parse_frequency

log = logging.getLogger("qbutler.watch")


class Monitor(ABC):
    """Subclasses implement `check()`; exceptions from it count as a failed run."""

    name: str = "monitor"
    # Butler runs most monitors once at start-up, then on the schedule.
    run_at_start: bool = True
    # Failures of the outside world: logged as warnings, without a traceback.
    expected_errors: tuple[type[Exception], ...] = (OSError, TimeoutError)

    def __init__(self, frequency: str):
        self.frequency = frequency
        self.schedule: Schedule = parse_frequency(frequency)
        self.started = 0.0
        self.last_success: float | None = None
        self.last_failure: float | None = None
        self.last_error = ""
        self.runs = 0
        self.failures = 0
        self.failures_in_a_row = 0
        # Called after each successful check, to read the monitor's plain state (InfluxDB).
        self.observers: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._ran = asyncio.Event()

    async def start(self) -> None:
        self.started = time.time()
        self._task = asyncio.create_task(self._loop(), name=f"qbutler-watch-{self.name}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    @abstractmethod
    async def check(self) -> None:
        """One run of the monitor."""

    async def _loop(self) -> None:
        if self.run_at_start:
            await self.run_once()
        while True:
            now = time.time()
            await asyncio.sleep(max(self.schedule.next_fire(now) - now, 0.0))
            await self.run_once()

    async def run_once(self) -> bool:
        """One check, its outcome recorded; True if it succeeded."""
        try:
            await self.check()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc)
            return False
        finally:
            self.runs += 1
            self._ran.set()
        if self.failures_in_a_row:
            log.info("%s: working again after %d failed run(s)", self.name, self.failures_in_a_row)
        self.failures_in_a_row = 0
        self.last_success = time.time()
        for observer in self.observers:
            observer()
        return True

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self.failures_in_a_row += 1
        self.last_failure = time.time()
        self.last_error = f"{type(exc).__name__}: {exc}" if not str(exc).startswith("QRS") else str(exc)
        # Back-off: the 1st, 2nd, 4th, 8th ... failure in a row is logged, not every run.
        count = self.failures_in_a_row
        if count & (count - 1) == 0:
            suffix = f" ({count} failed runs in a row)" if count > 1 else ""
            if isinstance(exc, self.expected_errors) or str(exc).startswith("QRS"):
                log.warning("%s failed%s: %s", self.name, suffix, self.last_error)
            else:
                log.error("%s failed%s: %s", self.name, suffix, self.last_error, exc_info=exc)

    async def wait_run(self) -> None:
        """Until the next run ends (tests)."""
        self._ran.clear()
        await self._ran.wait()

    def interval(self, now: float) -> float:
        """The current gap between two runs of the schedule."""
        first = self.schedule.next_fire(now)
        return self.schedule.next_fire(first) - first

    def health(self, stale_intervals: float, now: float | None = None) -> dict[str, Any]:
        """Unhealthy when the last success is older than `stale_intervals` schedule intervals
        (counted from start-up while there was none yet)."""
        now = time.time() if now is None else now
        since = self.last_success if self.last_success is not None else self.started
        healthy = now - since <= stale_intervals * self.interval(now) + 5.0
        return {"status": "ok" if healthy else "unhealthy", "frequency": self.frequency, "runs": self.runs,
                "lastSuccess": iso(self.last_success) if self.last_success else None,
                "lastError": self.last_error if self.failures_in_a_row else "",
                "failuresInARow": self.failures_in_a_row}
