"""Writing points to InfluxDB 1.x, 2.x or 3.x: queued, batched, retried, never in an alert's way.

The wire is each version's plain HTTP write API, the one Butler's client libraries use:
v1 `POST /write?db=…&precision=n` (user and password as `u`/`p`), v2 `POST /api/v2/write?org=…&
bucket=…&precision=ns`, v3 `POST /api/v2/write?bucket=<database>&precision=ns` (both with
`Authorization: Token …`). A batch that fails on the network, with 5xx or 429 is retried with
backoff up to `maxAttempts`; any other refusal drops it. Every dropped point is counted and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import aiohttp

from qbutler.batching import BatchQueue
from qbutler.influx.config import InfluxDbConfig
from qbutler.influx.line import Point, encode, one_per_series

log = logging.getLogger("qbutler.influx")

FLUSH_SECONDS = 5.0


class WriteRefused(Exception):
    def __init__(self, message: str, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class InfluxWriter:
    def __init__(self, settings: InfluxDbConfig):
        self.settings = settings
        self.base = f"http://{settings.hostIP}:{settings.hostPort}"
        self.points: BatchQueue[Point] = BatchQueue("qbutler-influx-writer", settings.queueSize, settings.batchSize,
                                                    self._write, log, "InfluxDB point(s)")
        # written and retried here; dropped counts live in `points.dropped` (by reason).
        self._counts: Counter[str] = Counter()
        self._session: aiohttp.ClientSession | None = None

    @property
    def counts(self) -> Counter[str]:
        return self._counts + Counter(dropped=self.points.dropped.total())

    # ---------------------------------------------------------------- the wire of each version

    def _write_request(self) -> tuple[str, dict[str, str], dict[str, str]]:
        settings = self.settings
        if settings.version == 1:
            v1 = settings.v1
            params = {"db": v1.dbName, "precision": "n"}
            if v1.auth.enable:
                params.update(u=v1.auth.username, p=v1.auth.password)
            return f"{self.base}/write", params, {}
        if settings.version == 2:
            v2 = settings.v2Config
            return (f"{self.base}/api/v2/write", {"org": v2.org, "bucket": v2.bucket, "precision": "ns"},
                    {"Authorization": f"Token {v2.token}"})
        v3 = settings.v3Config
        return (f"{self.base}/api/v2/write", {"bucket": v3.database, "precision": "ns"},
                {"Authorization": f"Token {v3.token}"})

    def _timeout(self) -> float:
        return self.settings.v3Config.writeTimeout / 1000 if self.settings.version == 3 else 10.0

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout()),
                                              headers={"Content-Type": "text/plain; charset=utf-8"})
        if self.settings.version == 1:
            await self._provision_v1()
        else:
            log.info("InfluxDB v%d: qbutler will not auto-create v%d resources.", self.settings.version,
                     self.settings.version)
        self.points.start()

    async def stop(self) -> None:
        await self.points.stop(FLUSH_SECONDS)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _query_v1(self, statement: str) -> Any:
        assert self._session is not None
        v1 = self.settings.v1
        params = {"q": statement}
        if v1.auth.enable:
            params.update(u=v1.auth.username, p=v1.auth.password)
        async with self._session.post(f"{self.base}/query", params=params) as answer:
            body = await answer.json(content_type=None)
            if answer.status != 200:
                raise WriteRefused(f"HTTP {answer.status}: {body}", answer.status >= 500)
            return body

    async def _provision_v1(self) -> None:
        """Butler's start-up step: create the database and its default retention policy when missing
        (an existing database is left as it is)."""
        v1 = self.settings.v1
        try:
            answer = await self._query_v1("SHOW DATABASES")
            series = (answer.get("results") or [{}])[0].get("series") or [{}]
            names = [row[0] for row in series[0].get("values") or []]
            if v1.dbName in names:
                return
            await self._query_v1(f'CREATE DATABASE "{v1.dbName}"')
            policy = v1.retentionPolicy
            await self._query_v1(f'CREATE RETENTION POLICY "{policy.name}" ON "{v1.dbName}" DURATION '
                                 f"{policy.duration} REPLICATION 1 DEFAULT")
            log.info("InfluxDB: created database %s with retention policy %s (%s)", v1.dbName, policy.name,
                     policy.duration)
        except (aiohttp.ClientError, OSError, TimeoutError, WriteRefused, ValueError) as exc:
            log.error("InfluxDB: could not check or create database %s: %s", v1.dbName, exc)

    # ---------------------------------------------------------------- points in

    def put(self, point: Point) -> None:
        self.points.put(point)

    async def wait_idle(self) -> None:
        await self.points.wait_idle()

    # ---------------------------------------------------------------- writing

    async def _write(self, batch: list[Point]) -> None:
        for points in one_per_series(batch):
            await self._send(points)

    async def _send(self, points: list[Point]) -> None:
        sort_fields = self.settings.version == 1
        lines = [line for line in (encode(point, sort_fields=sort_fields) for point in points) if line]
        if not lines:
            return
        body = "\n".join(lines).encode()
        delay = 0.5
        for attempt in range(1, self.settings.maxAttempts + 1):
            try:
                await self._post(body)
            except WriteRefused as exc:
                if not exc.retryable or attempt == self.settings.maxAttempts:
                    self.points.drop("refused" if not exc.retryable else "unavailable",
                                     f"InfluxDB v{self.settings.version} write error: {exc}", len(lines))
                    return
                error: Exception = exc
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                if attempt == self.settings.maxAttempts:
                    self.points.drop("unavailable", f"InfluxDB v{self.settings.version} write error: {exc}",
                                     len(lines))
                    return
                error = exc
            else:
                self._counts["written"] += len(lines)
                return
            self._counts["retried"] += 1
            log.warning("InfluxDB write failed (attempt %d of %d), retrying in %.1fs: %s", attempt,
                        self.settings.maxAttempts, delay, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _post(self, body: bytes) -> None:
        assert self._session is not None
        url, params, headers = self._write_request()
        async with self._session.post(url, params=params, data=body, headers=headers) as answer:
            if answer.status in (200, 204):
                return
            text = (await answer.text())[:300]
            raise WriteRefused(f"HTTP {answer.status}: {text}", answer.status >= 500 or answer.status == 429)
