"""Helpers of the InfluxDB tests: qbutler's `Butler.influxDb` for a test server, and reading points
back with InfluxQL."""

from __future__ import annotations

from typing import Any

import httpx

from support.qbutler import merge

COMMON_TAGS = {"host", "user", "task_id", "task_name", "log_level", "butler_instance"}
COMMON_FIELDS = {"log_timestamp": "string", "execution_id": "string", "log_message": "string"}
EXECUTION_TAGS = {"task_executingNodeName", "task_executionStatusNum", "task_exeuctionStatusText"}
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
