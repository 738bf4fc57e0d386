"""The QRS REST API (`/qrs/...`, port 4242) as an ASGI app.

Every request is recorded in the call log, then must pass the xrfkey check (reference §1.2),
then fault rules apply, then it is routed.  Routing is done here rather than with Starlette's
router because QRS paths are case-insensitive and the same list/full/count/{id} pattern repeats
for every entity type.  mTLS is enforced by the TLS layer the server runs under (server.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import filters, qrs_about, qrs_table, services, shapes, triggers
from .app_lifecycle import AppLifecycle, LifecycleError
from .qrs_triggers import QrsBodyError, TriggerWriter, new_reload_task
from .runner import Runner
from .state import (
    NULL_GUID,
    TASK_DISTRIBUTE,
    TASK_EXTERNAL,
    TASK_PRELOAD,
    TASK_RELOAD,
    TASK_USERSYNC,
    State,
    Task,
    TempContent,
    User,
    derive_id,
    iso,
    utcnow,
)

log = logging.getLogger("sensesim.qrs")

XSRF_BODY = "XSRF prevention check failed. Possible XSRF discovered."
_XRFKEY_RE = re.compile(r"^[0-9A-Za-z]{16}$")
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PREFIXED_RE = re.compile(r"^/[^/]+(/qrs(?:/.*)?)$", re.IGNORECASE)
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"


@dataclass
class QrsOptions:
    strict_user: bool = False  # 403 when X-Qlik-User is missing instead of assuming sa_repository
    same_element_filters: bool = False  # see filters.py: Any() per predicate vs one shared element
    import_folder: Path | None = None  # where app/import finds files (the site's Apps folder)


class HttpError(Exception):
    def __init__(self, status: int, body: str = "") -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON_TYPE)


def text_response(text: str, status: int) -> Response:
    return Response(text, status_code=status, media_type=TEXT_TYPE)


def parse_user(header: str | None) -> tuple[str, str] | None:
    """`UserDirectory=X; UserId=Y` in any spacing or key case, values URL-decoded (§1.3)."""
    if not header:
        return None
    parts: dict[str, str] = {}
    for chunk in header.split(";"):
        key, sep, value = chunk.partition("=")
        if sep:
            parts[key.strip().lower()] = unquote(value.strip())
    directory = parts.get("userdirectory")
    user_id = parts.get("userid")
    if not directory or not user_id:
        return None
    return directory, user_id


@dataclass
class Ctx:
    """What a handler needs: the request, its decoded query, the caller, the path params."""

    request: Request
    query: dict[str, str]
    user: User
    params: tuple[str, ...]
    body: Any


Handler = Callable[[Ctx], Awaitable[Response]]


@dataclass(frozen=True)
class Collection:
    """One QRS entity type: how to list its entities and render them."""

    docs: Callable[[], list[Any]]
    full: Callable[[Any], dict[str, Any]]
    condensed: Callable[[Any], dict[str, Any]]
    # The entity with this (lower-case) id, or None; by default a scan of docs().
    get: Callable[[str], Any] | None = None


class QrsApp:
    def __init__(self, state: State, runner: Runner, options: QrsOptions | None = None) -> None:
        self.state = state
        self.runner = runner
        self.options = options or QrsOptions()
        self.writer = TriggerWriter(state, runner.triggers)
        self.lifecycle = AppLifecycle(state)
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._build_routes()

    # ---- ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        path: str = request.scope["path"]  # what request.url.path gives, without building a URL
        prefixed = _PREFIXED_RE.match(path)
        if prefixed is not None:
            # A client set up for a virtual proxy (`https://host/<prefix>/qrs/...`) works too.
            path = prefixed.group(1)
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        body = _decode_body(raw)
        self.state.record_call("qrs", request.method, path, unquote(raw_query.replace("+", " ")), body)
        if not path.lower().startswith("/qrs/") and path.lower() != "/qrs":
            return Response(status_code=404)
        denied = self._check_xrfkey(request, raw_query)
        if denied is not None:
            return denied
        if any("=" not in part for part in raw_query.split("&") if part):
            # An unescaped & in a filter value splits it into a parameter without value.
            return text_response("Missing parameter value(s)", 400)
        rule = self.state.faults.take("qrs", request.method, path)
        if rule is not None:
            if rule.delay_ms:
                await asyncio.sleep(rule.delay_ms / 1000)
            if rule.status is not None:
                return fault_response(rule.status, rule.body)
        user = self._caller(request)
        if user is None:
            return text_response("Access denied: no X-Qlik-User header", 403)
        query = {k.lower(): v for k, v in parse_qsl(raw_query, keep_blank_values=True)}
        try:
            return await self._route(request, path, query, user, body, raw)
        except HttpError as exc:
            return text_response(exc.body, exc.status) if exc.body else Response(status_code=exc.status)
        except (QrsBodyError, LifecycleError) as exc:
            return text_response(exc.message, exc.status)
        except filters.FilterError:
            return text_response(f"Cannot parse the expression: {query.get('filter', '')}", 400)

    def _check_xrfkey(self, request: Request, raw_query: str) -> Response | None:
        query_key = None
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            if key.lower() == "xrfkey":
                query_key = value
                break
        header_key = request.headers.get("x-qlik-xrfkey")
        if (
            query_key is None
            or header_key is None
            or query_key != header_key
            or not _XRFKEY_RE.match(query_key)
        ):
            return text_response(XSRF_BODY, 403)
        return None

    def _caller(self, request: Request) -> User | None:
        parsed = parse_user(request.headers.get("x-qlik-user"))
        if parsed is None:
            if self.options.strict_user:
                return None
            # A certificate alone means full admin rights on a real site (§1.1).
            log.warning("QRS call without X-Qlik-User; treating it as INTERNAL\\sa_repository")
            return self.state.service_user("sa_repository")
        directory, user_id = parsed
        known = self.state.user_by_name(f"{directory}\\{user_id}")
        if known is not None:
            return known
        # Unknown callers still act; the run's datagram shows who they said they were.
        return User(
            id=derive_id("user", f"{directory}\\{user_id}".lower()),
            user_directory=directory,
            user_id=user_id,
            name=user_id,
            email="",
            roles=[],
            tags=[],
            custom_properties=[],
            inactive=False,
            meta=self.state.service_user("sa_repository").meta,
        )

    async def _route(
        self, request: Request, path: str, query: dict[str, str], user: User, body: Any, raw: bytes
    ) -> Response:
        lowered = path.lower().rstrip("/")
        method_allowed = False
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(lowered)
            if match is None:
                continue
            if method != request.method:
                method_allowed = True
                continue
            # Ids are matched on the lower-cased path; take the original segments for names.
            return await handler(Ctx(request, query, user, match.groups(), body if raw else None))
        return Response(status_code=405 if method_allowed else 404)

    # ---- routes

    def _build_routes(self) -> None:
        guid = r"([0-9a-z-]+)"
        s = self.state
        site = s.site
        collections: dict[str, Collection] = {
            "app": Collection(
                lambda: list(s.apps.values()),
                lambda a: shapes.full_app(a, site),
                lambda a: shapes.condensed_app(a, site),
                lambda aid: s.apps.get(aid),
            ),
            "task": Collection(
                lambda: list(s.tasks.values()),
                lambda t: shapes.full_task(t, site),
                shapes.condensed_task,
                lambda tid: s.tasks.get(tid),
            ),
            "reloadtask": Collection(
                lambda: s.tasks_of_type(TASK_RELOAD),
                lambda t: shapes.full_task(t, site),
                shapes.condensed_task,
                # By id also distribute and preload tasks: Butler reads their execution results
                # here (qlik-sense-apis.md §6 leaves the real answer open; sensesim serves them).
                lambda tid: _of_type(s.tasks.get(tid), TASK_RELOAD, TASK_DISTRIBUTE, TASK_PRELOAD),
            ),
            "externalprogramtask": Collection(
                lambda: s.tasks_of_type(TASK_EXTERNAL),
                lambda t: shapes.full_task(t, site),
                shapes.condensed_task,
                lambda tid: _of_type(s.tasks.get(tid), TASK_EXTERNAL),
            ),
            "usersynctask": Collection(
                lambda: s.tasks_of_type(TASK_USERSYNC),
                lambda t: shapes.full_task(t, site),
                shapes.condensed_task,
                lambda tid: _of_type(s.tasks.get(tid), TASK_USERSYNC),
            ),
            "user": Collection(lambda: list(s.users.values()), shapes.full_user, shapes.condensed_user,
                                 lambda uid: s.users.get(uid)),
            "tag": Collection(lambda: list(s.tags.values()), shapes.full_tag, shapes.tag_ref),
            "stream": Collection(
                lambda: list(s.streams.values()),
                lambda st: shapes.full_stream(st, s.service_user("sa_repository")),
                shapes.stream_ref,
            ),
            "custompropertydefinition": Collection(
                lambda: list(s.custom_property_definitions.values()),
                shapes.full_definition,
                shapes.condensed_definition,
            ),
            # The reference documents the bare executionresult list with full fields (§1.8).
            "executionresult": Collection(
                lambda: list(s.execution_results.values()),
                shapes.full_execution_result,
                shapes.full_execution_result,
            ),
            "executionsession": Collection(
                lambda: list(s.execution_sessions.values()),
                lambda es: shapes.full_execution_session(es, site),
                lambda es: shapes.full_execution_session(es, site),
            ),
            "schemaevent": Collection(
                lambda: list(s.schema_events.values()),
                lambda e: triggers.full_schema_event(e, s),
                lambda e: triggers.condensed_schema_event(e, s),
                lambda eid: s.schema_events.get(eid),
            ),
            "compositeevent": Collection(
                lambda: list(s.composite_events.values()),
                lambda e: triggers.full_composite_event(e, s),
                lambda e: triggers.condensed_composite_event(e, s),
                lambda eid: s.composite_events.get(eid),
            ),
            "license/professionalaccesstype": Collection(
                lambda: [a for a in s.licenses.values() if a.kind == "professional"],
                shapes.full_access,
                shapes.condensed_access,
            ),
            "license/analyzeraccesstype": Collection(
                lambda: [a for a in s.licenses.values() if a.kind == "analyzer"],
                shapes.full_access,
                shapes.condensed_access,
            ),
            "servicestatus": Collection(
                lambda: list(s.services.by_id.values()),
                lambda st: services.full_service_status(st, iso),
                services.condensed_service_status,
                lambda sid: s.services.by_id.get(sid),
            ),
        }
        self.collections = collections
        add = self._add
        add("GET", r"/qrs/about", self.about)
        add("GET", r"/qrs/ssl/ping", self.ping)
        add("GET", r"/qrs/license", self.license)
        add("GET", r"/qrs/license/accesstypeoverview", self.access_overview)
        # Task control, before the generic {id} routes so "start" is not read as an id.
        add("POST", r"/qrs/task/start", self.start_by_name)
        add("POST", r"/qrs/task/start/synchronous", self.start_by_name_sync)
        add("POST", r"/qrs/task/start/many", self.start_many)
        add("POST", rf"/qrs/task/{guid}/start", self.start_task)
        add("POST", rf"/qrs/task/{guid}/start/synchronous", self.start_task_sync)
        add("POST", rf"/qrs/task/{guid}/stop", self.stop_task)
        add("POST", rf"/qrs/app/{guid}/reload", self.reload_app)
        # Script logs: reference, then the temp-content download.
        add("GET", rf"/qrs/reloadtask/{guid}/scriptlog", self.scriptlog_by_reference)
        add("GET", rf"/qrs/reloadtask/{guid}/scriptlogfile", self.scriptlog_by_result)
        add("GET", rf"/qrs/download/reloadtask/{guid}/([^/]+)", self.download)
        # Self-description (qrs_about.py).
        add("GET", r"/qrs/about/api/enums", self.api_enums)
        add("GET", r"/qrs/about/api/description", self.api_description)
        add("GET", r"/qrs/about/api/default/([^/]+)", self.api_default)
        # App life cycle (app_lifecycle.py).
        add("POST", r"/qrs/app/upload", self.upload_app)
        add("POST", r"/qrs/app/import", self.import_app)
        add("GET", r"/qrs/app/importfolder", self.import_folder)
        add("POST", rf"/qrs/app/{guid}/copy", self.copy_app)
        add("PUT", rf"/qrs/app/{guid}/publish", self.publish_app)
        add("POST", rf"/qrs/app/{guid}/unpublish", self.unpublish_app)
        add("PUT", rf"/qrs/app/{guid}/replace", self.replace_app)
        add("DELETE", rf"/qrs/app/{guid}", self.delete_app)
        add("GET", rf"/qrs/app/{guid}/export", self.export_ticket)
        add("POST", rf"/qrs/app/{guid}/export/{guid}", self.export_app)
        add("DELETE", rf"/qrs/app/{guid}/export/{guid}", self.drop_export)
        add("GET", rf"/qrs/download/app/{guid}/{guid}/([^/]+)", self.download_app)
        # Writing tasks and triggers (qrs_triggers.py).
        add("POST", r"/qrs/reloadtask/create", self.create_reload_task)
        add("POST", r"/qrs/reloadtask/update", self.update_reload_task_bundle)
        add("PUT", rf"/qrs/reloadtask/{guid}", self.update_reload_task)
        add("DELETE", rf"/qrs/reloadtask/{guid}", self.delete_reload_task)
        for name in ("schemaevent", "compositeevent"):
            add("POST", rf"/qrs/{name}", self._event_writer(name, None))
            add("PUT", rf"/qrs/{name}/{guid}", self._event_writer(name, "put"))
            add("DELETE", rf"/qrs/{name}/{guid}", self._event_writer(name, "delete"))
        for name in ("license/professionalaccesstype", "license/analyzeraccesstype"):
            add("DELETE", rf"/qrs/{name}/{guid}", self._delete_access(name))
        for name, coll in collections.items():
            add("GET", rf"/qrs/{name}", self._list(coll, full=False))
            add("GET", rf"/qrs/{name}/full", self._list(coll, full=True))
            add("GET", rf"/qrs/{name}/count", self._count(coll))
            add("GET", rf"/qrs/{name}/{guid}", self._by_id(coll))
            add("POST", rf"/qrs/{name}/table", self._table(coll, name))

    def _add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern), handler))

    # ---- generic entity endpoints

    def _filtered(self, coll: Collection, ctx: Ctx) -> list[tuple[Any, dict[str, Any]]]:
        items = [(entity, coll.full(entity)) for entity in coll.docs()]
        docs = [doc for _, doc in items]
        kept = filters.apply(docs, ctx.query.get("filter"), self.options.same_element_filters)
        ordered = filters.order(kept, ctx.query.get("orderby"))
        by_doc = {id(doc): entity for entity, doc in items}
        return [(by_doc[id(doc)], doc) for doc in ordered]

    def _list(self, coll: Collection, full: bool) -> Handler:
        async def handler(ctx: Ctx) -> Response:
            rows = self._filtered(coll, ctx)
            return json_response([doc if full else coll.condensed(entity) for entity, doc in rows])

        return handler

    def _count(self, coll: Collection) -> Handler:
        async def handler(ctx: Ctx) -> Response:
            return json_response({"value": len(self._filtered(coll, ctx))})

        return handler

    def _by_id(self, coll: Collection) -> Handler:
        async def handler(ctx: Ctx) -> Response:
            entity_id = _require_guid(ctx.params[0])
            if coll.get is not None:
                entity = coll.get(entity_id)
                if entity is not None:
                    return json_response(coll.full(entity))
                raise HttpError(404)
            for entity in coll.docs():
                if entity.id == entity_id:
                    return json_response(coll.full(entity))
            raise HttpError(404)

        return handler

    def _table(self, coll: Collection, name: str) -> Handler:
        async def handler(ctx: Ctx) -> Response:
            items = coll.docs()
            default_type = str(coll.full(items[0]).get("schemaPath", name)) if items else name
            try:
                table = qrs_table.build_table(
                    qrs_table.Entities(items, coll.full, coll.condensed),
                    ctx.body,
                    ctx.query,
                    default_type=default_type,
                    related=self._related_docs,
                    known_types=self.collections.keys(),
                    same_element=self.options.same_element_filters,
                )
            except qrs_table.TableError as exc:
                raise HttpError(400, str(exc)) from exc
            return json_response(table, 201)

        return handler

    def _related_docs(self, schema_type: str) -> list[dict[str, Any]]:
        coll = self.collections[schema_type.lower()]  # build_table checked the name
        return [coll.full(entity) for entity in coll.docs()]

    # ---- fixed documents

    async def about(self, ctx: Ctx) -> Response:
        return json_response(shapes.about(self.state.site))

    async def ping(self, ctx: Ctx) -> Response:
        return text_response("Ping successful", 200)

    async def license(self, ctx: Ctx) -> Response:
        return json_response(shapes.license_entity(self.state))

    async def access_overview(self, ctx: Ctx) -> Response:
        return json_response(shapes.access_type_overview(self.state))

    def _delete_access(self, name: str) -> Handler:
        kind = "professional" if "professional" in name else "analyzer"

        async def handler(ctx: Ctx) -> Response:
            access = self.state.licenses.get(_require_guid(ctx.params[0]))
            if access is None or access.kind != kind:
                raise HttpError(404)
            # Sense quarantines an allocation used in the last 7 days instead of freeing it.
            now = utcnow()
            if now - access.last_used < timedelta(days=7):
                access.quarantined = True
                access.quarantine_end = access.last_used + timedelta(days=7)
            else:
                del self.state.licenses[access.id]
            return Response(status_code=204)

        return handler

    # ---- self-description

    async def api_enums(self, ctx: Ctx) -> Response:
        return json_response(qrs_about.ENUMS)

    async def api_description(self, ctx: Ctx) -> Response:
        routes = [(method, pattern.pattern) for method, pattern, _ in self.routes]
        return json_response(qrs_about.describe(routes, ctx.query.get("method")))

    async def api_default(self, ctx: Ctx) -> Response:
        name = ctx.params[0]
        coll = self.collections.get(name)
        if coll is None:
            raise HttpError(400, f"Unknown type: {name}")
        sample = next(iter(coll.docs()), None)
        if sample is None:
            raise HttpError(404, f"No {name} exists to derive the template from")
        return json_response(qrs_about.template(coll.full(sample)))

    # ---- app life cycle

    def _full_app(self, app: Any, status: int = 200) -> Response:
        return json_response(shapes.full_app(app, self.state.site), status)

    async def upload_app(self, ctx: Ctx) -> Response:
        content = await ctx.request.body()
        return self._full_app(self.lifecycle.upload(ctx.query.get("name"), content, ctx.user), 201)

    async def import_app(self, ctx: Ctx) -> Response:
        exclude = ctx.query.get("excludeconnections", "false").lower() == "true"
        app = self.lifecycle.import_file(self.options.import_folder, await ctx.request.body(), ctx.query.get("name"),
                                         exclude, ctx.user)
        return self._full_app(app, 201)

    async def import_folder(self, ctx: Ctx) -> Response:
        if self.options.import_folder is None:
            raise HttpError(404, "this site has no import folder (sensesim serve --apps-dir)")
        return json_response(str(self.options.import_folder))

    async def copy_app(self, ctx: Ctx) -> Response:
        app = self.lifecycle.copy(_require_guid(ctx.params[0]), ctx.query.get("name"), ctx.user)
        return self._full_app(app, 201)

    async def publish_app(self, ctx: Ctx) -> Response:
        app = self.lifecycle.publish(_require_guid(ctx.params[0]), ctx.query.get("stream"), ctx.query.get("name"),
                                     ctx.user)
        return self._full_app(app)

    async def unpublish_app(self, ctx: Ctx) -> Response:
        return self._full_app(self.lifecycle.unpublish(_require_guid(ctx.params[0]), ctx.user))

    async def replace_app(self, ctx: Ctx) -> Response:
        app = self.lifecycle.replace(_require_guid(ctx.params[0]), ctx.query.get("app"), ctx.user)
        return self._full_app(app)

    async def delete_app(self, ctx: Ctx) -> Response:
        for task_id in self.lifecycle.delete(_require_guid(ctx.params[0])):
            self.writer.delete_task(self.state.tasks[task_id])
        return Response(status_code=204)

    async def export_ticket(self, ctx: Ctx) -> Response:
        export = self.lifecycle.export(_require_guid(ctx.params[0]), None, skip_data=False)
        return json_response({"value": export.token})

    async def export_app(self, ctx: Ctx) -> Response:
        skip = ctx.query.get("skipdata", "false").lower() == "true"
        export = self.lifecycle.export(_require_guid(ctx.params[0]), ctx.params[1], skip_data=skip)
        path = (f"/tempcontent/{export.token}/{quote(export.file_name)}"
                f"?serverNodeId={self.state.site.node_id}")
        return json_response(
            {"exportToken": export.token, "appId": export.app_id, "downloadPath": path, "schemaPath": "AppExport"},
            201,
        )

    async def drop_export(self, ctx: Ctx) -> Response:
        self.lifecycle.drop_export(_require_guid(ctx.params[0]), ctx.params[1])
        return Response(status_code=204)

    async def download_app(self, ctx: Ctx) -> Response:
        export = self.lifecycle.download(_require_guid(ctx.params[0]), ctx.params[1])
        return Response(export.content, status_code=200, media_type="application/vnd.qlik.sense.app")

    # ---- writing tasks and triggers

    def _reload_task(self, raw_id: str) -> Task:
        task = _of_type(self.state.tasks.get(_require_guid(raw_id)), TASK_RELOAD)
        if task is None:
            raise HttpError(404, f"ReloadTask with ID {raw_id} not found")
        return task

    def _full_task(self, task: Task, status: int) -> Response:
        return json_response(shapes.full_task(task, self.state.site), status)

    async def create_reload_task(self, ctx: Ctx) -> Response:
        return self._full_task(self.writer.create(ctx.body, ctx.user.domain_user), 201)

    async def update_reload_task_bundle(self, ctx: Ctx) -> Response:
        return self._full_task(self.writer.update_bundle(ctx.body, ctx.user.domain_user), 201)

    async def update_reload_task(self, ctx: Ctx) -> Response:
        task = self._reload_task(ctx.params[0])
        return self._full_task(self.writer.update_task(task, ctx.body, ctx.user.domain_user), 200)

    async def delete_reload_task(self, ctx: Ctx) -> Response:
        task = self._reload_task(ctx.params[0])
        if self.runner.stop(task):
            session = self.runner.running_session(task.id)
            if session is not None:
                session.abort_reason = 3  # DeletedTask
        self.writer.delete_task(task)
        return Response(status_code=204)

    def _event_writer(self, name: str, verb: str | None) -> Handler:
        schema = name == "schemaevent"
        store: dict[str, Any] = self.state.schema_events if schema else self.state.composite_events
        full = triggers.full_schema_event if schema else triggers.full_composite_event

        async def handler(ctx: Ctx) -> Response:
            user = ctx.user.domain_user
            if verb is not None:
                event_id = _require_guid(ctx.params[0])
                if event_id not in store:
                    raise HttpError(404)
                if verb == "delete":
                    del store[event_id]
                    return Response(status_code=204)
                if not isinstance(ctx.body, dict):
                    raise HttpError(400, "Body must be a JSON object")
                body = {**ctx.body, "id": event_id}
            else:
                body = ctx.body
            event = (self.writer.schema_event(body, None, user) if schema
                     else self.writer.composite_event(body, None, user))
            store[event.id] = event
            if schema:
                self.runner.triggers.schedule(event)  # type: ignore[arg-type]
            return json_response(full(event, self.state), 200 if verb else 201)  # type: ignore[arg-type]

        return handler

    # ---- task control

    def _task(self, raw_id: str) -> Task:
        task = self.state.tasks.get(_require_guid(raw_id))
        if task is None:
            raise HttpError(404, f"Task with ID {raw_id} not found")
        return task

    def _tasks_by_name(self, ctx: Ctx) -> list[Task]:
        names = [
            v for k, v in parse_qsl(ctx.request.url.query, keep_blank_values=True) if k.lower() == "name"
        ]
        if not names:
            raise HttpError(400, "Missing parameter value(s)")
        wanted = {n.casefold() for n in names}
        found = [t for t in self.state.tasks.values() if t.name.casefold() in wanted]
        if not found:
            raise HttpError(404, f"No task found with name {', '.join(names)}")
        return found

    async def start_task(self, ctx: Ctx) -> Response:
        _require_object_or_empty(ctx.body)
        self.runner.start(self._task(ctx.params[0]), ctx.user)
        return Response(status_code=204)

    async def start_task_sync(self, ctx: Ctx) -> Response:
        _require_object_or_empty(ctx.body)
        return await self._start_sync(self._task(ctx.params[0]), ctx.user)

    async def _start_sync(self, task: Task, user: User) -> Response:
        session = self.runner.start(task, user)
        if session is None:
            # Did not start: disabled, already running (reference §1.8).
            return json_response({"value": NULL_GUID}, 201)
        await self.runner.wait_started(session)
        return json_response({"value": session.id}, 201)

    async def start_by_name(self, ctx: Ctx) -> Response:
        for task in self._tasks_by_name(ctx):
            self.runner.start(task, ctx.user)
        return Response(status_code=204)

    async def start_by_name_sync(self, ctx: Ctx) -> Response:
        return await self._start_sync(self._tasks_by_name(ctx)[0], ctx.user)

    async def start_many(self, ctx: Ctx) -> Response:
        ids = ctx.body
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise HttpError(400, "Body must be a JSON array of task ids")
        # Unknown ids are skipped: the call is a fire-and-forget batch [?].
        for raw_id in ids:
            task = self.state.tasks.get(raw_id.lower())
            if task is not None:
                self.runner.start(task, ctx.user)
        return Response(status_code=204)

    async def stop_task(self, ctx: Ctx) -> Response:
        self.runner.stop(self._task(ctx.params[0]))
        return Response(status_code=204)

    async def reload_app(self, ctx: Ctx) -> Response:
        """QMC "Reload" on an app: runs (creating if needed) its manually triggered task."""
        app = self.state.apps.get(_require_guid(ctx.params[0]))
        if app is None:
            raise HttpError(404)
        name = f"Manually triggered reload of {app.name}"
        task = self.state.task_by_name(name)
        if task is None:
            task = _manual_task(self.state, app.id, name)
        self.runner.start(task, ctx.user)
        return Response(status_code=204)

    # ---- script logs (§1.7.4)

    async def scriptlog_by_reference(self, ctx: Ctx) -> Response:
        task = self._task(ctx.params[0])
        reference = ctx.query.get("filereferenceid", "").lower()
        log_entry = self.state.script_logs.get(reference)
        if log_entry is None or log_entry.task_id != task.id:
            raise HttpError(404)
        return self._temp_for(log_entry.text, log_entry.available_at)

    async def scriptlog_by_result(self, ctx: Ctx) -> Response:
        task = self._task(ctx.params[0])
        result_id = ctx.query.get("executionresultid", "").lower()
        for log_entry in self.state.script_logs.values():
            if log_entry.execution_result_id == result_id and log_entry.task_id == task.id:
                return self._temp_for(log_entry.text, log_entry.available_at)
        raise HttpError(404)

    def _temp_for(self, text: str, available_at: datetime) -> Response:
        if utcnow() < available_at:
            raise HttpError(404)  # archived log not there yet (scriptLogDelayMs fault)
        temp_id = str(uuid.uuid4())
        self.state.temp_contents[temp_id] = TempContent(id=temp_id, text=text)
        return json_response({"value": temp_id})

    async def download(self, ctx: Ctx) -> Response:
        temp = self.state.temp_contents.get(ctx.params[0])
        if temp is None:
            raise HttpError(404)
        return Response(temp.text.encode("utf-8"), status_code=200, media_type=TEXT_TYPE)


def _manual_task(state: State, app_id: str, name: str) -> Task:
    task = new_reload_task(state, app_id, name, "INTERNAL\\sa_repository", derive_id("ReloadTask", name))
    task.is_manually_triggered = True
    return task


def _of_type(task: Task | None, *task_types: int) -> Task | None:
    return task if task is not None and task.task_type in task_types else None


def _require_guid(raw: str) -> str:
    if not _GUID_RE.match(raw):
        raise HttpError(400, f"Invalid id: {raw}")
    return raw.lower()


def _require_object_or_empty(body: Any) -> None:
    if body is not None and not isinstance(body, dict):
        raise HttpError(400, "Body must be a JSON object")


def _decode_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", errors="replace")


def fault_response(status: int, body: Any) -> Response:
    if body is None:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        return text_response(phrase, status) if phrase and status != 404 else Response(status_code=status)
    if isinstance(body, str):
        return text_response(body, status)
    return json_response(body, status)
