"""InfluxDB: Butler's measurements, tags and fields (butler-monitoring.md §1) read back from a real
InfluxDB 1.x with InfluxQL; the v2 and v3 wire checked against a recording HTTP server."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import datetime
from pathlib import Path

import orjson
from alertkit import FINANCE_TASK, site_start
from historykit import history_config
from influxkit import (
    COMMON_FIELDS,
    COMMON_TAGS,
    EXECUTION_FIELDS,
    EXECUTION_TAGS,
    all_ran,
    field_types,
    influx_settings,
    influxql,
    rows_of,
    tag_keys,
    watch_config,
)

from qbutler import __version__
from qbutler.config import parse_config
from qbutler.influx.line import Point, one_per_series
from qbutler.influx.writer import InfluxWriter
from support.qbutler import base_config, merge, running_service
from support.sense import sense_config
from support.waiting import until

SALES_TASK = "Reload Sales Dashboard"
ETL_TASK = "Run ETL batch"
# Version, write path, query and token of the v2 and v3 wire (influx_settings).
WIRES = ((2, "/api/v2/write", "org=acme&bucket=butler&precision=ns", "v2-token"),
         (3, "/api/v2/write", "bucket=butlerdb&precision=ns", "v3-token"))

async def test_butler_measurements_read_back_from_influxdb_1(site, udp_port, receiver, influxdb, tmp_path: Path):
    config = merge(history_config(site, udp_port, receiver), {"Butler": {"influxDb": influx_settings(influxdb.port)}})
    async with running_service(config, tmp_path / "qbutler") as running:
        finance = await site_start(site, FINANCE_TASK)
        sales = await site_start(site, SALES_TASK)
        etl = await site_start(site, ETL_TASK)
        influx = running.service.influx
        assert influx is not None
        await until(lambda: running.service.alerts.listener.processed >= 3, within=20)
        await until(lambda: influx.counts["written"] >= 3, within=20)
        await influx.wait_idle()

    policies = await influxql(influxdb, 'SHOW RETENTION POLICIES ON "butler"')
    assert ["7d", "168h0m0s", True] in [[p[0], p[1], p[-1]] for p in policies[0]["values"]]

    [failed] = await rows_of(influxdb, "reload_task_failed")
    assert await tag_keys(influxdb, "reload_task_failed") == COMMON_TAGS | EXECUTION_TAGS | {
        "app_id", "app_name", "event_tag"}
    assert await field_types(influxdb, "reload_task_failed") == {
        **COMMON_FIELDS, **EXECUTION_FIELDS, "task_scriptLogSize": "float", "task_scriptLogTailCount": "float",
        "scriptLog": "string", "reload_log": "string"}
    assert failed["task_id"] == finance and failed["task_name"] == FINANCE_TASK
    assert failed["app_name"] == "Finance Report"
    assert failed["butler_instance"] == "prod-1" and failed["event_tag"] == "failure"
    assert "\\" not in failed["user"] and "/" in failed["user"]
    assert failed["task_executionStatusNum"] == "8" and failed["task_exeuctionStatusText"] == "FinishedFail"
    assert failed["task_scriptLogTailCount"] == 5.0 and failed["scriptLog"] == failed["reload_log"]
    details, tail = failed["scriptLog"].split("\r\n-------------------------------\r\n\r\n")
    assert "\t" in details and len(tail.split("\r\n")) == 5
    assert re.fullmatch(r'\{"hours":\d+,"minutes":\d+,"seconds":\d+\}', failed["task_executionDuration_json"])
    assert set(orjson.loads(failed["task_executionStartTime_json"])) == {
        "startTimeUTC", *(f"startTimeLocal{n}" for n in range(1, 6))}

    [success] = await rows_of(influxdb, "reload_task_success")
    assert await tag_keys(influxdb, "reload_task_success") == COMMON_TAGS | EXECUTION_TAGS | {"app_id", "app_name"}
    assert await field_types(influxdb, "reload_task_success") == {
        **COMMON_FIELDS, **EXECUTION_FIELDS, "task_scriptLogSize": "float", "task_scriptLogHeadCount": "float",
        "task_scriptLogTailCount": "float", "scriptLog": "string", "reload_log": "string"}
    assert success["task_id"] == sales and success["task_exeuctionStatusText"] == "FinishedSuccess"
    assert "---------- SCRIPT LOG HEAD (3 lines) ----------" in success["scriptLog"]
    assert "---------- SCRIPT LOG TAIL (4 lines) ----------" in success["scriptLog"]

    [external] = await rows_of(influxdb, "external_program_task_failed")
    assert await tag_keys(influxdb, "external_program_task_failed") == COMMON_TAGS
    assert await field_types(influxdb, "external_program_task_failed") == COMMON_FIELDS
    assert external["task_id"] == etl

    # Aborted runs and measurements not switched on write nothing.
    assert await influxql(influxdb, 'SHOW MEASUREMENTS') == [{"name": "measurements", "columns": ["name"], "values": [
        ["external_program_task_failed"], ["reload_task_failed"], ["reload_task_success"]]}]


async def test_memory_is_written_at_each_tick_of_the_uptime_monitor(influxdb, receiver, tmp_path: Path):
    # A cron schedule (every 2 seconds) is read by the uptime monitor like any frequency; New Relic
    # refuses the first tick's gauges, which fails that run but not its InfluxDB point.
    receiver.script("/metric/v1", (500, {}))
    config = base_config(
        influxDb=influx_settings(influxdb.port),
        uptimeMonitor={"enable": True, "frequency": "*/2 * * * * *", "storeInInfluxdb": {"enable": True},
                       "storeNewRelic": {"enable": True, "destinationAccount": ["Prod"],
                                         "url": receiver.url("/metric/v1")}},
        thirdPartyToolsCredentials={"newRelic": [{"accountName": "Prod", "insertApiKey": "key", "accountId": 1}]})
    async with running_service(config, tmp_path / "qbutler") as running:
        monitor = running.service.watch.uptime
        while monitor.runs < 4:
            await asyncio.wait_for(monitor.wait_run(), 10)
        assert monitor.failures == 1
    # Stopped: the watch before InfluxDB, so every tick's point is flushed.
    rows = await rows_of(influxdb, "butler_memory_usage")
    assert len(rows) == monitor.iteration >= 4  # one point per tick, none at start-up
    assert await field_types(influxdb, "butler_memory_usage") == {
        "heap_used": "float", "heap_total": "float", "external": "float", "process_memory": "float"}
    assert await tag_keys(influxdb, "butler_memory_usage") == {"butler_instance", "version"}
    assert all(row["version"] == __version__ and row["butler_instance"] == "prod-1" and row["process_memory"] > 1
               for row in rows)
    # InfluxDB stamps each point as it arrives: two seconds apart, as the schedule ticks.
    times = [datetime.fromisoformat(row["time"]).timestamp() for row in rows]
    gaps = sorted(later - earlier for earlier, later in itertools.pairwise(times))
    assert gaps[0] >= 1.0 and 1.5 <= gaps[len(gaps) // 2] <= 2.5, gaps


async def test_the_script_log_is_fetched_for_influxdb_when_no_alert_channel_wanted_it(
        site, udp_port, influxdb, tmp_path: Path):
    udp = {"enable": True, "serverHost": "127.0.0.1", "portTaskFailure": udp_port}
    config = sense_config(site, udpServerConfig=udp,
                          scriptLog={"retries": 5, "retryDelaySeconds": 0.2},
                          influxDb=influx_settings(influxdb.port))
    async with running_service(config, tmp_path / "qbutler") as running:
        await site_start(site, FINANCE_TASK)
        await until(lambda: running.service.influx.counts["written"] >= 1, within=20)
    [failed] = await rows_of(influxdb, "reload_task_failed")
    assert failed["task_exeuctionStatusText"] == "FinishedFail" and failed["task_scriptLogTailCount"] == 5.0


async def test_v2_and_v3_wire_and_a_retried_write(site, udp_port, receiver, tmp_path: Path):
    assert receiver.listener is not None
    for version, path, query, token in WIRES:
        receiver.requests.clear()
        receiver.script(path, (503, {}))  # the first write fails; the batch is sent again
        config = merge(history_config(site, udp_port, receiver), {"Butler": {
            "influxDb": influx_settings(receiver.listener.port, version)}})
        async with running_service(config, tmp_path / f"qbutler{version}") as running:
            await site_start(site, FINANCE_TASK)
            await until(lambda: running.service.influx.counts["written"] >= 1, within=20)
        writes = receiver.at(path, delivered_only=False)
        assert [w.status for w in writes] == [503, 200]
        assert writes[0].body == writes[1].body
        first = writes[1]
        assert first.method == "POST" and first.query == query
        assert first.headers["authorization"] == f"Token {token}"
        # One point (its script-log strings hold line breaks of their own).
        line = first.body.decode()
        assert line.startswith("reload_task_failed,") and "\nreload_task" not in line
        fields = re.split(r"(?<!\\) ", line, maxsplit=1)[1]  # after the first unescaped space
        # v2/v3: fields in Butler's insertion order (v1 sorts them), numbers as floats, no timestamp.
        assert fields.startswith('log_timestamp="') and re.search(r"task_scriptLogTailCount=5\.0", fields)
        assert not re.search(r"=\d+i\b", fields) and line.endswith('"')


async def test_v2_and_v3_wire_of_the_site_watch_points(site, control, receiver, tmp_path: Path):
    assert receiver.listener is not None
    for version, path, query, token in WIRES:
        receiver.requests.clear()
        await control.reset()  # bob's allocation is back for the license release
        config = watch_config(site, receiver.listener.port, version)
        async with running_service(config, tmp_path / f"q{version}") as running:
            await all_ran(running.service)
            await until(lambda: running.service.watch.services.runs >= 2, within=10)
        writes = receiver.at(path)
        assert writes and {(w.method, w.query, w.headers["authorization"]) for w in writes} == {
            ("POST", query, f"Token {token}")}
        lines: dict[str, list[str]] = {}
        for write in writes:
            for line in write.body.decode().split("\n"):
                lines.setdefault(line.split(",", 1)[0], []).append(line)
        assert set(lines) == {"win_service_state", "qlik_sense_version", "qlik_sense_server_license",
                              "qlik_sense_license", "qlik_sense_license_release"}
        # Tags sorted; fields in Butler's order (v1 would sort them), numbers as floats, strings
        # quoted, no timestamp; QRS knows no start type (-1, empty text).
        assert ("win_service_state,butler_instance=prod-1,display_name=Qlik\\ Sense\\ Scheduler\\ Service,"
                "friendly_name=Scheduler,host=sensesim-node1,service_name=QlikSenseSchedulerService "
                'state_num=4.0,state_text="RUNNING",startup_mode_num=-1.0,startup_mode_text=""'
                ) in lines["win_service_state"]
        assert lines["qlik_sense_version"] == [
            'qlik_sense_version,butler_instance=prod-1,feature=watch content_hash="2ea8a6c4f3b1d9e7a5c3b1f9d7e5a3c1",'
            'sense_id="qliksenseserver:14.187.4",version="14.187.4",deployment_type="QlikSenseServer",'
            'release_label="May 2024 Patch 3",deprecated_product_version="4.0.X",product_name="Qlik Sense",'
            'copyright_year_range="1993-2024"']
        [server] = lines["qlik_sense_server_license"]
        assert re.fullmatch(r'qlik_sense_server_license,butler_instance=prod-1,feature=watch license_expired=false,'
                            r'expiry_date="2030-12-31",days_until_expiry=\d+\.0', server), server
        # One point per enabled access type (sensesim's minimal site: analyzer and professional).
        usage = {re.search(r"license_type=(\w+) ", line).group(1): line for line in lines["qlik_sense_license"]}
        assert len(usage) == len(lines["qlik_sense_license"]) and set(usage) == {"analyzer", "professional"}
        assert usage["analyzer"] == ("qlik_sense_license,butler_instance=prod-1,feature=watch,license_type=analyzer "
                                     "allocated=0.0,available=99.0,excess=0.0,quarantined=1.0,total=100.0,used=0.0")
        # The release may run before or after the usage read: bob's allocation is there or gone.
        assert re.fullmatch(r"qlik_sense_license,butler_instance=prod-1,feature=watch,license_type=professional "
                            r"allocated=(1|2)\.0,available=(49|48)\.0,excess=0\.0,quarantined=0\.0,total=50\.0,"
                            r"used=(1|2)\.0", usage["professional"]), usage["professional"]
        [released] = lines["qlik_sense_license_release"]
        assert re.fullmatch(r"qlik_sense_license_release,butler_instance=prod-1,feature=watch,"
                            r"license_type=professional,user=ACME\\bob days_since_last_use=\d+\.0", released), released


async def test_points_of_one_series_gathered_into_one_batch_are_all_kept(influxdb, tmp_path: Path):
    # Points carry no timestamp (as Butler's): two of one series in one request would get the same
    # server time and the second would replace the first. A burst, or a backlog after an outage,
    # gathers such points into one batch; every one of them must be stored.
    config = parse_config({"Butler": {"influxDb": influx_settings(influxdb.port)}}, tmp_path)
    writer = InfluxWriter(config.Butler.influxDb)
    await writer.start()
    try:
        for state in ("RUNNING", "STOPPED", "RUNNING"):
            writer.put(Point("win_service_state", {"host": "node-1", "service_name": "QlikSenseSchedulerService"},
                             {"state_text": state}))
        writer.put(Point("win_service_state", {"host": "node-1", "service_name": "QlikSenseEngineService"},
                         {"state_text": "RUNNING"}))
        await writer.wait_idle()
    finally:
        await writer.stop()
    rows = await rows_of(influxdb, "win_service_state")
    scheduler = [row["state_text"] for row in rows if row["service_name"] == "QlikSenseSchedulerService"]
    assert scheduler == ["RUNNING", "STOPPED", "RUNNING"]
    assert len(rows) == 4


def test_a_batch_is_split_so_no_request_holds_a_series_twice():
    a1, a2, a3 = (Point("m", {"host": "a"}, {"n": n}) for n in (1, 2, 3))
    b = Point("m", {"host": "b"}, {"n": 1})
    other = Point("other", {"host": "a"}, {"n": 1})
    assert one_per_series([a1, b, a2, other, a3]) == [[a1, b, other], [a2], [a3]]
    # An empty tag value is left out of the line, so it names the same series as no tag at all.
    assert one_per_series([Point("m", {"x": ""}, {"n": 1}), Point("m", {}, {"n": 2})]) == [
        [Point("m", {"x": ""}, {"n": 1})], [Point("m", {}, {"n": 2})]]
