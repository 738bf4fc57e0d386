"""Starting qbutler for tests: in-process (fast) or as a real subprocess (signals, kill -9)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from qbutler.config import parse_config
from qbutler.service import Service
from support.net import free_port, wait_for_port

SRC = Path(__file__).resolve().parents[2] / "src"

ALL_SWITCHES: dict[str, Any] = {
    "apiListEnabledEndpoints": True, "base62ToBase16": True, "base16ToBase62": True,
    "butlerping": True, "createDir": True, "createDirQVD": True, "fileDelete": True,
    "fileMove": True, "fileCopy": True, "keyValueStore": True, "mqttPublishMessage": True,
    "newRelic": {"postNewRelicMetric": False, "postNewRelicEvent": False},
    "scheduler": {"createNewSchedule": True, "getSchedule": True, "getScheduleStatusAll": True,
                  "updateSchedule": True, "deleteSchedule": True, "startSchedule": True,
                  "stopSchedule": True},
    "senseAppReload": True, "senseAppDump": True, "senseListApps": True, "senseStartTask": True,
    "slackPostMessage": True,
}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `extra` into a copy of `base` (dicts merge, everything else replaces)."""
    result = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def base_config(port: int = 0, **butler: Any) -> dict[str, Any]:
    """A config with the REST API on loopback and every endpoint switched on."""
    config = {"Butler": {
        "logLevel": "info",
        "restServerConfig": {"enable": True, "serverHost": "127.0.0.1", "serverPort": port},
        "restServerEndpointsEnable": ALL_SWITCHES,
        "qbutler": {"dataDirectory": "data"},
    }}
    return merge(config, {"Butler": butler})


@dataclass
class RunningService:
    service: Service
    url: str

    def client(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10, **options)


@contextlib.asynccontextmanager
async def running_service(config: dict[str, Any], folder: Path) -> AsyncIterator[RunningService]:
    """qbutler in this event loop, on a free port; `folder` is where the config 'lives'."""
    folder.mkdir(parents=True, exist_ok=True)
    service = Service(parse_config(copy.deepcopy(config), folder))
    await service.start()
    try:
        assert service.http is not None
        yield RunningService(service, f"{service.http.scheme}://127.0.0.1:{service.http.port}")
    finally:
        await service.stop()


class QbutlerProcess:
    """`python -m qbutler serve -c FILE` as a child process on a fixed free port."""

    def __init__(self, config: dict[str, Any], folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = merge(config, {"Butler": {"restServerConfig": {"serverPort": self.port}}})
        self.folder = folder
        self.config_file = folder / "qbutler.yaml"
        self.config_file.write_text(yaml.safe_dump(self.config), encoding="utf-8")
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = folder / "qbutler.log"

    def start(self, timeout: float = 20.0) -> None:
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        log = open(self.log_file, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qbutler", "serve", "-c", str(self.config_file)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.folder)
        log.close()
        if not self.config["Butler"].get("restServerConfig", {}).get("enable"):
            return  # nothing to wait for: the caller watches what the process does
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"qbutler exited with {self.process.returncode}:\n{self.log()}")
            try:
                wait_for_port(self.port, timeout=0.2)
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs."""
        self.signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait()

    def stop(self, timeout: float = 10.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code


class ThreadedService:
    """qbutler in its own thread and event loop, for synchronous tests (hypothesis, races)."""

    def __init__(self, config: dict[str, Any], folder: Path):
        self.config = config
        self.folder = folder
        self.url = ""
        self.running: RunningService | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with running_service(self.config, self.folder) as running:
                self.running, self.url = running, running.url
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def __enter__(self) -> ThreadedService:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None or not self.url:
            raise RuntimeError("qbutler did not start") from self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
