"""InfluxDB: the external program, user sync, distribute and preload measurements (butler-monitoring.md
§1.6) read back from a real InfluxDB 1.x after sensesim ran one failing and one succeeding task of
each type; `taskTag_<name>` tags where Butler's `tag.dynamic.useTaskTags` writes them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from alertkit import site_start
from influxkit import COMMON_FIELDS, COMMON_TAGS, EXECUTION_FIELDS, EXECUTION_TAGS, field_types, rows_of, tag_keys

import sensesim
from support.qbutler import running_service
from support.sense import running_site, sense_config
from support.waiting import until

# measurement prefix -> (failing task, succeeding task, config prefix)
TASKS = {
    "external_program_task": ("Run ETL batch", "Run cleanup script", "externalProgramTask"),
    "user_sync_task": ("User sync LAB", "User sync ACME", "userSyncTask"),
    "distribute_task": ("Distribute Finance Report", "Distribute Sales Dashboard", "distributeTask"),
    "preload_task": ("Preload Finance Report", "Preload Sales Dashboard", "preloadTask"),
}
SEED_KEYS = ("externalProgramTasks", "userSyncTasks", "distributeTasks", "preloadTasks")
APP_TAGS = {"app_id", "app_name"}
TASK_TAG = "taskTag_Nightly"


@pytest.fixture
async def tagged_site(sense_certs: Path, udp_port: int, tmp_path: Path) -> AsyncIterator[Any]:
    """sensesim's minimal site with every non-reload task tagged `Nightly`."""
    seed = yaml.safe_load((Path(sensesim.__file__).parent / "seeds" / "minimal.yaml").read_text(encoding="utf-8"))
    for key in SEED_KEYS:
        for task in seed[key]:
            task["tags"] = ["Nightly"]
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(seed), encoding="utf-8")
    async with running_site(sense_certs, seed=path, udp_targets=[("127.0.0.1", udp_port)]) as site:
        yield site


def sections() -> dict[str, Any]:
    """Every non-reload measurement on, with task tags, except for external program failures."""
    tags = {"static": [{"name": "event_tag", "value": "on"}], "dynamic": {"useTaskTags": True, "useAppTags": True}}
    found: dict[str, Any] = {f"{prefix}{suffix}": {"enable": True, "tag": tags}
                             for _, _, prefix in TASKS.values() for suffix in ("Failure", "Success")}
    found["externalProgramTaskFailure"] = {"enable": True, "tag": {"static": tags["static"]}}
    return found


async def test_each_task_type_writes_butlers_measurement(tagged_site, udp_port: int, influxdb, tmp_path: Path):
    influx = {"enable": True, "hostIP": "127.0.0.1", "hostPort": influxdb.port, "version": 1,
              "v1Config": {"dbName": "butler"}, "tag": {"static": [{"name": "butler_instance", "value": "prod-1"}]},
              **sections()}
    config = sense_config(tagged_site, udpServerConfig={"enable": True, "serverHost": "127.0.0.1",
                                                        "portTaskFailure": udp_port}, influxDb=influx)
    async with running_service(config, tmp_path / "q") as running:
        for failing, succeeding, _ in TASKS.values():
            await site_start(tagged_site, failing)
            await site_start(tagged_site, succeeding)
        await until(lambda: running.service.influx.counts["written"] >= 8, within=30)

    common = COMMON_TAGS | {"event_tag"}
    # Tags of each measurement (§1.6.1-1.6.3): app tags on app tasks, execution tags on successes, task
    # tags only where Butler's handler and writer agree on the key.
    expected_tags = {
        "external_program_task_failed": common,
        "external_program_task_success": common | EXECUTION_TAGS | {TASK_TAG},
        "user_sync_task_failed": common | {TASK_TAG},
        "user_sync_task_success": common | EXECUTION_TAGS,
        "distribute_task_failed": common | APP_TAGS | {TASK_TAG},
        "distribute_task_success": common | APP_TAGS | EXECUTION_TAGS | {TASK_TAG},
        "preload_task_failed": common | APP_TAGS | {TASK_TAG},
        "preload_task_success": common | APP_TAGS | EXECUTION_TAGS,
    }
    for prefix, (failing, succeeding, _) in TASKS.items():
        for outcome, task in (("failed", failing), ("success", succeeding)):
            measurement = f"{prefix}_{outcome}"
            assert await tag_keys(influxdb, measurement) == expected_tags[measurement], measurement
            fields = {**COMMON_FIELDS, **(EXECUTION_FIELDS if outcome == "success" else {})}
            assert await field_types(influxdb, measurement) == fields, measurement
            [row] = await rows_of(influxdb, measurement)
            assert row["task_name"] == task and row["butler_instance"] == "prod-1" and row["event_tag"] == "on"
            assert "\\" not in row["user"] and row["log_level"]
            if TASK_TAG in expected_tags[measurement]:
                assert row[TASK_TAG] == "true"
            if outcome == "success":
                assert row["task_exeuctionStatusText"] == "FinishedSuccess" and row["task_executionStatusNum"] == "7"
                assert re.fullmatch(r'\{"hours":\d+,"minutes":\d+,"seconds":\d+\}',
                                    row["task_executionDuration_json"])
    for measurement, app in (("distribute_task_success", "Sales Dashboard"), ("preload_task_failed", "Finance Report")):
        [row] = await rows_of(influxdb, measurement)
        assert row["app_name"] == app and row["app_id"]
    # External program and distribute times are luxon objects; user sync and preload have Butler's
    # startTimeUTC / startTimeLocal1..5 (§1.6.4).
    times = {m: orjson.loads((await rows_of(influxdb, m))[0]["task_executionStartTime_json"])
             for m in ("external_program_task_success", "distribute_task_success", "user_sync_task_success",
                       "preload_task_success")}
    luxon = {"year", "month", "day", "hour", "minute", "second", "millisecond"}
    assert set(times["external_program_task_success"]) == set(times["distribute_task_success"]) == luxon
    butler = {"startTimeUTC", *(f"startTimeLocal{n}" for n in range(1, 6))}
    assert set(times["user_sync_task_success"]) == set(times["preload_task_success"]) == butler
