"""InfluxDB output as a service component: a point per task event Butler would write one for, and
the site watch's measurements after each run of a monitor whose `influxDb` switch is on, and
qbutler's memory at each tick of the uptime monitor (`uptimeMonitor.storeInInfluxdb`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent
from qbutler.influx.line import Point
from qbutler.influx.points import memory_point, task_point, wants_script_log
from qbutler.influx.watch_points import (
    access_license_points,
    release_point,
    server_license_point,
    service_point,
    version_point,
)
from qbutler.influx.writer import InfluxWriter

if TYPE_CHECKING:
    from qbutler.watch.loop import Monitor
    from qbutler.watch.service import Watch
    from qbutler.watch.services import ServiceWatch


class Influx(InfluxWriter):
    def __init__(self, config: Config, version: str):
        super().__init__(config.Butler.influxDb)
        self.butler = config.Butler
        self.version = version

    def wants_script_log(self, enriched: EnrichedEvent) -> bool:
        return wants_script_log(self.settings, enriched)

    def on_event(self, enriched: EnrichedEvent, received_at: float) -> None:
        point = task_point(self.settings, enriched)
        if point is not None:
            self.put(point)

    def follow(self, watch: Watch) -> None:
        """Write what the watch's monitors observe after each of their runs, each behind its
        Butler switch, and qbutler's memory at each tick of the uptime monitor."""
        butler, tags = self.butler, self.settings.tag
        if watch.uptime is not None and butler.uptimeMonitor.storeInInfluxdb.enable:
            watch.uptime.tick_observers.append(lambda: self.put(memory_point(self.settings, self.version)))
        if butler.serviceMonitor.alertDestination.influxDb.enable:
            for services in (watch.services, watch.windows_services):
                if services is not None:
                    self._after_runs(services, partial(self._service_points, services))
        version = watch.version
        version_out = butler.qlikSenseVersion.versionMonitor.destination.influxDb
        if version is not None and version_out.enable:
            self._after_runs(version, lambda: [version_point(tags, version_out.tag, version.info)])
        licenses = butler.qlikSenseLicense
        server = watch.server_license
        server_out = licenses.serverLicenseMonitor.destination.influxDb
        if server is not None and server_out.enable:
            self._after_runs(server, lambda: [server_license_point(tags, server_out.tag, server.status)])
        access = watch.access_licenses
        access_out = licenses.licenseMonitor.destination.influxDb
        if access is not None and access_out.enable:
            self._after_runs(access, lambda: access_license_points(tags, access_out.tag, access.overview))
        # qbutler honours this switch; Butler writes released licenses whatever it says.
        release_out = licenses.licenseRelease.destination.influxDb
        if watch.release is not None and release_out.enable:
            watch.release.release_observers.append(
                lambda record: self.put(release_point(tags, release_out.tag, record)))

    def _service_points(self, services: ServiceWatch) -> list[Point]:
        return [service_point(self.settings.tag, change) for change in services.polled]

    def _after_runs(self, monitor: Monitor, points: Callable[[], list[Point]]) -> None:
        def write() -> None:
            for point in points():
                self.put(point)
        monitor.observers.append(write)
