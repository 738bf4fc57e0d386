"""sensesim runs a task → log4net datagram → qbutler → real Slack/Teams/webhook/SMTP/MQTT receivers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from pathlib import Path
from typing import Any

import orjson
from alertkit import FINANCE_TASK, WEBHOOK_SECRET, alert_config, mqtt_messages, task_id

from support.qbutler import running_service
from support.waiting import until


async def start_task(running: Any, site: Any, name: str) -> str:
    tid = task_id(site, name)
    await running.service.qrs.post(f"task/{tid}/start", json={})
    return tid


def slack_texts(body: dict[str, Any]) -> str:
    return orjson.dumps(body["blocks"]).decode()


async def test_failed_reload_reaches_every_channel_exactly_once(site, udp_port, receiver, smtp, mosquitto,
                                                                tmp_path: Path):
    config = alert_config(site, udp_port, receiver, smtp_port=smtp.port, mqtt_port=mosquitto.port)
    async with mqtt_messages(mosquitto.port) as published:
        async with running_service(config, tmp_path / "qbutler") as running:
            tid = await start_task(running, site, FINANCE_TASK)

            def everything_arrived() -> bool:
                topics = [topic for topic, _ in published]
                return (len(receiver.at("/slack")) and len(receiver.at("/teams")) and len(receiver.at("/hook"))
                        and len(smtp.messages) >= 3 and "qliksense/task_failure" in topics
                        and "qliksense/task_failure_full" in topics)

            await until(everything_arrived, within=15)
            await asyncio.sleep(0.5)  # anything extra would arrive now

    # Slack: Block Kit from qbutler's default template, with the script log's tail.
    [slack] = receiver.at("/slack")
    body = slack.json()
    assert body["username"] == "Qlik Sense" and body["channel"] == "sense-alerts"
    assert body["blocks"][0]["text"]["text"] == "Qlik Sense reload failed"
    text = slack_texts(body)
    assert FINANCE_TASK in text and tid in text and "Execution Failed" in text and "Bob O'Neill" in text

    [teams] = receiver.at("/teams")
    card = teams.json()["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "Execution Failed" in orjson.dumps(card["content"]["body"]).decode()

    [hook] = receiver.at("/hook")
    fields = hook.json()
    assert list(fields)[:3] == ["event", "hostName", "user"]
    assert fields["event"] == "Qlik Sense reload failed" and fields["taskId"] == tid
    assert fields["appOwnerEmail"] == "bob@acme.example" and fields["logMessage"] == "Max retries reached"
    stamp, signature = (part.split("=", 1)[1] for part in hook.headers["x-qbutler-signature"].split(","))
    expected = hmac.new(WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + hook.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)

    # Email: CP recipients (anna, bob), the configured list, the owner (bob) once: three mails.
    assert sorted(m["To"] for m in smtp.messages) == ["anna@acme.example", "bob@acme.example", "ops@example.com"]
    mail = smtp.messages[0]
    assert mail["Subject"] == f'Qlik Sense reload failed: "{FINANCE_TASK}"'
    html = mail.get_body(("html",)).get_content()
    plain = mail.get_body(("plain",)).get_content()
    assert "Execution Failed" in html and "Execution Failed" in plain and "Bob O&#x27;Neill" in html

    topics = [topic for topic, _ in published]
    assert topics.count("qliksense/task_failure") == 1 and topics.count("qliksense/task_failure_full") == 1
    assert dict(published)["qliksense/task_failure"] == FINANCE_TASK
    full = orjson.loads(dict(published)["qliksense/task_failure_full"])
    assert full["taskId"] == tid and "Finance" in full["qs_taskTags"] and "qs_appMetadata" not in full
    # One delivery id per event and target: the webhook's header and field, the full MQTT payload's field.
    assert hook.headers["idempotency-key"] == fields["deliveryId"] != full["deliveryId"]
