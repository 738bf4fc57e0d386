"""Delivery guarantees seen from the receivers: retries, Retry-After, no retry on 4xx, rate limits
consumed only by delivered alerts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qsl

import orjson
import pytest
from alertkit import FINANCE_TASK, HttpReceiver, alert_config, mqtt_messages, task_id

from qbutler.alerts.journal import read_records
from support.qbutler import running_service
from support.tls import self_signed
from support.waiting import until


async def run_failure(running, site, name: str = FINANCE_TASK) -> str:
    tid = task_id(site, name)
    await running.service.qrs.post(f"task/{tid}/start", json={})
    return tid


async def test_500_then_200_and_429_with_retry_after_give_exactly_one_delivery(site, udp_port, receiver,
                                                                              tmp_path: Path):
    receiver.script("/slack", (500, {}), (503, {}))
    receiver.script("/hook", (429, {"Retry-After": "1"}))
    async with running_service(alert_config(site, udp_port, receiver), tmp_path / "q") as running:
        await run_failure(running, site)
        await until(lambda: receiver.at("/slack") and receiver.at("/hook") and receiver.at("/teams"), within=15)
        await running.service.alerts.deliverer.wait_idle()
        await asyncio.sleep(0.3)
    slack = receiver.at("/slack", delivered_only=False)
    assert [r.status for r in slack] == [500, 503, 200]
    assert slack[0].body == slack[2].body
    hook = receiver.at("/hook", delivered_only=False)
    assert [r.status for r in hook] == [429, 200]
    assert hook[1].time - hook[0].time >= 0.95  # Retry-After: 1 honoured
    assert len(receiver.at("/teams", delivered_only=False)) == 1


async def test_a_4xx_answer_is_final_but_408_is_retried(site, udp_port, receiver, tmp_path: Path):
    receiver.script("/slack", (404, {}))
    receiver.script("/teams", (408, {}))
    async with running_service(alert_config(site, udp_port, receiver), tmp_path / "q") as running:
        await run_failure(running, site)
        await until(lambda: receiver.at("/teams") and receiver.at("/hook"), within=15)
        await running.service.alerts.deliverer.wait_idle()
        counts = running.service.alerts.deliverer.stats()
    assert [r.status for r in receiver.at("/slack", delivered_only=False)] == [404]
    assert [r.status for r in receiver.at("/teams", delivered_only=False)] == [408, 200]
    assert counts["failed"] == 1 and counts["delivered"] == 2


async def test_rate_limit_is_consumed_only_by_a_delivered_alert(site, udp_port, receiver, tmp_path: Path):
    # Slack refuses the first alert for good (400): the task's second failure must still be sent.
    # Teams delivers the first: its rate limit (300 s) holds the second back.
    receiver.script("/slack", (400, {}))
    async with running_service(alert_config(site, udp_port, receiver), tmp_path / "q") as running:
        await run_failure(running, site)
        await until(lambda: receiver.at("/teams") and receiver.at("/slack", delivered_only=False), within=15)
        await running.service.alerts.deliverer.wait_idle()
        await run_failure(running, site)
        await until(lambda: receiver.at("/slack"), within=15)
        await asyncio.sleep(0.3)
        await running.service.alerts.deliverer.wait_idle()
    assert [r.status for r in receiver.at("/slack", delivered_only=False)] == [400, 200]
    assert len(receiver.at("/teams", delivered_only=False)) == 1


async def test_get_webhooks_carry_the_fields_as_query_and_put_ones_are_signed(site, udp_port, receiver,
                                                                             tmp_path: Path):
    hooks = [{"webhookURL": receiver.url("/get?old=1"), "httpMethod": "GET"},
             {"webhookURL": receiver.url("/put"), "httpMethod": "PUT", "secret": "k", "signatureHeader": "X-Sig"}]
    config = alert_config(site, udp_port, receiver, webhookNotification={"reloadTaskFailure": {"webhooks": hooks}})
    async with running_service(config, tmp_path / "q") as running:
        tid = await run_failure(running, site)
        await until(lambda: receiver.at("/get") and receiver.at("/put"), within=15)
    [get] = receiver.at("/get")
    query = dict(parse_qsl(get.query))
    assert get.method == "GET" and get.body == b"" and "old" not in query  # Butler replaces the query
    assert query["taskId"] == tid and query["event"] == "Qlik Sense reload failed"
    assert "x-qbutler-signature" not in get.headers
    [put] = receiver.at("/put")
    assert put.method == "PUT" and put.json()["taskId"] == tid and put.headers["x-sig"].startswith("t=")


async def test_https_webhooks_are_verified_against_their_own_ca_or_not_sent(site, udp_port, receiver,
                                                                           tmp_path: Path):
    secure = HttpReceiver()
    await secure.start(tls=self_signed(tmp_path, "hooks"))
    try:
        trusted = {"webhookURL": secure.url("/own-ca"), "cert": {"enable": True, "certCA": str(tmp_path / "hooks.pem")}}
        # Same receiver, verified against the public CAs: its certificate is not trusted there.
        untrusted = {"webhookURL": secure.url("/public-ca")}
        config = alert_config(site, udp_port, receiver, alertDelivery={"maxAttempts": 2},
                              webhookNotification={"reloadTaskFailure": {"webhooks": [trusted, untrusted]}})
        async with running_service(config, tmp_path / "q") as running:
            tid = await run_failure(running, site)
            await until(lambda: secure.at("/own-ca"), within=15)
            await running.service.alerts.deliverer.wait_idle()
            stats = running.service.alerts.deliverer.stats()
    finally:
        await secure.stop()
    assert secure.at("/own-ca")[0].json()["taskId"] == tid
    assert secure.at("/public-ca", delivered_only=False) == []  # the TLS handshake failed: nothing sent
    assert stats["failed"] == 1


async def test_alerts_go_through_the_proxy_named_in_the_environment(site, udp_port, receiver, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch):
    proxy = HttpReceiver()
    await proxy.start()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url(""))
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the receivers of the other channels are reached directly
        hooks = [{"webhookURL": "http://hooks.example.invalid/through-proxy"}]
        config = alert_config(site, udp_port, receiver, webhookNotification={"reloadTaskFailure": {"webhooks": hooks}})
        async with running_service(config, tmp_path / "q") as running:
            tid = await run_failure(running, site)
            await until(lambda: proxy.at("/through-proxy") and receiver.at("/slack"), within=15)
    finally:
        await proxy.stop()
    [request] = proxy.at("/through-proxy")
    assert request.headers["host"] == "hooks.example.invalid" and request.json()["taskId"] == tid


async def test_mqtt_alerts_wait_in_the_outbox_while_the_broker_is_down(site, udp_port, receiver, mosquitto,
                                                                      tmp_path: Path):
    config = alert_config(site, udp_port, receiver, mqtt_port=mosquitto.port,
                          mqttConfig={"reconnectMinDelaySeconds": 1.0, "reconnectMaxDelaySeconds": 1.0})
    async with running_service(config, tmp_path / "q") as running:
        await running.service.mqtt.wait_connected()
        mosquitto.stop()
        await until(lambda: not running.service.mqtt.connected, within=15)
        tid = await run_failure(running, site)
        await until(lambda: receiver.at("/slack"), within=15)
        outbox = tmp_path / "q" / "data" / "alerts" / "outbox"
        await until(lambda: len(read_records(outbox)[0]) == 2, within=15)  # the two MQTT messages
        mosquitto.start()
        async with mqtt_messages(mosquitto.port, "qliksense/task_failure") as received:
            await until(lambda: len(received) == 2, within=15)
            await running.service.alerts.deliverer.wait_idle()
    assert dict(received)["qliksense/task_failure"] == FINANCE_TASK
    assert orjson.loads(dict(received)["qliksense/task_failure_full"])["taskId"] == tid


async def test_a_temporary_smtp_refusal_is_retried_and_a_permanent_one_is_not(site, udp_port, receiver, smtp,
                                                                             tmp_path: Path):
    smtp.handler.refusals.extend(["451 4.3.0 Try again later", "550 5.1.1 No such user"])
    async with running_service(alert_config(site, udp_port, receiver, smtp_port=smtp.port), tmp_path / "q") as running:
        await run_failure(running, site)
        await until(lambda: len(smtp.messages) == 2, within=15)
        await running.service.alerts.deliverer.wait_idle()
        stats = running.service.alerts.deliverer.stats()
    # Three recipients: one refused for good (550), one accepted after a 451, one at once.
    assert len(smtp.messages) == 2 and len({m["To"] for m in smtp.messages}) == 2
    assert stats["failed"] == 1 and stats["retried"] == 1
