"""The pipeline's other promises: dedup shared between instances, aborted and success events, an
alert without a script log, and PUT /v4/slackpostmessage."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import orjson
from alertkit import FINANCE_TASK, alert_config, mqtt_messages, site_start

from support.net import free_port
from support.qbutler import running_service
from support.sense import running_site
from support.waiting import until


async def test_two_instances_sharing_redis_alert_once(sense_certs, receiver, redis_server, tmp_path: Path):
    ports = [free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)]
    async with running_site(sense_certs, udp_targets=[("127.0.0.1", p) for p in ports]) as site:
        shared = {"keyValueStore": {"backend": "redis", "redis": {"url": redis_server.url}}}
        first = running_service(alert_config(site, ports[0], receiver, **shared), tmp_path / "a")
        second = running_service(alert_config(site, ports[1], receiver, **shared), tmp_path / "b")
        async with first as one, second as two:
            await site_start(site, FINANCE_TASK)
            await until(lambda: receiver.at("/slack") and receiver.at("/teams") and receiver.at("/hook"), within=15)
            await asyncio.sleep(0.5)
            duplicates = one.service.alerts.listener.drops["duplicate"] + two.service.alerts.listener.drops["duplicate"]
    assert duplicates == 1
    for path in ("/slack", "/teams", "/hook"):
        assert len(receiver.at(path)) == 1, path


async def test_aborted_reload_alerts_with_its_own_wording(site, udp_port, receiver, mosquitto, tmp_path: Path):
    config = alert_config(site, udp_port, receiver, mqtt_port=mosquitto.port)
    async with mqtt_messages(mosquitto.port, "qliksense/task_aborted") as received, \
            running_service(config, tmp_path / "q") as running:
        await site_start(site, "Reload HR Overview")  # scenario: abort
        await until(lambda: receiver.at("/slack") and receiver.at("/teams") and len(received) == 2, within=15)
        await running.service.alerts.deliverer.wait_idle()
    assert dict(received)["qliksense/task_aborted"] == "Reload HR Overview"
    assert "qs_appMetadata" in orjson.loads(dict(received)["qliksense/task_aborted_full"])
    assert receiver.at("/slack")[0].json()["blocks"][0]["text"]["text"] == "Qlik Sense reload aborted"
    assert "Abort requested by user" in receiver.at("/slack")[0].body.decode()
    assert receiver.at("/hook") == []  # no webhook configured for aborted reloads


async def test_a_reload_success_mails_when_enabled(site, udp_port, receiver, smtp, tmp_path: Path):
    success = {"enable": True, "rateLimit": 0, "recipients": ["ops@example.com"],
               "subject": '✅ Qlik Sense reload success: "{{taskName}}"'}
    config = alert_config(site, udp_port, receiver, smtp_port=smtp.port,
                          emailNotification={"reloadTaskSuccess": success})
    async with running_service(config, tmp_path / "q") as running:
        await site_start(site, "Reload Sales Dashboard")  # scenario: success
        await until(lambda: smtp.messages, within=15)
        await running.service.alerts.deliverer.wait_idle()
    [mail] = smtp.messages
    assert mail["Subject"] == '✅ Qlik Sense reload success: "Reload Sales Dashboard"'
    assert "Execution finished." in mail.get_body(("plain",)).get_content()
    assert receiver.requests == []  # chat channels and webhooks do not announce successes


async def test_an_alert_goes_out_without_the_script_log_and_says_so(site, control, udp_port, receiver, tmp_path: Path):
    await control.fault(scriptLogDelayMs=600_000)
    config = alert_config(site, udp_port, receiver, scriptLog={"retries": 2, "retryDelaySeconds": 0.1})
    async with running_service(config, tmp_path / "q") as running:
        await site_start(site, FINANCE_TASK)
        await until(lambda: receiver.at("/slack") and receiver.at("/teams"), within=15)
        await running.service.alerts.deliverer.wait_idle()
    text = receiver.at("/slack")[0].body.decode()
    assert "script log not available: script log download failed" in text and "404" in text


async def test_slackpostmessage_posts_butlers_body_and_echoes_the_fields(receiver, tmp_path: Path):
    from support.qbutler import base_config

    config = base_config(slackNotification={"restMessage": {"webhookURL": receiver.url("/rest")}})
    async with running_service(config, tmp_path / "q") as running, running.client() as client:
        answer = await client.put("/v4/slackpostmessage", json={
            "channel": "#ops", "from_user": "Load script", "msg": "Reload *done* \"ok\"", "emoji": "thumbsup",
            "extra": 1})
        missing = await client.put("/v4/slackpostmessage", json={"channel": "#ops", "from_user": "x"})
        await until(lambda: receiver.at("/rest"), within=15)
    assert answer.status_code == 201
    assert answer.json() == {"channel": "#ops", "from_user": "Load script", "msg": "Reload *done* \"ok\"",
                             "emoji": "thumbsup"}
    assert receiver.at("/rest")[0].json() == {
        "username": "Load script", "channel": "#ops", "icon_emoji": "thumbsup",
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": "Reload *done* \"ok\""}}]}
    assert missing.status_code == 400 and "body must have required property 'msg'" in missing.text


async def test_a_failed_external_program_task_raises_no_reload_alert(site, udp_port, receiver, tmp_path: Path):
    async with running_service(alert_config(site, udp_port, receiver), tmp_path / "q") as running:
        await site_start(site, "Run ETL batch")  # taskType 1, scenario: fail
        listener = running.service.alerts.listener
        await until(lambda: listener.processed == 1, within=15)
        await running.service.alerts.deliverer.wait_idle()
    assert receiver.requests == [] and listener.failed == 0
