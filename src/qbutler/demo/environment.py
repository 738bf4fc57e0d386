"""Everything `qbutler demo` runs: a simulated Sense site, an MQTT broker when one is installed,
a receiver for Slack and webhook alerts, and qbutler itself with a generated config."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from qbutler.config import load_config
from qbutler.demo.broker import Broker, find_mosquitto
from qbutler.demo.receiver import Receiver
from qbutler.demo.recorder import Recorder
from qbutler.logs import setup_logging
from qbutler.service import Service

log = logging.getLogger("qbutler.demo")

# Tasks of sensesim's demo seed that the demo's schedules and checks use.
SCHEDULED_TASK = "Reload Inventory Levels"  # succeeds; fired every 10 seconds
FAILING_SCHEDULED_TASK = "Reload Recruitment Funnel"  # always fails, chains Reload Headcount; every 30 s
WINDOW_TASK = "Reload Pipeline Tracker"  # hourly from 03:00 to 15:00
SUCCESS_TASK = "Reload Headcount"
FAILING_TASK = "Reload Budget vs Actual"
MQTT_TASK = "Reload Production Quality"
DUMP_APP = "Sales Dashboard"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Options:
    folder: Path | None = None
    port: int = 0
    # Multiplies sensesim's task durations: 1.0 is a realistic pace, the check runs faster.
    time_scale: float = 1.0
    # Log to the console (headless) or only to the log file (behind the live view).
    console_log: bool = False


class DemoEnvironment:
    def __init__(self, options: Options):
        self.options = options
        self.keep_folder = options.folder is not None
        self.folder = options.folder or Path(tempfile.mkdtemp(prefix="qbutler-demo-"))
        self.receiver = Receiver()
        self.recorder = Recorder()
        self.broker: Broker | None = None
        self.mqtt_note = ""
        self.site: Any = None
        self.service: Service | None = None
        self.tasks: dict[str, str] = {}
        self.apps: dict[str, str] = {}
        self._stack = contextlib.AsyncExitStack()
        self._watchers: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        assert self.service is not None and self.service.http is not None
        return f"http://127.0.0.1:{self.service.http.port}"

    async def __aenter__(self) -> DemoEnvironment:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        config_file = await self.start_site()
        config = load_config(config_file, environ={})
        butler = config.Butler
        setup_logging(butler.logLevel, True, config.resolve_path(butler.logDirectory),
                      console=self.options.console_log)
        self.service = Service(config)
        await self.service.start()
        self._stack.push_async_callback(self.service.stop)
        self._watchers = [asyncio.create_task(self._watch_activity()),
                          asyncio.create_task(self._watch_outcomes()),
                          asyncio.create_task(self._watch_receiver())]

    async def start_site(self) -> Path:
        """Everything but qbutler: the simulated site, broker and receiver; returns the config file
        written for them (bench/startup.py runs `qbutler serve` on it in its own process)."""
        from sensesim.server import Site

        self.folder.mkdir(parents=True, exist_ok=True)
        await self.receiver.start()
        self._stack.push_async_callback(self.receiver.stop)
        binary = find_mosquitto()
        if binary is not None:
            self.broker = Broker(binary, self.folder / "mosquitto")
            await self.broker.start()
            self._stack.push_async_callback(self.broker.stop)
        else:
            self.mqtt_note = "MQTT skipped: no mosquitto binary on PATH (apt-get install mosquitto)"
        udp_port = free_udp_port()
        self.site = Site(seed="demo", certs_dir=self.folder / "certs", udp_targets=[("127.0.0.1", udp_port)],
                         time_scale=self.options.time_scale)
        await self.site.start()
        self._stack.push_async_callback(self.site.close)
        self.tasks = {task.name: task.id for task in self.site.state.tasks.values()}
        self.apps = {app.name: app.id for app in self.site.state.apps.values()}
        return self._write_files(udp_port)

    async def stop(self) -> None:
        for watcher in self._watchers:
            watcher.cancel()
        for watcher in self._watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        self._watchers = []
        await self._stack.aclose()
        if not self.keep_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    # ------------------------------------------------------------------ generated files

    def _write_files(self, udp_port: int) -> Path:
        files = self.folder / "files"
        for name in ("incoming", "archive", "qvd"):
            (files / name).mkdir(parents=True, exist_ok=True)
        (files / "incoming" / "sales_2026-11.qvd").write_bytes(b"QVD demo file\n" * 64)
        schedules = {"butlerSchedule": [
            {"id": "every-10-seconds", "name": f"Every 10 seconds: {SCHEDULED_TASK}",
             "cronSchedule": "*/10 * * * * *", "timezone": "Europe/Stockholm",
             "qlikSenseTaskId": self.tasks[SCHEDULED_TASK], "startupState": "started", "tags": ["demo"]},
            {"id": "every-30-seconds", "name": f"Every 30 seconds: {FAILING_SCHEDULED_TASK}",
             "cronSchedule": "*/30 * * * * *", "timezone": "Europe/Stockholm",
             "qlikSenseTaskId": self.tasks[FAILING_SCHEDULED_TASK], "startupState": "started",
             "tags": ["demo"]},
            {"id": "hourly-03-15", "name": f"Hourly from 03:00 to 15:00: {WINDOW_TASK}",
             "cronSchedule": "0 0 3-15 * * *", "timezone": "Europe/Stockholm",
             "qlikSenseTaskId": self.tasks[WINDOW_TASK], "startupState": "started", "tags": ["demo", "window"]},
        ]}
        (self.folder / "schedule.yaml").write_text(yaml.safe_dump(schedules, sort_keys=False), encoding="utf-8")
        config_file = self.folder / "qbutler.yaml"
        config_file.write_text(yaml.safe_dump(self.config(udp_port), sort_keys=False), encoding="utf-8")
        return config_file

    def config(self, udp_port: int) -> dict[str, Any]:
        certs = self.site.config.certs_dir
        user = [{"name": "X-Qlik-User", "value": "UserDirectory=Internal;UserId=sa_repository"}]
        receiver = self.receiver
        channel = {"rateLimit": 0, "headScriptLogLines": 5, "tailScriptLogLines": 10, "messageType": "formatted"}
        slack = {**channel, "enable": True, "webhookURL": receiver.url("slack"), "channel": "#qlik-alerts",
                 "fromUser": "qbutler demo", "iconEmoji": ":robot_face:"}
        webhooks = {"rateLimit": 0, "webhooks": [
            {"description": "Demo receiver", "webhookURL": receiver.url("webhook"), "httpMethod": "POST"}]}
        switches = {name: True for name in (
            "apiListEnabledEndpoints", "base62ToBase16", "base16ToBase62", "butlerping", "createDir",
            "createDirQVD", "fileDelete", "fileMove", "fileCopy", "keyValueStore", "mqttPublishMessage",
            "senseAppReload", "senseAppDump", "senseListApps", "senseStartTask", "slackPostMessage")}
        switches["scheduler"] = {name: True for name in (
            "createNewSchedule", "getSchedule", "getScheduleStatusAll", "updateSchedule", "deleteSchedule",
            "startSchedule", "stopSchedule")}
        files = self.folder / "files"
        pair = {"fromDirectory": str(files / "incoming"), "toDirectory": str(files / "archive")}
        return {"Butler": {
            "logLevel": "info",
            "fileLogging": True,
            "logDirectory": "log",
            "qbutler": {"dataDirectory": "data"},
            "restServerConfig": {"enable": True, "serverHost": "127.0.0.1", "serverPort": self.options.port},
            "restServerEndpointsEnable": switches,
            "cert": {"clientCert": str(certs / "client.pem"), "clientCertKey": str(certs / "client_key.pem"),
                     "clientCertCA": str(certs / "root.pem")},
            "configQRS": {"host": "127.0.0.1", "port": self.site.qrs_port, "useSSL": True,
                          "headers": {"static": user}, "rejectUnauthorized": True},
            "configEngine": {"host": "127.0.0.1", "port": self.site.engine_port, "useSSL": True,
                             "headers": {"static": user}, "rejectUnauthorized": True},
            "keyValueStore": {"enable": True, "backend": "sqlite"},
            "scheduler": {"enable": True, "configfile": "schedule.yaml"},
            # The site watch, for the dashboard's overview (services, licenses, readiness).
            "serviceMonitor": {"enable": True, "frequency": "every 30 seconds"},
            "qlikSenseLicense": {"serverLicenseMonitor": {"enable": True, "frequency": "every 6 hours"},
                                 "licenseMonitor": {"enable": True, "frequency": "every 6 hours"}},
            "udpServerConfig": {"enable": True, "serverHost": "127.0.0.1", "portTaskFailure": udp_port},
            "qlikSenseUrls": {"qmc": "https://sense.acme.example/qmc", "hub": "https://sense.acme.example/hub",
                              "appBaseUrl": "https://sense.acme.example/sense/app"},
            "slackNotification": {"enable": True, "restMessage": {"webhookURL": receiver.url("slack")},
                                  "reloadTaskFailure": slack, "reloadTaskAborted": slack},
            "webhookNotification": {"enable": True, "reloadTaskFailure": webhooks,
                                    "reloadTaskAborted": webhooks},
            "mqttConfig": {"enable": self.broker is not None, "brokerHost": "127.0.0.1",
                           "brokerPort": self.broker.port if self.broker else 1883},
            "fileCopyApprovedDirectories": [pair],
            "fileMoveApprovedDirectories": [pair],
            "fileDeleteApprovedDirectories": [str(files / "incoming"), str(files / "archive")],
            "configDirectories": {"qvdPath": str(files / "qvd")},
        }}

    # ------------------------------------------------------------------ watching

    async def _watch_activity(self) -> None:
        assert self.service is not None
        queue = self.service.activity.subscribe()
        try:
            while True:
                self.recorder.activity(await queue.get())
        finally:
            self.service.activity.unsubscribe(queue)

    def last_event_time(self, task_name: str, before: float) -> float | None:
        """When sensesim last sent a datagram for `task_name` before `before` (for alert latency)."""
        latest = None
        for datagram in self.site.runner.datagrams:
            fields = datagram.payload.decode("utf-8", errors="replace").split(";")
            sent = datetime.fromisoformat(datagram.time).timestamp()
            if len(fields) > 2 and fields[2] == task_name and sent <= before:
                latest = sent
        return latest

    async def _watch_outcomes(self) -> None:
        seen = 0
        while True:
            datagrams = self.site.runner.datagrams
            for datagram in datagrams[seen:]:
                fields = datagram.payload.decode("utf-8", errors="replace").split(";")
                kind = {"failed": "failed", "aborted": "aborted", "success": "success"}.get(datagram.kind,
                                                                                          datagram.kind)
                self.recorder.outcome(kind, fields[2] if len(fields) > 2 else "?",
                                      datetime.fromisoformat(datagram.time).timestamp())
            seen = len(datagrams)
            await asyncio.sleep(0.2)

    async def _watch_receiver(self) -> None:
        seen = 0
        while True:
            records = self.receiver.records
            for record in records[seen:]:
                text = record.text()
                # The longest matching name, so "Reload X - hourly" is not taken for "Reload X".
                task = max((name for name in self.tasks if name in text), key=len, default=None)
                sent = self.last_event_time(task, record.time) if task else None
                self.recorder.alert(record.channel, task or "message", None if sent is None else record.time - sent)
            seen = len(records)
            await asyncio.sleep(0.2)
