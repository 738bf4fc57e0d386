"""The composition root: builds every component from the config, starts and stops them in order."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from typing import TYPE_CHECKING, Protocol

from qbutler import __version__
from qbutler.actions.apps import AppReloads
from qbutler.actions.tasks import TaskStarter
from qbutler.activity import ActivityFeed
from qbutler.alerts.service import Alerts
from qbutler.auth.audit import AuditTrail
from qbutler.auth.guard import Guard
from qbutler.auth.keys import MissingKeyVariable
from qbutler.config import Config, ConfigError
from qbutler.config_check import review
from qbutler.history.component import History
from qbutler.http_client import load_http_client
from qbutler.kv import open_store
from qbutler.metrics import Metrics, watch
from qbutler.runtime import StopDeadline, stop_on_signals
from qbutler.sense.engine import EngineClient
from qbutler.sense.qrs import QrsClient
from qbutler.watch.health import Readiness
from qbutler.watch.service import Watch
from qbutler.web import LazyDashboard, mount

# Optional components are imported only when the config switches them on (start-up time).
if TYPE_CHECKING:
    from qbutler.actions.snapshots import AppSnapshotJob
    from qbutler.api.server import AsgiListener, HttpServer
    from qbutler.files import Sandbox
    from qbutler.influx.component import Influx
    from qbutler.mqtt import MqttClient
    from qbutler.scheduler.manager import Scheduler

log = logging.getLogger("qbutler")

FILE_SWITCHES = ("fileCopy", "fileMove", "fileDelete", "createDir", "createDirQVD")


class Component(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Service:
    """Everything one qbutler process runs. Route handlers receive it as their context."""

    def __init__(self, config: Config):
        self.config = config
        butler = config.Butler
        self.enabled_endpoints = butler.restServerEndpointsEnable.enabled_leaf_names(
            config.raw_section("restServerEndpointsEnable"))
        # What the service just did, for the demo's live view (publish with `activity.publish`).
        self.activity = ActivityFeed()
        self.instance_id = (butler.qbutler.instanceId or butler.scheduler.instanceId
                            or f"{socket.gethostname()}:{os.getpid()}")
        self.metrics: Metrics | None = Metrics(__version__) if butler.qbutler.metrics.enable else None
        # Started in this order, stopped in reverse; the HTTP listener comes last so that no
        # request arrives before what it needs is running.
        self.components: list[Component] = []
        # The key-value store serves the REST endpoints and is shared state for other areas
        # (alert dedup, schedule reservations, task-start KV items), so it always exists.
        self.kv = open_store(config)
        self.components.append(self.kv)
        self.qrs = QrsClient(config)
        self.components.append(self.qrs)
        # Engine sessions are opened per use; nothing to start.
        self.engine = EngineClient(config)
        self.tasks = TaskStarter(config, self.qrs, self.kv, activity=self.activity,
                                 kv_enabled=butler.restServerEndpointsEnable.keyValueStore)
        self.mqtt: MqttClient | None = None
        if butler.mqttConfig.enable:
            from qbutler.mqtt import MqttClient

            self.mqtt = MqttClient(config, self.tasks, self.activity)
            self.components.append(self.mqtt)
        # Task events and alerts; always built, as PUT /v4/slackpostmessage delivers through it too.
        self.alerts = Alerts(config, kv=self.kv, qrs=self.qrs, mqtt=self.mqtt, activity=self.activity)
        # The history starts before the alerts (events resumed at start-up are recorded) and
        # stops after them (what they record last is still written).
        self.history: History | None = None
        if butler.qbutler.history.enable:
            self.history = History(config, self.instance_id)
            self.components.append(self.history)
            self.alerts.event_observers.append(self.history.on_event)
            self.alerts.script_log_wanted.append(self.history.wants_script_log)
            self.alerts.deliverer.observers.append(self.history.on_delivery)
            self.tasks.observers.append(self.history.on_start)
        # InfluxDB, like the history, outlives the alerts at both ends.
        self.influx: Influx | None = None
        if butler.influxDb.enable:
            from qbutler.influx.component import Influx

            self.influx = Influx(config, __version__)
            self.components.append(self.influx)
            self.alerts.event_observers.append(self.influx.on_event)
            self.alerts.script_log_wanted.append(self.influx.wants_script_log)
        self.components.append(self.alerts)
        self.apps = AppReloads(self.engine, self.tasks, self.activity)
        self.components.append(self.apps)
        access = butler.qbutler.api
        # Changes and refusals, one JSON line each; other areas (license releases) record theirs too.
        self.audit: AuditTrail | None = None
        if access.audit.enable:
            self.audit = AuditTrail(config.data_dir / "audit", access.audit.retentionDays)
            self.components.append(self.audit)
        # The site watch: services, licenses, version, heartbeat, uptime.
        self.watch = Watch(config, qrs=self.qrs, alerts=self.alerts, mqtt=self.mqtt,
                           audit=self.audit.record if self.audit is not None else None)
        self.components.append(self.watch)
        if self.influx is not None:
            self.influx.follow(self.watch)
        # App metadata snapshots on a cron schedule (`qbutler app snapshot` runs them by hand).
        self.appdump: AppSnapshotJob | None = None
        if butler.appSnapshots.enable:
            from qbutler.actions.snapshots import AppSnapshotJob

            self.appdump = AppSnapshotJob(config, self.engine, self.qrs, self.activity)
            self.components.append(self.appdump)
        # The file sandbox has nothing to start: each request opens and closes its own handles.
        self.files: Sandbox | None = None
        if any(butler.restServerEndpointsEnable.is_enabled(name) for name in FILE_SWITCHES):
            from qbutler.files import Sandbox

            self.files = Sandbox.from_config(config, self.activity)
        # Last among the components: it fires through `tasks` and reserves runs in `kv`.
        self.scheduler: Scheduler | None = None
        if butler.scheduler.enable:
            from qbutler.scheduler.manager import Scheduler

            self.scheduler = Scheduler(config, self)
            self.components.append(self.scheduler)
        if self.metrics is not None:
            watch(self.metrics, self)
        # Who is calling (None: anyone, Butler's behaviour); the dashboard logs in through it too.
        self.guard: Guard | None = None
        if access.requireAuth:
            try:
                self.guard = Guard(access)
            except MissingKeyVariable as exc:
                raise ConfigError([str(exc)]) from None
        self.readiness = Readiness(self)
        self.http: HttpServer | None = None
        # The dashboard at /ui/ shares the REST listener (and so its TLS and port).
        self.dashboard: LazyDashboard | None = None
        if butler.restServerConfig.enable:
            from qbutler.api.app import build_app
            from qbutler.api.server import HttpServer

            app = build_app(config, self, guard=self.guard, audit=self.audit)
            if butler.qbutler.ui.enable:
                self.dashboard = LazyDashboard(self)
                app = mount(app, self.dashboard)
            self.http = HttpServer(app, config)
        # Butler's Docker health-check port: the same /health and /health/ready, nothing else (no
        # key asked: it listens on localhost by default, for the container's own probe).
        self.health_port: AsgiListener | None = None
        if butler.dockerHealthCheck.enable:
            from qbutler.api import health
            from qbutler.api.app import build_app
            from qbutler.api.server import AsgiListener

            docker = butler.dockerHealthCheck
            self.health_port = AsgiListener(build_app(config, self, [health.routes]), docker.host, docker.port)
        self._started: list[Component] = []

    def _all_components(self) -> list[Component]:
        # The dashboard comes after the listeners so that it stops first: its open live streams
        # end at once instead of holding up the listener's graceful shutdown.
        return [*self.components, *(c for c in (self.health_port, self.http, self.dashboard) if c is not None)]

    async def start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        findings = review(self.config)
        for finding in findings:
            if finding.level == "warning":
                log.warning("Config: %s", finding)
        unused = [finding.path for finding in findings if finding.level == "note"]
        if unused:
            log.info("Config keys qbutler does not use (kept, ignored): %s", ", ".join(unused))
        try:
            for component in self._all_components():
                await component.start()
                self._started.append(component)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        while self._started:
            component = self._started.pop()
            try:
                await component.stop()
            except Exception:
                log.exception("Error while stopping %s", type(component).__name__)

    async def run_until_signalled(self) -> None:
        stop = asyncio.Event()
        undo_signals = stop_on_signals(stop)
        try:
            await self.run_until(stop)
        finally:
            undo_signals()

    async def run_until(self, stop: asyncio.Event) -> None:
        """Start, serve until `stop` is set (a signal, or the Windows service manager), then stop.

        For the process's own service only: once `stop` is set, the process ends within
        STOP_DEADLINE_SECONDS, cleanly or, as a last resort, by StopDeadline."""
        await self.start()
        # What start-up built (config, modules, compiled templates) lives until the end; frozen,
        # the garbage collector stops scanning it again on every collection.
        gc.freeze()
        log.info("qbutler started")
        warm_up = asyncio.create_task(load_http_client())
        try:
            await stop.wait()
            log.info("Shutting down")
            StopDeadline().arm()
        finally:
            await warm_up
            await self.stop()
        log.info("qbutler stopped")
