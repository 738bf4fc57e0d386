"""The service monitor end to end: sensesim's ServiceStatus changes, qbutler announces each change
once on every enabled destination (real HTTP receiver, SMTP server, Mosquitto), and a restart in
between announces nothing again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
from alertkit import HttpReceiver, SmtpReceiver, mqtt_messages

from support.qbutler import running_service
from support.sense import Control, sense_config
from support.waiting import until

NODE = "sensesim-node1"
SCHEDULER = "QlikSenseSchedulerService"


def watch_config(site: Any, receiver: HttpReceiver, smtp_port: int, mqtt_port: int) -> dict[str, Any]:
    chat = {"rateLimit": 300, "messageType": "formatted"}
    return sense_config(
        site,
        serviceMonitor={"enable": True, "frequency": "every 1 seconds"},
        qlikSenseUrls={"qmc": "https://sense.example/qmc"},
        slackNotification={"enable": True,
                           "serviceStopped": {**chat, "webhookURL": receiver.url("/slack"), "channel": "ops"},
                           "serviceStarted": {**chat, "webhookURL": receiver.url("/slack"), "channel": "ops"}},
        teamsNotification={"enable": True, "serviceStopped": {**chat, "webhookURL": receiver.url("/teams")},
                           "serviceStarted": {**chat, "webhookURL": receiver.url("/teams")}},
        # Butler calls service webhooks whatever webhookNotification.enable says.
        webhookNotification={"enable": False, "serviceMonitor": {"rateLimit": 300, "webhooks": [
            {"webhookURL": receiver.url("/hook"), "httpMethod": "POST"},
            {"webhookURL": receiver.url("/hook-get"), "httpMethod": "GET"}]}},
        emailNotification={"enable": True, "smtp": {"host": "127.0.0.1", "port": smtp_port},
                           "serviceStopped": {"recipients": ["ops@example.com"], "fromAddress": "s@example.com"},
                           "serviceStarted": {"recipients": ["ops@example.com"], "fromAddress": "s@example.com"}},
        mqttConfig={"enable": True, "brokerHost": "127.0.0.1", "brokerPort": mqtt_port},
        alertDelivery={"initialBackoffSeconds": 0.05, "maxBackoffSeconds": 0.5, "timeoutSeconds": 5},
    )


def counts(receiver: HttpReceiver, smtp: SmtpReceiver, published: list[tuple[str, str]]) -> list[int]:
    """Messages so far per destination: Slack, Teams, POST hook, GET hook, email, MQTT (change topics)."""
    topics = [f"qliksense/service_{status}/{NODE}/{SCHEDULER}" for status in ("stopped", "running")]
    return [len(receiver.at(path)) for path in ("/slack", "/teams", "/hook", "/hook-get")] + [
        len(smtp.messages), len([t for t, _ in published if t in topics])]


async def polls(service: Any, count: int = 2) -> None:
    """Let the monitor poll `count` more times and every queued alert go out."""
    monitor = service.watch.services
    target = monitor.runs + count
    await until(lambda: monitor.runs >= target, within=10)
    await service.alerts.deliverer.wait_idle()


async def test_a_stopped_service_is_announced_once_everywhere_and_so_is_its_return(
        site, control: Control, receiver: HttpReceiver, smtp: SmtpReceiver, mosquitto, tmp_path: Path):
    config = watch_config(site, receiver, smtp.port, mosquitto.port)
    folder = tmp_path / "qbutler"
    async with mqtt_messages(mosquitto.port) as published:
        async with running_service(config, folder) as running:
            await running.service.mqtt.wait_connected()
            await polls(running.service, 1)
            assert receiver.requests == [] and smtp.messages == []  # first seen running: silent
            await control.client.put(f"/services/{NODE}/Scheduler", json={"state": "NoCommunication"})
            await until(lambda: counts(receiver, smtp, published) == [1] * 6, within=15)
            await polls(running.service, 2)
            assert counts(receiver, smtp, published) == [1] * 6
        # A restart while the service is still stopped: nothing is announced again.
        async with running_service(config, folder) as running:
            await running.service.mqtt.wait_connected()
            await polls(running.service, 2)
            assert counts(receiver, smtp, published) == [1] * 6
            await control.client.put(f"/services/{NODE}/Scheduler", json={"state": "Running"})
            await until(lambda: counts(receiver, smtp, published) == [2] * 6, within=15)
            await polls(running.service, 2)
            await asyncio.sleep(0.3)
    assert counts(receiver, smtp, published) == [2] * 6

    # Butler's payloads. MQTT on change:
    stopped = orjson.loads(dict(published)[f"qliksense/service_stopped/{NODE}/{SCHEDULER}"])
    assert list(stopped) == ["serviceHost", "serviceName", "serviceFriendlyName", "serviceDisplayName",
                             "serviceDependencies", "serviceStartType", "serviceExePath", "serviceStatus",
                             "servicePrevStatus", "serviceStatusChanged"]
    assert stopped["serviceHost"] == NODE and stopped["serviceStatus"] == "STOPPED"
    assert stopped["servicePrevStatus"] == "RUNNING" and stopped["serviceStatusChanged"] is True
    running_body = orjson.loads(dict(published)[f"qliksense/service_running/{NODE}/{SCHEDULER}"])
    assert running_body["servicePrevStatus"] == "STOPPED" and running_body["serviceFriendlyName"] == "Scheduler"
    # ... and every poll on the status topic.
    statuses = [orjson.loads(p) for t, p in published if t == f"qliksense/service_status/{NODE}/{SCHEDULER}"]
    assert len(statuses) >= 6 and {s["serviceStatus"] for s in statuses} == {"RUNNING", "STOPPED"}
    # Webhooks: POST JSON and GET query with Butler's names.
    post = [r.json() for r in receiver.at("/hook")]
    assert [p["serviceStatus"] for p in post] == ["STOPPED", "RUNNING"]
    assert post[0] == {"event": "Windows service monitor", "host": NODE, "serviceStatus": "STOPPED",
                       "serviceName": SCHEDULER, "serviceDisplayName": "Qlik Sense Scheduler Service",
                       "serviceStartType": "", "prevState": "RUNNING", "currState": "STOPPED", "stateChanged": True}
    get = receiver.at("/hook-get")[1].query
    assert "servicestatus=RUNNING" in get and "prevstate=STOPPED" in get and "statechanged=true" in get
    # Slack and Teams from qbutler's default templates; email with Butler's subject.
    slack = receiver.at("/slack")[0].json()
    assert slack["channel"] == "ops" and "Scheduler on sensesim-node1" in slack["blocks"][0]["text"]["text"]
    assert "NoCommunication" in orjson.dumps(slack).decode()
    teams = receiver.at("/teams")[1].json()["attachments"][0]["content"]
    assert teams["body"][0]["color"] == "Good"
    subjects = [m["Subject"] for m in smtp.messages]
    assert subjects == [f'Windows service stopped on host {NODE}: "Qlik Sense Scheduler Service"',
                        f'Windows service started on host {NODE}: "Qlik Sense Scheduler Service"']


async def test_a_service_first_seen_stopped_is_announced_and_qrs_outages_are_not_changes(
        site, control: Control, receiver: HttpReceiver, tmp_path: Path):
    await control.client.put("/nodes", json={"nodes": ["central", "rim1"]})
    await control.client.put("/services/rim1/Engine", json={"state": "Disabled"})
    config = sense_config(site, configQRS={"retries": 0},
                          serviceMonitor={"enable": True, "frequency": "every 1 seconds",
                                                "monitor": [{"host": "rim1", "services": [{"name": "x"}]}]},
                          webhookNotification={"serviceMonitor": {"webhooks": [
                              {"webhookURL": receiver.url("/hook"), "httpMethod": "POST"}]}})
    async with running_service(config, tmp_path / "q") as running:
        await polls(running.service, 1)
        [hook] = receiver.at("/hook")
        assert hook.json()["host"] == "rim1" and hook.json()["prevState"] == "PAUSED"
        monitor = running.service.watch.services
        assert len(monitor.services) == 10
        assert monitor.services["rim1|QlikSenseEngineService"]["qlikState"] == "Disabled"
        # QRS unreachable for a while: failed runs, no state change, no alert.
        await control.client.put("/qrs/reachable", json={"reachable": False})
        await until(lambda: monitor.failures_in_a_row >= 2, within=10)
        assert "ConnectError" in monitor.last_error
        await control.client.put("/qrs/reachable", json={"reachable": True})
        await polls(running.service, 2)
        assert len(receiver.requests) == 1 and monitor.failures_in_a_row == 0
