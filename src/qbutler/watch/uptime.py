"""The uptime monitor (`Butler.uptimeMonitor`): at each tick (none at start-up, as in Butler) one
log line at `logLevel` with the iteration, the uptime and the process's memory, then what follows
the tick (the InfluxDB `butler_memory_usage` point), and with `storeNewRelic` the same figures as
New Relic gauges (uptime_newrelic.py)."""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Callable

from qbutler.alerts.channels.base import DeliveryError
from qbutler.alerts.http import HttpSender
from qbutler.config import Config
from qbutler.logs import LEVELS, VERBOSE
from qbutler.watch.loop import Monitor
from qbutler.watch.uptime_newrelic import UptimeMetrics

log = logging.getLogger("qbutler.watch.uptime")


def duration_text(seconds: float) -> str:
    """`2 days 3 hours 4 minutes 5 seconds`, leaving out leading zero units (moment's preciseDiff)."""
    parts = []
    remaining = int(seconds)
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, remaining = divmod(remaining, size)
        if count or (parts and name != "second") or name == "second":
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(parts)


def memory_bytes() -> tuple[int, int]:
    """Resident memory now and at its peak, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            now = int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        now = peak
    return now, peak


def megabytes(count: int) -> float:
    return round(count / 1024 / 1024, 2)


class UptimeMonitor(Monitor):
    name = "uptimeMonitor"
    run_at_start = False
    expected_errors = (*Monitor.expected_errors, DeliveryError)

    def __init__(self, config: Config, http: HttpSender):
        """`http` sends the New Relic metrics when `storeNewRelic.enable` is on."""
        settings = config.Butler.uptimeMonitor
        super().__init__(settings.frequency)
        self.level = LEVELS.get(str(settings.logLevel).lower(), VERBOSE)
        self.iteration = 0
        self.since = time.monotonic()
        # Called at each tick before New Relic is posted to, so a New Relic failure (which fails
        # the run) does not cost them their tick; Butler writes InfluxDB first too.
        self.tick_observers: list[Callable[[], None]] = []
        self.newrelic: UptimeMetrics | None = None
        if settings.storeNewRelic.enable:
            self.newrelic = UptimeMetrics(config, http, interval_ms=self._butler_interval_ms())

    def _butler_interval_ms(self) -> int:
        """Butler's `interval.ms`: the gap between the 3rd and 4th schedule times after start-up."""
        fires = [time.time()]
        for _ in range(4):
            fires.append(self.schedule.next_fire(fires[-1]))
        return round((fires[4] - fires[3]) * 1000)

    async def check(self) -> None:
        self.iteration += 1
        uptime = time.monotonic() - self.since
        now, peak = memory_bytes()
        log.log(self.level, "-" * 60)
        log.log(self.level, "Iteration # %s, Uptime: %s, Memory allocated to process: %s MB (peak %s MB).",
                f"{self.iteration:,}", duration_text(uptime), megabytes(now), megabytes(peak))
        for observer in self.tick_observers:
            observer()
        if self.newrelic is not None:
            await self.newrelic.post(uptime_ms=round(uptime * 1000), process_memory_bytes=now)
