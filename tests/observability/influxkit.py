"""Helpers of the InfluxDB tests: qbutler's `Butler.influxDb` for a test server, and reading points
back with InfluxQL."""

from __future__ import annotations

from typing import Any

import httpx

from support.qbutler import merge
from support.sense import sense_config
from support.waiting import until

COMMON_TAGS = {"host", "user", "task_id", "task_name", "log_level", "butler_instance"}
COMMON_FIELDS = {"log_timestamp": "string", "execution_id": "string", "log_message": "string"}
EXECUTION_TAGS = {"task_executingNodeName", "task_executionStatusNum", "task_exeuctionStatusText"}
FEATURE_TAG = [{"name": "feature", "value": "watch"}]
EXECUTION_FIELDS = {"task_executionStartTime_json": "string", "task_executionStopTime_json": "string",
                    "task_executionDuration_json": "string", "task_executionDuration_sec": "float",
                    "task_executionDuration_min": "float", "task_executionDuration_h": "float"}


def influx_settings(port: int, version: int = 1, **extra: Any) -> dict[str, Any]:
    settings = {
        "enable": True, "hostIP": "127.0.0.1", "hostPort": port, "version": version,
        "v1Config": {"dbName": "butler", "retentionPolicy": {"name": "7d", "duration": "7d"}},
        "v2Config": {"org": "acme", "bucket": "butler", "token": "v2-token"},
        "v3Config": {"database": "butlerdb", "token": "v3-token"},
        "tag": {"static": [{"name": "butler_instance", "value": "prod-1"}]},
        "reloadTaskFailure": {"enable": True, "tailScriptLogLines": 5,
                              "tag": {"static": [{"name": "event_tag", "value": "failure"}]}},
        "reloadTaskSuccess": {"enable": True, "allReloadTasks": {"enable": True}, "headScriptLogLines": 3,
                              "tailScriptLogLines": 4},
        "externalProgramTaskFailure": {"enable": True},
    }
    return merge(settings, extra)


async def influxql(server: Any, query: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.url) as client:
        answer = await client.get("/query", params={"db": "butler", "q": query})
    answer.raise_for_status()
    return answer.json()["results"][0].get("series") or []


async def rows_of(server: Any, measurement: str) -> list[dict[str, Any]]:
    series = await influxql(server, f'SELECT * FROM "{measurement}"')
    return [dict(zip(s["columns"], values, strict=True)) for s in series for values in s["values"]]


async def field_types(server: Any, measurement: str) -> dict[str, str]:
    series = await influxql(server, f'SHOW FIELD KEYS FROM "{measurement}"')
    return {name: kind for name, kind in series[0]["values"]} if series else {}


async def tag_keys(server: Any, measurement: str) -> set[str]:
    series = await influxql(server, f'SHOW TAG KEYS FROM "{measurement}"')
    return {row[0] for row in series[0]["values"]} if series else set()


def watch_config(site: Any, influx_port: int, version: int = 1, *, destinations: bool = True) -> dict[str, Any]:
    """Every monitor of the watch on, writing to InfluxDB when `destinations` (Butler's switches)."""
    influx = {"enable": destinations, "tag": {"static": FEATURE_TAG}}
    return sense_config(
        site,
        influxDb=influx_settings(influx_port, version),
        serviceMonitor={"enable": True, "frequency": "every 1 seconds",
                        "alertDestination": {"influxDb": {"enable": destinations}}},
        qlikSenseVersion={"versionMonitor": {
            "enable": True, "frequency": "every 1 hours", "host": "127.0.0.1", "port": site.systeminfo_port,
            "rejectUnauthorized": True, "destination": {"influxDb": influx}}},
        qlikSenseLicense={
            "serverLicenseMonitor": {"enable": True, "frequency": "every 1 hours",
                                     "destination": {"influxDb": influx}},
            "licenseMonitor": {"enable": True, "frequency": "every 1 hours", "destination": {"influxDb": influx}},
            "licenseRelease": {"enable": True, "dryRun": False, "frequency": "every 1 hours",
                               "neverRelease": {"user": [{"userDir": "ACME", "userId": "anna"}]},
                               "licenseType": {"professional": {"enable": True, "releaseThresholdDays": 30}},
                               "destination": {"influxDb": influx}}})


async def all_ran(service: Any) -> None:
    """Until every watch monitor that runs at start-up has run once, without failing."""
    watch = service.watch
    monitors = (watch.server_license, watch.access_licenses, watch.release, watch.version)
    await until(lambda: all(m.runs >= 1 for m in monitors), within=15)
    assert all(m.failures == 0 for m in monitors), [m.last_error for m in monitors]
