"""Script log to disk (`Butler.scriptLog.storeOnDisk.clientManaged.reloadTaskFailure`): the full
script log of every failed reload, in Butler's layout (butler-monitoring.md §7):

    <logDirectory>/<yyyy-mm-dd>/<yyyy-mm-dd_HH-MM-SS>_appId=<app id>_taskId=<task id>.log

Lines joined by `\\n`, no trailing newline, UTF-8. The file appears whole or not at all (written
beside it, then renamed), is written in slices (a big log is never copied whole in memory), and
qbutler adds a size cap (the last lines are kept) and a retention period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
import uuid
from pathlib import Path

from qbutler.alerts.config import ScriptLogToDisk
from qbutler.background import cancel_and_wait
from qbutler.events.enrich import EnrichedEvent

log = logging.getLogger("qbutler.alerts.scriptlog")

# Lines per write: a slice of a big log, not the whole of it.
SLICE_LINES = 4096
SWEEP_INTERVAL_SECONDS = 3600.0
CAPPED = "---- qbutler: script log cut to its last {size} bytes (Butler.scriptLog.storeOnDisk maxFileSizeMB) ----"
# The scheduler's log4net %date; anything else could name a path outside the log folder.
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def log_file_path(directory: Path, stamp: str, app_id: str, task_id: str) -> Path | None:
    """Butler's folder and file name for the log, None when the timestamp is not the scheduler's."""
    if not _STAMP.match(stamp):
        return None
    name = stamp[:19].replace(" ", "_").replace(":", "-")
    return directory / stamp[:10] / f"{name}_appId={app_id}_taskId={task_id}.log"


def first_kept_line(lines: list[str], max_bytes: int) -> int:
    """Index of the first line of the longest tail that fits in `max_bytes` (0: all of it)."""
    total = 0
    for index in range(len(lines) - 1, -1, -1):
        total += len(lines[index].encode("utf-8")) + 1
        if total > max_bytes:
            return index + 1
    return 0


def write_log(path: Path, lines: list[str], max_bytes: int = 0) -> None:
    """Write atomically, slice by slice; `max_bytes` > 0 keeps only the tail that fits."""
    start = first_kept_line(lines, max_bytes) if max_bytes else 0
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique: two failures of one task in the same second write the same file at the same time.
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        with open(partial, "w", encoding="utf-8", newline="") as file:
            if start:
                file.write(CAPPED.format(size=max_bytes) + "\n")
            for first in range(start, len(lines), SLICE_LINES):
                if first > start:
                    file.write("\n")
                file.write("\n".join(lines[first:first + SLICE_LINES]))
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def remove_older_than(directory: Path, cutoff: float) -> int:
    """Remove log files (and leftovers) last changed before `cutoff`, then empty day folders."""
    removed = 0
    if not directory.is_dir():
        return 0
    for day in directory.iterdir():
        if not day.is_dir():
            continue
        for file in day.iterdir():
            if file.is_file() and file.suffix in (".log", ".part") and file.stat().st_mtime < cutoff:
                with contextlib.suppress(FileNotFoundError):
                    file.unlink()
                    removed += 1
        with contextlib.suppress(OSError):
            day.rmdir()  # only succeeds when empty
    return removed


class ScriptLogStore:
    def __init__(self, settings: ScriptLogToDisk, directory: Path):
        self.settings = settings
        self.directory = directory
        self.written = 0
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.enable and bool(self.settings.logDirectory)

    def wants(self, enriched: EnrichedEvent) -> bool:
        event = enriched.event
        return (self.enabled and event.outcome == "failed" and event.source == "scheduler"
                and enriched.task_type == 0)

    async def start(self) -> None:
        if self.enabled and self.settings.retentionDays > 0:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="qbutler-scriptlog-retention")

    async def stop(self) -> None:
        if self._sweeper is not None:
            await cancel_and_wait(self._sweeper)
            self._sweeper = None

    async def _sweep_forever(self) -> None:
        while True:
            try:
                removed = await asyncio.to_thread(self.sweep, time.time())
                if removed:
                    log.info("Script logs: %d file(s) older than %s days removed", removed,
                             self.settings.retentionDays)
            except OSError as exc:
                log.error("Script logs: retention sweep of %s failed: %s", self.directory, exc)
            await asyncio.sleep(SWEEP_INTERVAL_SECONDS)

    def sweep(self, now: float) -> int:
        return remove_older_than(self.directory, now - self.settings.retentionDays * 86400)

    async def store(self, enriched: EnrichedEvent) -> Path | None:
        """Write the event's script log if it is one to keep; errors are logged, never raised."""
        if not self.wants(enriched):
            return None
        event = enriched.event
        if enriched.app is None:
            # Butler stops here too: no app, no file.
            log.warning("Script log of task %s not stored: app %s not found", event.taskId, event.appId)
            return None
        lines = enriched.script_log
        if not lines:
            log.error("Script log of task %s (execution %s) not stored: %s", event.taskId, event.executionId,
                      "it is empty" if lines is not None else (enriched.script_log_error or "not available"))
            return None
        path = log_file_path(self.directory, event.logTimeStamp, event.appId, event.taskId)
        if path is None:
            log.error("Script log of task %s not stored: timestamp %r is not the scheduler's", event.taskId,
                      event.logTimeStamp[:40])
            return None
        cap = int(self.settings.maxFileSizeMB * 1024 * 1024)
        try:
            await asyncio.to_thread(write_log, path, lines, cap)
        except OSError as exc:
            log.error("Script log of task %s could not be written to %s: %s", event.taskId, path, exc)
            return None
        self.written += 1
        log.info("Script log of failed task %s stored in %s", event.taskId, path)
        return path
