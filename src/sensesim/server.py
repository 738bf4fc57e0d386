"""`Site`: one simulated Sense site, every listener started and stopped together.

    async with Site(seed="minimal", certs_dir=tmp, udp_targets=[("127.0.0.1", 9998)]) as site:
        site.qrs_port, site.engine_port, site.control_port, site.systeminfo_port

QRS (mTLS), port 9032's systeminfo (mTLS), the control API (plain HTTP, loopback) and, when
`sensesim.engine` provides `start_engine`, the engine websocket (mTLS) share one event loop and
one `State`.  Port 0 means "pick a free port"; the chosen ports are attributes once started.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import shapes
from .certs import ensure_certs, server_ssl_context
from .control import build_control_app
from .qrs import QrsApp, QrsOptions, fault_response, json_response
from .runner import Runner, RunnerConfig
from .state import State, load_seed

log = logging.getLogger("sensesim.server")


def default_certs_dir() -> Path:
    # Reused across runs (certs are re-issued only when invalid), so startup stays fast.
    return Path(tempfile.gettempdir()) / "sensesim-certs"


@dataclass
class SiteConfig:
    seed: str | Path = "minimal"
    certs_dir: Path = field(default_factory=default_certs_dir)
    host: str = "127.0.0.1"
    control_host: str = "127.0.0.1"
    qrs_port: int = 0
    engine_port: int = 0
    control_port: int = 0
    systeminfo_port: int = 0
    engine: bool = True  # start the engine server if sensesim.engine provides one
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    qrs: QrsOptions = field(default_factory=QrsOptions)
    hostnames: tuple[str, ...] = ()  # extra SAN names for the server certificate


class _QuietServer(uvicorn.Server):
    """uvicorn server that leaves signal handling to its owner and stops without polling delay."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_requested = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def request_exit(self) -> None:
        self.should_exit = True
        self._exit_requested.set()

    async def main_loop(self) -> None:
        # uvicorn's loop sleeps 0.1 s between ticks; waking on request_exit makes Site.close fast.
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_requested.wait(), 0.1)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on such sockets, and without it
    # Nagle plus delayed ACKs add 40 ms to every keep-alive response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class SystemInfoApp:
    """Port 9032: `GET /v1/systeminfo`, client cert only, no xrfkey (reference §1.7, §4)."""

    def __init__(self, state: State) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        self.state.record_call("systeminfo", request.method, request.url.path, request.url.query, None)
        rule = self.state.faults.take("systeminfo", request.method, request.url.path)
        if rule is not None:
            if rule.delay_ms:
                await asyncio.sleep(rule.delay_ms / 1000)
            if rule.status is not None:
                await fault_response(rule.status, rule.body)(scope, receive, send)
                return
        if request.url.path.rstrip("/").lower() == "/v1/systeminfo" and request.method == "GET":
            response = json_response(shapes.systeminfo(self.state.site))
        else:
            response = Response(status_code=404)
        await response(scope, receive, send)


class Site:
    def __init__(
        self, config: SiteConfig | None = None, *, state: State | None = None, **overrides: Any
    ) -> None:
        config = config or SiteConfig()
        runner_fields = RunnerConfig.__dataclass_fields__
        for key, value in overrides.items():
            if hasattr(config, key):
                setattr(config, key, value)
            elif key in runner_fields:
                setattr(config.runner, key, value)
            else:
                raise TypeError(f"Site() got an unknown option {key!r}")
        config.certs_dir = Path(config.certs_dir)
        self.config = config
        self.state = state if state is not None else load_seed(config.seed)
        self.runner = Runner(self.state, config.runner)
        self.qrs_port = 0
        self.engine_port: int | None = None
        self.control_port = 0
        self.systeminfo_port = 0
        self._servers: list[tuple[_QuietServer, asyncio.Task[None]]] = []
        self._qrs: tuple[_QuietServer, asyncio.Task[None]] | None = None
        self._engine: Any = None

    # ---- lifecycle

    async def __aenter__(self) -> Site:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        cfg = self.config
        certs = ensure_certs(cfg.certs_dir, cfg.hostnames)
        try:
            self.qrs_port = await self._serve(
                QrsApp(self.state, self.runner, cfg.qrs), cfg.host, cfg.qrs_port, tls=True
            )
            self._qrs = self._servers[-1]
            self.systeminfo_port = await self._serve(
                SystemInfoApp(self.state), cfg.host, cfg.systeminfo_port, tls=True
            )
            self.control_port = await self._serve(
                build_control_app(self.state, self.runner, self.set_qrs_reachable), cfg.control_host,
                cfg.control_port, tls=False
            )
            if cfg.engine:
                await self._start_engine(certs.directory)
            self.runner.triggers.run_in_background()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        await self.runner.close()
        if self._engine is not None:
            engine, self._engine = self._engine, None
            try:
                await engine.close()
            except Exception:  # shutting down: report, but keep closing the rest
                log.exception("engine server did not close cleanly")
        servers, self._servers = self._servers, []
        for server, _ in servers:
            server.request_exit()
        for _, task in servers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)

    async def set_qrs_reachable(self, reachable: bool) -> None:
        """Close QRS's listening socket (connections are refused: "QRS unreachable"), or open it
        again on the same port."""
        if not reachable and self._qrs is not None:
            server, task = self._qrs
            self._qrs = None
            self._servers.remove((server, task))
            server.request_exit()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)
        elif reachable and self._qrs is None:
            cfg = self.config
            await self._serve(QrsApp(self.state, self.runner, cfg.qrs), cfg.host, self.qrs_port, tls=True)
            self._qrs = self._servers[-1]

    # ---- listeners

    async def _serve(self, app: Any, host: str, port: int, tls: bool) -> int:
        sock = _bind(host, port)
        actual = int(sock.getsockname()[1])
        kwargs: dict[str, Any] = {}
        if tls:
            certs = self.config.certs_dir

            def factory(_config: uvicorn.Config, _default: Callable[[], Any]) -> Any:
                return server_ssl_context(certs)

            # ssl_certfile makes uvicorn report https; the context itself comes from certs.py.
            kwargs = {
                "ssl_certfile": str(certs / "server.pem"),
                "ssl_keyfile": str(certs / "server_key.pem"),
                "ssl_context_factory": factory,
            }
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
            **kwargs,
        )
        server = _QuietServer(config)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        self._servers.append((server, task))
        while not server.started:
            if task.done():
                task.result()  # re-raise the startup error
                raise RuntimeError(f"server on {host}:{actual} stopped during startup")
            await asyncio.sleep(0.01)
        return actual

    async def _start_engine(self, certs_dir: Path) -> None:
        try:
            module = importlib.import_module("sensesim.engine")
        except ModuleNotFoundError as exc:
            if exc.name != "sensesim.engine":
                raise  # the engine exists but is broken: say so rather than run without it
            log.warning("sensesim.engine is not installed; running QRS, control and runner only")
            return
        start_engine = getattr(module, "start_engine", None)
        if start_engine is None:
            log.warning("sensesim.engine has no start_engine; running without the engine")
            return
        cfg = self.config
        context = server_ssl_context(certs_dir)
        self._engine = await start_engine(self.state, context, cfg.host, cfg.engine_port)
        # start_engine binds port 0 itself and reports the port it got.
        self.engine_port = int(getattr(self._engine, "port", 0) or cfg.engine_port)

    # ---- convenience for callers

    @property
    def qrs_url(self) -> str:
        return f"https://{self._url_host}:{self.qrs_port}"

    @property
    def engine_url(self) -> str | None:
        return f"wss://{self._url_host}:{self.engine_port}" if self.engine_port else None

    @property
    def control_url(self) -> str:
        return f"http://{self._url_host_for(self.config.control_host)}:{self.control_port}"

    @property
    def systeminfo_url(self) -> str:
        return f"https://{self._url_host}:{self.systeminfo_port}"

    @property
    def _url_host(self) -> str:
        return self._url_host_for(self.config.host)

    @staticmethod
    def _url_host_for(host: str) -> str:
        if host in ("0.0.0.0", ""):
            return "127.0.0.1"
        if host == "::":
            return "[::1]"
        return f"[{host}]" if ":" in host else host

    def describe(self) -> dict[str, Any]:
        """Where everything listens, for humans and for a parent process reading stdout."""
        return {
            "qrs": self.qrs_url,
            "qrsPort": self.qrs_port,
            "engine": self.engine_url,
            "enginePort": self.engine_port,
            "control": self.control_url,
            "controlPort": self.control_port,
            "systeminfo": self.systeminfo_url,
            "systeminfoPort": self.systeminfo_port,
            "certs": str(self.config.certs_dir),
            "udpTargets": [f"{h}:{p}" for h, p in self.config.runner.udp_targets],
            "successMarker": self.config.runner.success_marker,
        }
