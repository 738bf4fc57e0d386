"""qbutler with a simulated Sense site in a background event loop, for the dashboard's browser tests."""

from __future__ import annotations

import copy
import socket
from pathlib import Path
from typing import Any

import httpx
import yaml

from qbutler.config import parse_config
from qbutler.demo.receiver import Receiver
from qbutler.service import Service
from support.browser import LoopThread
from support.net import free_port
from support.qbutler import merge
from support.sense import sense_config

FAILING_TASK = "Reload Budget vs Actual"  # the demo seed's task that always fails
SUCCESS_TASK = "Reload Headcount"
FIRST_SCHEDULE = {"id": "nightly-sales", "name": "Nightly sales", "cronSchedule": "0 30 2 * * *",
                  "timezone": "Europe/Stockholm", "qlikSenseTaskId": "", "startupState": "started",
                  "tags": ["sales"]}


class DashboardStack:
    """sensesim (demo seed) + qbutler with UDP alerts to a webhook receiver that can be switched
    off and on, the scheduler and the KV store; all in a background event loop."""

    def __init__(self, folder: Path, butler: dict[str, Any] | None = None):
        self.folder = folder
        self.extra = butler or {}
        self.thread = LoopThread()
        self.port = free_port()
        self.receiver_port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.udp_port = sock.getsockname()[1]
        self.site: Any = None
        self.service: Service | None = None
        self.receiver: Receiver | None = None
        self.http = httpx.Client(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def task_id(self, name: str) -> str:
        return next(t.id for t in self.site.state.tasks.values() if t.name == name)

    def config(self) -> dict[str, Any]:
        schedule = {**FIRST_SCHEDULE, "qlikSenseTaskId": self.task_id(SUCCESS_TASK)}
        schedule_file = self.folder / "schedule.yaml"
        if not schedule_file.exists():
            schedule_file.write_text(yaml.safe_dump({"butlerSchedule": [schedule]}), encoding="utf-8")
        webhooks = {"rateLimit": 0, "webhooks": [{"description": "test receiver", "httpMethod": "POST",
                                                  "webhookURL": f"http://127.0.0.1:{self.receiver_port}/webhook"}]}
        return sense_config(self.site, **merge({
            "restServerConfig": {"serverPort": self.port},
            "udpServerConfig": {"enable": True, "serverHost": "127.0.0.1", "portTaskFailure": self.udp_port},
            "scheduler": {"enable": True, "configfile": "schedule.yaml"},
            "keyValueStore": {"backend": "sqlite"},
            "webhookNotification": {"enable": True, "reloadTaskFailure": webhooks, "reloadTaskAborted": webhooks},
            # A failed delivery waits ten minutes for its next attempt: "stuck" until someone retries it.
            "alertDelivery": {"maxAttempts": 5, "initialBackoffSeconds": 600, "maxBackoffSeconds": 600},
        }, self.extra))

    async def _start_site(self) -> None:
        from sensesim.server import Site

        self.site = Site(seed="demo", certs_dir=self.folder / "certs", udp_targets=[("127.0.0.1", self.udp_port)],
                         time_scale=0.05)
        await self.site.start()

    async def _start_qbutler(self) -> None:
        self.service = Service(parse_config(copy.deepcopy(self.config()), self.folder))
        await self.service.start()

    def start(self) -> DashboardStack:
        self.thread.run(self._start_site())
        self.thread.run(self._start_qbutler())
        return self

    def restart_qbutler(self) -> None:
        assert self.service is not None
        self.thread.run(self.service.stop())
        self.thread.run(self._start_qbutler())

    def start_receiver(self) -> Receiver:
        self.receiver = Receiver(port=self.receiver_port)
        self.thread.run(self.receiver.start())
        return self.receiver

    def stop_receiver(self) -> None:
        if self.receiver is not None:
            self.thread.run(self.receiver.stop())
            self.receiver = None

    def close(self) -> None:
        self.http.close()
        for stop in (self.service.stop() if self.service else None, self.receiver.stop() if self.receiver else None,
                     self.site.close() if self.site else None):
            if stop is not None:
                self.thread.run(stop)
        self.thread.close()

    # ---- acting on the site like a user or a load script would

    def next_outcome(self, task_name: str, outcome: str) -> None:
        response = self.http.put(f"{self.site.control_url}/tasks/{self.task_id(task_name)}/outcome",
                                 json={"outcome": outcome})
        response.raise_for_status()

    def start_task_over_rest(self, task_name: str) -> None:
        response = self.http.put(f"{self.url}/v4/reloadtask/{self.task_id(task_name)}/start", json=[])
        response.raise_for_status()
