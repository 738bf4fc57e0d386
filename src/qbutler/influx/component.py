"""InfluxDB output as a service component: a point per task event Butler would write one for, and
the site watch's measurements after each run of a monitor whose `influxDb` switch is on."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent
from qbutler.influx.line import Point
from qbutler.influx.points import task_point, wants_script_log
from qbutler.influx.watch_points import (
    access_license_points,
    release_point,
    server_license_point,
    service_point,
    version_point,
)
from qbutler.influx.writer import InfluxWriter

if TYPE_CHECKING:
    from qbutler.watch.service import Watch


class Influx(InfluxWriter):
    def __init__(self, config: Config, version: str):
        super().__init__(config.Butler.influxDb, config.Butler.uptimeMonitor, version)
        self.butler = config.Butler

    def wants_script_log(self, enriched: EnrichedEvent) -> bool:
        return wants_script_log(self.settings, enriched)

    def on_event(self, enriched: EnrichedEvent, received_at: float) -> None:
        point = task_point(self.settings, enriched)
        if point is not None:
            self.put(point)

    def follow(self, watch: Watch) -> None:
        """Write what the watch's monitors observe, each behind its Butler switch."""
        butler, tags = self.butler, self.settings.tag
        licenses = butler.qlikSenseLicense
        for monitor in (watch.services, watch.windows_services):
            if monitor is not None and butler.serviceMonitor.alertDestination.influxDb.enable:
                monitor.observers.append(self._writer(lambda m=monitor: [service_point(tags, c) for c in m.polled]))
        version = watch.version
        destination = butler.qlikSenseVersion.versionMonitor.destination.influxDb
        if version is not None and destination.enable:
            version.observers.append(self._writer(lambda: [version_point(tags, destination.tag, version.info)]))
        server = watch.server_license
        server_destination = licenses.serverLicenseMonitor.destination.influxDb
        if server is not None and server_destination.enable:
            server.observers.append(self._writer(
                lambda: [server_license_point(tags, server_destination.tag, server.status)]))
        access = watch.access_licenses
        access_destination = licenses.licenseMonitor.destination.influxDb
        if access is not None and access_destination.enable:
            access.observers.append(self._writer(
                lambda: access_license_points(tags, access_destination.tag, access.overview)))
        release = watch.release
        # qbutler honours this switch; Butler writes released licenses whatever it says.
        release_destination = licenses.licenseRelease.destination.influxDb
        if release is not None and release_destination.enable:
            release.release_observers.append(lambda record: self.put(release_point(tags, release_destination.tag,
                                                                                   record)))

    def _writer(self, points: Callable[[], list[Point]]) -> Callable[[], None]:
        def write() -> None:
            for point in points():
                self.put(point)
        return write
