"""The service monitor (`Butler.serviceMonitor`), polled at `frequency`: Sense's services on every
node as the repository reports them (QRS `servicestatus/full`), and on Windows the services
listed under `monitor[]` (sc.exe, see windows.py).

Through QRS a service counts as RUNNING when Qlik reports it Running (serviceState 2) and
STOPPED otherwise (Initializing, NoCommunication, Disabled, ...); Qlik's own state name travels
with each alert. Alerts follow Butler's state model: one per change, silence for a service first seen running,
an alert (from PAUSED) for one first seen stopped. The last announced state of every service is
kept in the data directory, so a restart does not announce an unchanged state again. Each poll
also publishes every service's state on `serviceStatusTopic`, as Butler does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import abstractmethod
from pathlib import Path
from typing import Any

import orjson

from qbutler.alerts.service import Alerts
from qbutler.alerts.site import RUNNING, ServiceChange, mqtt_status_body
from qbutler.config import Config
from qbutler.mqtt import MqttClient, MqttUnavailable
from qbutler.sense.qrs import QrsClient
from qbutler.watch.loop import Monitor
from qbutler.watch.memory import Memory
from qbutler.watch.windows import ScExe

log = logging.getLogger("qbutler.watch.services")

STOPPED = "STOPPED"
FIRST_SEEN = "PAUSED"
# Qlik's ServiceStatus enums (QRS API, ServiceTypeEnum and ServiceStateEnum).
SERVICE_TYPES = {0: "Repository", 1: "Proxy", 2: "Scheduler", 3: "Engine", 4: "AppMigration", 5: "Printing"}
SERVICE_STATES = {0: "Initializing", 1: "CertificatesNotInstalled", 2: "Running", 3: "NoCommunication",
                  4: "Disabled", 5: "Unknown"}
QLIK_RUNNING = 2


def windows_name(service_type: str) -> str:
    """The Windows service key name of a Sense service (`QlikSenseSchedulerService`), so QRS-sourced
    alerts use the topics and names Butler's Windows monitor would."""
    return f"QlikSense{service_type}Service"


class ServiceWatch(Monitor):
    """What both sources share: one announcement per change, remembered across restarts, and
    every service's state on serviceStatusTopic."""

    # Every state a service of this source can be in: Qlik's names, or sc.exe's (metrics).
    states: tuple[str, ...] = ()

    def __init__(self, config: Config, alerts: Alerts, mqtt: MqttClient | None, memory_file: str):
        settings = config.Butler.serviceMonitor
        super().__init__(settings.frequency)
        self.config = config
        self.settings = settings
        self.alerts = alerts
        self.mqtt = mqtt
        self.memory = Memory(Path(config.data_dir) / "watch" / memory_file)
        # Plain state for metrics and the dashboard: "<host>|<serviceName>" -> what was seen last.
        self.services: dict[str, dict[str, Any]] = {}
        # Every watched service as the last poll saw it (InfluxDB writes one point each per poll).
        self.polled: list[ServiceChange] = []
        self.changes = 0

    @abstractmethod
    async def observe(self) -> list[ServiceChange]:
        """Every watched service's current state (prevState is filled in by `check`)."""

    async def check(self) -> None:
        statuses = await self.observe()
        self.polled = statuses
        announced: dict[str, str] = self.memory.data.setdefault("announced", {})
        changes: list[ServiceChange] = []
        first_seen = False
        now = time.time()
        for change in statuses:
            key = f"{change.host}|{change.serviceName}"
            previous = announced.get(key)
            change.prevState = previous or FIRST_SEEN
            seen = self.services.get(key)
            self.services[key] = {"host": change.host, "serviceName": change.serviceName,
                                  "friendlyName": change.serviceFriendlyName, "source": change.source,
                                  "status": change.serviceStatus, "qlikState": change.qlikState, "checked": now,
                                  "since": seen["since"] if seen and seen["status"] == change.serviceStatus else now}
            # Butler: a service first seen running is not announced; first seen stopped is.
            if previous is None and change.running:
                announced[key] = change.serviceStatus
                first_seen = True
            elif previous != change.serviceStatus:
                changes.append(change)
        for change in changes:
            await self._announce(change, announced)
        if changes or first_seen:
            await self.memory.save()
        if self._publish_status() and (self.settings.mqttStatusEveryPoll or changes):
            await self._publish(statuses if self.settings.mqttStatusEveryPoll else changes)

    def _publish_status(self) -> bool:
        butler = self.config.Butler
        return (self.mqtt is not None and butler.mqttConfig.enable and bool(butler.mqttConfig.serviceStatusTopic)
                and self.settings.alertDestination.mqtt.enable)

    async def _announce(self, change: ServiceChange, announced: dict[str, str]) -> None:
        queued = await self.alerts.router.submit(self.alerts.site.service_messages(change))
        # Remembered once the alerts are in the outbox: a crash before this announces again
        # after the restart rather than never.
        announced[f"{change.host}|{change.serviceName}"] = change.serviceStatus
        self.changes += 1
        level = logging.INFO if change.running else logging.WARNING
        log.log(level, "Service %s: %s -> %s (Qlik state %s), %d alert message(s) queued", change.label,
                change.prevState, change.serviceStatus, change.qlikState, queued)
        if self.alerts.activity is not None:
            self.alerts.activity.publish("watch.service", f"{change.label} is {change.serviceStatus}",
                                         **change.to_dict())

    async def _publish(self, changes: list[ServiceChange]) -> None:
        assert self.mqtt is not None
        base = self.config.Butler.mqttConfig.serviceStatusTopic
        for change in changes:
            try:
                await self.mqtt.publish(f"{base}/{change.host}/{change.serviceName}",
                                        orjson.dumps(mqtt_status_body(change)))
            except MqttUnavailable as exc:
                log.debug("Service status not published: %s", exc)
                return


class ServiceMonitor(ServiceWatch):
    """Sense's services on every node, through QRS."""

    name = "serviceMonitor"
    states = tuple(SERVICE_STATES.values())

    def __init__(self, config: Config, qrs: QrsClient, alerts: Alerts, mqtt: MqttClient | None):
        super().__init__(config, alerts, mqtt, "services.json")
        self.qrs = qrs
        self.watched = set(self.settings.qrs.services)
        self.qrs_calls = 0

    async def observe(self) -> list[ServiceChange]:
        self.qrs_calls += 1
        rows = await self.qrs.get("servicestatus/full")
        observed = []
        for row in rows:
            service_type = SERVICE_TYPES.get(row.get("serviceType"))
            if service_type not in self.watched:
                continue
            node = row.get("serverNodeConfiguration") or {}
            state = row.get("serviceState")
            observed.append(ServiceChange(
                host=node.get("hostName") or node.get("name") or "?", serviceName=windows_name(service_type),
                serviceFriendlyName=service_type, serviceDisplayName=f"Qlik Sense {service_type} Service",
                serviceStatus=RUNNING if state == QLIK_RUNNING else STOPPED, prevState=FIRST_SEEN, source="qrs",
                qlikState=SERVICE_STATES.get(state, str(state))))
        return observed


class WindowsServiceMonitor(ServiceWatch):
    """Butler's `monitor[]`: Windows services by host, through sc.exe (on Windows only)."""

    name = "windowsServiceMonitor"
    states = (RUNNING, STOPPED)

    def __init__(self, config: Config, alerts: Alerts, mqtt: MqttClient | None, sc: ScExe | None = None):
        super().__init__(config, alerts, mqtt, "windows-services.json")
        self.sc = sc or ScExe()
        self._missing: set[str] = set()

    async def observe(self) -> list[ServiceChange]:
        hosts = self.settings.monitor
        results = await asyncio.gather(*(self._host(entry.host, entry.services) for entry in hosts),
                                       return_exceptions=True)
        observed: list[ServiceChange] = []
        failed = []
        for entry, result in zip(hosts, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, OSError | ValueError):
                    raise result
                failed.append(f"{entry.host}: {result}")
            else:
                observed += result
        if failed and not observed:
            raise OSError("; ".join(failed))
        for problem in failed:
            # The other hosts' changes still count; the unreachable one keeps its state.
            log.warning("Windows services of %s", problem)
        return observed

    async def _host(self, host: str, services: list[Any]) -> list[ServiceChange]:
        states = await self.sc.states(host)
        observed = []
        for service in services:
            key = f"{host}|{service.name}"
            if service.name not in states:
                if key not in self._missing:
                    log.warning("Service %s (%r) on host %s does not exist or cannot be reached", service.name,
                                service.friendlyName, host)
                    self._missing.add(key)
                continue
            self._missing.discard(key)
            status, display = states[service.name]
            seen = self.services.get(key)
            details = await self.sc.details(host, service.name, refresh=bool(seen and seen["status"] != status))
            observed.append(ServiceChange(
                host=host, serviceName=service.name, serviceFriendlyName=service.friendlyName,
                serviceDisplayName=details.displayName or display, serviceStatus=status, prevState=FIRST_SEEN,
                serviceStartType=details.startType, serviceExePath=details.exePath,
                serviceDependencies=details.dependencies, source="windows"))
        return observed
