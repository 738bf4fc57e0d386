"""The UDP listener for the scheduler's log4net datagrams (`Butler.udpServerConfig`).

Checks run in the order of Butler's pipeline: source allow-list, size, rate limit, parse; then the
event waits in a bounded queue for one of `maxConcurrent` workers. UDP has no way to slow a sender
down, so a full queue drops the datagram. Every drop is counted per reason and logged (the first
of each reason at once, then at most one summary line per reason and minute).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from qbutler.alerts.config import UdpServerConfig
from qbutler.background import cancel_and_wait
from qbutler.events.log4net import DatagramError, TaskEvent, parse

log = logging.getLogger("qbutler.events.udp")

Handler = Callable[[TaskEvent, float], Awaitable[None]]
LOG_INTERVAL = 60.0
RECEIVE_BUFFER = 8 * 1024 * 1024


class UdpListener(asyncio.DatagramProtocol):
    def __init__(self, settings: UdpServerConfig, handler: Handler):
        self.settings = settings
        self.handler = handler
        queue = settings.messageQueue
        self.queue: asyncio.Queue[tuple[TaskEvent, float]] = asyncio.Queue(maxsize=queue.maxSize)
        self.drops: Counter[str] = Counter()
        self.received = 0
        self.processed = 0
        self.failed = 0
        self.allowed: set[str] | None = None
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._last_logged: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()
        self._window_start = 0.0
        self._window_count = 0
        self._backpressure = False
        self._backpressure_logged = 0.0

    # ---------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    async def start(self) -> None:
        if self.settings.enableSourceValidation:
            self.allowed = await self._resolve_sources()
            if not self.allowed:
                # Butler disables the check here (fails open); qbutler refuses everything instead.
                log.error("UDP source validation is on but no allowed source resolved: every datagram is dropped")
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.settings.serverHost, self.settings.portTaskFailure),
            family=socket.AF_INET)
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError):
            # A burst of datagrams must fit in the kernel's buffer while the loop is busy (the
            # kernel caps this at net.core.rmem_max).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        self._workers = [asyncio.create_task(self._work(), name=f"qbutler-udp-worker-{n}")
                         for n in range(self.settings.messageQueue.maxConcurrent)]
        log.info("Listening for task events on udp://%s:%d", self.settings.serverHost, self.port)

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        await cancel_and_wait(*self._workers)
        self._workers = []

    async def _resolve_sources(self) -> set[str]:
        loop = asyncio.get_running_loop()
        allowed: set[str] = set()
        for source in self.settings.allowedSources:
            source = str(source).strip()
            try:
                allowed.add(str(ipaddress.IPv4Address(source)))
                continue
            except ValueError:
                pass
            try:
                infos = await loop.getaddrinfo(source, None, family=socket.AF_INET)
            except OSError as exc:
                log.warning("UDP allowed source %r does not resolve: %s", source, exc)
                continue
            allowed.update(str(info[4][0]) for info in infos)
        return allowed

    # ---------------------------------------------------------------- receiving

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        received_at = time.time()
        self.received += 1
        source = str(addr[0])
        if self.allowed is not None and source not in self.allowed:
            self._drop("source", source, "source address not in allowedSources")
            return
        if len(data) > self.settings.maxMessageSize:
            self._drop("size", source, f"{len(data)} bytes > maxMessageSize {self.settings.maxMessageSize}")
            return
        if self.settings.rateLimit.enable and not self._within_rate(received_at):
            self._drop("rate_limit", source, f"over {self.settings.rateLimit.maxMessagesPerMinute} per minute")
            return
        try:
            event = parse(data)
        except DatagramError as exc:
            self._drop(exc.reason, source, str(exc))
            return
        try:
            self.queue.put_nowait((event, received_at))
        except asyncio.QueueFull:
            self._drop("queue_full", source, f"queue holds {self.queue.maxsize} events")
            return
        self._watch_backpressure()

    def error_received(self, exc: Exception) -> None:
        log.warning("UDP socket error: %s", exc)

    def _within_rate(self, now: float) -> bool:
        # One global fixed window of 60 s that starts with its first datagram (Butler's rule).
        if now - self._window_start >= 60.0:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        return self._window_count <= self.settings.rateLimit.maxMessagesPerMinute

    def _watch_backpressure(self) -> None:
        utilisation = 100.0 * self.queue.qsize() / self.queue.maxsize
        threshold = self.settings.messageQueue.backpressureThreshold
        now = time.monotonic()
        if utilisation >= threshold:
            if not self._backpressure or now - self._backpressure_logged >= LOG_INTERVAL:
                log.warning("UDP queue %.0f%% full (%d of %d waiting)", utilisation, self.queue.qsize(),
                            self.queue.maxsize)
                self._backpressure_logged = now
            self._backpressure = True
        elif self._backpressure and utilisation < 0.8 * threshold:
            self._backpressure = False
            log.info("UDP queue backpressure cleared (%.0f%% full)", utilisation)

    def _drop(self, reason: str, source: str, detail: str) -> None:
        self.drops[reason] += 1
        now = time.monotonic()
        if now - self._last_logged.get(reason, -LOG_INTERVAL) >= LOG_INTERVAL:
            more = self._suppressed.pop(reason, 0)
            suffix = f" ({more} more dropped for this reason since the last report)" if more else ""
            log.warning("Dropped UDP datagram from %s, reason %s: %s%s", source, reason, detail, suffix)
            self._last_logged[reason] = now
        else:
            self._suppressed[reason] += 1

    # ---------------------------------------------------------------- processing

    async def _work(self) -> None:
        while True:
            event, received_at = await self.queue.get()
            try:
                await self.handler(event, received_at)
                self.processed += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failed += 1
                log.exception("Processing %s event of task %s (execution %s) failed", event.outcome,
                              event.taskId, event.executionId)
            finally:
                self.queue.task_done()
