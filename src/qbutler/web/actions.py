"""One function per dashboard action. Each gets the checked form (session, CSRF and scope are
the gate's job) and calls the same domain operation the REST API calls, so the rules are one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from qbutler.actions.tasks import KvLimitExceeded, TaskStartError, Trigger
from qbutler.kv.store import NamespaceFull, ReservedNamespace, is_internal
from qbutler.scheduler.manager import ScheduleNotFound
from qbutler.scheduler.model import STARTUP_STATES, ScheduleError
from qbutler.scheduler.store import ScheduleFileError
from qbutler.web.access import Session
from qbutler.web.test_alerts import LABELS, summary

if TYPE_CHECKING:
    from qbutler.web.app import Dashboard


class UserError(Exception):
    """An action that cannot be done as asked; the message is shown to the admin."""


async def logout(dash: Dashboard, request: Request, session: Session, form: dict[str, str]) -> Response:
    return dash.logged_out()


# ---------------------------------------------------------------------------- tasks

async def start_task(dash: Dashboard, request: Request, session: Session, form: dict[str, str]) -> str:
    task_id = request.path_params["task_id"]
    wait = form.get("wait") == "true"
    try:
        # The history and metrics tell a start from here apart from a REST call, and name who asked.
        report = await dash.service.tasks.run(task_id, [], wait=wait,
                                              trigger=Trigger("dashboard", session.principal.name))
    except (TaskStartError, KvLimitExceeded) as exc:
        raise UserError(str(exc)) from None
    started = report.matched()
    if not started:
        denied = "refused by startTaskFilter" if report.denied else "not found"
        raise UserError(f"Task {task_id} was not started: {denied}")
    task = started[0]
    if task.error:
        raise UserError(f"{task.task_name}: {task.error}")
    execution = task.execution
    if execution is None:
        return f"Started {task.task_name}"
    if not execution.finished:
        return f"{task.task_name} started; still {execution.status} when the wait ended"
    duration = f" in {execution.duration / 1000:.1f} s" if execution.duration else ""
    return f"{task.task_name} finished: {execution.status}{duration}"


# ---------------------------------------------------------------------------- schedules

def _scheduler(dash: Dashboard) -> Any:
    if dash.service.scheduler is None:
        raise UserError("The scheduler is switched off (Butler.scheduler.enable)")
    return dash.service.scheduler


def schedule_fields(form: dict[str, str]) -> dict[str, Any]:
    """The form as the REST API's body: the same required fields, enum and types."""
    fields: dict[str, Any] = {}
    for name in ("name", "cronSchedule", "timezone", "qlikSenseTaskId", "startupState"):
        value = form.get(name, "").strip()
        if not value and name != "timezone":
            raise UserError(f"Field '{name}' is required")
        fields[name] = value
    if fields["startupState"] not in STARTUP_STATES:
        raise UserError(f"Field 'startupState' must be one of {', '.join(STARTUP_STATES)}")
    fields["tags"] = [tag.strip() for tag in form.get("tags", "").split(",") if tag.strip()]
    return fields


async def _change_schedule(operation: Any) -> Any:
    try:
        return await operation
    except ScheduleNotFound as exc:
        raise UserError(f"No schedule with id {exc.args[0]}") from None
    except ScheduleError as exc:
        raise UserError(str(exc)) from None
    except ScheduleFileError as exc:
        raise UserError(f"The schedule file could not be written: {exc}") from None


async def create_schedule(dash: Dashboard, request: Request, session: Session, form: dict[str, str]) -> str:
    created = await _change_schedule(_scheduler(dash).create(schedule_fields(form)))
    return f"Schedule '{created['name']}' created"


async def update_schedule(dash: Dashboard, request: Request, session: Session, form: dict[str, str]) -> str:
    schedule_id = request.path_params["schedule_id"]
    updated = await _change_schedule(_scheduler(dash).update(schedule_id, schedule_fields(form)))
    return f"Schedule '{updated['name']}' saved"


async def schedule_verb(dash: Dashboard, request: Request, session: Session, form: dict[str, str]) -> str:
    scheduler = _scheduler(dash)
    schedule_id, verb = request.path_params["schedule_id"], request.path_params["verb"]
    found = scheduler.find(schedule_id)
    name = found.get("name", schedule_id) if found else schedule_id
    if verb in ("start", "stop"):
        await _change_schedule(scheduler.set_state(schedule_id, "started" if verb == "start" else "stopped"))
        return f"Schedule '{name}' {'started' if verb == 'start' else 'stopped'}"
    if verb == "delete":
        await _change_schedule(scheduler.delete(schedule_id))
        return f"Schedule '{name}' deleted"
    raise UserError(f"Unknown schedule action '{verb}'")


# ---------------------------------------------------------------------------- key-value store

def _namespace(request: Request, form: dict[str, str]) -> str:
    namespace = request.path_params.get("namespace") or form.get("namespace", "").strip()
    if not namespace:
        raise UserError("A namespace is required")
    if is_internal(namespace):
        raise UserError(str(ReservedNamespace(namespace)))
    return namespace


async def set_key(dash: Dashboard, request: Request, session: Session, form: dict[str, str]) -> str:
    namespace = _namespace(request, form)
    # Where the admin lands afterwards: the namespace's page.
    form.setdefault("next", f"/ui/kv/{quote(namespace, safe='')}")
    key = form.get("key", "")
    if not key:
        raise UserError("A key is required")
    ttl_text = form.get("ttl", "").strip()
    try:
        ttl = int(ttl_text) if ttl_text else 0
    except ValueError:
        raise UserError(f"TTL must be a whole number of milliseconds, not '{ttl_text}'") from None
    limit = dash.service.config.Butler.keyValueStore.maxKeysPerNamespace or None
    try:
        await dash.service.kv.set(namespace, key, form.get("value", ""), ttl, max_keys=limit)
    except NamespaceFull as exc:
        raise UserError(str(exc)) from None
    dash.service.activity.publish("kv.set", f"{namespace}/{key} set from the dashboard", namespace=namespace, key=key)
    return f"Saved {namespace} / {key}" + (f" (expires in {ttl / 1000:g} s)" if ttl > 0 else "")


async def delete_key(dash: Dashboard, request: Request, session: Session, form: dict[str, str]) -> str:
    namespace = _namespace(request, form)
    key = form.get("key", "")
    if not await dash.service.kv.delete(namespace, key):
        raise UserError(f"Key '{key}' not found in namespace {namespace}")
    dash.service.activity.publish("kv.delete", f"{namespace}/{key} deleted from the dashboard",
                                  namespace=namespace, key=key)
    return f"Deleted {namespace} / {key}"


# ---------------------------------------------------------------------------- alerts

async def alert_verb(dash: Dashboard, request: Request, session: Session, form: dict[str, str]) -> str:
    deliverer = dash.service.alerts.deliverer
    record_id, verb = request.path_params["record_id"], request.path_params["verb"]
    if verb == "retry":
        if not await deliverer.retry_now(record_id):
            raise UserError("That alert is no longer waiting (delivered, being sent, or discarded)")
        dash.service.activity.publish("alert.retry", "Alert sent again from the dashboard", record=record_id)
        return "Alert queued for delivery now"
    if verb == "discard":
        if not await deliverer.discard(record_id):
            raise UserError("That alert is no longer waiting (delivered, being sent, or discarded)")
        dash.service.activity.publish("alert.discard", "Alert discarded from the dashboard", record=record_id)
        return "Alert discarded"
    raise UserError(f"Unknown alert action '{verb}'")


async def test_alert(dash: Dashboard, request: Request, session: Session, form: dict[str, str]) -> Response:
    name = request.path_params["channel"]
    if name not in LABELS:
        raise UserError(f"Unknown alert destination '{name}'; choose from {', '.join(LABELS)}")
    if not dash.test_alerts.is_on(name):
        raise UserError(f"{LABELS[name]} alerts are switched off in the config, so there is nothing to test")
    run = await dash.test_alerts.send(name)
    text = f"Test alert to {LABELS[name]}: {summary(run)}"
    dash.service.activity.publish("test_alert", text, channel=name, delivered=run.delivered)
    # The action worked even when the destination refused: the answer is the destination's.
    return dash.done(request, session, run.delivered, text, 200, form.get("next"))
