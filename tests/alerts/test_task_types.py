"""Every task type through the alert pipeline: sensesim runs external program, user sync, distribute
and preload tasks and sends their datagrams; qbutler mails each enabled event once, publishes
successes on the MQTT success topics, and drops events of types nobody enabled quietly."""

from __future__ import annotations

import asyncio
import logging
import socket
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


def send_datagram(port: int, payload: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(payload.encode(), ("127.0.0.1", port))


async def test_a_distribution_still_running_is_awaited_then_mailed_once(site, udp_port, receiver, smtp,
                                                                        tmp_path: Path):
    name = "Distribute Sales Dashboard"
    task = site.state.tasks[task_id(site, name)]
    task.duration_ms = 30_000  # 1.5 s at the test time scale
    config = alert_config(site, udp_port, receiver, smtp_port=smtp.port, emailNotification=email_sections(),
                          udpServerConfig={"distributeWait": {"pollSeconds": 0.1}})
    async with running_service(config, tmp_path / "q") as running:
        await site_start(site, name)
        await until(lambda: site.runner.running_session(task.id) is not None
                    and site.runner.running_session(task.id).result.status == 2, within=10)
        session = site.runner.running_session(task.id)
        # What the slave's distribution logger sends, while QRS still says Started.
        send_datagram(udp_port, f"/scheduler-distribute/;node1;{name};Sales Dashboard;INTERNAL\\sa_scheduler;"
                                f"{task.id};{task.app.id};2024-01-10 07:05:00,001;INFO;{session.id};"
                                "Exiting execute of Distribute task request.")
        await asyncio.sleep(0.5)
        assert smtp.messages == []  # not finished yet: nothing to say
        await until(lambda: smtp.messages, within=15)
        await running.service.alerts.deliverer.wait_idle()
        await asyncio.sleep(0.5)
        drops = running.service.alerts.listener.drops
    [mail] = smtp.messages
    assert mail["Subject"] == f'Qlik Sense distribute task success: "{name}"'
    # The scheduler's own success and distribute datagrams of that execution came later: duplicates.
    assert drops["duplicate"] == 2


ENGINE_APP = "5e1f8a2c-3b4d-4c6e-8f0a-1b2c3d4e5f60"  # Sales Dashboard, owner ACME\anna


def engine_failure(execution: str) -> str:
    return (f"/engine-reload-failed/;node1;{ENGINE_APP};Sales Dashboard;ACME;anna;2024-01-10 07:05:00,001;"
            f"{execution};Connection to SalesDB failed")


async def test_a_reload_outside_the_scheduler_alerts_when_switched_on(site, udp_port, receiver, tmp_path: Path):
    config = alert_config(site, udp_port, receiver, udpServerConfig={"engineReloadFailure": {"enable": True}})
    async with running_service(config, tmp_path / "q") as running:
        send_datagram(udp_port, engine_failure("0f9e8d7c-6b5a-4493-8271-6a5b4c3d2e1f"))
        await until(lambda: receiver.at("/slack") and receiver.at("/teams") and receiver.at("/hook"), within=15)
        await running.service.alerts.deliverer.wait_idle()
    hook = receiver.at("/hook")[0].json()
    assert hook["event"] == "Qlik Sense reload failed" and hook["appId"] == ENGINE_APP
    assert hook["user"] == "ACME\\anna" and hook["hostName"] == "node1" and hook["taskId"] == ""
    assert hook["logMessage"] == "Connection to SalesDB failed" and hook["appOwnerName"] == "Anna Svensson"
    assert "Connection to SalesDB failed" in receiver.at("/slack")[0].body.decode()


async def test_a_reload_outside_the_scheduler_is_only_counted_when_off(site, udp_port, receiver, tmp_path: Path):
    async with running_service(alert_config(site, udp_port, receiver), tmp_path / "q") as running:
        send_datagram(udp_port, engine_failure("1f9e8d7c-6b5a-4493-8271-6a5b4c3d2e1f"))
        alerts = running.service.alerts
        await until(lambda: alerts.not_enabled["engineReloadFailure"] == 1, within=10)
        await asyncio.sleep(0.3)
    assert receiver.requests == []
