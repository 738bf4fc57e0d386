"""Alerts about the site rather than one task run: a Sense service that stopped or started, the
server license's status and expiry, license releases.

The watch (`qbutler.watch`) decides *when* (one event per state change); this module decides
*what* each channel sends, in Butler's topics, fields and templates, as `Message`s for the same
outbox, retries and rate limits as task alerts. The channels' own `send` delivers them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from qbutler.alerts.channels.base import Message, log
from qbutler.alerts.channels.chat import chat_content
from qbutler.alerts.channels.email import clean_addresses
from qbutler.alerts.channels.newrelic import account_list, ingest_url, service_state_bodies
from qbutler.alerts.channels.slack import basic_blocks
from qbutler.alerts.channels.teams import basic_card
from qbutler.alerts.config import EmailServiceEvent, ServiceChatEvent, SlackServiceEvent, WebhookEvent
from qbutler.alerts.http import safe_target
from qbutler.alerts.render import RenderError, default_template, render_file, render_source
from qbutler.config import Config

RUNNING = "RUNNING"
WEBHOOK_EVENT = "Windows service monitor"


@dataclass
class ServiceChange:
    """One service's state change, in the words of Butler's service record (§2.5)."""

    host: str
    serviceName: str
    serviceFriendlyName: str
    serviceDisplayName: str
    serviceStatus: str
    prevState: str
    serviceStartType: str = ""
    serviceExePath: str = ""
    serviceDependencies: list[str] = field(default_factory=list)
    # qbutler: where the state came from (`qrs` ServiceStatus or `windows` sc.exe) and, for QRS,
    # Qlik's own state name (Running, NoCommunication, ...).
    source: str = "qrs"
    qlikState: str = ""

    @property
    def running(self) -> bool:
        return self.serviceStatus == RUNNING

    @property
    def label(self) -> str:
        return f"{self.serviceFriendlyName or self.serviceName} on {self.host}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def about(self) -> dict[str, Any]:
        # `taskName` is the label the deliverer's logs and the activity feed show.
        return {"event": "service", "host": self.host, "service": self.serviceName, "status": self.serviceStatus,
                "taskName": self.label}


def service_context(change: ServiceChange, config: Config) -> dict[str, Any]:
    """Butler's template fields for service alerts, plus the QMC link and qbutler's source fields."""
    butler = config.Butler
    return {"host": change.host, "serviceStatus": change.serviceStatus, "servicePrevStatus": change.prevState,
            "serviceName": change.serviceName, "serviceDisplayName": change.serviceDisplayName,
            "serviceFriendlyName": change.serviceFriendlyName, "serviceStartType": change.serviceStartType,
            "serviceExePath": change.serviceExePath,
            "genericUrls": [u.model_dump() for u in butler.genericUrls],
            "qlikSenseQMC": butler.qlikSenseUrls.qmc, "qlikSenseHub": butler.qlikSenseUrls.hub,
            "serviceSource": change.source, "serviceQlikState": change.qlikState}


def mqtt_change_body(change: ServiceChange) -> dict[str, Any]:
    """The JSON Butler publishes on serviceRunningTopic / serviceStoppedTopic, in its key order."""
    names = ({"serviceDisplayName": change.serviceDisplayName, "serviceFriendlyName": change.serviceFriendlyName}
             if change.running else
             {"serviceFriendlyName": change.serviceFriendlyName, "serviceDisplayName": change.serviceDisplayName})
    return {"serviceHost": change.host, "serviceName": change.serviceName, **names,
            "serviceDependencies": change.serviceDependencies, "serviceStartType": change.serviceStartType,
            "serviceExePath": change.serviceExePath, "serviceStatus": change.serviceStatus,
            "servicePrevStatus": change.prevState, "serviceStatusChanged": True}


def mqtt_status_body(change: ServiceChange) -> dict[str, Any]:
    """The JSON Butler publishes on serviceStatusTopic at every poll."""
    return {"serviceHost": change.host, "serviceName": change.serviceName,
            "serviceDisplayName": change.serviceDisplayName, "serviceFriendlyName": change.serviceFriendlyName,
            "serviceDependencies": change.serviceDependencies, "serviceStartType": change.serviceStartType,
            "serviceExePath": change.serviceExePath, "serviceStatus": change.serviceStatus}


def webhook_messages(event: WebhookEvent, fields: dict[str, Any], query: dict[str, str], *, rate_key: str,
                     about: dict[str, Any]) -> list[Message]:
    """One message per configured webhook; `query` is what a GET sends instead of `fields`."""
    return [Message(channel="webhook", target=f"{hook.httpMethod} {safe_target(hook.webhookURL)}",
                    payload={"hook": hook.model_dump(), "fields": fields, "query": query},
                    rate_key=f"webhook|{rate_key}|{index}" if rate_key else "", rate_seconds=event.rateLimit,
                    about=about)
            for index, hook in enumerate(event.webhooks)]


class SiteAlerts:
    """Builds the messages of site events for the channels `alertDestination` (and each channel's
    master switch) enable."""

    def __init__(self, config: Config, mqtt_available: bool):
        self.config = config
        self.mqtt_available = mqtt_available

    # ---------------------------------------------------------------- services

    def service_messages(self, change: ServiceChange) -> list[Message]:
        butler = self.config.Butler
        destinations = butler.serviceMonitor.alertDestination
        context = service_context(change, self.config)
        key = "serviceStarted" if change.running else "serviceStopped"
        # One limiter per service and direction: a "running again" is never held back by the
        # "stopped" just before it (Butler shares one, so a quick restart goes unannounced).
        rate_key = f"service|{change.host}|{change.serviceName}|{key}"
        messages: list[Message] = []
        builders = (
            (destinations.slack.enable and butler.slackNotification.enable, self._slack),
            (destinations.teams.enable and butler.teamsNotification.enable, self._teams),
            (destinations.email.enable and butler.emailNotification.enable, self._email),
            # Butler checks only alertDestination.webhook here, not webhookNotification.enable.
            (destinations.webhook.enable, self._webhook),
            (destinations.mqtt.enable and butler.mqttConfig.enable and self.mqtt_available, self._mqtt),
            # As in Butler, incidentTool.newRelic.enable is not checked here: alertDestination.newRelic
            # and the new state's own switch are.
            (destinations.newRelic.enable and getattr(
                butler.incidentTool.newRelic.serviceMonitor.monitorServiceState,
                "running" if change.running else "stopped").enable, self._newrelic),
        )
        for wanted, build in builders:
            if not wanted:
                continue
            try:
                messages.extend(build(change, context, key, rate_key))
            except Exception:
                # One channel's bug must not cost the other channels their alert.
                log.exception("Building the %s service alert for %s failed", build.__name__, change.label)
        return messages

    def _chat(self, name: str, event: ServiceChatEvent, context: dict[str, Any], change: ServiceChange,
              rate_key: str, body: dict[str, Any]) -> list[Message]:
        if not event.webhookURL:
            return []
        return [Message(channel=name, target=safe_target(event.webhookURL),
                        payload={"url": event.webhookURL, "body": body},
                        rate_key=f"{name}|{rate_key}", rate_seconds=event.rateLimit, about=change.about())]

    def _slack(self, change: ServiceChange, context: dict[str, Any], key: str, rate_key: str) -> list[Message]:
        event: SlackServiceEvent = getattr(self.config.Butler.slackNotification, key)
        body: dict[str, Any] = {"username": event.fromUser, "channel": event.channel, "icon_emoji": event.iconEmoji}
        body.update(chat_content(self.config, event, context, channel="Slack", default="slack-service.hbs",
                                 basic=lambda text, qmc, hub: {"blocks": basic_blocks(text, qmc, hub)},
                                 fallback=f"Service {change.serviceStatus}: {change.label}"))
        return self._chat("slack", event, context, change, rate_key, body)

    def _teams(self, change: ServiceChange, context: dict[str, Any], key: str, rate_key: str) -> list[Message]:
        event: ServiceChatEvent = getattr(self.config.Butler.teamsNotification, key)
        body = chat_content(self.config, event, context, channel="Teams", default="teams-service.hbs",
                            basic=basic_card, fallback=f"Service {change.serviceStatus}: {change.label}")
        return self._chat("teams", event, context, change, rate_key, body)

    def _email(self, change: ServiceChange, context: dict[str, Any], key: str, rate_key: str) -> list[Message]:
        event: EmailServiceEvent = getattr(self.config.Butler.emailNotification, key)
        addresses = clean_addresses(event.recipients, f"service {change.label}")
        if not addresses:
            return []
        try:
            subject = " ".join(render_source(event.subject, context, "text", "email subject").split())
        except RenderError as exc:
            log.error("Email subject template failed, using a basic subject: %s", exc)
            subject = f"Service {change.serviceStatus}: {change.label}"
        default = default_template("email-service.html.hbs")
        path = (self.config.resolve_path(event.bodyFileDirectory) / f"{event.htmlTemplateFile}.handlebars"
                if event.bodyFileDirectory and event.htmlTemplateFile else default)
        try:
            html = render_file(path, context, "html")
        except RenderError as exc:
            log.error("Email template failed, sending the basic message instead: %s", exc)
            html = render_file(default, context, "html")
        text = render_file(default_template("email-service.txt.hbs"), context, "text")
        return [Message(channel="email", target=address, about=change.about(),
                        rate_key=f"email|{rate_key}|{address}", rate_seconds=event.rateLimit,
                        payload={"from": event.fromAddress, "to": address, "subject": subject, "html": html,
                                 "text": text, "priority": event.priority})
                for address in addresses]

    def _webhook(self, change: ServiceChange, context: dict[str, Any], key: str, rate_key: str) -> list[Message]:
        fields = {"event": WEBHOOK_EVENT, "host": change.host, "serviceStatus": change.serviceStatus,
                  "serviceName": change.serviceName, "serviceDisplayName": change.serviceDisplayName,
                  "serviceStartType": change.serviceStartType, "prevState": change.prevState,
                  "currState": change.serviceStatus, "stateChanged": True}
        query = {"event": WEBHOOK_EVENT, "host": change.host, "servicestatus": change.serviceStatus,
                 "servicename": change.serviceName, "servicedisplayname": change.serviceDisplayName,
                 "servicestarttype": change.serviceStartType, "prevstate": change.prevState,
                 "currstate": change.serviceStatus, "statechanged": "true"}
        return webhook_messages(self.config.Butler.webhookNotification.serviceMonitor, fields, query,
                                rate_key=rate_key, about=change.about())

    def _mqtt(self, change: ServiceChange, context: dict[str, Any], key: str, rate_key: str) -> list[Message]:
        settings = self.config.Butler.mqttConfig
        base = settings.serviceRunningTopic if change.running else settings.serviceStoppedTopic
        if not base:
            return []
        topic = f"{base}/{change.host}/{change.serviceName}"
        return [Message(channel="mqtt", target=topic, about=change.about(),
                        payload={"topic": topic, "payload": orjson.dumps(mqtt_change_body(change)).decode()})]

    def _newrelic(self, change: ServiceChange, context: dict[str, Any], key: str, rate_key: str) -> list[Message]:
        """An event and a log entry (each where its destination is enabled) per account of its
        `sendToAccount`; the channel's `send` looks the insert key up when sending."""
        butler = self.config.Butler
        settings = butler.incidentTool.newRelic
        monitor = settings.serviceMonitor
        shared = monitor.sharedSettings
        messages = []
        for kind, destination in (("event", monitor.destination.event), ("log", monitor.destination.log)):
            if not destination.enable:
                continue
            body = service_state_bodies(destination, shared.attribute.static, kind, host=change.host,
                                        name=change.serviceName, display_name=change.serviceDisplayName,
                                        status=change.serviceStatus)
            url = ingest_url(settings.url, kind)
            for account in account_list(butler.thirdPartyToolsCredentials.newRelic, destination.sendToAccount):
                messages.append(Message(
                    channel="newrelic", target=f"{kind} {account.accountName} {safe_target(url)}",
                    about=change.about(), rate_key=f"newrelic|{kind}|{rate_key}|{account.accountName}",
                    rate_seconds=shared.rateLimit,
                    payload={"kind": kind, "account": account.accountName, "body": body,
                             "headers": [h.model_dump() for h in shared.header]}))
        return messages

    # ---------------------------------------------------------------- server license

    def server_license_messages(self, status: dict[str, Any], alert: str) -> list[Message]:
        """`status` is {licenseExpired, expiryDateStr, daysUntilExpiry}; `alert` the expiry text
        (empty when neither expired nor within the threshold)."""
        butler = self.config.Butler
        destination = butler.qlikSenseLicense.serverLicenseMonitor.destination
        about = {"event": "server-license", "taskName": "server license", **status}
        messages: list[Message] = []
        settings = butler.mqttConfig
        if destination.mqtt.enable and settings.enable and self.mqtt_available:
            if destination.mqtt.sendRecurring.enable and settings.qlikSenseServerLicenseTopic:
                topic = settings.qlikSenseServerLicenseTopic
                messages.append(Message(channel="mqtt", target=topic, about=about,
                                        payload={"topic": topic, "payload": orjson.dumps(status).decode()}))
            if alert and destination.mqtt.sendAlert.enable and settings.qlikSenseServerLicenseExpireTopic:
                topic = settings.qlikSenseServerLicenseExpireTopic
                messages.append(Message(channel="mqtt", target=topic, about=about,
                                        payload={"topic": topic, "payload": alert}))
        hooks = butler.webhookNotification
        if destination.webhook.enable and hooks.enable:
            query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in status.items()}
            if destination.webhook.sendRecurring.enable:
                messages += webhook_messages(hooks.qlikSenseServerLicenseMonitor,
                                             {"event": "server license status", **status},
                                             {"event": "server license status", **query},
                                             rate_key="license-monitor", about=about)
            if alert and destination.webhook.sendAlert.enable:
                name = ("server license has expired alert" if status["licenseExpired"]
                        else "server license about to expire alert")
                messages += webhook_messages(hooks.qlikSenseServerLicenseExpiryAlert, {"event": name, **status},
                                             {"event": name, **query}, rate_key="license-alert", about=about)
        return messages

    # ---------------------------------------------------------------- license release

    def license_release_messages(self, report: dict[str, Any]) -> list[Message]:
        """One message per destination for a release run (qbutler's own: Butler only logs)."""
        butler = self.config.Butler
        destination = butler.qlikSenseLicense.licenseRelease.destination
        about = {"event": "license-release", "taskName": "license release"}
        messages: list[Message] = []
        topic = butler.mqttConfig.qlikSenseLicenseReleaseTopic
        if destination.mqtt.enable and butler.mqttConfig.enable and self.mqtt_available and topic:
            messages.append(Message(channel="mqtt", target=topic, about=about,
                                    payload={"topic": topic, "payload": orjson.dumps(report).decode()}))
        if destination.webhook.enable:
            query = {"event": "license release", "dryRun": str(report["dryRun"]).lower(),
                     "released": str(len(report["released"])), "failed": report.get("error") or ""}
            messages += webhook_messages(butler.webhookNotification.qlikSenseLicenseRelease,
                                         {"event": "license release", **report}, query, rate_key="", about=about)
        return messages
