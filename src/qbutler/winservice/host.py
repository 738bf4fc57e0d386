"""The service Windows starts (pythonservice.exe loads this class): runs qbutler until the service
manager asks it to stop. Windows only: pywin32 is installed there (`sys_platform == "win32"`)."""

from __future__ import annotations

import asyncio
import threading

import servicemanager
import win32service
import win32serviceutil

from qbutler.config import load_config
from qbutler.logs import setup_logging
from qbutler.runtime import run
from qbutler.service import Service
from qbutler.winservice import DESCRIPTION, DISPLAY_NAME, NAME

CONFIG_OPTION = "configfile"


class QbutlerService(win32serviceutil.ServiceFramework):
    _svc_name_ = NAME
    _svc_display_name_ = DISPLAY_NAME
    _svc_description_ = DESCRIPTION

    def __init__(self, args: list[str]):
        super().__init__(args)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def SvcStop(self) -> None:
        self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
        self._ready.wait(30)
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def SvcDoRun(self) -> None:
        path = win32serviceutil.GetServiceCustomOption(self._svc_name_, CONFIG_OPTION)
        config = load_config(path)
        butler = config.Butler
        # A service has no console: the log goes to the log folder whatever fileLogging says.
        setup_logging(butler.logLevel, True, config.resolve_path(butler.logDirectory), console=False)
        servicemanager.LogInfoMsg(f"{NAME}: starting with {path}")
        run(self._serve(Service(config)))
        servicemanager.LogInfoMsg(f"{NAME}: stopped")

    async def _serve(self, service: Service) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await service.run_until(self._stop)
