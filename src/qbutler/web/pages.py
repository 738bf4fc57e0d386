"""One function per page: read what the page shows (through `sources`) and render its template."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

import yaml
from starlette.requests import Request
from starlette.responses import Response

from qbutler.config_check import review
from qbutler.events.enrich import download_script_log
from qbutler.kv.store import is_internal
from qbutler.scheduler.cron import CronError, CronExpression, parse_iso
from qbutler.scheduler.model import STARTED_STATES, ScheduleError, zone_for
from qbutler.sense.qrs import QrsError
from qbutler.web import sources
from qbutler.web.access import Session
from qbutler.web.cronwords import DstNote, describe, dst_notes
from qbutler.web.masking import mask_config

if TYPE_CHECKING:
    from qbutler.web.app import Dashboard

SCRIPT_LOG_TAIL = 60
# Tasks per page of the task list (a site has thousands; the search narrows them).
TASK_PAGE = 100
# Failing tasks listed on the overview, newest first; the tasks page lists them all.
OVERVIEW_FAILING = 25


# ---------------------------------------------------------------------------- template filters

def _iso(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(ts: float | None, zone: tzinfo | None = None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, zone or UTC).strftime("%Y-%m-%d %H:%M:%S") + ("" if zone else " UTC")


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    seconds = int(time.time() - ts)
    future = seconds < 0
    seconds = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s")):
        if seconds >= size or size == 1:
            text = f"{seconds // size} {unit}"
            return f"in {text}" if future else f"{text} ago"
    return ""


def _duration(ms: int | float | None) -> str:
    if not ms:
        return "—"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


FILTERS = {"iso": _iso, "when": _when, "ago": _ago, "duration": _duration}


# ---------------------------------------------------------------------------- overview

READINESS_NAMES = {"rest": "REST API", "udp": "UDP task events", "kv": "Key-value store", "qrs": "Repository Service",
                   "engine": "Engine", "outbox": "Alert outbox", "mqtt": "MQTT broker", "scheduler": "Scheduler"}
# The site watch's monitors (`watch.<name>` in the readiness report).
WATCH_NAMES = {"serviceMonitor": "Sense services", "windowsServiceMonitor": "Windows services",
               "serverLicenseMonitor": "Server license", "licenseMonitor": "Access licenses",
               "licenseRelease": "License release", "versionMonitor": "Sense version", "heartbeat": "Heartbeat",
               "uptimeMonitor": "Uptime log"}


def component_name(name: str) -> str:
    if name.startswith("watch."):
        monitor = name.removeprefix("watch.")
        return f"Site watch: {WATCH_NAMES.get(monitor, monitor)}"
    return READINESS_NAMES.get(name, name)


def component_detail(name: str, result: dict[str, Any]) -> str:
    """A readiness component's details in words (the report's field names are for machines)."""
    if result.get("error"):
        return str(result["error"])
    if name.startswith("watch."):
        failures = result.get("failuresInARow") or 0
        if failures:
            return f"{failures} failed check{'s' if failures != 1 else ''} in a row: {result.get('lastError')}"
        last = result.get("lastSuccess")
        return f"{result.get('frequency')}; last check {_ago(parse_iso(last)) if last else 'not yet'}"
    if name == "outbox":
        depth = result.get("depth", 0)
        oldest = f", oldest from {_ago(time.time() - result.get('oldestPendingSeconds', 0))}" if depth else ""
        return f"{depth} waiting to be delivered{oldest}"
    if "port" in result:
        return f"port {result['port']}"
    if "broker" in result:
        return f"broker {result['broker']}"
    return "ok" if result.get("status") == "ok" else "unhealthy"


async def health_components(service: Any) -> list[dict[str, Any]]:
    """qbutler's own components, from the readiness check (`/health/ready`) when there is one."""
    readiness = getattr(service, "readiness", None)
    if readiness is not None:
        _, report = await readiness.check()
        return [{"name": component_name(name), "ok": result["status"] == "ok", "detail": component_detail(name, result)}
                for name, result in report["components"].items()]
    return basic_health(service)


def basic_health(service: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"name": "REST API", "ok": True, "detail": "serving this page"}]
    alerts = service.alerts
    listener = alerts.listener
    items.append({"name": "UDP task events", "ok": listener is not None,
                  "detail": f"listening on port {listener.port}, {listener.received} received" if listener is not None
                  else "switched off (udpServerConfig.enable)"})
    pending = alerts.deliverer.pending
    oldest = min((item.created for item in alerts.deliverer.outbox_items() if item.state != "failed"), default=None)
    items.append({"name": "Alert outbox", "ok": pending == 0 or (oldest is not None and time.time() - oldest < 300),
                  "detail": f"{pending} waiting to be delivered" + (f", oldest from {_ago(oldest)}" if oldest else "")})
    if service.mqtt is not None:
        connected = service.mqtt.connected
        items.append({"name": "MQTT broker", "ok": connected, "detail": "connected" if connected else "not connected"})
    scheduler = service.scheduler
    if scheduler is not None:
        problems = len(scheduler.problems)
        detail = f"{len(scheduler.entries())} schedules" + (f", {problems} invalid" if problems else "")
        items.append({"name": "Scheduler", "ok": problems == 0, "detail": detail})
    items.append({"name": "Key-value store", "ok": True, "detail": service.config.Butler.keyValueStore.backend})
    return items


async def overview(dash: Dashboard, request: Request, session: Session) -> Response:
    service = dash.service
    feed = service.activity
    now = time.time()
    buckets = await dash.history.hourly(now) if dash.history is not None else sources.hourly_outcomes(feed, now)
    rows = sources.with_latest_outcomes(await dash.catalog.rows(), feed)
    failing = sorted((r for r in rows if r.failing), key=lambda r: -(r.stopped or 0))
    outbox = service.alerts.deliverer.outbox_items()
    counts = {state: sum(1 for i in outbox if i.state == state)
              for state in ("queued", "sending", "retrying", "failed")}
    return dash.render(
        request, session, "overview.html", title="Overview", buckets=buckets, heat=sources.heat_level,
        totals={k: sum(getattr(b, k) for b in buckets) for k in ("success", "failed", "aborted")},
        failing=failing[:OVERVIEW_FAILING], failing_total=len(failing), catalog_error=dash.catalog.error,
        outbox=[i for i in outbox if i.state != "failed"][:10],
        failed_alerts=[i for i in outbox if i.state == "failed"][:10], counts=counts,
        health=await health_components(service), site=sources.site_watch(service),
        recent=list(reversed(feed.recent()))[:15],
        since=dash.started, from_history=dash.history is not None)


# ---------------------------------------------------------------------------- tasks

async def tasks(dash: Dashboard, request: Request, session: Session) -> Response:
    query = request.query_params.get("q", "").strip()
    only_failing = request.query_params.get("status") == "failing"
    rows = sources.with_latest_outcomes(await dash.catalog.rows(), dash.service.activity)
    if only_failing:
        rows = sorted((r for r in rows if r.failing), key=lambda r: -(r.stopped or 0))
    if query:
        needle = query.lower()
        rows = [r for r in rows if needle in r.name.lower() or needle in r.app_name.lower() or needle == r.id
                or any(needle in tag.lower() for tag in r.tags)]
    try:
        number = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        number = 1
    pages = max(1, -(-len(rows) // TASK_PAGE))
    number = min(number, pages)
    shown = rows[(number - 1) * TASK_PAGE:number * TASK_PAGE]
    return dash.render(request, session, "tasks.html", title="Tasks", rows=shown, total=len(rows), query=query,
                       only_failing=only_failing,
                       page=number, pages=pages, first=(number - 1) * TASK_PAGE + 1,
                       next_fire=sources.next_firings(dash.service.scheduler), catalog_error=dash.catalog.error)


async def task(dash: Dashboard, request: Request, session: Session) -> Response:
    task_id = request.path_params["task_id"]
    row = await dash.catalog.get(task_id)
    if row is None:
        return dash.render(request, session, "message.html", 404, title="Task not found", ok=False,
                           message=f"No reload task with id {task_id} (or the Repository Service is unreachable).")
    log_lines: list[str] = []
    log_error = None
    if row.file_reference and not row.file_reference.startswith("00000000"):
        try:
            text = await download_script_log(dash.service.qrs, row.id, row.file_reference, row.result_id)
            log_lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")[-SCRIPT_LOG_TAIL:]
        except QrsError as exc:
            log_error = f"The script log could not be read: {exc}"
    else:
        log_error = "This execution has no script log."
    runs = [a for a in dash.service.activity.recent("reload.") if a.data.get("taskId") == task_id]
    history: dict[str, Any] = {}
    if dash.history is not None:
        from qbutler.web.history_view import daily_trend, trend_chart

        executions = await dash.history.task_runs(task_id)
        history = {"runs": executions[:50], "stats": await dash.history.task_stats(task_id),
                   "chart": trend_chart(daily_trend(executions))}
    schedules = [s for s in (dash.service.scheduler.entries() if dash.service.scheduler else [])
                 if str(s.get("qlikSenseTaskId")) == task_id]
    return dash.render(request, session, "task.html", title=row.name, row=row,
                       task_status=sources.with_latest_outcomes([row], dash.service.activity)[0].status,
                       log_lines=log_lines, log_error=log_error, runs=list(reversed(runs))[:50], history=history,
                       schedules=schedules, next_fire=sources.next_firings(dash.service.scheduler).get(task_id),
                       wait_seconds=dash.service.config.Butler.startTaskWait.maxWaitSeconds)


# ---------------------------------------------------------------------------- schedules

@functools.lru_cache(maxsize=1024)
def _parsed(source: str, dialect: str) -> CronExpression:
    return CronExpression.parse(source, dialect)


@functools.lru_cache(maxsize=1024)
def _dst_notes(source: str, dialect: str, zone: tzinfo, day: int) -> tuple[DstNote, ...]:
    # Per day: the notes cover the coming year, so they change only at midnight.
    return tuple(dst_notes(_parsed(source, dialect), zone, datetime.fromtimestamp(day * 86400, UTC)))


def schedule_view(scheduler: Any, fields: dict[str, Any], status: dict[str, Any] | None, now: float) -> dict[str, Any]:
    last = (status or {}).get("lastFireTime")
    view: dict[str, Any] = {"fields": fields, "status": status or {}, "words": "", "next": [], "dst": [],
                            "zone": None, "error": (status or {}).get("error"),
                            "last_fire": parse_iso(last) if last else None}
    try:
        expression = _parsed(str(fields.get("cronSchedule", "")), scheduler.dialect)
        zone = zone_for(fields.get("timezone"), "schedule", scheduler.honour_timezone)
    except (CronError, ScheduleError) as exc:
        view["error"] = view["error"] or str(exc)
        return view
    view["words"] = describe(expression)
    view["zone"] = zone
    view["next"] = expression.fire_times(now, zone, 3)
    view["dst"] = _dst_notes(expression.source, scheduler.dialect, zone, int(now // 86400))
    return view


async def schedules(dash: Dashboard, request: Request, session: Session) -> Response:
    scheduler = dash.service.scheduler
    views = []
    if scheduler is not None:
        status = {s["id"]: s for s in scheduler.status()}
        now = time.time()
        views = [schedule_view(scheduler, fields, status.get(str(fields.get("id"))), now)
                 for fields in scheduler.entries()]
    return dash.render(request, session, "schedules.html", title="Schedules", views=views,
                       enabled=scheduler is not None)


async def schedule_form(dash: Dashboard, request: Request, session: Session) -> Response:
    scheduler = dash.service.scheduler
    schedule_id = request.path_params.get("schedule_id")
    fields: dict[str, Any] = {"startupState": "started", "timezone": "", "tags": []}
    if schedule_id is not None:
        found = scheduler.find(schedule_id) if scheduler else None
        if found is None:
            return dash.render(request, session, "message.html", 404, title="Schedule not found", ok=False,
                               message=f"No schedule with id {schedule_id}.")
        fields = found
    rows = await dash.catalog.rows()
    return dash.render(request, session, "schedule_form.html", title="Edit schedule" if schedule_id else "New schedule",
                       fields=fields, schedule_id=schedule_id, tasks=rows, states=("started", "stopped"),
                       startup="started" if fields.get("startupState") in STARTED_STATES else "stopped",
                       enabled=scheduler is not None)


# ---------------------------------------------------------------------------- key-value store

async def kv(dash: Dashboard, request: Request, session: Session) -> Response:
    store = dash.service.kv
    names = [n for n in await store.namespaces() if not is_internal(n)]
    counts = {name: await store.count(name) for name in names}
    return dash.render(request, session, "kv.html", title="Key-value store", counts=counts)


async def kv_namespace(dash: Dashboard, request: Request, session: Session) -> Response:
    namespace = request.path_params["namespace"]
    entries = [] if is_internal(namespace) else await dash.service.kv.entries(namespace)
    return dash.render(request, session, "kv_namespace.html", title=f"Namespace {namespace}", namespace=namespace,
                       entries=entries, now=time.time(),
                       edit=request.query_params.get("key"))


# ---------------------------------------------------------------------------- alerts

async def alerts(dash: Dashboard, request: Request, session: Session) -> Response:
    deliverer = dash.service.alerts.deliverer
    outbox = deliverer.outbox_items()
    by_channel: dict[str, list[Any]] = {}
    for activity in reversed(dash.service.activity.recent("alert.")):
        by_channel.setdefault(str(activity.data.get("channel", "?")), []).append(activity)
    return dash.render(request, session, "alerts.html", title="Alerts",
                       pending=[i for i in outbox if i.state != "failed"],
                       failed=[i for i in outbox if i.state == "failed"], by_channel=by_channel,
                       channels=sorted(dash.service.alerts.router.channels), stats=deliverer.stats(),
                       destinations=dash.test_alerts.destinations())


# ---------------------------------------------------------------------------- config

def config_warnings(config: Any) -> list[str]:
    butler = config.Butler
    warnings = []
    rest = butler.restServerConfig
    if rest.enable and not rest.tls.enable and rest.serverHost not in ("localhost", "127.0.0.1", "::1"):
        warnings.append(f"The REST API and this dashboard listen on {rest.serverHost} over plain HTTP: API keys "
                        "and session cookies cross the network unencrypted (restServerConfig.tls).")
    return warnings


async def config(dash: Dashboard, request: Request, session: Session) -> Response:
    config = dash.service.config
    masked = mask_config(config.Butler.model_dump(mode="json"))
    text = yaml.safe_dump({"Butler": masked}, sort_keys=False, allow_unicode=True, width=120)
    # `qbutler config check`'s findings: notes are keys qbutler does not use.
    findings = review(config)
    return dash.render(request, session, "config.html", title="Config", text=text,
                       unused=[finding.path for finding in findings if finding.level == "note"],
                       warnings=config_warnings(config) + [str(f) for f in findings if f.level != "note"])
