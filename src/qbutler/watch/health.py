"""qbutler's own health: liveness (the process answers) and readiness, per component.

Readiness lists each component that is in use with its state; the answer is 503 when any of
them is unhealthy, naming it. Probes of other systems (QRS, the Engine port, the KV store) are
short, single attempts, and their results are reused for `cacheSeconds` so that a busy probe
does not load Sense.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from qbutler.kv.store import internal_namespace

OK = "ok"
UNHEALTHY = "unhealthy"
PROBE_TIMEOUT = 3.0
CACHE_SECONDS = 2.0

LIVENESS = {"statusCode": 200, "status": "ok"}


def _result(healthy: bool, **details: Any) -> dict[str, Any]:
    return {"status": OK if healthy else UNHEALTHY, **details}


class Readiness:
    """Checks the components of a running `qbutler.service.Service` (passed in, read only)."""

    def __init__(self, service: Any):
        self.service = service
        self.settings = service.config.Butler.qbutler.readiness
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = asyncio.Lock()

    def _uses_qrs(self) -> bool:
        butler = self.service.config.Butler
        licenses = butler.qlikSenseLicense
        return any((butler.serviceMonitor.enable, licenses.serverLicenseMonitor.enable,
                    licenses.licenseMonitor.enable, licenses.licenseRelease.enable,
                    butler.udpServerConfig.enable, butler.scheduler.enable))

    async def _cached(self, name: str, probe: Any) -> dict[str, Any]:
        now = time.monotonic()
        hit = self._cache.get(name)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        try:
            await probe()
            result = _result(True)
        except Exception as exc:
            result = _result(False, error=f"{type(exc).__name__}: {exc}" if not str(exc).startswith("QRS")
                             else str(exc))
        self._cache[name] = (time.monotonic(), result)
        return result

    async def _kv(self) -> None:
        await asyncio.wait_for(self.service.kv.get(internal_namespace("health"), "probe"), PROBE_TIMEOUT)

    async def _engine(self) -> None:
        engine = self.service.config.Butler.configEngine
        _, writer = await asyncio.wait_for(asyncio.open_connection(engine.host, engine.port), PROBE_TIMEOUT)
        writer.close()

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """(ready, report): the report names every component and its state."""
        async with self._lock:
            return await self._check()

    async def _check(self) -> tuple[bool, dict[str, Any]]:
        service = self.service
        butler = service.config.Butler
        now = time.time()
        components: dict[str, dict[str, Any]] = {}
        if service.http is not None:
            components["rest"] = _result(True, port=service.http.port)
        alerts = service.alerts
        if alerts.listener is not None:
            components["udp"] = _result(alerts.listener.running, port=butler.udpServerConfig.portTaskFailure)
        probes = [("kv", self._kv)]
        if self._uses_qrs():
            probes.append(("qrs", lambda: service.qrs.probe(PROBE_TIMEOUT)))
        if butler.appSnapshots.enable:
            probes.append(("engine", self._engine))
        results = await asyncio.gather(*(self._cached(name, probe) for name, probe in probes))
        components.update({name: result for (name, _), result in zip(probes, results, strict=True)})
        deliverer = alerts.deliverer
        age = deliverer.oldest_age()
        components["outbox"] = _result(age <= self.settings.maxOutboxAgeSeconds, depth=deliverer.pending,
                                       oldestPendingSeconds=round(age, 1))
        if service.mqtt is not None:
            components["mqtt"] = _result(service.mqtt.connected, broker=f"{butler.mqttConfig.brokerHost}:"
                                                                        f"{butler.mqttConfig.brokerPort}")
        if service.scheduler is not None:
            components["scheduler"] = _result(service.scheduler.running)
        for monitor in service.watch.monitors:
            components[f"watch.{monitor.name}"] = monitor.health(self.settings.monitorStaleIntervals, now)
        unhealthy = [name for name, result in components.items() if result["status"] != OK]
        report = {"status": OK if not unhealthy else UNHEALTHY, "unhealthy": unhealthy, "components": components}
        return not unhealthy, report
