"""Delivering alert messages: a durable outbox, retries with backoff, and rate limits.

A message is written to the outbox before it is queued and removed once delivered or given up,
so messages waiting (or between retries) at a crash or restart are sent after the restart.
A failure that can pass (connection error, timeout, 5xx, 408, 429, SMTP 4xx) is retried after a
capped exponential backoff with jitter, or after the receiver's Retry-After; any other failure is
final. Crash between a receiver's "OK" and the outbox removal is the one case that sends twice.

Messages given up on are kept in a second journal (`failed`, the newest FAILED_KEPT), so an admin
can look at them and send one again once the receiver is fixed (the dashboard's alerts page).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qbutler.activity import ActivityFeed
from qbutler.alerts.channels.base import Channel, DeliveryError, Message
from qbutler.alerts.config import AlertDelivery
from qbutler.alerts.journal import Journal
from qbutler.alerts.ratelimit import RateLimits
from qbutler.background import cancel_and_wait

log = logging.getLogger("qbutler.alerts.delivery")

# Told of each message's fate: delivered, failed (final), retried (once per retry) or rate_limited;
# with the error text where there is one. Called synchronously: observers must not block.
DeliveryObserver = Callable[[Message, str, str | None], None]

# Messages given up on that stay listed (and can be sent again); older ones are dropped.
FAILED_KEPT = 500


@dataclass(frozen=True)
class OutboxItem:
    """One message as an admin sees it: waiting, being sent, waiting for a retry, or given up."""

    record_id: str
    channel: str
    target: str
    about: dict[str, Any]
    attempts: int
    created: float
    # queued | sending | retrying | failed
    state: str
    next_attempt: float | None = None
    error: str | None = None
    failed_at: float | None = None


@dataclass
class _Retry:
    message: Message
    timer: asyncio.TimerHandle
    due: float
    error: str


def subject(about: dict[str, Any]) -> str:
    """What a message is about, for logs: a task run, or a site event's label."""
    if about.get("taskId"):
        return f"task {about['taskId']}, execution {about.get('executionId')}"
    return str(about.get("taskName") or about.get("event") or "an alert")


class Deliverer:
    def __init__(self, settings: AlertDelivery, outbox: Journal, channels: dict[str, Channel],
                 limits: RateLimits, activity: ActivityFeed | None = None, failed: Journal | None = None):
        self.settings = settings
        self.outbox = outbox
        self.failed = failed
        self.channels = channels
        self.limits = limits
        self.activity = activity
        self.counts: Counter[str] = Counter()
        self._queue: asyncio.Queue[tuple[str, Message]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        # Messages between attempts, by outbox record id; and those an attempt is running for.
        self._retries: dict[str, _Retry] = {}
        self._sending: dict[str, Message] = {}
        self._queued: dict[str, Message] = {}
        self._given_up: dict[str, dict[str, Any]] = {}
        self._idle = asyncio.Event()
        self._in_flight = 0
        # Creation time of every message in the outbox, for the age of the oldest.
        self._created: dict[str, float] = {}
        self.observers: list[DeliveryObserver] = []

    async def start(self) -> None:
        reloaded = 0
        if self.failed is not None:
            self._given_up = dict(self.failed.load())
        for record_id, record in self.outbox.load():
            message = Message.from_dict(record)
            if message.rate_key:
                self.limits.hold(message.rate_key)
            self._enqueue(record_id, message)
            self._created[record_id] = message.created
            reloaded += 1
        self._in_flight = reloaded
        if reloaded:
            log.info("Alert outbox: %d message(s) from before the restart queued for delivery", reloaded)
        self._update_idle()
        self._workers = [asyncio.create_task(self._work(), name=f"qbutler-alert-sender-{n}")
                         for n in range(self.settings.concurrency)]

    async def stop(self) -> None:
        for retry in self._retries.values():
            retry.timer.cancel()
        self._retries.clear()
        await cancel_and_wait(*self._workers)
        self._workers = []

    async def submit(self, message: Message) -> bool:
        """Queue a message unless its rate limit holds it back; durable once this returns True."""
        if message.rate_key and not self.limits.try_hold(message.rate_key, message.rate_seconds):
            self.counts["rate_limited"] += 1
            self._notify(message, "rate_limited", None)
            log.info("Alert to %s %s for %s held back by its rate limit (%ss)", message.channel,
                     message.target, subject(message.about), message.rate_seconds)
            return False
        record_id = self.outbox.new_id()
        try:
            await self.outbox.put(record_id, message.to_dict())
        except OSError:
            if message.rate_key:
                self.limits.failed(message.rate_key)
            raise
        self._in_flight += 1
        self._created[record_id] = message.created
        self._update_idle()
        self._enqueue(record_id, message)
        return True

    def _enqueue(self, record_id: str, message: Message) -> None:
        self._queued[record_id] = message
        self._queue.put_nowait((record_id, message))

    async def wait_idle(self) -> None:
        """Until nothing is queued, being sent or waiting for a retry (tests and shutdown)."""
        await self._idle.wait()

    @property
    def pending(self) -> int:
        return self._in_flight

    def oldest_age(self) -> float:
        """Seconds the oldest message in the outbox has waited (0 when it is empty)."""
        return max(0.0, time.time() - min(self._created.values())) if self._created else 0.0

    def _notify(self, message: Message, outcome: str, error: str | None) -> None:
        for observer in self.observers:
            observer(message, outcome, error)

    def _update_idle(self) -> None:
        if self._in_flight:
            self._idle.clear()
        else:
            self._idle.set()

    # ---------------------------------------------------------------- sending

    async def _work(self) -> None:
        while True:
            record_id, message = await self._queue.get()
            if self._queued.pop(record_id, None) is None:
                continue  # discarded while it waited
            self._sending[record_id] = message
            try:
                await self._attempt(record_id, message)
            finally:
                self._sending.pop(record_id, None)

    async def _attempt(self, record_id: str, message: Message) -> None:
        channel = self.channels.get(message.channel)
        message.attempts += 1
        try:
            if channel is None:
                raise DeliveryError(f"channel {message.channel!r} is not configured", retryable=False)
            await channel.send(message.payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc if isinstance(exc, DeliveryError) else DeliveryError(
                f"{type(exc).__name__}: {exc}", retryable=False)
            await self._failed(record_id, message, error)
            if not isinstance(exc, DeliveryError):
                log.exception("Unexpected error sending to %s", message.channel)
            return
        await self._finish(record_id, message)
        self.counts["delivered"] += 1
        self._notify(message, "delivered", None)
        if message.rate_key:
            self.limits.delivered(message.rate_key, message.rate_seconds)
        log.info("Alert delivered: %s %s, %s (attempt %d)", message.channel, message.target,
                 subject(message.about), message.attempts)
        if self.activity is not None:
            summary = f"{message.channel} alert sent for {message.about.get('taskName')}"
            self.activity.publish("alert.delivered", summary, channel=message.channel, target=message.target,
                                  **message.about, attempts=message.attempts, latency=time.time() - message.created)

    async def _failed(self, record_id: str, message: Message, error: DeliveryError) -> None:
        if error.retryable and message.attempts < self.settings.maxAttempts:
            delay = self._delay(message.attempts, error.retry_after)
            self.counts["retried"] += 1
            self._notify(message, "retried", str(error))
            log.warning("Alert to %s %s failed (attempt %d of %d), retrying in %.1fs: %s", message.channel,
                        message.target, message.attempts, self.settings.maxAttempts, delay, error)
            with contextlib.suppress(OSError):
                # Keep the attempt count across a restart.
                await self.outbox.put(record_id, message.to_dict())
            loop = asyncio.get_running_loop()

            def requeue() -> None:
                if self._retries.pop(record_id, None) is not None:
                    self._enqueue(record_id, message)

            self._retries[record_id] = _Retry(message, loop.call_later(delay, requeue), time.time() + delay,
                                              str(error))
            return
        await self._finish(record_id, message)
        self.counts["failed"] += 1
        self._notify(message, "failed", str(error))
        if message.rate_key:
            self.limits.failed(message.rate_key)
        reason = "not retryable" if not error.retryable else f"gave up after {message.attempts} attempts"
        log.error("Alert to %s %s for %s NOT delivered, %s: %s", message.channel,
                  message.target, subject(message.about), reason, error)
        await self._keep_failed(record_id, message, f"{reason}: {error}")
        if self.activity is not None:
            self.activity.publish("alert.failed", f"{message.channel} alert failed: {error}",
                                  channel=message.channel, target=message.target, **message.about)

    async def _finish(self, record_id: str, message: Message) -> None:
        try:
            await self.outbox.remove(record_id)
        except OSError as exc:
            log.error("Alert outbox record %s could not be removed: %s", record_id, exc)
        self._created.pop(record_id, None)
        self._in_flight -= 1
        self._update_idle()

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.settings.maxRetryAfterSeconds)
        base = min(self.settings.initialBackoffSeconds * 2 ** (attempts - 1), self.settings.maxBackoffSeconds)
        return base * (0.5 + random.random())

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "pending": self._in_flight}

    # ---------------------------------------------------------------- what an admin sees and does

    async def _keep_failed(self, record_id: str, message: Message, error: str) -> None:
        if self.failed is None:
            return
        record = {"message": message.to_dict(), "error": error, "failedAt": time.time()}
        try:
            await self.failed.put(record_id, record)
            self._given_up[record_id] = record
            while len(self._given_up) > FAILED_KEPT:
                oldest = next(iter(self._given_up))
                del self._given_up[oldest]
                await self.failed.remove(oldest)
        except OSError as exc:
            log.error("Could not keep the failed alert %s for a later retry: %s", record_id, exc)

    def outbox_items(self) -> list[OutboxItem]:
        """Every message not yet delivered, oldest first, then those given up on, newest first."""
        items: list[OutboxItem] = []

        def item(record_id: str, message: Message, state: str, **extra: Any) -> OutboxItem:
            return OutboxItem(record_id, message.channel, message.target, dict(message.about), message.attempts,
                              message.created, state, **extra)

        items.extend(item(rid, m, "sending") for rid, m in self._sending.items())
        items.extend(item(rid, m, "queued") for rid, m in self._queued.items())
        items.extend(item(rid, r.message, "retrying", next_attempt=r.due, error=r.error)
                     for rid, r in self._retries.items())
        items.sort(key=lambda i: i.created)
        for rid, record in reversed(self._given_up.items()):
            items.append(item(rid, Message.from_dict(record["message"]), "failed", error=record.get("error"),
                              failed_at=record.get("failedAt")))
        return items

    async def retry_now(self, record_id: str) -> bool:
        """Send a message waiting for its next attempt at once, or one given up on again
        (with a fresh attempt count). False when there is no such message."""
        retry = self._retries.pop(record_id, None)
        if retry is not None:
            retry.timer.cancel()
            self._enqueue(record_id, retry.message)
            return True
        record = self._given_up.get(record_id)
        if record is None or self.failed is None:
            return False
        message = Message.from_dict(record["message"])
        message.attempts = 0
        if message.rate_key:
            self.limits.hold(message.rate_key)
        new_id = self.outbox.new_id()
        await self.outbox.put(new_id, message.to_dict())
        await self.failed.remove(record_id)
        self._given_up.pop(record_id, None)
        self._in_flight += 1
        self._created[new_id] = message.created
        self._update_idle()
        self._enqueue(new_id, message)
        return True

    async def discard(self, record_id: str) -> bool:
        """Drop a message that is waiting (for a worker or a retry) or was given up on."""
        if record_id in self._given_up and self.failed is not None:
            await self.failed.remove(record_id)
            self._given_up.pop(record_id, None)
            return True
        retry = self._retries.pop(record_id, None)
        message = retry.message if retry is not None else self._queued.pop(record_id, None)
        if message is None:
            return False
        if retry is not None:
            retry.timer.cancel()
        await self._finish(record_id, message)
        if message.rate_key:
            self.limits.failed(message.rate_key)
        log.info("Alert to %s %s discarded by an admin", message.channel, message.target)
        return True
