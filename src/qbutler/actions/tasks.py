"""Starting Sense tasks by id, tag or custom property: the start-task filter, KV side effects, and
(beyond Butler) waiting for the executions to finish.

One code path serves REST (`/v4/reloadtask/{taskId}/start`), MQTT (`taskStartTopic`) and anything
else that starts a task with Butler's rules. A call runs in phases so that it is applied whole or
not at all: check the request, classify ids and look up tags and custom properties (QRS reads
only), write the KV pairs, then start every matched task exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from qbutler.activity import ActivityFeed
from qbutler.config import Config
from qbutler.jsnumbers import js_number_text
from qbutler.kv.store import ReservedNamespace, Store, is_internal
from qbutler.sense.qrs import QrsClient, QrsError

log = logging.getLogger("qbutler.tasks")

# Butler's rule: lower-case only, version digit 0-5, variant 8/9/a/b (REST reference §7.2).
TASK_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-5][0-9a-f]{3}-[089ab][0-9a-f]{3}-[0-9a-f]{12}$")
ITEM_TYPES = ("keyvaluestore", "starttaskid", "starttasktag", "starttaskcustomproperty")
NULL_GUID = "00000000-0000-0000-0000-000000000000"

# QRS task execution status (qlik-sense-apis §1.6); Butler polls while a status is intermediate.
STATUS_NAMES = ("NeverStarted", "Triggered", "Started", "Queued", "AbortInitiated", "Aborting", "Aborted",
                "FinishedSuccess", "FinishedFail", "Skipped", "Retry", "Error", "Reset",
                "DistributionQueue", "DistributionRunning")
INTERMEDIATE = {0, 1, 2, 3, 4, 5, 10, 13, 14}


class TaskStartError(Exception):
    """A task could not be started or looked up (QRS unreachable, refused, or failed)."""


class KvLimitExceeded(Exception):
    """The request's KV items would take a namespace past Butler.keyValueStore.maxKeysPerNamespace."""

    def __init__(self, namespace: str, limit: int, held: int, new_keys: int):
        super().__init__(f"Namespace {namespace} holds {held} keys; the {new_keys} new key(s) of this request would "
                         f"exceed its maximum of {limit} keys (Butler.keyValueStore.maxKeysPerNamespace); "
                         "nothing was applied")


class InvalidStartRequest(Exception):
    """The request itself is wrong; nothing of it has been applied."""


def quote_filter_value(value: str) -> str:
    """A string literal in a QRS filter: single quotes, embedded quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def status_name(code: int) -> str:
    return STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else str(code)


@dataclass(frozen=True)
class Trigger:
    """Who asked for a start: `kind` is rest, mqtt, schedule, app_reload or dashboard; `detail` says
    which (client address, topic, schedule, app, the dashboard user)."""

    kind: str
    detail: str = ""


# Told of every start attempt: task id, task name (may be empty), trigger, error (None: started).
StartObserver = Callable[[str, str, Trigger, str | None], None]


@dataclass
class Execution:
    """What `?wait=true` adds to a started task: how its run ended (or where it was at the deadline)."""

    execution_id: str | None
    status: str
    duration: int | None
    finished: bool

    def to_wire(self) -> dict[str, Any]:
        return {"executionId": self.execution_id, "status": self.status, "duration": self.duration,
                "finished": self.finished}


@dataclass
class MatchedTask:
    task_id: str
    task_name: str
    execution: Execution | None = None
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"taskId": self.task_id, "taskName": self.task_name}
        if self.execution is not None:
            out.update(self.execution.to_wire())
        if self.error is not None:
            out["error"] = self.error
        return out


def _id_entry(task_id: Any) -> dict[str, Any]:
    # Butler lists an item whose taskId is missing as `{}`.
    return {} if task_id is None else {"taskId": task_id}


@dataclass
class StartReport:
    """Butler's seven arrays (REST reference §7.5)."""

    started: list[MatchedTask] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    denied: list[dict[str, Any]] = field(default_factory=list)
    by_tag: list[MatchedTask] = field(default_factory=list)
    tag_denied: list[dict[str, Any]] = field(default_factory=list)
    by_cp: list[MatchedTask] = field(default_factory=list)
    cp_denied: list[dict[str, Any]] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {
            "tasksId": {
                "started": [t.to_wire() for t in self.started],
                "invalid": self.invalid,
                "denied": self.denied,
            },
            "tasksTag": [t.to_wire() for t in self.by_tag],
            "tasksTagDenied": self.tag_denied,
            "tasksCP": [t.to_wire() for t in self.by_cp],
            "tasksCPDenied": self.cp_denied,
        }

    def matched(self) -> list[MatchedTask]:
        return [*self.started, *self.by_tag, *self.by_cp]


@dataclass
class KvWrite:
    namespace: str
    key: str
    value: str
    ttl_ms: int | None


def kv_text(value: Any) -> str:
    """A KV value as Butler reads it back: strings as-is, numbers and booleans as JavaScript prints them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number_text(value)
    return orjson.dumps(value).decode()


def parse_ttl(raw: Any) -> int | None:
    """Butler parses the TTL as an integer of milliseconds; empty, zero or non-numeric means no expiry."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        ttl = int(raw)
    else:
        match = re.match(r"^\s*([+-]?\d+)", str(raw))
        if match is None:
            return None
        ttl = int(match.group(1))
    return ttl if ttl > 0 else None


def check_items(items: list[Any]) -> None:
    """Reject what Butler would half-apply or crash on, before anything is done."""
    for index, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type") is None:
            continue  # Butler ignores items without a type
        payload = item.get("payload")
        if payload is None:
            raise InvalidStartRequest(f"body/{index} must have required property 'payload'")
        if not isinstance(payload, dict):
            raise InvalidStartRequest(f"body/{index}/payload must be object")
        kind = item["type"]
        if kind == "starttasktag" and not isinstance(payload.get("tag"), str):
            raise InvalidStartRequest(f"body/{index}/payload must have a string property 'tag'")
        if kind == "starttaskcustomproperty":
            for name in ("customPropertyName", "customPropertyValue"):
                if not isinstance(payload.get(name), str):
                    raise InvalidStartRequest(f"body/{index}/payload must have a string property '{name}'")


class TaskStarter:
    def __init__(self, config: Config, qrs: QrsClient, kv: Store, *, kv_enabled: bool,
                 activity: ActivityFeed | None = None):
        butler = config.Butler
        self.filter = butler.startTaskFilter
        self.wait_settings = butler.startTaskWait
        self.qrs = qrs
        self.kv = kv
        # The same key limit as REST writes (0: none).
        self.kv_limit = butler.keyValueStore.maxKeysPerNamespace or None
        # Butler writes KV pairs from a start call only while the KV endpoints are switched on.
        self.kv_enabled = kv_enabled
        self.activity = activity
        # History and metrics listen here; called synchronously, so they must not block.
        self.observers: list[StartObserver] = []

    def _notify(self, task_id: str, task_name: str, trigger: Trigger, error: str | None) -> None:
        for observer in self.observers:
            observer(task_id, task_name, trigger, error)

    # ---------------------------------------------------------------- single starts

    async def start_task(self, task_id: str, trigger: Trigger | None = None) -> None:
        """One QRS start (POST task/{id}/start, 204); raises TaskStartError saying why it failed.
        With a `trigger`, the observers hear of the attempt."""
        try:
            await self.qrs.post(f"task/{task_id}/start", json={}, expect=(204,))
        except QrsError as exc:
            error = TaskStartError(f"Starting task {task_id} failed: {exc}")
            if trigger is not None:
                self._notify(task_id, "", trigger, str(error))
            raise error from exc
        if trigger is not None:
            self._notify(task_id, "", trigger, None)

    async def _start_and_wait(self, task: MatchedTask, deadline: float, started: Callable[[], None]) -> None:
        """Start through start/synchronous (which names the execution), call `started`, then poll
        the execution's results."""
        try:
            response = await self.qrs.post(f"task/{task.task_id}/start/synchronous", json={}, expect=(200, 201))
        except QrsError as exc:
            raise TaskStartError(f"Starting task {task.task_id} failed: {exc}") from exc
        started()
        session = str((response.json() or {}).get("value") or NULL_GUID)
        if session == NULL_GUID:
            # Sense did not start it: disabled, already running, or no scheduler available.
            task.execution = Execution(None, "NotStarted", None, True)
            return
        task.execution = await self._wait_for(session, deadline)

    async def _wait_for(self, session: str, deadline: float) -> Execution:
        delay = 0.05
        last = Execution(session, status_name(1), None, False)
        while True:
            results = await self.qrs.get("executionresult", {"filter": f"ExecutionId eq {session}"})
            if results:
                # With retries there is one result per attempt (earlier ones stay at Retry); the
                # newest attempt tells the outcome.
                newest = max(results, key=_attempt_order)
                status = int(newest.get("status", 0))
                finished = status not in INTERMEDIATE
                last = Execution(session, status_name(status), newest.get("duration") if finished else None,
                                 finished)
                if finished:
                    return last
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return last
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, self.wait_settings.pollIntervalSeconds)

    async def start_from_message(self, text: str, topic: str = "") -> StartReport:
        """An MQTT start message: the bare task id. Unlike Butler, surrounding whitespace (a trailing
        newline from mosquitto_pub -l) is ignored; any case is accepted, as Butler's MQTT path does."""
        task_id = text.strip().lower()
        return await self.run(task_id if task_id != "-" else "", [], trigger=Trigger("mqtt", topic))

    # ---------------------------------------------------------------- Butler's start call

    async def run(self, path_task_id: str, items: list[Any], *, all_must_exist: bool = False,
                  wait: bool = False, trigger: Trigger = Trigger("rest")) -> StartReport:
        """The whole REST call: `path_task_id` is a task id or '-' (everything is in `items`)."""
        check_items(items)
        report = StartReport()
        kv_writes: list[KvWrite] = []
        id_candidates: list[Any] = [] if path_task_id == "-" else [path_task_id]
        tag_items: list[str] = []
        cp_items: list[tuple[str, str]] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            kind, payload = item.get("type"), item.get("payload")
            if kind == "keyvaluestore":
                write = self._kv_write(payload)
                if write is not None:
                    kv_writes.append(write)
            elif kind == "starttaskid":
                id_candidates.append(payload.get("taskId"))
            elif kind == "starttasktag":
                tag_items.append(payload["tag"])
            elif kind == "starttaskcustomproperty":
                cp_items.append((payload["customPropertyName"], payload["customPropertyValue"]))

        # Phase 1: reads only (KV room, then QRS). A failure here leaves nothing applied.
        await self._check_kv_room(kv_writes)
        try:
            id_tasks = await self._classify_ids(id_candidates, report)
            for tag in tag_items:
                if self.filter.enable and tag not in self.filter.allowTask.tag:
                    report.tag_denied.append({"tag": tag})
                else:
                    _add_unique(report.by_tag, await self._find(f"tags.name eq {quote_filter_value(tag)}"))
            for name, value in cp_items:
                if self.filter.enable and not any(cp.name == name and cp.value == value
                                                  for cp in self.filter.allowTask.customProperty):
                    report.cp_denied.append({"name": name, "value": value})
                else:
                    found = await self._find(f"(customProperties.definition.name eq {quote_filter_value(name)}) "
                                             f"and (customProperties.value eq {quote_filter_value(value)})")
                    _add_unique(report.by_cp, found)
        except QrsError as exc:
            raise TaskStartError(f"Looking up tasks failed: {exc}") from exc

        if all_must_exist and report.invalid:
            # None of the id-based tasks start; the valid ones are reported as denied.
            report.denied.extend({"taskId": t.task_id} for t in id_tasks)
        else:
            report.started.extend(id_tasks)

        # Phase 2: side effects.
        await self._write_kv(kv_writes)
        await self._start_all(report, wait, trigger)
        return report

    def _kv_write(self, payload: dict[str, Any]) -> KvWrite | None:
        namespace, key, value = payload.get("namespace"), payload.get("key"), payload.get("value")
        if not (namespace and key and value):
            log.warning("Start task: skipping KV item without namespace, key or value: %s", payload)
            return None
        if not self.kv_enabled:
            log.warning("Start task: KV item ignored because the key-value store endpoints are disabled")
            return None
        if is_internal(str(namespace)):
            raise ReservedNamespace(str(namespace))
        return KvWrite(str(namespace), str(key), kv_text(value), parse_ttl(payload.get("ttl")))

    async def _check_kv_room(self, writes: list[KvWrite]) -> None:
        """Refuse the request when its new keys do not fit their namespace's key limit."""
        if self.kv_limit is None:
            return
        keys_by_namespace: dict[str, set[str]] = {}
        for write in writes:
            keys_by_namespace.setdefault(write.namespace, set()).add(write.key)
        for namespace, keys in keys_by_namespace.items():
            new_keys = [key for key in keys if await self.kv.get(namespace, key) is None]
            held = await self.kv.count(namespace)
            if new_keys and held + len(new_keys) > self.kv_limit:
                raise KvLimitExceeded(namespace, self.kv_limit, held, len(new_keys))

    async def _write_kv(self, writes: list[KvWrite]) -> None:
        # max_keys again: a concurrent writer may have filled the namespace since the check.
        for write in writes:
            await self.kv.set(write.namespace, write.key, write.value, write.ttl_ms, max_keys=self.kv_limit)

    async def _classify_ids(self, candidates: list[Any], report: StartReport) -> list[MatchedTask]:
        """Syntax, then the filter, then existence (REST reference §7.3), reported in request order;
        returns the existing tasks."""
        def well_formed(task_id: Any) -> bool:
            return isinstance(task_id, str) and TASK_ID.match(task_id) is not None

        def allowed(task_id: str) -> bool:
            return not self.filter.enable or task_id in self.filter.allowTask.taskId

        names = await self._names_of([t for t in candidates if well_formed(t) and allowed(t)])
        existing: list[MatchedTask] = []
        for task_id in candidates:
            if not well_formed(task_id):
                report.invalid.append(_id_entry(task_id))
            elif not allowed(task_id):
                report.denied.append({"taskId": task_id})
            elif task_id in names:
                _add_unique(existing, [MatchedTask(task_id, names[task_id])])
            else:
                report.invalid.append({"taskId": task_id})
        return existing

    async def _names_of(self, task_ids: list[str]) -> dict[str, str]:
        """Which of these ids exist, with their names: one QRS call for all of them."""
        unique = list(dict.fromkeys(task_ids))
        if not unique:
            return {}
        query = " or ".join(f"id eq {task_id}" for task_id in unique)
        return {t["id"]: t["name"] for t in await self.qrs.get("task", {"filter": query})}

    async def _find(self, qrs_filter: str) -> list[MatchedTask]:
        tasks = await self.qrs.get("task/full", {"filter": qrs_filter})
        return [MatchedTask(t["id"], t["name"]) for t in tasks]

    async def _start_all(self, report: StartReport, wait: bool, trigger: Trigger) -> None:
        """Start each matched task once, however many times it was matched."""
        by_id: dict[str, list[MatchedTask]] = {}
        for task in report.matched():
            by_id.setdefault(task.task_id, []).append(task)
        deadline = time.monotonic() + self.wait_settings.maxWaitSeconds

        async def start_one(entries: list[MatchedTask]) -> None:
            first = entries[0]
            announced = False

            def announce() -> None:
                # As soon as Sense took the start, not after a wait: the history gives a run the
                # trigger of a start it already knows of, and a short run's task event arrives
                # before the wait ends.
                nonlocal announced
                announced = True
                self._notify(first.task_id, first.task_name, trigger, None)

            try:
                if wait:
                    await self._start_and_wait(first, deadline, announce)
                else:
                    await self.start_task(first.task_id)
                    announce()
            except (TaskStartError, QrsError) as exc:
                log.error("%s", exc)
                first.error = str(exc)
                if not announced:
                    self._notify(first.task_id, first.task_name, trigger, first.error)
            for other in entries[1:]:
                other.execution, other.error = first.execution, first.error

        await asyncio.gather(*(start_one(entries) for entries in by_id.values()))
        for task_id, entries in by_id.items():
            if entries[0].error is None:
                log.info("Started task %s (%s)", task_id, entries[0].task_name)
                if self.activity is not None:
                    self.activity.publish("task.started", f"Started task {entries[0].task_name}", taskId=task_id)


def _attempt_order(result: dict[str, Any]) -> str:
    """Sort key of an execution result by start; an attempt not started yet (no start time, or
    QRS's null date 1753-01-01) is the newest."""
    start = str(result.get("startTime") or "")
    return "~" if not start or start.startswith("1753") else start


def _add_unique(target: list[MatchedTask], found: list[MatchedTask]) -> None:
    seen = {t.task_id for t in target}
    for task in found:
        if task.task_id not in seen:
            seen.add(task.task_id)
            target.append(task)
