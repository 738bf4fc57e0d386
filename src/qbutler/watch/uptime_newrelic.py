"""qbutler's memory and uptime as New Relic gauges (`Butler.uptimeMonitor.storeNewRelic`,
butler-monitoring.md §4.5), posted at each uptime-monitor tick to the Metric API of every account
of `destinationAccount`.

Sent straight away, as Butler does, not through the alert outbox: a gauge that missed its tick is
replaced by the next one, and metrics are no alerts to list, retry or keep.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from qbutler import __version__
from qbutler.alerts.channels.base import DeliveryError
from qbutler.alerts.channels.newrelic import account_list, post_each, static_attributes
from qbutler.alerts.http import HttpSender
from qbutler.config import Config

log = logging.getLogger("qbutler.watch.uptime")

# New Relic's Metric API answers 202 to an accepted payload; Butler also counts 200 as success.
ACCEPTED = (200, 202)


class UptimeMetrics:
    def __init__(self, config: Config, http: HttpSender, interval_ms: int):
        self.settings = config.Butler.uptimeMonitor.storeNewRelic
        self.http = http
        self.interval_ms = interval_ms
        # Resolved once: an unknown account name is logged at start-up, not at every tick.
        self.accounts = account_list(config.Butler.thirdPartyToolsCredentials.newRelic,
                                     self.settings.destinationAccount)
        if not self.accounts:
            log.warning("Butler.uptimeMonitor.storeNewRelic is on but none of its destinationAccount is in "
                        "Butler.thirdPartyToolsCredentials.newRelic: no uptime metrics are sent")
        self.sent = 0

    def body(self, *, uptime_ms: int, process_memory_bytes: int, now_ms: int) -> list[dict[str, Any]]:
        """The Metric API payload: one block, its common timestamp, interval and attributes."""
        attributes = static_attributes(self.settings.attribute.static)
        if self.settings.attribute.dynamic.butlerVersion.enable:
            attributes["version"] = __version__
        switches = self.settings.metric.dynamic
        metrics = []
        if switches.butlerMemoryUsage.enable:
            # Butler's V8 heap figures have no counterpart in a Python process: the process's memory only.
            metrics.append({"name": "qs_butlerProcessMem", "type": "gauge", "value": process_memory_bytes})
        if switches.butlerUptime.enable:
            metrics.append({"name": "qs_butlerUptimeMillisec", "type": "gauge", "value": uptime_ms})
        if not metrics:
            return []
        return [{"common": {"timestamp": now_ms, "interval.ms": self.interval_ms, "attributes": attributes},
                 "metrics": metrics}]

    async def post(self, *, uptime_ms: int, process_memory_bytes: int) -> None:
        """One tick's metrics to every account; DeliveryError naming each account that did not accept."""
        body = self.body(uptime_ms=uptime_ms, process_memory_bytes=process_memory_bytes,
                         now_ms=int(time.time() * 1000))
        if not body or not self.accounts:
            return
        results = await post_each(self.http, self.accounts, lambda _account: self.settings.url, body,
                                  list(self.settings.header), ACCEPTED)
        self.sent += sum(1 for result in results if not result.problem)
        problems = [f"{result.account}: {result.problem}" for result in results if result.problem]
        if problems:
            raise DeliveryError("New Relic uptime metrics not accepted by " + "; ".join(problems), retryable=False)
