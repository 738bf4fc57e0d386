"""The uptime monitor's line: iteration, uptime in words, the process's memory; at its logLevel."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from qbutler.alerts.http import HttpSender
from qbutler.config import parse_config
from qbutler.watch.uptime import UptimeMonitor, duration_text
from support.qbutler import base_config


def test_durations_read_like_butlers():
    assert duration_text(4) == "4 seconds"
    assert duration_text(3601) == "1 hour 0 minutes 1 second"
    assert duration_text(2 * 86400 + 3 * 3600 + 4 * 60 + 5) == "2 days 3 hours 4 minutes 5 seconds"


async def test_each_tick_logs_uptime_and_memory_at_the_configured_level(tmp_path: Path, caplog):
    caplog.set_level(logging.DEBUG, logger="qbutler")
    config = parse_config(base_config(uptimeMonitor={"enable": True, "frequency": "every 1 hours",
                                                     "logLevel": "info"}), tmp_path)
    monitor = UptimeMonitor(config, HttpSender(timeout=5))
    assert monitor.newrelic is None
    assert monitor.run_at_start is False  # as Butler: the first line comes at the first tick
    assert await monitor.run_once() and await monitor.run_once()
    lines = [r for r in caplog.records if r.name == "qbutler.watch.uptime" and "Iteration" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.INFO, logging.INFO]
    assert re.fullmatch(r"Iteration # 2, Uptime: \d+ seconds?, Memory allocated to process: [\d.]+ MB "
                        r"\(peak [\d.]+ MB\)\.", lines[1].getMessage())
