"""The uptime monitor (`Butler.uptimeMonitor`): at each tick (none at start-up, as in Butler) one
log line at `logLevel` with the iteration, the uptime and the process's memory."""

from __future__ import annotations

import logging
import resource
import sys
import time

from qbutler.config import Config
from qbutler.logs import LEVELS, VERBOSE
from qbutler.watch.loop import Monitor

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


def memory_mb() -> tuple[float, float]:
    """Resident memory now and at its peak, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            now = int(statm.read().split()[1]) * resource.getpagesize() / 1024 / 1024
    except OSError:
        now = peak
    return round(now, 2), round(peak, 2)


class UptimeMonitor(Monitor):
    name = "uptimeMonitor"
    run_at_start = False

    def __init__(self, config: Config):
        settings = config.Butler.uptimeMonitor
        super().__init__(settings.frequency)
        self.level = LEVELS.get(str(settings.logLevel).lower(), VERBOSE)
        self.iteration = 0
        self.since = time.monotonic()

    async def check(self) -> None:
        self.iteration += 1
        now_mb, peak_mb = memory_mb()
        log.log(self.level, "-" * 60)
        log.log(self.level, "Iteration # %s, Uptime: %s, Memory allocated to process: %s MB (peak %s MB).",
                f"{self.iteration:,}", duration_text(time.monotonic() - self.since), now_mb, peak_mb)
