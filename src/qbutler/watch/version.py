"""The version monitor (`Butler.qlikSenseVersion.versionMonitor`): the product version from
`https://<host>:9032/v1/systeminfo` (client certificate, no xrfkey), as Butler reads it.

The version last seen is kept in the data directory; a different one is reported once (log,
activity feed, and the MQTT topic / webhooks qbutler adds), also across restarts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson

from qbutler.alerts.channels.base import Message
from qbutler.alerts.service import Alerts
from qbutler.alerts.site import webhook_messages
from qbutler.config import Config
from qbutler.http_client import load_http_client
from qbutler.sense.qrs import client_ssl_context
from qbutler.watch.loop import Monitor
from qbutler.watch.memory import Memory

log = logging.getLogger("qbutler.watch.version")

FIELDS = ("productName", "deploymentType", "version", "releaseLabel", "contentHash", "senseId",
          "deprecatedProductVersion", "copyrightYearRange")


class VersionMonitor(Monitor):
    name = "versionMonitor"

    def __init__(self, config: Config, alerts: Alerts):
        settings = config.Butler.qlikSenseVersion.versionMonitor
        super().__init__(settings.frequency)
        self.config = config
        self.settings = settings
        self.alerts = alerts
        host = settings.host or config.Butler.configQRS.host
        self.url = f"https://{host}:{settings.port}/v1/systeminfo"
        self.memory = Memory(Path(config.data_dir) / "watch" / "version.json")
        # Plain state: the systeminfo fields as last read.
        self.info: dict[str, Any] = dict(self.memory.data.get("info") or {})

    async def fetch(self) -> dict[str, Any]:
        await load_http_client()
        import aiohttp

        context = client_ssl_context(self.config, verify=self.settings.rejectUnauthorized)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(self.url, ssl=context) as answer:
            if answer.status != 200:
                raise OSError(f"GET {self.url} answered {answer.status}")
            body = orjson.loads(await answer.read())
        if not isinstance(body, dict) or not body:
            raise OSError(f"GET {self.url} answered without version information")
        return {key: body.get(key) for key in FIELDS}

    async def check(self) -> None:
        info = await self.fetch()
        log.info("Qlik Sense: %s %s, version %s (%s)", info["productName"], info["deploymentType"],
                 info["version"], info["releaseLabel"])
        previous = self.memory.data.get("info")
        self.info = info
        if previous == info:
            return
        if previous and (previous.get("version"), previous.get("releaseLabel")) != (info["version"],
                                                                                  info["releaseLabel"]):
            await self._report(previous, info)
        self.memory.data["info"] = info
        await self.memory.save()

    async def _report(self, previous: dict[str, Any], info: dict[str, Any]) -> None:
        report = {"previousVersion": previous.get("version"), "previousReleaseLabel": previous.get("releaseLabel"),
                  "version": info["version"], "releaseLabel": info["releaseLabel"],
                  "productName": info["productName"]}
        log.warning("Qlik Sense version changed: %s (%s) -> %s (%s)", report["previousVersion"],
                    report["previousReleaseLabel"], report["version"], report["releaseLabel"])
        if self.alerts.activity is not None:
            self.alerts.activity.publish("watch.version", f"Sense version is now {info['version']}", **report)
        butler = self.config.Butler
        destination = self.settings.destination
        about = {"event": "version", "taskName": "Sense version"}
        messages: list[Message] = []
        topic = butler.mqttConfig.qlikSenseVersionTopic
        if destination.mqtt.enable and butler.mqttConfig.enable and self.alerts.mqtt is not None and topic:
            messages.append(Message(channel="mqtt", target=topic, about=about,
                                    payload={"topic": topic, "payload": orjson.dumps(report).decode()}))
        if destination.webhook.enable:
            query = {k: str(v) for k, v in report.items()}
            messages += webhook_messages(butler.webhookNotification.qlikSenseVersionChange,
                                         {"event": "Qlik Sense version changed", **report},
                                         {"event": "Qlik Sense version changed", **query}, rate_key="", about=about)
        await self.alerts.router.submit(messages)
