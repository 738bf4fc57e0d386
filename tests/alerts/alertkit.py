"""Alert test kit: real receivers on loopback standing in for Slack, Teams, webhook receivers and an
SMTP server, and the qbutler config pointing every channel at them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest
from aiosmtpd.controller import Controller

from qbutler.api.server import AsgiListener
from qbutler.config import parse_config
from qbutler.sense.qrs import QrsClient
from support.net import free_port
from support.qbutler import merge
from support.sense import Control, running_site, sense_config

FINANCE_TASK = "Reload Finance Report"  # fails; owner ACME\bob; CP recipients anna and bob
WEBHOOK_SECRET = "s3cret-for-tests"


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    time: float
    status: int

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class HttpReceiver:
    """Records every request; answers from a per-path script of (status, headers), then 200."""

    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, deque[tuple[int, dict[str, str]]]] = field(default_factory=lambda: defaultdict(deque))
    listener: AsgiListener | None = None
    # Paths whose requests are read and recorded, then left unanswered until `answer(path)`.
    holding: dict[str, asyncio.Event] = field(default_factory=dict)

    def hold(self, path: str) -> None:
        self.holding[path] = asyncio.Event()

    def answer(self, path: str) -> None:
        self.holding.pop(path).set()

    def script(self, path: str, *answers: tuple[int, dict[str, str]]) -> None:
        self.scripts[path].extend(answers)

    def at(self, path: str, delivered_only: bool = True) -> list[Received]:
        return [r for r in self.requests if r.path == path and (r.status < 300 or not delivered_only)]

    def url(self, path: str) -> str:
        assert self.listener is not None
        scheme = "https" if self.listener.options.get("ssl_certfile") else "http"
        return f"{scheme}://127.0.0.1:{self.listener.port}{path}"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        path = scope["path"]
        status, headers = self.scripts[path].popleft() if self.scripts[path] else (200, {})
        self.requests.append(Received(scope["method"], path, scope["query_string"].decode(),
                                      {k.decode().lower(): v.decode() for k, v in scope["headers"]}, body,
                                      time.time(), status))
        if path in self.holding:
            await self.holding[path].wait()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})
        await send({"type": "http.response.body", "body": b"ok" if status < 300 else b"nope"})

    async def start(self, tls: tuple[Path, Path] | None = None) -> None:
        """Plain HTTP, or HTTPS with `tls` = (certificate file, key file)."""
        options = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])} if tls else {}
        self.listener = AsgiListener(self, "127.0.0.1", 0, **options)
        await self.listener.start()

    async def stop(self) -> None:
        for path in list(self.holding):
            self.answer(path)
        if self.listener is not None:
            await self.listener.stop()


class _MailHandler:
    def __init__(self, sink: list[EmailMessage]):
        self.sink = sink
        # Replies to give instead of accepting, in order (e.g. "451 4.3.0 Try again later").
        self.refusals: deque[str] = deque()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusals:
            return self.refusals.popleft()
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.sink.append(message)
        return "250 OK"


class SmtpReceiver:
    def __init__(self, port: int):
        self.messages: list[EmailMessage] = []
        self.port = port
        self.handler = _MailHandler(self.messages)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    server = HttpReceiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def control(site: Any) -> AsyncIterator[Control]:
    """sensesim's control API of `site` (this module's, or the one a test folder's conftest provides)."""
    client = Control(site)
    yield client
    await client.aclose()


@contextlib.asynccontextmanager
async def mqtt_messages(port: int, prefix: str = "qliksense/") -> AsyncIterator[list[tuple[str, str]]]:
    """(topic, payload text) of every message published under `prefix` while inside, in order."""
    received: list[tuple[str, str]] = []
    async with aiomqtt.Client("127.0.0.1", port) as subscriber:
        await subscriber.subscribe("qliksense/#", qos=1)

        async def collect() -> None:
            async for message in subscriber.messages:
                if str(message.topic).startswith(prefix):
                    received.append((str(message.topic), bytes(message.payload).decode()))

        collector = asyncio.create_task(collect())
        try:
            yield received
        finally:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector


def task_id(site: Any, name: str) -> str:
    return next(t.id for t in site.state.tasks.values() if t.name == name)


def alert_config(site: Any, udp_port: int, receiver: HttpReceiver, smtp_port: int | None = None,
                 mqtt_port: int | None = None, **extra: Any) -> dict[str, Any]:
    """qbutler at `site`, listening on `udp_port`, every channel on (MQTT and email when given a port)."""
    chat = {"enable": True, "rateLimit": 300, "headScriptLogLines": 5, "tailScriptLogLines": 5}
    butler: dict[str, Any] = {
        "udpServerConfig": {"enable": True, "serverHost": "127.0.0.1", "portTaskFailure": udp_port},
        "qlikSenseUrls": {"qmc": "https://sense.example/qmc", "hub": "https://sense.example/hub",
                          "appBaseUrl": "https://sense.example/sense/app"},
        "genericUrls": [{"id": "docs", "linkText": "Runbook", "comment": "", "url": "https://runbook.example"}],
        "scriptLog": {"retries": 5, "retryDelaySeconds": 0.2},
        "alertDelivery": {"initialBackoffSeconds": 0.05, "maxBackoffSeconds": 0.5, "timeoutSeconds": 5},
        "slackNotification": {"enable": True,
                              "reloadTaskFailure": {**chat, "webhookURL": receiver.url("/slack"),
                                                    "channel": "sense-alerts"},
                              "reloadTaskAborted": {**chat, "webhookURL": receiver.url("/slack"),
                                                    "channel": "sense-alerts"}},
        "teamsNotification": {"enable": True,
                              "reloadTaskFailure": {**chat, "webhookURL": receiver.url("/teams")},
                              "reloadTaskAborted": {**chat, "webhookURL": receiver.url("/teams")}},
        "webhookNotification": {"enable": True, "reloadTaskFailure": {"rateLimit": 300, "webhooks": [
            {"description": "ops", "webhookURL": receiver.url("/hook"), "httpMethod": "POST",
             "secret": WEBHOOK_SECRET}]}},
    }
    if smtp_port is not None:
        butler["emailNotification"] = {
            "enable": True,
            "reloadTaskFailure": {
                "enable": True, "rateLimit": 300, "headScriptLogLines": 5, "tailScriptLogLines": 5,
                "recipients": ["ops@example.com"], "fromAddress": "Sense <sense@example.com>",
                "alertEnabledByEmailAddress": {"customPropertyName": "Butler_FailedAlertSendToEmail"},
                "appOwnerAlert": {"enable": True, "includeOwner": {"includeAll": True}}},
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "secure": False}}
    if mqtt_port is not None:
        butler["mqttConfig"] = {"enable": True, "brokerHost": "127.0.0.1", "brokerPort": mqtt_port}
    return sense_config(site, **merge(butler, extra))


async def site_start(site: Any, name: str) -> str:
    """Start a task through the site's QRS, as the scheduler or an admin would; its id."""
    tid = task_id(site, name)
    qrs = QrsClient(parse_config(sense_config(site), Path.cwd()))
    try:
        await qrs.post(f"task/{tid}/start", json={})
    finally:
        await qrs.stop()
    return tid


# Fixtures shared by the suites that drive task events (imported by their conftest.py).


@pytest.fixture
def udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)


@pytest.fixture
async def site(sense_certs: Path, udp_port: int) -> AsyncIterator[Any]:
    """A sensesim site whose task events go to `udp_port`."""
    async with running_site(sense_certs, udp_targets=[("127.0.0.1", udp_port)]) as running:
        yield running

