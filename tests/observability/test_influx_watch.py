"""InfluxDB: the site watch's measurements (butler-monitoring.md §1.7) read back from a real InfluxDB
1.x: service states at every poll while sensesim stops and starts a service (and Windows services
as sc.exe reports them), the Sense version, the server license, access-license usage, and one point
per released license."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from pathlib import Path

from influxkit import all_ran, field_types, influx_settings, influxql, rows_of, tag_keys, watch_config

from qbutler.watch import service as watch_service
from qbutler.watch import services
from qbutler.watch.windows import ScExe
from support.qbutler import base_config, running_service
from support.sense import Control
from support.waiting import until

NODE = "sensesim-node1"
SCHEDULER = "QlikSenseSchedulerService"
# The Sense services watched by default, by their Windows names.
WATCHED = {f"QlikSense{name}Service" for name in ("Repository", "Proxy", "Scheduler", "Engine", "Printing")}
# sensesim's minimal seed: bob's professional allocation was last used then (anna's is kept by rule).
BOB_LAST_USED = datetime(2023, 11, 1, 8, 30, tzinfo=UTC)
SEATS = {"allocated": "float", "available": "float", "excess": "float", "quarantined": "float", "total": "float",
         "used": "float"}


async def test_service_states_version_and_licenses_read_back(site, control: Control, influxdb, tmp_path: Path):
    async with running_service(watch_config(site, influxdb.port), tmp_path / "q") as running:
        service = running.service
        await all_ran(service)
        monitor = service.watch.services

        async def scheduler_becomes(status: str) -> None:
            await until(lambda: monitor.services.get(f"{NODE}|{SCHEDULER}", {}).get("status") == status, within=10)

        await scheduler_becomes("RUNNING")
        await control.client.put(f"/services/{NODE}/Scheduler", json={"state": "NoCommunication"})
        await scheduler_becomes("STOPPED")
        await control.client.put(f"/services/{NODE}/Scheduler", json={"state": "Running"})
        await scheduler_becomes("RUNNING")
    # Stopping flushed every point written so far.

    # win_service_state: every watched service at every poll, Butler's tags and fields.
    assert await tag_keys(influxdb, "win_service_state") == {"host", "service_name", "display_name",
                                                             "friendly_name", "butler_instance"}
    assert await field_types(influxdb, "win_service_state") == {
        "state_num": "float", "state_text": "string", "startup_mode_num": "float", "startup_mode_text": "string"}
    states = await rows_of(influxdb, "win_service_state")
    polls: dict[str, set[str]] = {}
    for row in states:
        polls.setdefault(row["time"], set()).add(row["service_name"])
    assert len(polls) >= 3 and all(names == WATCHED for names in polls.values())
    scheduler = [row for row in states if row["service_name"] == SCHEDULER]
    assert {row["host"] for row in scheduler} == {NODE}
    assert {(row["display_name"], row["friendly_name"]) for row in scheduler} == {
        ("Qlik Sense Scheduler Service", "Scheduler")}
    assert [text for text, _ in itertools.groupby(row["state_text"] for row in scheduler)] == [
        "RUNNING", "STOPPED", "RUNNING"]
    assert {(row["state_text"], row["state_num"]) for row in scheduler} == {("RUNNING", 4.0), ("STOPPED", 1.0)}
    # Services read through QRS have no start type: Butler's number for an unknown one.
    assert {row["startup_mode_num"] for row in states} == {-1.0}

    [version] = await rows_of(influxdb, "qlik_sense_version")
    assert await field_types(influxdb, "qlik_sense_version") == dict.fromkeys(
        ("content_hash", "sense_id", "version", "deployment_type", "release_label", "deprecated_product_version",
         "product_name", "copyright_year_range"), "string")
    assert await tag_keys(influxdb, "qlik_sense_version") == {"butler_instance", "feature"}
    assert version["version"] == "14.187.4" and version["release_label"] == "May 2024 Patch 3"
    assert version["product_name"] == "Qlik Sense" and version["feature"] == "watch"

    [server] = await rows_of(influxdb, "qlik_sense_server_license")
    assert await field_types(influxdb, "qlik_sense_server_license") == {
        "license_expired": "boolean", "expiry_date": "string", "days_until_expiry": "float"}
    assert await tag_keys(influxdb, "qlik_sense_server_license") == {"butler_instance", "feature"}
    days = math.ceil((datetime(2030, 12, 31, tzinfo=UTC) - datetime.now(UTC)).total_seconds() / 86400)
    assert server["license_expired"] is False and server["expiry_date"] == "2030-12-31"
    assert server["days_until_expiry"] in (days, days + 1)

    # qlik_sense_license: one point per enabled access type (sensesim enables professional and analyzer).
    usage = {row["license_type"]: row for row in await rows_of(influxdb, "qlik_sense_license")}
    assert set(usage) == {"professional", "analyzer"}
    assert await field_types(influxdb, "qlik_sense_license") == SEATS
    assert await tag_keys(influxdb, "qlik_sense_license") == {"butler_instance", "feature", "license_type"}
    analyzer = {key: usage["analyzer"][key] for key in SEATS}
    assert analyzer == {"allocated": 0, "available": 99, "excess": 0, "quarantined": 1, "total": 100, "used": 0}
    professional = usage["professional"]
    # The release may run before or after this read: bob's allocation is there or gone.
    assert professional["total"] == 50 and professional["allocated"] in (1, 2)
    assert professional["allocated"] + professional["available"] == 50

    # One point per license actually released; the user tag keeps its backslash.
    [released] = await rows_of(influxdb, "qlik_sense_license_release")
    assert await tag_keys(influxdb, "qlik_sense_license_release") == {"butler_instance", "feature", "license_type",
                                                                      "user"}
    assert await field_types(influxdb, "qlik_sense_license_release") == {"days_since_last_use": "float"}
    assert released["license_type"] == "professional" and released["user"] == "ACME\\bob"
    since = (datetime.now(UTC) - BOB_LAST_USED).total_seconds() / 86400
    assert released["days_since_last_use"] in (math.floor(since), math.floor(since) - 1)


async def test_destinations_switched_off_write_nothing(site, influxdb, tmp_path: Path):
    # Butler writes released licenses even with licenseRelease.destination.influxDb off; qbutler does not.
    async with running_service(watch_config(site, influxdb.port, destinations=False), tmp_path / "q") as running:
        service = running.service
        await all_ran(service)
        assert service.watch.release.released["professional"] == 1
        await until(lambda: service.watch.services.runs >= 2, within=10)
        await service.influx.wait_idle()
    assert await influxql(influxdb, "SHOW MEASUREMENTS") == []


QUERY = """SERVICE_NAME: postgresql-x64-12
DISPLAY_NAME: postgresql-x64-12 - PostgreSQL Server 12
        TYPE               : 10  WIN32_OWN_PROCESS
        STATE              : {state}
""".replace("\n", "\r\n")
QC = """SERVICE_NAME: postgresql-x64-12
        START_TYPE         : 3   DEMAND_START
        BINARY_PATH_NAME   : C:\\pg\\pg_ctl.exe
        DISPLAY_NAME       : postgresql-x64-12 - PostgreSQL Server 12
""".replace("\n", "\r\n")


async def test_windows_services_carry_their_start_type(influxdb, monkeypatch, tmp_path: Path):
    # sc.exe cannot run here: qbutler believes it runs on Windows and hears what sc.exe prints.
    state = {"value": "4  RUNNING"}

    async def sc(arguments: list[str]) -> str:
        return QUERY.format(state=state["value"]) if arguments[1] == "query" else QC

    monkeypatch.setattr(watch_service.platform, "system", lambda: "Windows")
    monkeypatch.setattr(services, "ScExe", lambda: ScExe(sc))
    config = base_config(influxDb=influx_settings(influxdb.port), serviceMonitor={
        "enable": True, "frequency": "every 1 seconds", "qrs": {"enable": False},
        "monitor": [{"host": "db1", "services": [{"name": "postgresql-x64-12", "friendlyName": "Repository DB"}]}]})
    async with running_service(config, tmp_path / "q") as running:
        monitor = running.service.watch.windows_services
        await until(lambda: monitor.runs >= 1, within=10)
        state["value"] = "1  STOPPED"
        await until(lambda: monitor.services["db1|postgresql-x64-12"]["status"] == "STOPPED", within=10)
    rows = await rows_of(influxdb, "win_service_state")
    assert {(row["host"], row["service_name"], row["display_name"], row["friendly_name"]) for row in rows} == {
        ("db1", "postgresql-x64-12", "postgresql-x64-12 - PostgreSQL Server 12", "Repository DB")}
    assert {(row["startup_mode_num"], row["startup_mode_text"]) for row in rows} == {(2.0, "Manual")}
    assert (rows[0]["state_num"], rows[0]["state_text"]) == (4.0, "RUNNING")
    assert (rows[-1]["state_num"], rows[-1]["state_text"]) == (1.0, "STOPPED")
