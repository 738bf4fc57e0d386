""""Sense is done" over MQTT: a successful reload publishes once on each success topic (a real
Mosquitto subscriber), and nothing when the topic or the task's custom property is off."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import orjson
from alertkit import alert_config, mqtt_messages, site_start, task_id

from support.qbutler import running_service
from support.waiting import until

DONE = "Reload Sales Dashboard"  # succeeds; custom property Butler_FailedAlertEnableEmail = Yes
ALSO_DONE = "O'Brien's reload"  # succeeds; no such custom property


async def run(site, udp_port, receiver, mosquitto, tmp_path: Path, mqtt: dict, names: list[str]):
    config = alert_config(site, udp_port, receiver, mqtt_port=mosquitto.port, mqttConfig=mqtt)
    async with mqtt_messages(mosquitto.port, "qliksense/task_success") as published, \
            running_service(config, tmp_path / "q") as running:
        for name in names:
            await site_start(site, name)
        await until(lambda: running.service.alerts.listener.processed == len(names), within=15)
        await running.service.alerts.deliverer.wait_idle()
        await asyncio.sleep(0.5)
    return published


async def test_a_successful_reload_publishes_once_per_success_topic(site, udp_port, receiver, mosquitto,
                                                                    tmp_path: Path):
    published = await run(site, udp_port, receiver, mosquitto, tmp_path, {
        "taskSuccessTopic": "qliksense/task_success", "taskSuccessFullTopic": "qliksense/task_success_full",
        "taskSuccessRetainPerTask": True}, [DONE])
    topics = [topic for topic, _ in published]
    tid = task_id(site, DONE)
    assert sorted(topics) == ["qliksense/task_success", "qliksense/task_success_full",
                              f"qliksense/task_success_full/{tid}"]
    assert dict(published)["qliksense/task_success"] == DONE
    full = orjson.loads(dict(published)["qliksense/task_success_full"])
    assert list(full)[:6] == ["hostName", "user", "taskName", "taskId", "appName", "appId"]
    assert full["taskId"] == tid and full["logMessage"] == "Execution State Change to FinishedSuccess"
    assert "qs_appMetadata" not in full and full["qs_taskMetadata"]["id"] == tid
    # A subscriber arriving later still learns the task's last success.
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as late:
        await late.subscribe(f"qliksense/task_success_full/{tid}")
        async with asyncio.timeout(5):
            message = await anext(aiter(late.messages))
    assert message.retain and orjson.loads(bytes(message.payload))["taskId"] == tid


async def test_success_topics_are_off_by_default_and_per_topic(site, udp_port, receiver, mosquitto, tmp_path: Path):
    assert await run(site, udp_port, receiver, mosquitto, tmp_path / "a", {}, [DONE]) == []
    published = await run(site, udp_port, receiver, mosquitto, tmp_path / "b",
                          {"taskSuccessFullTopic": "qliksense/task_success_full"}, [ALSO_DONE])
    assert [topic for topic, _ in published] == ["qliksense/task_success_full"]


async def test_a_task_without_the_enabling_custom_property_stays_quiet(site, udp_port, receiver, mosquitto,
                                                                       tmp_path: Path):
    rule = {"enable": True, "customPropertyName": "Butler_FailedAlertEnableEmail", "enabledValue": "Yes"}
    published = await run(site, udp_port, receiver, mosquitto, tmp_path, {
        "taskSuccessTopic": "qliksense/task_success", "taskSuccessAlertEnableByCustomProperty": rule},
        [DONE, ALSO_DONE])
    assert published == [("qliksense/task_success", DONE)]
