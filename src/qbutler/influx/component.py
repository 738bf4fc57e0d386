"""InfluxDB output as a service component: a point per task event Butler would write one for."""

from __future__ import annotations

from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent
from qbutler.influx.points import task_point, wants_script_log
from qbutler.influx.writer import InfluxWriter


class Influx(InfluxWriter):
    def __init__(self, config: Config, version: str):
        super().__init__(config.Butler.influxDb, config.Butler.uptimeMonitor, version)

    def wants_script_log(self, enriched: EnrichedEvent) -> bool:
        return wants_script_log(self.settings, enriched)

    def on_event(self, enriched: EnrichedEvent, received_at: float) -> None:
        point = task_point(self.settings, enriched)
        if point is not None:
            self.put(point)
