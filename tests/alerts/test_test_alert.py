"""`qbutler test-alert`: a sample (or a real task's) alert delivered now to real local receivers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from alertkit import FINANCE_TASK, alert_config, mqtt_messages, site_start
from typer.testing import CliRunner

from qbutler.alerts.testalert import send_test_alert, task_event, with_test_email
from qbutler.cli import app
from qbutler.config import parse_config
from support.waiting import until

runner = CliRunner()
EVERY = ("slack", "teams", "email", "webhook", "mqtt")


async def test_sample_alert_reaches_every_enabled_destination(site, udp_port, receiver, smtp, mosquitto,
                                                              tmp_path):
    from qbutler.alerts.testalert import sample_event

    config = parse_config(alert_config(site, udp_port, receiver, smtp.port, mosquitto.port), tmp_path)
    async with mqtt_messages(mosquitto.port) as published:
        outcomes = await send_test_alert(config, sample_event(), EVERY)
        await until(lambda: len(published) >= 2)
    assert [(o.channel, o.ok) for o in outcomes] == [
        ("slack", True), ("teams", True), ("email", True), ("webhook", True), ("mqtt", True), ("mqtt", True)]
    assert "qbutler test alert" in receiver.at("/slack")[0].body.decode()
    assert "qbutler test alert" in receiver.at("/teams")[0].body.decode()
    assert receiver.at("/hook")[0].json()["taskName"] == "qbutler test alert"
    assert [m["X-Envelope-To"] for m in smtp.messages] == ["ops@example.com"]
    assert smtp.messages[0]["Subject"] == 'Qlik Sense reload failed: "qbutler test alert"'
    assert published[0] == ("qliksense/task_failure", "qbutler test alert")


async def test_a_failing_destination_is_reported_and_the_others_still_get_theirs(site, udp_port, receiver,
                                                                                 tmp_path):
    from qbutler.alerts.testalert import sample_event

    receiver.script("/teams", (500, {}))
    config = parse_config(alert_config(site, udp_port, receiver), tmp_path)
    outcomes = await send_test_alert(config, sample_event(), EVERY)
    by_channel = {o.channel: o for o in outcomes}
    assert by_channel["teams"].ok is False
    assert "500" in by_channel["teams"].detail
    assert by_channel["slack"].ok and by_channel["webhook"].ok
    assert by_channel["email"].detail == "off: Butler.emailNotification.enable is false"
    assert by_channel["mqtt"].detail == "off: Butler.mqttConfig.enable is false"


async def test_alert_from_a_real_tasks_last_execution(site, udp_port, receiver, smtp, tmp_path):
    config = parse_config(alert_config(site, udp_port, receiver, smtp.port), tmp_path)
    task = await site_start(site, FINANCE_TASK)
    await until(lambda: site.state.tasks[task].last_result.status == 8, within=15)
    enriched = await task_event(config, task)
    assert enriched.event.outcome == "failed"
    assert enriched.script_log  # fetched from QRS, as for a real event
    outcomes = await send_test_alert(config, enriched, ("slack", "email"))
    assert all(o.ok for o in outcomes), outcomes
    assert FINANCE_TASK in receiver.at("/slack")[0].body.decode()
    # The task's custom property and its app owner: real routing, not just the configured list.
    assert len(smtp.messages) >= 2


async def test_test_email_address_sends_only_the_email_part(site, udp_port, receiver, smtp, tmp_path):
    file = tmp_path / "qbutler.yaml"
    butler = alert_config(site, udp_port, receiver)
    butler["Butler"]["emailNotification"] = {"smtp": {"host": "127.0.0.1", "port": smtp.port}}
    file.write_text(yaml.safe_dump(butler), encoding="utf-8")
    result = await asyncio.to_thread(runner.invoke, app, [
        "test-alert", "-c", str(file), "--test-email-address", "admin@example.com",
        "--test-email-from-address", "qbutler@example.com"])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().splitlines()[-1] == "1 delivered, 0 failed"
    assert [(m["X-Envelope-To"], m["From"]) for m in smtp.messages] == [("admin@example.com", "qbutler@example.com")]
    assert receiver.requests == []


async def test_the_command_exits_1_when_a_destination_fails(site, udp_port, receiver, tmp_path):
    receiver.script("/slack", (404, {}))
    file = tmp_path / "qbutler.yaml"
    file.write_text(yaml.safe_dump(alert_config(site, udp_port, receiver)), encoding="utf-8")
    result = await asyncio.to_thread(runner.invoke, app, ["test-alert", "-c", str(file), "--channel", "slack"])
    assert result.exit_code == 1
    assert result.output.rstrip().splitlines()[-1] == "0 delivered, 1 failed"


def test_unknown_channel_is_refused(tmp_path: Path):
    file = tmp_path / "qbutler.yaml"
    file.write_text("Butler: {}\n", encoding="utf-8")
    result = runner.invoke(app, ["test-alert", "-c", str(file), "--channel", "pager"])
    assert result.exit_code == 2
    assert "--channel: unknown pager; choose from slack, teams, email, webhook, mqtt, newrelic, signl4" in result.output


def test_with_test_email_leaves_the_original_config_alone(tmp_path: Path):
    config = parse_config({"Butler": {}}, tmp_path)
    changed = with_test_email(config, "a@example.com", None)
    assert changed.Butler.emailNotification.reloadTaskFailure.recipients == ["a@example.com"]
    assert config.Butler.emailNotification.enable is False
