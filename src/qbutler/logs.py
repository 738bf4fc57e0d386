"""Logging with Butler's level names, to the console and optionally to a daily-rotated file."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
from pathlib import Path

SILLY = 5
VERBOSE = 15
LEVELS = {"silly": SILLY, "debug": logging.DEBUG, "verbose": VERBOSE, "info": logging.INFO,
          "warn": logging.WARNING, "error": logging.ERROR}

logging.addLevelName(SILLY, "silly")
logging.addLevelName(VERBOSE, "verbose")
for _name, _level in LEVELS.items():
    logging.addLevelName(_level, _name)


class _UtcFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + \
            f".{int(record.msecs):03d}Z"


FORMAT = "%(asctime)s %(levelname)s: %(message)s"


def setup_logging(level: str, file_logging: bool = False, log_directory: Path | None = None,
                  console: bool = True) -> None:
    """Configure the root 'qbutler' logger; safe to call again (handlers are replaced)."""
    logger = logging.getLogger("qbutler")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(LEVELS[level])
    logger.propagate = False
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(_UtcFormatter(FORMAT))
        logger.addHandler(stream)
    if file_logging and log_directory is not None:
        log_directory.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.TimedRotatingFileHandler(
            log_directory / "qbutler.log", when="midnight", backupCount=30, utc=True, encoding="utf-8")
        rotating.setFormatter(_UtcFormatter(FORMAT))
        logger.addHandler(rotating)


class Throttle:
    """Whether a message of some kind may be logged now: the first at once, then at most once per
    `interval` seconds, so a failure that repeats thousands of times does not flood the log."""

    def __init__(self, interval: float = 60.0):
        self.interval = interval
        self._last: dict[str, float] = {}

    def due(self, kind: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(kind, -self.interval) < self.interval:
            return False
        self._last[kind] = now
        return True
