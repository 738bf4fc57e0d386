"""The MQTT broker connection (`Butler.mqttConfig`): publishing with an outbox, and starting tasks
from messages on `taskStartTopic`.

One long-lived loop connects, announces itself, subscribes to `subscriptionRootTopic` and reads
messages; when the connection drops it reconnects with exponential backoff and jitter. What is
published while disconnected waits in a bounded outbox and is sent, in order, after reconnecting.
A retained status topic says "online", and the broker says "offline" for us (the last will) if
the connection dies without a goodbye.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import ssl
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qbutler.actions.tasks import TaskStarter
from qbutler.activity import ActivityFeed
from qbutler.background import end_tasks
from qbutler.config import Config

# aiomqtt (and paho under it) is imported where MQTT is used: a site without MQTT never loads it.
if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger("qbutler.mqtt")

# Butler announces every (re)connect here, as text.
BUTLER_STATUS_TOPIC = "qliksense/butler/mqtt/status"
ONLINE, OFFLINE = "online", "offline"


# Longest waits at shutdown: for the broker to take the "offline" goodbye, and for the
# connection to close.
GOODBYE_SECONDS = 2.0
STOP_WAIT_SECONDS = 5.0


class InvalidTopic(ValueError):
    """A topic no broker accepts for a publish; nothing is sent or queued."""


def check_topic(topic: str) -> None:
    """MQTT 3.1.1 §4.7: a publish topic is 1-65535 UTF-8 bytes without wildcards or NUL."""
    if not topic:
        raise InvalidTopic("the topic is empty")
    if "+" in topic or "#" in topic:
        raise InvalidTopic("wildcards (+, #) are for subscriptions, not for publishing")
    if "\x00" in topic:
        raise InvalidTopic("the topic contains a NUL character")
    if len(topic.encode("utf-8", "surrogatepass")) > 65535:
        raise InvalidTopic("the topic is longer than 65535 bytes")


class MqttUnavailable(Exception):
    """A message could not be published and could not be kept for later either."""


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: str | bytes
    retain: bool


def broker_tls_context(config: Config) -> ssl.SSLContext | None:
    """The TLS context for the broker, or None; raises RuntimeError naming the key of a bad file."""
    tls = config.Butler.mqttConfig.tls
    if not tls.enable:
        return None
    files = {key: config.resolve_path(value) for key, value in (("ca", tls.ca), ("cert", tls.cert),
                                                                 ("key", tls.key)) if value}
    for key, path in files.items():
        if not path.is_file():
            raise RuntimeError(f"Butler.mqttConfig.tls.{key}: file not found: {path}")
    try:
        context = ssl.create_default_context(cafile=str(files["ca"]) if "ca" in files else None)
        if not tls.rejectUnauthorized:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if "cert" in files:
            context.load_cert_chain(str(files["cert"]), str(files["key"]) if "key" in files else None)
    except ssl.SSLError as exc:
        raise RuntimeError(f"Butler.mqttConfig.tls: cannot use the certificate files: {exc}") from None
    return context


async def publish_acknowledged(client: aiomqtt.Client, topic: str, payload: str | bytes, *, qos: int,
                               retain: bool = False, seconds: float) -> None:
    """Publish and wait at most `seconds` for the broker's acknowledgement (MqttError after that).

    The time limit is asyncio.timeout's, not aiomqtt's own: aiomqtt's goes through asyncio.wait_for,
    which on Python 3.11 swallows a cancel arriving as the acknowledgement does (CPython gh-86296),
    so a task stopped at that moment, the site watch among them, would carry on."""
    import aiomqtt

    try:
        async with asyncio.timeout(seconds):
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=math.inf)
    except TimeoutError:
        raise aiomqtt.MqttError(f"no acknowledgement from the broker within {seconds:g}s") from None


def broker_client(config: Config, identifier: str, tls: ssl.SSLContext | None, timeout: float,
                  will: aiomqtt.Will | None = None) -> aiomqtt.Client:
    """A client for the configured broker (address, credentials, keepalive); not yet connected."""
    import aiomqtt

    settings = config.Butler.mqttConfig
    return aiomqtt.Client(
        settings.brokerHost, settings.brokerPort, identifier=identifier,
        username=settings.username or None, password=settings.password or None,
        tls_context=tls, will=will, keepalive=settings.keepaliveSeconds, timeout=timeout)


class MqttClient:
    def __init__(self, config: Config, tasks: TaskStarter, activity: ActivityFeed | None = None):
        self.settings = config.Butler.mqttConfig
        self.config = config
        self.tasks = tasks
        self.activity = activity
        self.outbox: deque[Outgoing] = deque()
        self._client: aiomqtt.Client | None = None
        self._tls: ssl.SSLContext | None = None
        self._connected = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.client_id = ""

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        # TLS files are read now, so a wrong path stops start-up with a clear message.
        self._tls = broker_tls_context(self.config)
        self._loop_task = asyncio.create_task(self._run(), name="qbutler-mqtt")

    async def stop(self) -> None:
        import aiomqtt

        client = self._client
        if client is not None and self.settings.statusTopic:
            # A clean goodbye: the broker does not send the last will for a normal disconnect.
            with contextlib.suppress(aiomqtt.MqttError):
                await publish_acknowledged(client, self.settings.statusTopic, OFFLINE, qos=self.settings.qos,
                                           retain=True, seconds=GOODBYE_SECONDS)
        await self._end_loop()
        for handler in list(self._handlers):
            handler.cancel()
        if self.outbox:
            log.warning("MQTT: %d queued message(s) not sent before shutdown", len(self.outbox))

    async def _end_loop(self) -> None:
        """Cancel the connection loop, waiting a bounded time: aiomqtt waits for the broker's side
        of a disconnect without a limit, which must not keep qbutler from stopping."""
        task, self._loop_task = self._loop_task, None
        if task is None:
            return
        if await end_tasks([task], limit=STOP_WAIT_SECONDS):
            log.warning("MQTT: the broker connection did not close within %gs; leaving it", STOP_WAIT_SECONDS)
        elif not task.cancelled() and task.exception() is not None:
            log.warning("MQTT: the connection loop ended with %r", task.exception())

    async def wait_connected(self) -> None:
        await self._connected.wait()

    # ---------------------------------------------------------------- publishing

    async def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        """Send now, or keep in the outbox while the broker is unreachable.

        Returns once the broker acknowledged the message (QoS >= 1) or it is queued; raises
        MqttUnavailable when it can be neither sent nor queued (outbox full), InvalidTopic for a
        topic no broker takes. Never hangs.
        """
        check_topic(topic)
        message = Outgoing(topic, payload, retain)
        # While older messages wait in the outbox, new ones queue behind them to keep the order.
        if self.connected and not self.outbox and await self._send(message):
            return
        self._enqueue(message)

    def _enqueue(self, message: Outgoing) -> None:
        if len(self.outbox) >= self.settings.outboxSize:
            raise MqttUnavailable(
                f"MQTT broker {self.settings.brokerHost}:{self.settings.brokerPort} is unreachable and the "
                f"outbox is full ({self.settings.outboxSize} messages)")
        self.outbox.append(message)
        log.debug("MQTT: queued message for %s (%d waiting)", message.topic, len(self.outbox))

    async def _send(self, message: Outgoing) -> bool:
        """True once the broker has it; False if the connection failed under us."""
        import aiomqtt

        client = self._client
        if client is None:
            return False
        try:
            await publish_acknowledged(client, message.topic, message.payload, qos=self.settings.qos,
                                       retain=message.retain, seconds=self.settings.publishTimeoutSeconds)
        except aiomqtt.MqttError as exc:
            log.warning("MQTT: publishing to %s failed (%s); keeping it for after reconnecting",
                        message.topic, exc)
            return False
        return True

    async def _flush_outbox(self) -> None:
        sent = 0
        while self.outbox and self.connected:
            if not await self._send(self.outbox[0]):
                return
            self.outbox.popleft()
            sent += 1
        if sent:
            log.info("MQTT: sent %d queued message(s) after reconnecting", sent)

    # ---------------------------------------------------------------- the connection loop

    def _new_client(self) -> aiomqtt.Client:
        import aiomqtt

        settings = self.settings
        self.client_id = settings.clientId or f"qbutler_{secrets.token_hex(4)}"
        will = (aiomqtt.Will(settings.statusTopic, OFFLINE, qos=settings.qos, retain=True)
                if settings.statusTopic else None)
        return broker_client(self.config, self.client_id, self._tls, settings.publishTimeoutSeconds, will)

    async def _run(self) -> None:
        import aiomqtt

        settings = self.settings
        delay = settings.reconnectMinDelaySeconds
        while True:
            try:
                async with self._new_client() as client:
                    self._client = client
                    await self._announce(client)
                    await client.subscribe(settings.subscriptionRootTopic, qos=settings.qos)
                    self._connected.set()
                    delay = settings.reconnectMinDelaySeconds
                    flush = asyncio.create_task(self._flush_outbox())
                    try:
                        async for message in client.messages:
                            self._handle(message)
                    finally:
                        flush.cancel()
            except aiomqtt.MqttError as exc:
                if self.connected:
                    log.warning("MQTT: lost the connection to %s:%s: %s", settings.brokerHost,
                                settings.brokerPort, exc)
                else:
                    log.warning("MQTT: cannot connect to %s:%s: %s", settings.brokerHost, settings.brokerPort, exc)
            finally:
                self._connected.clear()
                self._client = None
            pause = delay * random.uniform(0.5, 1.5)
            log.info("MQTT: reconnecting in %.1fs", pause)
            await asyncio.sleep(pause)
            delay = min(delay * 2, settings.reconnectMaxDelaySeconds)

    async def _announce(self, client: aiomqtt.Client) -> None:
        settings = self.settings
        text = f"Connected to MQTT broker {settings.brokerHost}:{settings.brokerPort} with client ID {self.client_id}"
        log.info("MQTT: %s", text)
        seconds = settings.publishTimeoutSeconds
        await publish_acknowledged(client, BUTLER_STATUS_TOPIC, text, qos=settings.qos, seconds=seconds)
        if settings.statusTopic:
            await publish_acknowledged(client, settings.statusTopic, ONLINE, qos=settings.qos, retain=True,
                                       seconds=seconds)
        if self.activity is not None:
            self.activity.publish("mqtt.connected", text)

    # ---------------------------------------------------------------- incoming messages

    def _handle(self, message: aiomqtt.Message) -> None:
        # Exact topic match, as Butler; everything else under the root topic (our own
        # publications included) is ignored.
        if str(message.topic) != self.settings.taskStartTopic:
            return
        payload = message.payload
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes | bytearray) else str(payload)
        handler = asyncio.create_task(self._start_task(text))
        self._handlers.add(handler)
        handler.add_done_callback(self._handlers.discard)

    async def _start_task(self, text: str) -> None:
        try:
            report = await self.tasks.start_from_message(text, self.settings.taskStartTopic)
        except Exception as exc:
            log.error("MQTT IN: starting task %r failed: %s", text, exc)
            return
        wire = report.to_wire()["tasksId"]
        if wire["invalid"]:
            log.warning("MQTT IN: Invalid task ID %r", text)
        elif wire["denied"]:
            log.warning("MQTT IN: task %s is not allowed by Butler.startTaskFilter", text.strip())
        for task in report.started:
            if task.error is None:
                log.info("MQTT IN: started task %s (%s)", task.task_id, task.task_name)
