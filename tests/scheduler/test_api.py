"""/v4/schedules end to end: qbutler's REST API over a socket, tasks started in sensesim."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
import yaml

from support.qbutler import running_service
from support.scheduling import TASK, schedule, task_starts, write_schedules
from support.sense import sense_config

TEXT = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"
NEW = {"name": "Every 30 sec", "cronSchedule": "*/30 * * * * *", "timezone": "Europe/Stockholm",
       "qlikSenseTaskId": TASK, "startupState": "started", "tags": ["Sales", "abc 123 åäö"]}


@pytest.fixture
async def api(sense_site, tmp_path: Path):
    write_schedules(tmp_path / "schedule.yaml", [schedule("task-1", "0 0 * * *", "Europe/London", owner="ops")])
    config = sense_config(sense_site, scheduler={"enable": True, "configfile": "schedule.yaml"})
    async with running_service(config, tmp_path) as running, running.client() as client:
        client.file = tmp_path / "schedule.yaml"  # type: ignore[attr-defined]
        yield client


def stored(api) -> list[dict]:
    return yaml.safe_load(api.file.read_text(encoding="utf-8"))["butlerSchedule"]


async def test_create_answers_butlers_text_body_and_saves(api):
    response = await api.post("/v4/schedules", json=NEW)
    assert response.status_code == 201
    assert response.headers["content-type"] == TEXT
    created = orjson.loads(response.content)
    assert list(created) == [*NEW, "id", "created", "lastKnownState"]
    assert created["lastKnownState"] == "started"
    assert response.content == orjson.dumps(created)  # compact, as JSON.stringify writes it
    assert stored(api)[1] == created


async def test_create_keeps_unknown_fields_and_refuses_bad_cron(api):
    response = await api.post("/v4/schedules", json={**NEW, "owner": "ops", "startupState": "stopped"})
    assert orjson.loads(response.content)["owner"] == "ops"
    assert stored(api)[1]["owner"] == "ops"
    bad = await api.post("/v4/schedules", json={**NEW, "name": "Xmas", "cronSchedule": "0 0 25 12 *"})
    assert bad.status_code == 400
    message = bad.json()["message"]
    assert "(Xmas): field 'cronSchedule': month field of '0 0 25 12 *': value 12 is out of range 0-11" in message
    zone = await api.post("/v4/schedules", json={**NEW, "timezone": "Europe/Atlantis"})
    assert zone.status_code == 400 and "unknown time zone 'Europe/Atlantis'" in zone.json()["message"]
    assert len(stored(api)) == 2


@pytest.mark.parametrize(("change", "message"), [
    ({"startupState": "running"}, "body/startupState must be equal to one of the allowed values"),
    ({"tags": {"a": 1}}, "body/tags must be array"),
])
async def test_create_validates_like_butler(api, change, message):
    response = await api.post("/v4/schedules", json={**NEW, **change})
    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "code": "FST_ERR_VALIDATION", "error": "Bad Request",
                               "message": message}
    missing = await api.post("/v4/schedules", json={"name": "x"})
    assert missing.json()["message"] == "body must have required property 'cronSchedule'"


async def test_list_is_filtered_json_and_by_id_is_full_text(api):
    listed = await api.get("/v4/schedules")
    assert listed.headers["content-type"] == JSON
    [item] = listed.json()
    assert list(item) == ["id", "name", "cronSchedule", "timezone", "qlikSenseTaskId", "startupState",
                          "lastKnownState"]
    one = await api.get("/v4/schedules", params={"id": "task-1"})
    assert one.headers["content-type"] == TEXT
    [full] = orjson.loads(one.content)
    assert full["owner"] == "ops"
    missing = await api.get("/v4/schedules?id=")
    assert missing.status_code == 400
    assert missing.json() == {"statusCode": 400, "error": "Bad Request",
                              "message": "REST SCHEDULER: Schedule ID  not found."}


async def test_start_stop_and_all(api):
    stopped = await api.put("/v4/schedules/task-1/stop")
    assert stopped.headers["content-type"] == TEXT
    assert [s["lastKnownState"] for s in orjson.loads(stopped.content)] == ["stopped"]
    assert stored(api)[0]["lastKnownState"] == "stopped"
    status = (await api.get("/v4/schedules/status")).json()
    assert status[0]["state"] == "stopped" and status[0]["nextFireTime"] is None
    await api.post("/v4/schedules", json=NEW)
    started = orjson.loads((await api.put("/v4/schedules/startall")).content)
    assert [s["lastKnownState"] for s in started] == ["started", "started"]
    stopped_all = orjson.loads((await api.put("/v4/schedules//stop")).content)
    assert [s["lastKnownState"] for s in stopped_all] == ["stopped", "stopped"]
    unknown = await api.put("/v4/schedules/nope/start")
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "REST SCHEDULER: Failed starting schedule ID nope."


async def test_delete(api):
    assert (await api.delete("/v4/schedules/task-1")).status_code == 204
    assert stored(api) == []
    again = await api.delete("/v4/schedules/task-1")
    assert again.status_code == 400
    assert again.json()["message"] == "REST SCHEDULER: Delete for schedule ID task-1 failed."


async def test_update_changes_fields_and_reschedules(api):
    response = await api.put("/v4/schedules/task-1", json={"cronSchedule": "30 6 * * *", "timezone": "Asia/Tokyo"})
    assert response.status_code == 200
    assert response.json()["cronSchedule"] == "30 6 * * *"
    assert response.json()["owner"] == "ops"
    assert stored(api)[0]["timezone"] == "Asia/Tokyo"
    [status] = (await api.get("/v4/schedules/status")).json()
    assert status["timezone"] == "Asia/Tokyo"
    assert status["nextFireTime"].endswith("T21:30:00.000Z")  # 06:30 in Tokyo
    bad = await api.put("/v4/schedules/task-1", json={"cronSchedule": "0 0 * * 7"})
    assert bad.status_code == 400 and "day of week field" in bad.json()["message"]
    renamed = await api.put("/v4/schedules/task-1", json={"id": "other"})
    assert renamed.status_code == 400 and "field 'id' cannot be changed" in renamed.json()["message"]
    assert (await api.put("/v4/schedules/nope", json={})).status_code == 400


async def test_status_is_json_with_times(api):
    response = await api.get("/v4/schedules/status")
    assert response.headers["content-type"] == JSON
    [status] = response.json()
    assert status["id"] == "task-1"
    assert status["state"] == "running"
    assert status["timezone"] == "Europe/London"
    assert status["nextFireTime"].endswith(("T23:00:00.000Z", "T00:00:00.000Z"))


async def test_created_schedule_fires_into_sense(api, sense_control):
    await api.post("/v4/schedules", json={**NEW, "cronSchedule": "* * * * * *"})
    starts = await task_starts(sense_control, 2, wait=4)
    assert len(starts) >= 2
    assert all(call["path"] == f"/qrs/task/{TASK}/start" for call in starts)
    await api.put("/v4/schedules/stopall")
    await asyncio.sleep(0.2)
    count = len(await task_starts(sense_control, 0))
    await asyncio.sleep(1.5)
    assert len(await task_starts(sense_control, 0)) == count


async def test_file_edited_on_disk_is_picked_up(sense_site, tmp_path: Path):
    write_schedules(tmp_path / "schedule.yaml", [])
    config = sense_config(sense_site, scheduler={"enable": True, "configfile": "schedule.yaml",
                                                 "reloadIntervalSeconds": 0.1})
    async with running_service(config, tmp_path) as running, running.client() as client:
        write_schedules(tmp_path / "schedule.yaml", [schedule("edited", "0 0 * * *", lastKnownState="started")])
        for _ in range(50):
            status = (await client.get("/v4/schedules/status")).json()
            if status:
                break
            await asyncio.sleep(0.05)
        assert [(s["id"], s["state"]) for s in status] == [("edited", "running")]


async def test_disabled_scheduler_answers_503(tmp_path: Path):
    from support.qbutler import base_config

    async with running_service(base_config(), tmp_path) as running, running.client() as client:
        response = await client.get("/v4/schedules")
    assert response.status_code == 503
    assert "Butler.scheduler.enable is false" in response.json()["message"]
