"""Every task type through the alert pipeline: sensesim runs external program, user sync, distribute
and preload tasks and sends their datagrams; qbutler mails each enabled event once, publishes
successes on the MQTT success topics, and drops events of types nobody enabled quietly."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson
from alertkit import alert_config, mqtt_messages, site_start, task_id

from support.qbutler import running_service
from support.waiting import until

# type name -> (failing task, succeeding task, Butler's config-section prefix)
TASKS = {
    "external program": ("Run ETL batch", "Run cleanup script", "externalProgramTask"),
    "user sync": ("User sync LAB", "User sync ACME", "userSyncTask"),
    "distribute": ("Distribute Finance Report", "Distribute Sales Dashboard", "distributeTask"),
    "preload": ("Preload Finance Report", "Preload Sales Dashboard", "preloadTask"),
}
SUCCESS_TOPIC, SUCCESS_FULL_TOPIC = "qliksense/task_success", "qliksense/task_success_full"


def email_sections() -> dict[str, dict[str, object]]:
    section = {"enable": True, "rateLimit": 0, "recipients": ["ops@example.com"],
               "fromAddress": "Sense <sense@example.com>"}
    return {f"{prefix}{suffix}": section for _, _, prefix in TASKS.values() for suffix in ("Failure", "Success")}


async def run_all(site) -> None:
    for failing, succeeding, _ in TASKS.values():
        await site_start(site, failing)
        await site_start(site, succeeding)


async def test_each_task_type_mails_once_per_outcome_and_announces_successes(site, udp_port, receiver, smtp,
                                                                            mosquitto, tmp_path: Path):
    config = alert_config(site, udp_port, receiver, smtp_port=smtp.port, mqtt_port=mosquitto.port,
                          emailNotification=email_sections(),
                          mqttConfig={"taskSuccessTopic": SUCCESS_TOPIC, "taskSuccessFullTopic": SUCCESS_FULL_TOPIC})
    async with mqtt_messages(mosquitto.port, "qliksense/task_") as published, \
            running_service(config, tmp_path / "q") as running:
        await run_all(site)
        await until(lambda: len(smtp.messages) >= 8 and len(published) >= 8, within=20)
        await running.service.alerts.deliverer.wait_idle()
        await asyncio.sleep(0.5)  # anything extra would arrive now

    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert len(subjects) == 8, subjects
    for kind, (failing, succeeding, _) in TASKS.items():
        assert subjects.count(f'Qlik Sense {kind} task failed: "{failing}"') == 1, kind
        assert subjects.count(f'Qlik Sense {kind} task success: "{succeeding}"') == 1, kind
    preload_failed = next(m for m in smtp.messages if "Preload Finance Report" in m["Subject"])
    text = preload_failed.get_body(("plain",)).get_content()
    assert "preload task" in text and "FinishedFail (8)" in text and "Could not reserve an executor" in text
    assert "Finance Report" in text  # the app of an app task
    distribute_ok = next(m for m in smtp.messages if "Distribute Sales Dashboard" in m["Subject"])
    assert "FinishedSuccess (7)" in distribute_ok.get_body(("plain",)).get_content()

    # Successes of every type on the success topics, once each; no failure topic for non-reload types.
    names = [payload for topic, payload in published if topic == SUCCESS_TOPIC]
    assert sorted(names) == sorted(succeeding for _, succeeding, _ in TASKS.values())
    full = [orjson.loads(payload) for topic, payload in published if topic == SUCCESS_FULL_TOPIC]
    assert sorted(f["taskName"] for f in full) == sorted(names)
    sync = next(f for f in full if f["taskName"] == "User sync ACME")
    assert sync["taskId"] == task_id(site, "User sync ACME") and sync["appId"] == ""
    assert sync["qs_taskMetadata"]["taskType"] == 2 and list(sync)[:3] == ["hostName", "user", "taskName"]
    assert not [t for t, _ in published if t.startswith(("qliksense/task_failure", "qliksense/task_aborted"))]
    # Slack, Teams and webhooks carry reload events only.
    assert receiver.requests == []


async def test_a_type_left_disabled_produces_nothing_and_no_error(site, udp_port, receiver, smtp, tmp_path: Path,
                                                                  caplog):
    caplog.set_level(logging.INFO, logger="qbutler")
    config = alert_config(site, udp_port, receiver, smtp_port=smtp.port)
    async with running_service(config, tmp_path / "q") as running:
        await run_all(site)
        alerts = running.service.alerts
        await until(lambda: sum(alerts.not_enabled.values()) == 8, within=20)
        await alerts.deliverer.wait_idle()
    assert smtp.messages == [] and receiver.requests == []
    assert alerts.not_enabled == {f"{prefix}{suffix}": 1 for _, _, prefix in TASKS.values()
                                  for suffix in ("Failure", "Success")}
    assert alerts.listener.failed == 0
    complaints = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("qbutler")]
    assert complaints == [], [r.getMessage() for r in complaints]
