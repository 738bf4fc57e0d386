"""Windows services (Butler's `monitor[]`): sc.exe output as Windows prints it, read as Butler
reads it, and the monitor's changes. sc.exe cannot run here, so the monitor test hands it the
text sc.exe prints (the command line it would run is checked too); qbutler on Linux says once
that these services are not watched."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from alertkit import HttpReceiver

from qbutler.config import parse_config
from qbutler.service import Service
from qbutler.watch.services import WindowsServiceMonitor
from qbutler.watch.windows import ScExe, check_host, check_service, parse_details, parse_states
from support.qbutler import base_config

QUERY = """
SERVICE_NAME: QlikSenseEngineService
DISPLAY_NAME: Qlik Sense Engine Service
        TYPE               : 10  WIN32_OWN_PROCESS
        STATE              : 4  RUNNING
                                (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)
        WIN32_EXIT_CODE    : 0  (0x0)
        SERVICE_EXIT_CODE  : 0  (0x0)

SERVICE_NAME: postgresql-x64-12
DISPLAY_NAME: postgresql-x64-12 - PostgreSQL Server 12
        TYPE               : 10  WIN32_OWN_PROCESS
        STATE              : {state}
        WIN32_EXIT_CODE    : 0  (0x0)

SERVICE_NAME: QlikSensePrintingService
DISPLAY_NAME: Qlik Sense Printing Service
        TYPE               : 10  WIN32_OWN_PROCESS
        STATE              : 2  START_PENDING
""".replace("\n", "\r\n")

QC = """[SC] QueryServiceConfig SUCCESS

SERVICE_NAME: postgresql-x64-12
        TYPE               : 10  WIN32_OWN_PROCESS
        START_TYPE         : 2   AUTO_START  (DELAYED)
        ERROR_CONTROL      : 1   NORMAL
        BINARY_PATH_NAME   : "C:\\Program Files\\PostgreSQL\\12\\bin\\pg_ctl.exe" runservice -N "postgresql-x64-12"
        LOAD_ORDER_GROUP   :
        TAG                : 0
        DISPLAY_NAME       : postgresql-x64-12 - PostgreSQL Server 12
        DEPENDENCIES       : RpcSs
                           : Tcpip
        SERVICE_START_NAME : NT AUTHORITY\\NetworkService
""".replace("\n", "\r\n")


def test_states_are_stopped_or_running_as_in_butler():
    states = parse_states(QUERY.format(state="1  STOPPED"))
    assert states == {"QlikSenseEngineService": ("RUNNING", "Qlik Sense Engine Service"),
                      "postgresql-x64-12": ("STOPPED", "postgresql-x64-12 - PostgreSQL Server 12"),
                      # Anything but STOPPED counts as running (Butler's rule).
                      "QlikSensePrintingService": ("RUNNING", "Qlik Sense Printing Service")}


def test_details_give_start_type_path_and_dependencies():
    details = parse_details(QC)
    assert details.startType == "Automatic" and details.dependencies == ["RpcSs", "Tcpip"]
    assert details.exePath.startswith('"C:\\Program Files\\PostgreSQL') and details.name == "postgresql-x64-12"
    # Boot and system start types hang Butler's parser; here they are named.
    assert parse_details(QC.replace("2   AUTO_START  (DELAYED)", "0   BOOT_START")).startType == "Boot"


@pytest.mark.parametrize("host", ["sense1.acme.example", "10.0.0.4", "SENSE_2-b"])
def test_host_names_that_may_reach_a_command_line(host: str):
    assert check_host(host) == host


@pytest.mark.parametrize("host", ["a b", "x&calc", "h;rm", "", "\\\\h"])
def test_host_names_that_may_not(host: str):
    with pytest.raises(ValueError):
        check_host(host)


@pytest.mark.parametrize("name", ['a"b', "a|b", "a$(x)", "x" * 257, ""])
def test_service_names_that_may_not(name: str):
    with pytest.raises(ValueError):
        check_service(name)


async def test_the_monitor_announces_changes_of_listed_services(receiver: HttpReceiver, tmp_path: Path):
    state = {"value": "4  RUNNING"}
    commands: list[list[str]] = []

    async def sc(arguments: list[str]) -> str:
        commands.append(arguments)
        if arguments[1] == "query":
            return QUERY.format(state=state["value"])
        return QC

    config = parse_config(base_config(
        serviceMonitor={"enable": True, "monitor": [{"host": "sense1", "services": [
            {"name": "postgresql-x64-12", "friendlyName": "Repository DB"},
            {"name": "Missing", "friendlyName": "x"}]}]},
        webhookNotification={"serviceMonitor": {"webhooks": [{"webhookURL": receiver.url("/hook"),
                                                               "httpMethod": "POST"}]}}), tmp_path)
    service = Service(config)
    await service.alerts.start()
    try:
        monitor = WindowsServiceMonitor(config, service.alerts, None, ScExe(sc))
        assert await monitor.run_once(), monitor.last_error
        state["value"] = "1  STOPPED"
        assert await monitor.run_once() and await monitor.run_once()
        await service.alerts.deliverer.wait_idle()
    finally:
        await service.alerts.stop()
    [hook] = receiver.at("/hook")
    assert hook.json() == {"event": "Windows service monitor", "host": "sense1", "serviceStatus": "STOPPED",
                           "serviceName": "postgresql-x64-12",
                           "serviceDisplayName": "postgresql-x64-12 - PostgreSQL Server 12",
                           "serviceStartType": "Automatic", "prevState": "RUNNING", "currState": "STOPPED",
                           "stateChanged": True}
    # One `query state= all` per poll; `qc` once, and again after the change.
    assert commands.count(["\\\\sense1", "query", "state=", "all"]) == 3
    assert commands.count(["\\\\sense1", "qc", "postgresql-x64-12"]) == 2


async def test_on_linux_listed_windows_services_are_reported_once(tmp_path: Path, caplog):
    caplog.set_level(logging.WARNING, logger="qbutler")
    config = parse_config(base_config(serviceMonitor={"enable": True, "qrs": {"enable": False}, "monitor": [
        {"host": "sense1", "services": [{"name": "a"}, {"name": "b"}]}]}), tmp_path)
    service = Service(config)
    await service.watch.start()
    await service.watch.stop()
    warnings = [r.getMessage() for r in caplog.records if "Windows services" in r.getMessage()]
    assert len(warnings) == 1 and "2 Windows service(s) on 1 host(s)" in warnings[0]
    assert service.watch.monitors == []
