"""The service monitor (`Butler.serviceMonitor`): Sense's services on every node, as the
repository reports them (QRS `servicestatus/full`), polled at `frequency`.

A service counts as RUNNING when Qlik reports it Running (serviceState 2) and STOPPED otherwise
(Initializing, NoCommunication, Disabled, ...); Qlik's own state name travels with each alert.
Alerts follow Butler's state model: one per change, silence for a service first seen running,
an alert (from PAUSED) for one first seen stopped. The last announced state of every service is
kept in the data directory, so a restart does not announce an unchanged state again. Each poll
also publishes every service's state on `serviceStatusTopic`, as Butler does.
"""

from __future__ import annotations

import logging
import time
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


class ServiceMonitor(Monitor):
    name = "serviceMonitor"

    def __init__(self, config: Config, qrs: QrsClient, alerts: Alerts, mqtt: MqttClient | None):
        settings = config.Butler.serviceMonitor
        super().__init__(settings.frequency)
        self.config = config
        self.settings = settings
        self.qrs = qrs
        self.alerts = alerts
        self.mqtt = mqtt
        self.watched = set(settings.qrs.services)
        self.memory = Memory(Path(config.data_dir) / "watch" / "services.json")
        # Plain state for metrics and the dashboard: "<host>|<serviceName>" -> what was seen last.
        self.services: dict[str, dict[str, Any]] = {}
        self.changes = 0
        self.qrs_calls = 0

    def _publish_status(self) -> bool:
        butler = self.config.Butler
        return (self.mqtt is not None and butler.mqttConfig.enable and bool(butler.mqttConfig.serviceStatusTopic)
                and self.settings.alertDestination.mqtt.enable)

    async def check(self) -> None:
        self.qrs_calls += 1
        rows = await self.qrs.get("servicestatus/full")
        announced: dict[str, str] = self.memory.data.setdefault("announced", {})
        changes: list[ServiceChange] = []
        statuses: list[ServiceChange] = []
        first_seen = False
        now = time.time()
        for row in rows:
            service_type = SERVICE_TYPES.get(row.get("serviceType"))
            if service_type not in self.watched:
                continue
            node = row.get("serverNodeConfiguration") or {}
            host = node.get("hostName") or node.get("name") or "?"
            qlik_state = SERVICE_STATES.get(row.get("serviceState"), str(row.get("serviceState")))
            status = RUNNING if row.get("serviceState") == QLIK_RUNNING else STOPPED
            name = windows_name(service_type)
            key = f"{host}|{name}"
            previous = announced.get(key)
            change = ServiceChange(host=host, serviceName=name, serviceFriendlyName=service_type,
                                   serviceDisplayName=f"Qlik Sense {service_type} Service", serviceStatus=status,
                                   prevState=previous or FIRST_SEEN, source="qrs", qlikState=qlik_state)
            statuses.append(change)
            seen = self.services.get(key)
            self.services[key] = {"host": host, "serviceName": name, "serviceType": service_type,
                                  "status": status, "qlikState": qlik_state, "checked": now,
                                  "since": seen["since"] if seen and seen["status"] == status else now}
            # Butler: a service first seen running is not announced; first seen stopped is.
            if previous is None and status == RUNNING:
                announced[key] = status
                first_seen = True
            elif previous != status:
                changes.append(change)
        for change in changes:
            await self._announce(change, announced)
        if changes or first_seen:
            await self.memory.save()
        if self._publish_status() and (self.settings.mqttStatusEveryPoll or changes):
            await self._publish(statuses if self.settings.mqttStatusEveryPoll else changes)

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
