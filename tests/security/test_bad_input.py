"""Inputs a fuzzing run turned into server errors (issue #16): each gets a 4xx naming the problem,
and a refused request changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from support.qbutler import base_config, running_service


def problem(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status
    return body["message"]


@pytest.fixture
async def api(tmp_path: Path):
    (tmp_path / "qvd").mkdir()
    config = base_config(keyValueStore={"backend": "memory"},
                         scheduler={"enable": True, "configfile": "schedule.yaml"},
                         configDirectories={"qvdPath": str(tmp_path / "qvd")})
    (tmp_path / "schedule.yaml").write_text("butlerSchedule: []\n", encoding="utf-8")
    async with running_service(config, tmp_path) as running, running.client() as client:
        client.folder = tmp_path  # type: ignore[attr-defined]
        yield client


@pytest.mark.parametrize(("ttl", "message"), [
    (1e308, "body/ttl must be <= 315360000000"),
    (-1e308, "body/ttl must be >= -315360000000"),
    (123456789012345678901234567890, "body/ttl must be <= 315360000000"),
    (0.5, "body/ttl must be multiple of 1"),
    (1500.9, "body/ttl must be multiple of 1"),
    (True, "body/ttl must NOT be boolean"),
])
async def test_a_ttl_that_is_not_a_whole_number_of_ms_up_to_ten_years_is_refused_and_nothing_stored(api, ttl, message):
    response = await api.post("/v4/keyvalues/ns", json={"key": "k", "value": "v", "ttl": ttl})
    assert problem(response, 400) == message
    assert (await api.get("/v4/keyvaluesnamespaces")).json() == []


@pytest.mark.parametrize("ttl", [315360000000, 1000.0, "60000", -315360000000])
async def test_ttls_at_the_bounds_and_integral_floats_are_stored(api, ttl):
    response = await api.post("/v4/keyvalues/ns", json={"key": "k", "value": "v", "ttl": ttl})
    assert response.status_code == 201
    assert response.json()["ttl"] == int(float(ttl))


@pytest.mark.parametrize(("path", "message"), [
    ("/v4/base16tobase62?base16=N", "querystring/base16 is not a base16 number: 'N' is not one of its digits"),
    ("/v4/base62tobase16?base62=%C2%9F",
     "querystring/base62 is not a base62 number: '\\x9f' is not one of its digits"),
])
async def test_a_character_outside_the_alphabet_is_400(api, path, message):
    assert problem(await api.get(path), 400) == message


async def test_a_schedule_nested_a_thousand_levels_deep_is_400_and_not_saved(api):
    body = {"name": "deep", "cronSchedule": "0 0 * * *", "timezone": "UTC",
            "qlikSenseTaskId": "t", "startupState": "stopped"}
    nested = '{"a":' * 1000 + '"x"' + "}" * 1000
    text = orjson.dumps(body).decode()[:-1] + f',"extra":{nested}}}'
    response = await api.post("/v4/schedules", content=text, headers={"content-type": "application/json"})
    assert problem(response, 400) == "body nests objects and arrays more than 32 levels deep"
    saved = yaml.safe_load((api.folder / "schedule.yaml").read_text(encoding="utf-8"))
    assert saved["butlerSchedule"] == []
    # Ordinary nesting still works.
    shallow = await api.post("/v4/schedules", json={**body, "extra": {"a": {"b": [1, [2]]}}})
    assert shallow.status_code == 201


@pytest.mark.parametrize("path", ["/v4/createdirqvd", "/v4/createdir"])
async def test_a_null_directory_is_400_and_nothing_is_created(api, path):
    before = sorted(p.name for p in (api.folder / "qvd").iterdir())
    assert problem(await api.post(path, json={"directory": None}), 400) == "body/directory must NOT be null"
    assert sorted(p.name for p in (api.folder / "qvd").iterdir()) == before


@pytest.mark.parametrize(("topic", "problem_text"), [
    ("", "the topic is empty"), (None, "the topic is empty"),
    ("qliksense/#", "wildcards (+, #) are for subscriptions, not for publishing"),
    ("a/+/b", "wildcards (+, #) are for subscriptions, not for publishing"),
])
async def test_a_topic_no_broker_takes_is_400_not_500(tmp_path, mosquitto, topic, problem_text):
    config = base_config(mqttConfig={"enable": True, "brokerHost": "127.0.0.1", "brokerPort": mosquitto.port})
    async with running_service(config, tmp_path) as running, running.client() as api:
        response = await api.put("/v4/mqttpublishmessage", json={"topic": topic, "message": "m"})
        assert problem(response, 400) == f"body/topic cannot be published to: {problem_text}"
        assert running.service.mqtt is not None and not running.service.mqtt.outbox
