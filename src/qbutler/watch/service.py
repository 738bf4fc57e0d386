"""The watch component (`Service.watch`): builds the monitors the config enables and runs them."""

from __future__ import annotations

import logging
import platform

from qbutler.alerts.service import Alerts
from qbutler.config import Config
from qbutler.mqtt import MqttClient
from qbutler.sense.qrs import QrsClient
from qbutler.watch.heartbeat import Heartbeat
from qbutler.watch.licenses import AccessLicenseMonitor, AuditWriter, LicenseReleaser, ServerLicenseMonitor
from qbutler.watch.loop import Monitor
from qbutler.watch.services import ServiceMonitor, WindowsServiceMonitor
from qbutler.watch.uptime import UptimeMonitor
from qbutler.watch.version import VersionMonitor

log = logging.getLogger("qbutler.watch")


class Watch:
    def __init__(self, config: Config, *, qrs: QrsClient, alerts: Alerts, mqtt: MqttClient | None,
                 audit: AuditWriter | None = None):
        butler = config.Butler
        self.config = config
        self.services: ServiceMonitor | None = None
        self.windows_services: WindowsServiceMonitor | None = None
        self.server_license: ServerLicenseMonitor | None = None
        self.access_licenses: AccessLicenseMonitor | None = None
        self.release: LicenseReleaser | None = None
        self.version: VersionMonitor | None = None
        self.heartbeat: Heartbeat | None = None
        self.uptime: UptimeMonitor | None = None
        monitor = butler.serviceMonitor
        if monitor.enable and monitor.qrs.enable:
            self.services = ServiceMonitor(config, qrs, alerts, mqtt)
        if monitor.enable and monitor.monitor and platform.system() == "Windows":
            self.windows_services = WindowsServiceMonitor(config, alerts, mqtt)
        licenses = butler.qlikSenseLicense
        if licenses.serverLicenseMonitor.enable:
            self.server_license = ServerLicenseMonitor(config, qrs, alerts)
        if licenses.licenseMonitor.enable:
            self.access_licenses = AccessLicenseMonitor(config, qrs)
        if licenses.licenseRelease.enable:
            if not (licenses.licenseRelease.licenseType.professional.enable
                    or licenses.licenseRelease.licenseType.analyzer.enable):
                log.warning("Butler.qlikSenseLicense.licenseRelease is on but no licenseType is enabled: "
                            "nothing will be released")
            self.release = LicenseReleaser(config, qrs, alerts, audit)
        if butler.qlikSenseVersion.versionMonitor.enable:
            self.version = VersionMonitor(config, alerts)
        if butler.heartbeat.enable:
            self.heartbeat = Heartbeat(config)
        if butler.uptimeMonitor.enable:
            self.uptime = UptimeMonitor(config, alerts.http)
        every = (self.services, self.windows_services, self.server_license, self.access_licenses, self.release,
                 self.version, self.heartbeat, self.uptime)
        self.monitors: list[Monitor] = [m for m in every if m is not None]
        self._started: list[Monitor] = []

    async def start(self) -> None:
        self._report_windows_services()
        self._report_newrelic_service_destinations()
        for monitor in self.monitors:
            await monitor.start()
            self._started.append(monitor)
        if self.monitors:
            log.info("Watching: %s", ", ".join(f"{m.name} ({m.frequency})" for m in self.monitors))

    async def stop(self) -> None:
        while self._started:
            await self._started.pop().stop()

    def _report_windows_services(self) -> None:
        """Butler's `monitor[]` lists Windows services polled with sc.exe: said once at start-up
        when that cannot work here (the QRS-reported services are watched on any platform)."""
        settings = self.config.Butler.serviceMonitor
        if not settings.enable or not settings.monitor or self.windows_services is not None:
            return
        count = sum(len(host.services) for host in settings.monitor)
        log.warning("Butler.serviceMonitor.monitor lists %d Windows service(s) on %d host(s): Windows services "
                    "can only be watched when qbutler runs on Windows (this is %s), so they are not watched. "
                    "Sense's own services are watched through QRS (serviceMonitor.qrs).", count,
                    len(settings.monitor), platform.system() or "an unknown system")

    def _report_newrelic_service_destinations(self) -> None:
        """Butler sends service events and logs to New Relic whatever `destination.<kind>.enable`
        says; qbutler honours the switch, so a migrated config that relied on that is told once."""
        butler = self.config.Butler
        if self.services is None and self.windows_services is None:
            return
        if not butler.serviceMonitor.alertDestination.newRelic.enable:
            return
        destinations = butler.incidentTool.newRelic.serviceMonitor.destination
        for kind, destination in (("event", destinations.event), ("log", destinations.log)):
            if destination.sendToAccount and not destination.enable:
                log.warning("Butler.incidentTool.newRelic.serviceMonitor.destination.%s lists New Relic accounts "
                            "but its enable is false, so no service %s is sent to them (Butler sends them "
                            "anyway); set enable: true to send them", kind, "events" if kind == "event" else "logs")
