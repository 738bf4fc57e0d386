"""The alert component (`Service.alerts`): task events in, alerts out.

datagram → `events.udp` → `events.log4net.parse` → dedup (KV, by ExecutionId) → inbox → `events.enrich`
→ `Router` → outbox → `Deliverer` → channels. The inbox keeps a received event until its messages
are in the outbox, so a restart in between processes it again instead of losing it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from qbutler.activity import ActivityFeed
from qbutler.alerts.channels.base import Channel
from qbutler.alerts.channels.email import EmailChannel
from qbutler.alerts.channels.mqtt import MqttChannel
from qbutler.alerts.channels.newrelic import NewRelicChannel
from qbutler.alerts.channels.signl4 import Signl4Channel
from qbutler.alerts.channels.slack import SlackChannel
from qbutler.alerts.channels.teams import TeamsChannel
from qbutler.alerts.channels.webhook import WebhookChannel
from qbutler.alerts.dedup import Dedup
from qbutler.alerts.delivery import Deliverer
from qbutler.alerts.http import HttpSender
from qbutler.alerts.journal import Journal
from qbutler.alerts.ratelimit import RateLimits
from qbutler.alerts.router import Router, switched_on
from qbutler.alerts.scriptlog_disk import ScriptLogStore
from qbutler.alerts.site import SiteAlerts
from qbutler.alerts.slack_rest import RestMessages
from qbutler.background import cancel_and_wait
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent, Enricher, NotActionable, TaskNotFound
from qbutler.events.log4net import TaskEvent
from qbutler.events.udp import UdpListener
from qbutler.kv.store import Store
from qbutler.mqtt import MqttClient
from qbutler.sense.qrs import QrsClient

log = logging.getLogger("qbutler.alerts")

# Told of every task event once QRS has enriched it (and its alerts are queued), with the time it
# was received. History, metrics and InfluxDB listen here; they must not block.
EventObserver = Callable[[EnrichedEvent, float], None]
# Says whether an observer needs the event's script log (which no alert channel may have fetched).
ScriptLogWanted = Callable[[EnrichedEvent], bool]
# At shutdown, script logs still being fetched for the observers get this long.
OBSERVER_GRACE_SECONDS = 5.0


def build_channels(config: Config, http: HttpSender, mqtt: MqttClient | None) -> dict[str, Channel]:
    """Every channel, by name (the names of `router.SECTIONS`)."""
    return {
        "slack": SlackChannel(config, http),
        "teams": TeamsChannel(config, http),
        "email": EmailChannel(config, config.Butler.alertDelivery.timeoutSeconds),
        "webhook": WebhookChannel(config, http),
        "mqtt": MqttChannel(config, mqtt),
        "newrelic": NewRelicChannel(config, http),
        "signl4": Signl4Channel(config, http),
    }


class Alerts:
    def __init__(self, config: Config, *, kv: Store, qrs: QrsClient, mqtt: MqttClient | None,
                 activity: ActivityFeed | None = None):
        butler = config.Butler
        self.config = config
        self.mqtt = mqtt
        self.activity = activity
        delivery = butler.alertDelivery
        self.http = HttpSender(timeout=delivery.timeoutSeconds, max_connections=delivery.concurrency * 2)
        every = build_channels(config, self.http, mqtt)
        self.slack: SlackChannel = every["slack"]  # type: ignore[assignment]
        on = switched_on(config)
        self.limits = RateLimits()
        # Every channel can deliver (messages in the outbox outlive a config change); only the
        # switched-on ones receive new events.
        self.deliverer = Deliverer(delivery, Journal(config.data_dir / "alerts" / "outbox"), every,
                                   self.limits, activity, failed=Journal(config.data_dir / "alerts" / "failed"))
        # PUT /v4/slackpostmessage.
        self.slack_messages = RestMessages(butler.slackNotification.restMessage, self.slack, self.deliverer.submit)
        self.router = Router({name: ch for name, ch in every.items() if on[name]}, self.deliverer)
        # Service, license and release alerts from the site watch (qbutler.watch).
        self.site = SiteAlerts(config, mqtt_available=mqtt is not None)
        self.inbox = Journal(config.data_dir / "alerts" / "inbox")
        self.dedup = Dedup(kv, butler.udpServerConfig.deduplication)
        wait = butler.udpServerConfig.distributeWait
        self.enricher = Enricher(qrs, butler.scriptLog, distribute_poll_seconds=wait.pollSeconds,
                                 distribute_max_wait_seconds=wait.maxWaitHours * 3600)
        to_disk = butler.scriptLog.storeOnDisk.clientManaged.reloadTaskFailure
        self.script_logs = ScriptLogStore(to_disk, config.resolve_path(to_disk.logDirectory or "."))
        # Events no enabled destination wanted, per config section (`userSyncTaskFailure`, ...).
        self.not_enabled: Counter[str] = Counter()
        self.listener: UdpListener | None = None
        self.event_observers: list[EventObserver] = []
        self.script_log_wanted: list[ScriptLogWanted] = []
        self._late_logs: set[asyncio.Task[None]] = set()
        self._resumed: set[asyncio.Task[None]] = set()
        if butler.udpServerConfig.enable:
            self.listener = UdpListener(butler.udpServerConfig, self.handle)

    async def start(self) -> None:
        await self.deliverer.start()
        await self.script_logs.start()
        for record_id, record in self.inbox.load():
            event = TaskEvent.from_dict(record["event"])
            log.info("Resuming %s event of task %s (execution %s) received before the restart",
                     event.outcome, event.taskId, event.executionId)
            self._in_background(self._resume(record_id, event, reserved=record.get("reserved", True),
                                             received_at=record.get("received", time.time())))
        if self.listener is not None:
            await self.listener.start()
            if self.mqtt is not None and self.config.Butler.mqttConfig.taskFailureServerStatusTopic:
                await self._publish_status("start")

    async def stop(self) -> None:
        if self.listener is not None:
            await self.listener.stop()
            await self._keep_waiting_events()
        for resume in list(self._resumed):
            resume.cancel()
        if self._late_logs:
            await asyncio.wait(self._late_logs, timeout=OBSERVER_GRACE_SECONDS)
            await cancel_and_wait(*self._late_logs)
        await self.script_logs.stop()
        await self.deliverer.stop()
        await self.http.aclose()

    async def _keep_waiting_events(self) -> None:
        """Events still queued at shutdown go to the inbox, so the next start processes them."""
        assert self.listener is not None
        kept = 0
        while not self.listener.queue.empty():
            event, received_at = self.listener.queue.get_nowait()
            # Not reserved yet: the next start checks dedup for them first.
            await self.inbox.put(self.inbox.new_id(), {"event": event.to_dict(), "received": received_at,
                                                       "reserved": False})
            kept += 1
        if kept:
            log.info("%d received event(s) kept for processing after the restart", kept)

    async def _publish_status(self, status: str) -> None:
        assert self.mqtt is not None
        try:
            await self.mqtt.publish(self.config.Butler.mqttConfig.taskFailureServerStatusTopic, status)
        except Exception as exc:
            log.warning("Could not publish the UDP server status to MQTT: %s", exc)

    def _in_background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._resumed.add(task)
        task.add_done_callback(self._resumed.discard)

    async def handle(self, event: TaskEvent, received_at: float) -> None:
        """One datagram's event, from the UDP listener's workers."""
        if event.source == "engine" and not self.config.Butler.udpServerConfig.engineReloadFailure.enable:
            self.not_enabled["engineReloadFailure"] += 1
            log.debug("Engine reload failure of app %s ignored (udpServerConfig.engineReloadFailure is off)",
                      event.appId)
            return
        if not await self.dedup.reserve(event.executionId):
            if self.listener is not None:
                self.listener.drops["duplicate"] += 1
            log.info("Duplicate %s event for execution %s ignored", event.outcome, event.executionId)
            return
        if self.activity is not None:
            self.activity.publish(f"reload.{event.outcome}", f"Task {event.taskName}: {event.outcome}",
                                  taskId=event.taskId, taskName=event.taskName, executionId=event.executionId)
        record_id = self.inbox.new_id()
        # Written while QRS is asked; awaited before any message is queued.
        stored = self.inbox.begin_put(record_id, {"event": event.to_dict(), "received": received_at})
        if event.outcome == "distribute":
            # A distribution may still be running: its wait must not hold a listener worker.
            self._in_background(self._guarded(record_id, event, received_at, stored))
            return
        await self._process(record_id, event, received_at, stored)

    async def _guarded(self, record_id: str, event: TaskEvent, received_at: float, stored: Awaitable[None]) -> None:
        try:
            await self._process(record_id, event, received_at, stored)
        except Exception:
            log.exception("Processing the distribute event of execution %s failed", event.executionId)

    async def _resume(self, record_id: str, event: TaskEvent, reserved: bool, received_at: float) -> None:
        try:
            if not reserved and not await self.dedup.reserve(event.executionId):
                log.info("Duplicate %s event for execution %s ignored", event.outcome, event.executionId)
                await self.inbox.remove(record_id)
                return
            await self._process(record_id, event, received_at)
        except Exception:
            log.exception("Resuming the event of execution %s failed", event.executionId)

    async def _process(self, record_id: str, event: TaskEvent, received_at: float,
                       stored: Awaitable[None] | None = None) -> None:
        started = time.monotonic()
        try:
            queued = await self._enrich_and_route(event, received_at, stored)
        except asyncio.CancelledError:
            # Shutdown: the inbox record and the reservation stay, the next start resumes the event.
            raise
        except Exception as exc:
            # Released, so a resent datagram is processed; the inbox record goes, as it cannot succeed now.
            await self.dedup.release(event.executionId)
            await self.inbox.remove(record_id)
            if isinstance(exc, TaskNotFound | NotActionable):
                log.warning("%s: %s event ignored", exc, event.outcome)
                return
            raise
        await asyncio.gather(self.dedup.processed(event.executionId), self.inbox.remove(record_id))
        log.info("%s event of task %r (execution %s): %d alert message(s) queued in %.0f ms", event.outcome,
                 event.taskName, event.executionId, queued, 1000 * (time.monotonic() - started))

    async def _enrich_and_route(self, event: TaskEvent, received_at: float, stored: Awaitable[None] | None) -> int:
        want_log = self.router.wants_script_log() or (self.script_logs.enabled and event.outcome == "failed")
        enrich = self.enricher.enrich(event, want_script_log=want_log)
        # The event is on disk (when it is new) before its messages are queued.
        enriched, *_ = await asyncio.gather(enrich, *([stored] if stored is not None else []))
        if self.script_logs.wants(enriched):
            # Written while the messages are queued; the inbox keeps the event until both are done.
            _, (queued, built) = await asyncio.gather(self.script_logs.store(enriched),
                                                      self.router.route(enriched))
        else:
            queued, built = await self.router.route(enriched)
        if not built:
            self._not_enabled(enriched)
        # After routing: whatever the observers do cannot delay an alert.
        if enriched.event.source == "engine":
            return queued  # an app's reload, not a task run
        if (enriched.script_log is None and enriched.script_log_error is None
                and any(wanted(enriched) for wanted in self.script_log_wanted)):
            # Fetched in the background: its retries may take seconds.
            late = asyncio.create_task(self._observe_with_script_log(enriched, received_at))
            self._late_logs.add(late)
            late.add_done_callback(self._late_logs.discard)
        else:
            self._observe(enriched, received_at)
        return queued

    async def _observe_with_script_log(self, enriched: EnrichedEvent, received_at: float) -> None:
        try:
            await self.enricher.fetch_script_log(enriched)
        except Exception as exc:
            log.warning("Script log of execution %s: %s", enriched.event.executionId, exc)
        self._observe(enriched, received_at)

    def _observe(self, enriched: EnrichedEvent, received_at: float) -> None:
        for observer in self.event_observers:
            try:
                observer(enriched, received_at)
            except Exception:
                log.exception("Recording the %s event of execution %s failed", enriched.event.outcome,
                              enriched.event.executionId)

    def _not_enabled(self, enriched: EnrichedEvent) -> None:
        """Counted, not an error: most sites enable only some event types."""
        key = "engineReloadFailure" if enriched.event.source == "engine" else enriched.event_key
        self.not_enabled[key] += 1
        log.debug("No destination is enabled for %s of task %s", key, enriched.event.taskId)
