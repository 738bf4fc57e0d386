"""The dashboard as an ASGI application mounted at /ui/ beside the REST API.

Every page and action passes one gate (`Gate`): the Host allow-list, the session cookie, and for
actions the CSRF token, the Origin and the scope. Pages are server-rendered (Jinja2, autoescaped);
`static/app.js` adds live updates and submits forms in the background when scripts run.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from qbutler.web import PREFIX, actions, pages
from qbutler.web.access import ANONYMOUS, COOKIE, Principal, Session, SessionSigner, load_secret
from qbutler.web.actions import UserError
from qbutler.web.live import LiveHub
from qbutler.web.sources import TaskCatalog
from qbutler.web.test_alerts import TestAlerts, answer

log = logging.getLogger("qbutler.web")

STATIC = Path(__file__).parent / "static"
FLASH = "qbutler_flash"
# Form fields that say what an action changed, for the audit trail (values and tokens are not).
AUDITED_FIELDS = ("namespace", "key", "ttl", "name", "cronSchedule", "timezone", "qlikSenseTaskId", "startupState",
                  "wait")

# No inline script or style anywhere: everything comes from /ui/static/.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class Refused(Exception):
    """Stop handling a request and answer this instead."""

    def __init__(self, response: Response):
        self.response = response


class GuardLogin:
    """The dashboard's side of the REST API's access control (`qbutler.auth.Guard`): the same keys,
    scopes, client certificates and address rules."""

    def __init__(self, guard: Any, key_names: list[str]):
        self.guard = guard
        # The identity names of the configured keys (as the guard names them).
        self._known = {f"key:{name}" for name in key_names}

    @staticmethod
    def _principal(identity: Any) -> Principal:
        return Principal(identity.name, frozenset(identity.scopes))

    def check_key(self, key: str) -> Principal | None:
        identity = self.guard.keys.identify(key) if key else None
        return None if identity is None else self._principal(identity)

    def without_key(self, client: str, cert_subject: str | None) -> Principal | None:
        """A browser the API lets in without a key: a mapped client certificate, or an address rule."""
        identity = self.guard.identify({}, client, cert_subject)
        return None if identity is None else self._principal(identity)

    def still_valid(self, principal: Principal) -> Principal | None:
        # Keys come from the config: a session of a key that is no longer configured ends.
        if principal.name.startswith("key:") and principal.name not in self._known:
            return None
        return principal


def authenticator_for(service: Any) -> GuardLogin | None:
    """The REST API's access control when it requires authentication; None means the API is open
    to anyone who reaches it, and so is the dashboard."""
    guard = getattr(service, "guard", None)
    if guard is None:
        return None
    return GuardLogin(guard, [entry.name for entry in service.config.Butler.qbutler.api.keys])


def api_hosts(config: Any) -> frozenset[str] | None:
    """The REST API's Host allow-list (`Butler.qbutler.api.allowedHosts`); None accepts any host."""
    access = getattr(config.Butler.qbutler, "api", None)
    if access is None:
        return None
    from qbutler.auth.guard import allowed_hosts

    return allowed_hosts(config.Butler.restServerConfig.serverHost, access.allowedHosts)


def client_certificate(request: Request) -> str | None:
    tls = (request.scope.get("extensions") or {}).get("tls")
    return tls.get("client_cert_name") if tls else None


def _static_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class Dashboard:
    def __init__(self, service: Any, started: float | None = None):
        self.service = service
        config = service.config
        ui = config.Butler.qbutler.ui
        self.secure_cookie = config.Butler.restServerConfig.tls.enable
        self.signer = SessionSigner(load_secret(config.data_dir / "web"), ui.sessionHours * 3600)
        self.auth = authenticator_for(service)
        self.hosts = api_hosts(config)
        if self.hosts is not None:
            from qbutler.auth.guard import host_name

            self._host_name = host_name
        self.catalog = TaskCatalog(service.qrs, service.activity)
        # The reload history, when it is switched on (the heat strip and task runs come from it).
        self.history: Any = None
        if getattr(service, "history", None) is not None:
            from qbutler.web.history_view import HistoryView

            self.history = HistoryView(service.history, service.activity)
        self.live = LiveHub(service.activity)
        self.test_alerts = TestAlerts(config)
        self.started = started or time.time()
        self.templates = Environment(loader=PackageLoader("qbutler.web", "templates"),
                                     autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
        self.templates.globals.update(static_version=_static_version(), prefix=PREFIX)
        self.templates.filters.update(pages.FILTERS, answer=answer)
        self.app = Starlette(routes=self._routes())

    # ------------------------------------------------------------------ lifecycle (a service component)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.live.close_all()
        await self.catalog.close()
        if self.history is not None:
            await self.history.close()

    # ------------------------------------------------------------------ routing

    def _routes(self) -> list[Route | Mount]:
        page, act = self._page, self._action
        return [
            Route("/", page(pages.overview)),
            Route("/login", self._login_page, methods=["GET"]),
            Route("/login", self._login, methods=["POST"]),
            Route("/logout", act(actions.logout, None), methods=["POST"]),
            Route("/events", self._events),
            Route("/tasks", page(pages.tasks)),
            Route("/tasks/{task_id}", page(pages.task)),
            Route("/tasks/{task_id}/start", act(actions.start_task, "tasks"), methods=["POST"]),
            Route("/schedules", page(pages.schedules, "schedules:read")),
            Route("/schedules", act(actions.create_schedule, "schedules:write"), methods=["POST"]),
            Route("/schedules/new", page(pages.schedule_form, "schedules:read")),
            Route("/schedules/{schedule_id}/edit", page(pages.schedule_form, "schedules:read")),
            Route("/schedules/{schedule_id}", act(actions.update_schedule, "schedules:write"), methods=["POST"]),
            Route("/schedules/{schedule_id}/{verb:str}", act(actions.schedule_verb, "schedules:write"),
                  methods=["POST"]),
            Route("/kv", page(pages.kv, "kv:read")),
            Route("/kv", act(actions.set_key, "kv:write"), methods=["POST"]),
            Route("/kv/{namespace}", page(pages.kv_namespace, "kv:read")),
            Route("/kv/{namespace}", act(actions.set_key, "kv:write"), methods=["POST"]),
            Route("/kv/{namespace}/delete", act(actions.delete_key, "kv:write"), methods=["POST"]),
            Route("/alerts", page(pages.alerts)),
            Route("/alerts/{record_id}/{verb:str}", act(actions.alert_verb, "admin"), methods=["POST"]),
            Route("/test-alert/{channel}", act(actions.test_alert, "admin"), methods=["POST"]),
            Route("/config", page(pages.config, "admin")),
            Mount("/static", app=StaticFiles(directory=STATIC)),
        ]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == PREFIX:
            await RedirectResponse(f"{PREFIX}/", 308)(scope, receive, send)
            return
        static = path.startswith(f"{PREFIX}/static/")

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                # Assets are named by content (?v=hash): cache them; never cache pages.
                headers.append((b"cache-control", b"public, max-age=86400" if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app({**scope, "root_path": scope.get("root_path", "") + PREFIX}, receive, send_with_headers)

    # ------------------------------------------------------------------ the gate

    def _host_ok(self, request: Request) -> bool:
        return self.hosts is None or self._host_name(request.headers.get("host", "")) in self.hosts

    def _session(self, request: Request) -> Session | None:
        session = self.signer.read(request.cookies.get(COOKIE))
        if session is None:
            return None
        if self.auth is None:
            # Authentication is off: only anonymous sessions count (a login from when it was on does not).
            return session if session.principal.anonymous else None
        if session.principal.anonymous:
            return None
        current = self.auth.still_valid(session.principal)
        return None if current is None else replace(session, principal=current)

    def who(self, request: Request, *, redirect: bool) -> tuple[Session, str | None]:
        """The request's session (a new anonymous one when authentication is off, with its cookie)."""
        if not self._host_ok(request):
            raise Refused(PlainTextResponse("This Host name is not allowed (Host allow-list)", 421))
        session = self._session(request)
        if session is not None:
            return session, None
        if self.auth is None:
            return self.signer.issue(ANONYMOUS)
        client = request.client.host if request.client else ""
        known = self.auth.without_key(client, client_certificate(request))
        if known is not None:
            return self.signer.issue(known)
        if redirect:
            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            raise Refused(RedirectResponse(f"{PREFIX}/login?next={target}", 303))
        raise Refused(PlainTextResponse("Log in first", 401))

    def _cookie(self, response: Response, value: str, max_age: int | None = None) -> None:
        response.set_cookie(COOKIE, value, max_age=max_age if max_age is not None else int(self.signer.lifetime),
                            path=f"{PREFIX}/", httponly=True, samesite="strict", secure=self.secure_cookie)

    def render(self, request: Request, session: Session | None, template: str, status: int = 200,
               **values: Any) -> HTMLResponse:
        flash = request.cookies.get(FLASH)
        html = self.templates.get_template(template).render(
            request=request, session=session, who=session.principal if session else None,
            csrf=self.signer.csrf_token(session) if session else "", auth_on=self.auth is not None,
            flash=unquote(flash) if flash else None, path=request.url.path, **values)
        response = HTMLResponse(html, status)
        if flash:
            response.delete_cookie(FLASH, path=f"{PREFIX}/")
        return response

    def _page(self, render: Callable[[Dashboard, Request, Session], Awaitable[Response]],
              scope: str | None = None) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                session, cookie = self.who(request, redirect=True)
                if scope is not None and not session.principal.can(scope):
                    response: Response = self.render(request, session, "refused.html", 403, scope=scope)
                else:
                    response = await render(self, request, session)
            except Refused as refused:
                return refused.response
            if cookie:
                self._cookie(response, cookie)
            return response

        return endpoint

    def _same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return True  # older browsers send none on same-origin posts; the token still applies
        return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"

    async def form(self, request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > 1 << 20:
            raise UserError("The form is too large")
        return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))

    def _action(self, do: Callable[[Dashboard, Request, Session, dict[str, str]], Awaitable[str | Response]],
                scope: str | None) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                session, _ = self.who(request, redirect=False)
                form = await self.form(request)
            except Refused as refused:
                return refused.response
            except UserError as exc:
                return self.done(request, None, False, str(exc), 400)
            token = form.get("csrf") or request.headers.get("x-csrf-token")
            if not self._same_origin(request) or not self.signer.csrf_ok(session, token):
                log.warning("Dashboard: %s %s refused: missing or wrong CSRF token", request.method, request.url.path)
                self._audit(request, session, form, 403)
                return self.done(request, session, False, "Refused: this form did not come from your dashboard "
                                 "session (CSRF check). Reload the page and try again.", 403)
            if scope is not None and not session.principal.can(scope):
                log.warning("Dashboard: %s %s refused: %s lacks scope %s", request.method, request.url.path,
                            session.principal.name, scope)
                self._audit(request, session, form, 403)
                return self.done(request, session, False, f"Refused: your API key lacks the '{scope}' scope.", 403)
            try:
                outcome = await do(self, request, session, form)
            except UserError as exc:
                self._audit(request, session, form, 400)
                return self.done(request, session, False, str(exc), 400, form.get("back") or form.get("next"))
            self._audit(request, session, form, 200)
            if isinstance(outcome, Response):
                return outcome
            log.info("Dashboard: %s by %s: %s", request.url.path, session.principal.name, outcome)
            return self.done(request, session, True, outcome, 200, form.get("next"))

        return endpoint

    def _audit(self, request: Request, session: Session, form: dict[str, str], status: int) -> None:
        """One line in the REST API's audit trail per dashboard action, refused ones included;
        never a value (a key's value, a form's token)."""
        trail = getattr(self.service, "audit", None)
        if trail is None:
            return
        changed = {**request.path_params, **{name: form[name] for name in AUDITED_FIELDS if name in form}}
        trail.record(client=request.client.host if request.client else "", identity=session.principal.name,
                     method=request.method, path=request.url.path, status=status, via="dashboard", changed=changed)

    def done(self, request: Request, session: Session | None, ok: bool, message: str, status: int,
             next_page: str | None = None) -> Response:
        """An action's answer: JSON for the page script, else a redirect with a one-time notice
        (or, for a refusal, a page saying why)."""
        target = next_page if next_page and next_page.startswith(f"{PREFIX}/") and "//" not in next_page else None
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"ok": ok, "message": message, "location": target}, status)
        if status in (401, 403) or target is None:
            return self.render(request, session, "refused.html" if status == 403 else "message.html",
                               status if not ok else 200, message=message, ok=ok)
        response = RedirectResponse(target, 303)
        response.set_cookie(FLASH, quote(("ok:" if ok else "error:") + message), max_age=60, path=f"{PREFIX}/",
                            httponly=True, samesite="strict", secure=self.secure_cookie)
        return response

    # ------------------------------------------------------------------ login, live stream

    async def _login_page(self, request: Request) -> Response:
        try:
            if not self._host_ok(request):
                raise Refused(PlainTextResponse("This Host name is not allowed (Host allow-list)", 421))
        except Refused as refused:
            return refused.response
        if self.auth is None:
            return RedirectResponse(f"{PREFIX}/", 303)
        return self.render(request, None, "login.html", next=request.query_params.get("next", f"{PREFIX}/"))

    async def _login(self, request: Request) -> Response:
        if not self._host_ok(request) or not self._same_origin(request):
            return PlainTextResponse("Refused", 403)
        if self.auth is None:
            return RedirectResponse(f"{PREFIX}/", 303)
        form = await self.form(request)
        principal: Principal | None = self.auth.check_key(form.get("key", "").strip())
        next_page = form.get("next", f"{PREFIX}/")
        if not next_page.startswith(f"{PREFIX}/") or "//" in next_page:
            next_page = f"{PREFIX}/"
        if principal is None:
            log.warning("Dashboard: login with an unknown API key from %s", request.client.host if request.client
                        else "?")
            return self.render(request, None, "login.html", 401, next=next_page,
                               error="That API key is not valid.")
        _, cookie = self.signer.issue(principal)
        response = RedirectResponse(next_page, 303)
        self._cookie(response, cookie)
        log.info("Dashboard: %s logged in", principal.name)
        return response

    def logged_out(self) -> Response:
        response = RedirectResponse(f"{PREFIX}/login" if self.auth is not None else f"{PREFIX}/", 303)
        response.delete_cookie(COOKIE, path=f"{PREFIX}/")
        return response

    async def _events(self, request: Request) -> Response:
        try:
            self.who(request, redirect=False)
        except Refused as refused:
            return refused.response
        return StreamingResponse(self.live.stream(), media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})
