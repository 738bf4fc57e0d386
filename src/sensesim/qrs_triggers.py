"""Writing reload tasks and their triggers through QRS (Qlik's "Reload task: Create/Update").

- `POST reloadtask/create` takes `{task, compositeEvents[], schemaEvents[]}` and answers the
  new full ReloadTask (201);
- `POST reloadtask/update` takes `{task, compositeEvents[], schemaEvents[],
  compositeEventsToDelete[], schemaEventsToDelete[]}`;
- `PUT reloadtask/{id}` updates the task alone; `DELETE reloadtask/{id}` removes it with its
  triggers;
- `POST|PUT|DELETE schemaevent` and `compositeevent` edit one trigger.

A body carrying `modifiedDate` older than the stored entity is a concurrent edit: 409, as the
repository answers.  Every change is validated whole before anything is applied.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .schedules import wall_date, wall_now, zone
from .state import (
    NULL_GUID,
    RULE_TASK_FAIL,
    RULE_TASK_SUCCESSFUL,
    TASK_RELOAD,
    CompositeEvent,
    CompositeRule,
    ExecutionResult,
    Meta,
    SchemaEvent,
    State,
    Task,
    derive_id,
    new_id,
    parse_iso,
    utcnow,
)
from .triggers import Triggers

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INCREMENT_RE = re.compile(r"^\d+ \d+ \d+ \d+$")


class QrsBodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _object(body: Any, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise QrsBodyError(400, f"{where} must be a JSON object")
    return body


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key) or []
    if not isinstance(value, list):
        raise QrsBodyError(400, f"{key} must be an array")
    return value


def _ref_id(value: Any, where: str) -> str | None:
    if value is None:
        return None
    raw = value.get("id") if isinstance(value, dict) else None
    if not isinstance(raw, str) or not _GUID_RE.match(raw):
        raise QrsBodyError(400, f"{where}: a reference needs an id that is a GUID")
    return raw.lower()


def _check_fresh(meta: Meta, body: dict[str, Any], what: str) -> None:
    sent = body.get("modifiedDate")
    if sent is None:
        return
    try:
        stale = parse_iso(str(sent)) < meta.modified.replace(microsecond=meta.modified.microsecond // 1000 * 1000)
    except ValueError:
        raise QrsBodyError(400, f"{what}: modifiedDate is not a date") from None
    if stale:
        raise QrsBodyError(409, f"{what} was modified by someone else since {sent}")


def _date(value: Any, where: str, default: datetime | None) -> datetime | None:
    if value is None:
        return default
    try:
        when = parse_iso(str(value))
    except ValueError:
        raise QrsBodyError(400, f"{where} is not a date: {value!r}") from None
    return None if when.year >= 9999 else wall_date(when)


def new_reload_task(state: State, app_id: str, name: str, user: str, task_id: str | None = None) -> Task:
    """A never-run reload task of `app_id` with the repository's defaults, added to `state`."""
    tid = task_id or new_id()
    now = utcnow()
    initial = ExecutionResult(
        id=derive_id("initialresult", tid),
        task_id=tid,
        execution_id=NULL_GUID,
        app_id=app_id,
        executing_node_id=NULL_GUID,
        executing_node_name="",
        meta=Meta(created=now, modified=now),
    )
    app = state.apps[app_id]
    task = Task(
        id=tid,
        name=name,
        task_type=TASK_RELOAD,
        app=app,
        enabled=True,
        tags=[],
        custom_properties=[],
        scenario="fail" if app.engine.get("reload") == "fail" else "success",
        duration_ms=None,
        on_success=[],
        on_failure=[],
        max_retries=0,
        task_session_timeout=1440,
        is_manually_triggered=False,
        operational_id=derive_id("operational", tid),
        last_result=initial,
        meta=Meta(created=now, modified=now, modified_by=user),
    )
    state.tasks[tid] = task
    state.execution_results[initial.id] = initial
    return task


def _common(body: dict[str, Any], existing: Any, eid: str, owner: str, user: str, what: str) -> dict[str, Any]:
    """The fields schema and composite events share; an update keeps the run-time counters."""
    name = body.get("name", existing.name if existing else "")
    if not isinstance(name, str) or not name.strip():
        raise QrsBodyError(400, f"the {what} needs a name")
    now = utcnow()
    return {
        "id": eid,
        "name": name,
        "task_id": owner,
        "enabled": bool(body.get("enabled", existing.enabled if existing else True)),
        "operational_id": existing.operational_id if existing else derive_id("operational", eid),
        "meta": Meta(created=existing.meta.created if existing else now, modified=now, modified_by=user),
        "last_trigger": existing.last_trigger if existing else None,
        "times_triggered": existing.times_triggered if existing else 0,
    }


class TriggerWriter:
    """Applies validated QRS bodies to the repository and reschedules the triggers."""

    def __init__(self, state: State, triggers: Triggers) -> None:
        self.state = state
        self.triggers = triggers

    # ---- tasks

    def _task_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for key, attr, kind in (
            ("name", "name", str),
            ("enabled", "enabled", bool),
            ("maxRetries", "max_retries", int),
            ("taskSessionTimeout", "task_session_timeout", int),
            ("isManuallyTriggered", "is_manually_triggered", bool),
        ):
            if key in body:
                value = body[key]
                if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                    raise QrsBodyError(400, f"task.{key} must be a {kind.__name__}")
                fields[attr] = value
        if "name" in fields and not fields["name"].strip():
            raise QrsBodyError(400, "task.name must not be empty")
        if "tags" in body:
            tag_ids = [_ref_id(t, "task.tags") for t in _list(body, "tags")]
            unknown = [t for t in tag_ids if t not in self.state.tags]
            if unknown:
                raise QrsBodyError(400, f"task.tags: unknown tag {unknown[0]}")
            fields["tags"] = [self.state.tags[t] for t in tag_ids if t is not None]
        return fields

    def _app_of(self, body: dict[str, Any]) -> str:
        app_id = _ref_id(body.get("app"), "task.app")
        if app_id is None:
            raise QrsBodyError(400, "task.app is required for a reload task")
        if app_id not in self.state.apps:
            raise QrsBodyError(404, f"App with ID {app_id} not found")
        return app_id

    def create(self, body: Any, user: str) -> Task:
        bundle = _object(body, "Body")
        task_body = _object(bundle.get("task"), "task")
        app_id = self._app_of(task_body)
        fields = self._task_fields(task_body)
        if not fields.get("name"):
            raise QrsBodyError(400, "task.name is required")
        # Validate every trigger against a placeholder id before creating anything.
        placeholder = new_id()
        self._events(bundle, placeholder, user, dry_run=True)
        task = new_reload_task(self.state, app_id, fields.pop("name"), user, placeholder)
        for attr, value in fields.items():
            setattr(task, attr, value)
        self._events(bundle, task.id, user, dry_run=False)
        return task

    def update_task(self, task: Task, body: Any, user: str) -> Task:
        task_body = _object(body, "Body")
        _check_fresh(task.meta, task_body, f"ReloadTask {task.id}")
        if "app" in task_body and task_body["app"] is not None:
            app_id = self._app_of(task_body)
        else:
            app_id = task.app.id if task.app else None
        fields = self._task_fields(task_body)
        if app_id is not None:
            task.app = self.state.apps[app_id]
        for attr, value in fields.items():
            setattr(task, attr, value)
        task.meta.modified = utcnow()
        task.meta.modified_by = user
        return task

    def update_bundle(self, body: Any, user: str) -> Task:
        bundle = _object(body, "Body")
        task_body = _object(bundle.get("task"), "task")
        task_id = _ref_id(task_body, "task")
        task = self.state.tasks.get(task_id or "")
        if task is None:
            raise QrsBodyError(404, f"ReloadTask with ID {task_id} not found")
        _check_fresh(task.meta, task_body, f"ReloadTask {task.id}")
        deletes = {
            "compositeEventsToDelete": self.state.composite_events,
            "schemaEventsToDelete": self.state.schema_events,
        }
        doomed: list[tuple[dict[str, Any], str]] = []
        for key, store in deletes.items():
            for raw in _list(bundle, key):
                if not isinstance(raw, str) or raw.lower() not in store:
                    raise QrsBodyError(404, f"{key}: no event {raw}")
                doomed.append((store, raw.lower()))  # type: ignore[arg-type]
        self._task_fields(task_body)  # validate before applying anything
        self._events(bundle, task.id, user, dry_run=True)
        self.update_task(task, {k: v for k, v in task_body.items() if k != "modifiedDate"}, user)
        for store, eid in doomed:
            store.pop(eid, None)
        self._events(bundle, task.id, user, dry_run=False)
        return task

    def delete_task(self, task: Task) -> None:
        self.triggers.forget_task(task.id)
        del self.state.tasks[task.id]

    # ---- events

    def _events(self, bundle: dict[str, Any], task_id: str, user: str, *, dry_run: bool) -> None:
        for raw in _list(bundle, "schemaEvents"):
            event = self.schema_event(raw, task_id, user)
            if not dry_run:
                self.state.schema_events[event.id] = event
                self.triggers.schedule(event)
        for raw in _list(bundle, "compositeEvents"):
            composite = self.composite_event(raw, task_id, user)
            if not dry_run:
                self.state.composite_events[composite.id] = composite

    def _event_task(self, body: dict[str, Any], default: str | None) -> str:
        for key in ("reloadTask", "userSyncTask", "externalProgramTask"):
            task_id = _ref_id(body.get(key), key)
            if task_id is not None:
                if task_id not in self.state.tasks:
                    raise QrsBodyError(404, f"{key}: task {task_id} not found")
                return task_id
        if default is None:
            raise QrsBodyError(400, "the event needs reloadTask, userSyncTask or externalProgramTask")
        return default

    def _existing_id(self, body: dict[str, Any], store: dict[str, Any], meta_of: str) -> str:
        raw = body.get("id")
        if raw in (None, NULL_GUID):
            return new_id()
        if not isinstance(raw, str) or not _GUID_RE.match(raw):
            raise QrsBodyError(400, f"{meta_of}.id must be a GUID")
        existing = store.get(raw.lower())
        if existing is not None:
            _check_fresh(existing.meta, body, f"{meta_of} {raw}")
        return raw.lower()

    def schema_event(self, raw: Any, task_id: str | None, user: str) -> SchemaEvent:
        body = _object(raw, "schemaEvent")
        eid = self._existing_id(body, self.state.schema_events, "SchemaEvent")
        existing = self.state.schema_events.get(eid)
        owner = self._event_task(body, task_id if task_id else (existing.task_id if existing else None))
        option = body.get("incrementOption", existing.increment_option if existing else 2)
        if not isinstance(option, int) or option not in range(6):
            raise QrsBodyError(400, "incrementOption must be 0 (once) to 5 (custom)")
        increment = body.get("incrementDescription", existing.increment_description if existing else "0 0 1 0")
        if not isinstance(increment, str) or not _INCREMENT_RE.match(increment):
            raise QrsBodyError(400, "incrementDescription must be 'minutes hours days weeks'")
        time_zone = body.get("timeZone", existing.time_zone if existing else "UTC")
        dst_mode = body.get("daylightSavingTime", existing.daylight_saving_time if existing else 0)
        if not isinstance(dst_mode, int) or isinstance(dst_mode, bool) or dst_mode not in range(3):
            raise QrsBodyError(400, "daylightSavingTime must be 0 (observe), 1 (permanent standard time) "
                                    "or 2 (permanent daylight saving time)")
        if not isinstance(time_zone, str):
            raise QrsBodyError(400, "timeZone must be a string")
        try:
            zone(time_zone)
        except ValueError as exc:
            raise QrsBodyError(400, str(exc)) from None
        # Dates are clock readings in the event's time zone (schedules.py); the sim clock's now by default.
        start = _date(body.get("startDate"), "startDate",
                      existing.start_date if existing else wall_now(self.triggers.clock.now(), time_zone))
        if start is None:
            raise QrsBodyError(400, "startDate must be before 9999")
        filters = body.get("schemaFilterDescription",
                           existing.schema_filter_description if existing else ["* * - * * * * *"])
        if not isinstance(filters, list) or not all(isinstance(f, str) for f in filters):
            raise QrsBodyError(400, "schemaFilterDescription must be an array of strings")
        return SchemaEvent(
            **_common(body, existing, eid, owner, user, "schema event"),
            start_date=start,
            expiration_date=_date(body.get("expirationDate"), "expirationDate",
                                  existing.expiration_date if existing else None),
            increment_option=option,
            increment_description=increment,
            schema_filter_description=list(filters),
            time_zone=time_zone,
            daylight_saving_time=dst_mode,
        )

    def composite_event(self, raw: Any, task_id: str | None, user: str) -> CompositeEvent:
        body = _object(raw, "compositeEvent")
        eid = self._existing_id(body, self.state.composite_events, "CompositeEvent")
        existing = self.state.composite_events.get(eid)
        owner = self._event_task(body, task_id if task_id else (existing.task_id if existing else None))
        now = utcnow()
        rules: list[CompositeRule] = []
        raw_rules = body.get("compositeRules")
        if raw_rules is None and existing is not None:
            rules = existing.rules
        else:
            if not isinstance(raw_rules, list) or not raw_rules:
                raise QrsBodyError(400, "compositeRules must be a non-empty array")
            for index, rule in enumerate(raw_rules):
                rule = _object(rule, f"compositeRules[{index}]")
                state_value = rule.get("ruleState")
                if state_value not in (RULE_TASK_SUCCESSFUL, RULE_TASK_FAIL):
                    raise QrsBodyError(400, f"compositeRules[{index}].ruleState must be 1 (success) or 2 (fail)")
                upstream = self._event_task(rule, None)
                rules.append(CompositeRule(id=new_id(), task_id=upstream, rule_state=state_value,
                                           meta=Meta(created=now, modified=now, modified_by=user)))
        constraint_body = body.get("timeConstraint")
        if constraint_body is None:
            constraint = existing.time_constraint if existing else {"seconds": 0, "minutes": 360, "hours": 0,
                                                                     "days": 0}
        else:
            constraint_body = _object(constraint_body, "timeConstraint")
            constraint = {}
            for key in ("seconds", "minutes", "hours", "days"):
                value = constraint_body.get(key, 0)
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise QrsBodyError(400, f"timeConstraint.{key} must be a non-negative integer")
                constraint[key] = value
        return CompositeEvent(
            **_common(body, existing, eid, owner, user, "composite event"),
            rules=rules,
            time_constraint=constraint,
        )
