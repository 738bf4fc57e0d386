"""Prometheus metrics: counters, gauges and histograms, written in the text exposition format 0.0.4.

qbutler writes the format itself rather than through prometheus-client: an observation here is a
dict update with no lock (everything runs on the event loop), which keeps the REST hot path within
its budget (docs/performance.md). Label sets are bounded: routes are templates, task types,
outcomes, channels and triggers are short fixed lists, and KV namespaces are capped.

Counts other components already keep (UDP drops, QRS calls, the outbox) are read at scrape time
by collectors, so they cost nothing per event.
"""

from __future__ import annotations

import bisect
import collections
import inspect
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOW_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# KV namespaces beyond this many (the largest are kept) are summed under namespace="_other".
MAX_NAMESPACES = 50
TASK_TYPES = {0: "reload", 1: "external_program", 2: "user_sync", 3: "distribute", 4: "preload"}

Labels = tuple[str, ...]
# Access-license usage (QRS accesstypeoverview key) -> gauge name, help, scale; labelled by type.
# Analyzer capacity comes in minutes and is exposed in seconds, Prometheus' base unit.
ACCESS_LICENSE_GAUGES = {
    "total": ("qbutler_sense_access_licenses_limit", "Allocations the license allows, by access type.", 1),
    "allocated": ("qbutler_sense_access_licenses_allocated", "Allocations made, by access type.", 1),
    "used": ("qbutler_sense_access_licenses_used", "Allocations in use, by access type.", 1),
    "available": ("qbutler_sense_access_licenses_available", "Allocations still free, by access type.", 1),
    "quarantined": ("qbutler_sense_access_licenses_quarantined", "Allocations in quarantine, by access type.", 1),
    "excess": ("qbutler_sense_access_licenses_excess", "Allocations beyond the license, by access type.", 1),
    "allocatedMinutes": ("qbutler_sense_access_capacity_allocated_seconds",
                         "Analyzer capacity allocated this month.", 60),
    "usedMinutes": ("qbutler_sense_access_capacity_used_seconds", "Analyzer capacity used this month.", 60),
    "unavailableMinutes": ("qbutler_sense_access_capacity_unavailable_seconds",
                           "Analyzer capacity that cannot be allocated.", 60),
    "allocatedTokens": ("qbutler_sense_access_tokens_allocated", "Tokens allocated, by access type.", 1),
    "usedTokens": ("qbutler_sense_access_tokens_used", "Tokens used, by access type.", 1),
    "unavailableTokens": ("qbutler_sense_access_tokens_unavailable", "Tokens that cannot be allocated, by access "
                                                                     "type.", 1),
    "quarantinedTokens": ("qbutler_sense_access_tokens_quarantined", "Tokens in quarantine, by access type.", 1),
    "tokenCost": ("qbutler_sense_access_token_cost", "Tokens one allocation costs, by access type.", 1),
}
# The key-value REST routes, as the operation each one is.
KV_OPERATIONS = {
    ("GET", "/v4/keyvaluesnamespaces"): "list_namespaces",
    ("GET", "/v4/keyvalues/{namespace}"): "get",
    ("HEAD", "/v4/keyvalues/{namespace}"): "get",
    ("GET", "/v4/keyvalues/{namespace}/keyexists"): "exists",
    ("POST", "/v4/keyvalues/{namespace}"): "set",
    ("DELETE", "/v4/keyvalues/{namespace}/{key}"): "delete",
    ("DELETE", "/v4/keyvalues/{namespace}"): "delete_namespace",
    ("GET", "/v4/keylist/{namespace}"): "list_keys",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))


class _Family:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()):
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)

    def _label_text(self, values: Labels, extra: str = "") -> str:
        pairs = [f'{name}="{_escape(value)}"' for name, value in zip(self.label_names, values, strict=True)]
        if extra:
            pairs.append(extra)
        return "{" + ",".join(pairs) + "}" if pairs else ""

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class Counter(_Family):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()):
        super().__init__(name, help_text, labels)
        # One mutable cell per label set, so a hot path can keep the cell and add to it directly.
        self.values: dict[Labels, list[float]] = {}
        if not self.label_names:
            # A series without labels exists from the start (at 0), as Prometheus recommends.
            self.values[()] = [0.0]

    def cell(self, labels: Labels) -> list[float]:
        found = self.values.get(labels)
        if found is None:
            found = self.values[labels] = [0.0]
        return found

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self.cell(labels)[0] += amount

    def set_total(self, labels: Labels, total: float) -> None:
        """For collectors: the running total some component keeps itself."""
        self.cell(labels)[0] = float(total)

    def value(self, *labels: str) -> float:
        found = self.values.get(labels)
        return found[0] if found else 0.0

    def lines(self) -> list[str]:
        return [f"{self.name}{self._label_text(labels)} {_number(cell[0])}"
                for labels, cell in sorted(self.values.items())]


class Gauge(Counter):
    kind = "gauge"

    def set(self, *labels: str, value: float) -> None:
        self.cell(labels)[0] = float(value)


class Histogram(_Family):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = (),
                 buckets: tuple[float, ...] = LATENCY_BUCKETS):
        super().__init__(name, help_text, labels)
        self.buckets = buckets
        # Per label set: counts per bucket (not cumulative; the last slot is +Inf), sum.
        self.values: dict[Labels, tuple[list[int], list[float]]] = {}

    def series(self, labels: Labels) -> tuple[list[int], list[float]]:
        found = self.values.get(labels)
        if found is None:
            found = self.values[labels] = ([0] * (len(self.buckets) + 1), [0.0])
        return found

    def observe(self, *labels: str, value: float) -> None:
        counts, total = self.series(labels)
        counts[bisect.bisect_left(self.buckets, value)] += 1
        total[0] += value

    def count(self, *labels: str) -> int:
        series = self.values.get(labels)
        return sum(series[0]) if series else 0

    def lines(self) -> list[str]:
        out = []
        for labels, (counts, total) in sorted(self.values.items()):
            running = 0
            for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
                running += count
                bound_label = 'le="' + _number(bound) + '"'
                out.append(f"{self.name}_bucket{self._label_text(labels, bound_label)} {running}")
            out.append(f"{self.name}_sum{self._label_text(labels)} {_number(total[0])}")
            out.append(f"{self.name}_count{self._label_text(labels)} {running}")
        return out


Collector = Callable[[], Awaitable[None] | None]


class Registry:
    def __init__(self) -> None:
        self.families: list[_Family] = []
        self.collectors: list[Collector] = []

    def counter(self, name: str, help_text: str, labels: Iterable[str] = ()) -> Counter:
        return self._add(Counter(name, help_text, labels))

    def gauge(self, name: str, help_text: str, labels: Iterable[str] = ()) -> Gauge:
        return self._add(Gauge(name, help_text, labels))

    def histogram(self, name: str, help_text: str, labels: Iterable[str] = (),
                  buckets: tuple[float, ...] = LATENCY_BUCKETS) -> Histogram:
        return self._add(Histogram(name, help_text, labels, buckets))

    def _add(self, family: Any) -> Any:
        self.families.append(family)
        return family

    async def render(self) -> bytes:
        for collect in self.collectors:
            result = collect()
            if inspect.isawaitable(result):
                await result
        lines: list[str] = []
        for family in self.families:
            lines.extend(family.header())
            lines.extend(family.lines())
        return ("\n".join(lines) + "\n").encode()


def process_memory() -> tuple[float, float] | None:
    """Resident and virtual bytes, where the platform tells (Linux /proc)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            virtual, resident = (int(x) for x in statm.read().split()[:2])
    except (OSError, ValueError):
        return None
    page = os.sysconf("SC_PAGE_SIZE")
    return resident * page, virtual * page


class Metrics(Registry):
    """qbutler's metric families; the `on_*` methods are the observers the service wires up."""

    def __init__(self, version: str) -> None:
        super().__init__()
        self.started = time.time()
        self._request_cells: dict[tuple[str, str, int], tuple[Any, ...]] = {}
        self.http_requests = self.counter("qbutler_http_requests_total", "REST requests by route template and status.",
                                          ("method", "route", "status"))
        self.http_seconds = self.histogram("qbutler_http_request_duration_seconds",
                                           "Time to answer a REST request.", ("method", "route"))
        self.udp_received = self.counter("qbutler_udp_datagrams_received_total", "UDP datagrams received.")
        self.udp_processed = self.counter("qbutler_udp_datagrams_processed_total",
                                          "Task-event datagrams processed, by outcome (ok, error).", ("outcome",))
        self.udp_dropped = self.counter("qbutler_udp_datagrams_dropped_total",
                                        "UDP datagrams dropped, by reason.", ("reason",))
        self.udp_queue = self.gauge("qbutler_udp_queue_events", "Task events waiting for a worker.")
        self.task_events = self.counter("qbutler_task_events_total", "Task events processed, by task type and outcome.",
                                        ("task_type", "outcome"))
        self.deliveries = self.counter("qbutler_alert_deliveries_total",
                                       "Alert messages by channel and final outcome (delivered, failed, rate_limited).",
                                       ("channel", "outcome"))
        self.delivery_seconds = self.histogram("qbutler_alert_delivery_seconds",
                                               "From an alert message's creation to its delivery.", ("channel",),
                                               SLOW_BUCKETS)
        self.retries = self.counter("qbutler_alert_retries_total", "Alert delivery attempts that will be retried.",
                                    ("channel",))
        self.outbox = self.gauge("qbutler_alert_outbox_messages", "Alert messages waiting in the outbox.")
        self.outbox_age = self.gauge("qbutler_alert_outbox_oldest_age_seconds",
                                     "Age of the oldest message in the outbox (0 when empty).")
        self.firings = self.counter("qbutler_scheduler_occurrences_total",
                                    "Schedule occurrences by outcome (started, failed, skipped-…, other-instance).",
                                    ("outcome",))
        self.lateness = self.histogram("qbutler_scheduler_lateness_seconds",
                                       "From a schedule occurrence's due time to its task-start call.", (),
                                       SLOW_BUCKETS)
        self.starts = self.counter("qbutler_task_starts_total", "Task starts qbutler made, by trigger and outcome.",
                                   ("trigger", "outcome"))
        self.kv_operations = self.counter("qbutler_kv_operations_total", "Key-value REST operations by outcome.",
                                          ("operation", "outcome"))
        self.kv_keys = self.gauge("qbutler_kv_keys", f"Live keys per namespace (the {MAX_NAMESPACES} largest; the "
                                                     "rest as _other).", ("namespace",))
        self.qrs_calls = self.counter("qbutler_qrs_requests_total", "QRS calls by method and outcome.",
                                      ("method", "outcome"))
        self.qrs_retries = self.counter("qbutler_qrs_retries_total", "QRS calls retried.")
        self.engine_calls = self.counter("qbutler_engine_calls_total", "Engine JSON-RPC calls by outcome.",
                                         ("outcome",))
        self.engine_connections = self.counter("qbutler_engine_connections_total",
                                               "Engine websocket connections by outcome.", ("outcome",))
        self.history_rows = self.counter("qbutler_history_rows_written_total", "History rows written, by kind.",
                                         ("kind",))
        self.history_dropped = self.counter("qbutler_history_rows_dropped_total",
                                            "History rows dropped, by reason (alerts are never dropped).", ("reason",))
        self.history_queue = self.gauge("qbutler_history_queue_rows", "History rows waiting for the database.")
        self.influx_points = self.counter("qbutler_influxdb_points_total", "InfluxDB points by outcome.",
                                          ("outcome",))
        # The site watch (read from its monitors at scrape time; empty when a monitor is off).
        self.service_up = self.gauge("qbutler_sense_service_up",
                                     "1 when the service runs, 0 otherwise, at the service monitor's last poll.",
                                     ("host", "service"))
        self.service_state = self.gauge("qbutler_sense_service_state",
                                        "1 for the service's current state, 0 for the other states (Qlik's state "
                                        "names through QRS; RUNNING/STOPPED for Windows services).",
                                        ("host", "service", "state"))
        self.service_since = self.gauge("qbutler_sense_service_state_since_timestamp_seconds",
                                        "When the service entered its current state (as far as qbutler saw).",
                                        ("host", "service"))
        self.service_changes = self.counter("qbutler_sense_service_changes_total",
                                            "Service state changes announced.")
        self.license_expired = self.gauge("qbutler_sense_server_license_expired",
                                          "1 when the server license has expired.")
        self.license_expiry = self.gauge("qbutler_sense_server_license_expiry_timestamp_seconds",
                                         "When the server license expires (its Valid To date).")
        self.access_licenses = {key: self.gauge(name, help_text, ("type",))
                                for key, (name, help_text, _) in ACCESS_LICENSE_GAUGES.items()}
        self.tokens_available = self.gauge("qbutler_sense_tokens_available", "Tokens not allocated (token "
                                                                              "licensing).")
        self.tokens_limit = self.gauge("qbutler_sense_tokens_limit", "Tokens the license holds (token licensing).")
        self.licenses_released = self.counter("qbutler_sense_licenses_released_total",
                                              "Access allocations released, by type.", ("type",))
        self.release_candidates = self.gauge("qbutler_sense_license_release_candidates",
                                             "Allocations the last dry run of the license release would release.",
                                             ("type",))
        self.sense_version = self.gauge("qbutler_sense_version_info", "The Sense version the version monitor read.",
                                        ("version", "release_label", "product_name", "deployment_type"))
        self.watch_runs = self.counter("qbutler_watch_runs_total", "Runs of each site-watch monitor, by outcome.",
                                       ("monitor", "outcome"))
        self.watch_success = self.gauge("qbutler_watch_last_success_timestamp_seconds",
                                        "When each site-watch monitor last succeeded.", ("monitor",))
        self.build = self.gauge("qbutler_build_info", "qbutler's version.", ("version", "python"))
        self.build.set(version, sys.version.split()[0], value=1)
        self.cpu = self.counter("process_cpu_seconds_total", "User and system CPU time spent, in seconds.")
        self.resident = self.gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
        self.virtual = self.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.")
        self.start_time = self.gauge("process_start_time_seconds", "Start time of the process since the epoch.")
        self.start_time.set(value=self.started)
        self.collectors.append(self._collect_process)

    def _collect_process(self) -> None:
        times = os.times()
        self.cpu.set_total((), times.user + times.system)
        memory = process_memory()
        if memory is not None:
            self.resident.set(value=memory[0])
            self.virtual.set(value=memory[1])

    # ---------------------------------------------------------------- observers

    def on_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # On every REST request: one dict lookup finds the cells this request adds to.
        cells = self._request_cells.get((method, route, status))
        if cells is None:
            cells = self._request_cells[(method, route, status)] = self._cells_for(method, route, status)
        count, (buckets, total), kv = cells
        count[0] += 1
        buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        total[0] += seconds
        if kv is not None:
            kv[0] += 1

    def _cells_for(self, method: str, route: str, status: int) -> tuple[Any, ...]:
        operation = KV_OPERATIONS.get((method, route))
        kv = None if operation is None else self.kv_operations.cell((operation, "ok" if status < 400 else "error"))
        return self.http_requests.cell((method, route, str(status))), self.http_seconds.series((method, route)), kv

    def on_event(self, enriched: Any, received_at: float) -> None:
        self.task_events.inc(TASK_TYPES.get(enriched.task_type, "other"), enriched.event.outcome)

    def on_delivery(self, message: Any, outcome: str, error: str | None) -> None:
        if outcome == "retried":
            self.retries.inc(message.channel)
            return
        self.deliveries.inc(message.channel, outcome)
        if outcome == "delivered":
            self.delivery_seconds.observe(message.channel, value=max(0.0, time.time() - message.created))

    def on_start(self, task_id: str, task_name: str, trigger: Any, error: str | None) -> None:
        self.starts.inc(trigger.kind, "started" if error is None else "failed")

    def on_firing(self, firing: Any) -> None:
        self.firings.inc(firing.outcome)
        if firing.sent_at is not None:
            self.lateness.observe(value=max(0.0, firing.sent_at - firing.occurrence))


def watch(metrics: Metrics, service: Any) -> None:
    """Wire the metrics to one running service: observers on its components, collectors over its counts."""
    service.tasks.observers.append(metrics.on_start)
    alerts = service.alerts
    alerts.event_observers.append(metrics.on_event)
    alerts.deliverer.observers.append(metrics.on_delivery)
    if service.scheduler is not None:
        service.scheduler.observers.append(metrics.on_firing)

    def collect_components() -> None:
        listener = alerts.listener
        if listener is not None:
            metrics.udp_received.set_total((), listener.received)
            metrics.udp_processed.set_total(("ok",), listener.processed)
            metrics.udp_processed.set_total(("error",), listener.failed)
            for reason, count in listener.drops.items():
                metrics.udp_dropped.set_total((reason,), count)
            metrics.udp_queue.set(value=listener.queue.qsize())
        metrics.outbox.set(value=alerts.deliverer.pending)
        metrics.outbox_age.set(value=alerts.deliverer.oldest_age())
        for (method, outcome), count in service.qrs.calls.items():
            metrics.qrs_calls.set_total((method, outcome), count)
        metrics.qrs_retries.set_total((), service.qrs.retried)
        for outcome, count in service.engine.calls.items():
            metrics.engine_calls.set_total((outcome,), count)
        for outcome, count in service.engine.connections.items():
            metrics.engine_connections.set_total((outcome,), count)
        history = getattr(service, "history", None)
        if history is not None:
            recorder = history.recorder
            for kind, count in recorder.written.items():
                metrics.history_rows.set_total((kind,), count)
            for reason, count in recorder.dropped.items():
                metrics.history_dropped.set_total((reason,), count)
            metrics.history_queue.set(value=recorder.queue.qsize())
        influx = getattr(service, "influx", None)
        if influx is not None:
            for outcome, count in influx.counts.items():
                metrics.influx_points.set_total((outcome,), count)

    async def collect_kv() -> None:
        counts = [(namespace, await service.kv.count(namespace)) for namespace in await service.kv.namespaces()]
        counts.sort(key=lambda item: -item[1])
        metrics.kv_keys.values.clear()
        for namespace, count in counts[:MAX_NAMESPACES]:
            metrics.kv_keys.set(namespace, value=count)
        if len(counts) > MAX_NAMESPACES:
            metrics.kv_keys.set("_other", value=sum(count for _, count in counts[MAX_NAMESPACES:]))

    metrics.collectors.extend((collect_components, collect_kv, lambda: collect_watch(metrics, service.watch)))


def collect_watch(metrics: Metrics, watch: Any) -> None:
    """The site watch's plain state as gauges; a monitor that is off or has not run leaves its
    families empty."""
    for family in (metrics.service_up, metrics.service_state, metrics.service_since, metrics.license_expired,
                   metrics.license_expiry, *metrics.access_licenses.values(), metrics.tokens_available,
                   metrics.tokens_limit, metrics.release_candidates, metrics.sense_version):
        family.values.clear()
    changes = 0
    for monitor in (watch.services, watch.windows_services):
        if monitor is None:
            continue
        changes += monitor.changes
        for seen in monitor.services.values():
            where = (seen["host"], seen["serviceName"])
            current = seen["qlikState"] or seen["status"]
            metrics.service_up.set(*where, value=seen["status"] == "RUNNING")
            metrics.service_since.set(*where, value=seen["since"])
            for state in dict.fromkeys((*monitor.states, current)):
                metrics.service_state.set(*where, state, value=state == current)
    metrics.service_changes.set_total((), changes)
    status = watch.server_license.status if watch.server_license is not None else {}
    if status:
        metrics.license_expired.set(value=bool(status["licenseExpired"]))
        if status.get("expiresAt") is not None:
            metrics.license_expiry.set(value=status["expiresAt"])
    if watch.access_licenses is not None:
        for license_type, usage in watch.access_licenses.usage.items():
            for key, value in usage.items():
                if key in ACCESS_LICENSE_GAUGES and isinstance(value, int | float):
                    metrics.access_licenses[key].set(license_type, value=value * ACCESS_LICENSE_GAUGES[key][2])
        overview = watch.access_licenses.overview
        if overview.get("tokensEnabled") is True:
            metrics.tokens_available.set(value=overview.get("availableTokens") or 0)
            metrics.tokens_limit.set(value=overview.get("totalTokens") or 0)
    if watch.release is not None:
        for kind, count in watch.release.released.items():
            metrics.licenses_released.set_total((kind,), count)
        if watch.release.last_report.get("dryRun"):
            report = watch.release.last_report
            candidates = collections.Counter(candidate["kind"] for candidate in report["wouldRelease"])
            for kind in watch.release.released:
                metrics.release_candidates.set(kind, value=candidates[kind])
    info = watch.version.info if watch.version is not None else {}
    if info:
        metrics.sense_version.set(*(str(info.get(key) or "") for key in (
            "version", "releaseLabel", "productName", "deploymentType")), value=1)
    for monitor in watch.monitors:
        metrics.watch_runs.set_total((monitor.name, "ok"), monitor.runs - monitor.failures)
        metrics.watch_runs.set_total((monitor.name, "failed"), monitor.failures)
        if monitor.last_success is not None:
            metrics.watch_success.set(monitor.name, value=monitor.last_success)
