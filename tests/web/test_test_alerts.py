"""'Send a test alert' with several destinations switched on: one button each, each answer shown,
the alerts at real local receivers (Slack, Teams and a webhook over HTTP, MQTT through mosquitto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from support.brokers import Mosquitto
from support.dashboard import DashboardStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("dashboard-test-alerts")
    broker = Mosquitto(folder / "mosquitto")
    broker.start()
    running = DashboardStack(folder)
    chat = {"enable": True, "rateLimit": 300}
    receiver = f"http://127.0.0.1:{running.receiver_port}"
    running.extra = {
        "slackNotification": {"enable": True, "reloadTaskFailure": {**chat, "webhookURL": f"{receiver}/slack",
                                                                    "channel": "sense-alerts"}},
        "teamsNotification": {"enable": True, "reloadTaskFailure": {**chat, "webhookURL": f"{receiver}/teams"}},
        "mqttConfig": {"enable": True, "brokerHost": "127.0.0.1", "brokerPort": broker.port},
    }
    running.start()
    running.start_receiver()
    try:
        yield running
    finally:
        running.close()
        broker.stop()


def test_one_button_per_destination_and_each_answer(page, stack):
    page.goto(f"{stack.url}/ui/alerts")
    expect(page.locator("#live-state")).to_have_text("live")
    card = page.locator("#test-alerts")
    buttons = card.get_by_role("button")
    expect(buttons).to_have_count(4)
    assert [buttons.nth(i).get_attribute("aria-label") for i in range(4)] == [
        f"Send a test alert to {name}" for name in ("Slack", "Teams", "Webhooks", "MQTT")]

    for name, channel in (("Slack", "slack"), ("Teams", "teams"), ("Webhooks", "webhook"), ("MQTT", "mqtt")):
        card.get_by_role("button", name=f"Send a test alert to {name}").click()
        expect(page.locator("#notice")).to_contain_text(f"Test alert to {name}: ")
        badges = card.locator(f"#test-{channel} .test-result .badge")
        expect(badges.first).to_be_visible()
        answer = card.locator(f"#test-{channel}").inner_text()
        assert set(badges.all_inner_texts()) == {"delivered"}, f"{name}: {answer}"

    receiver = stack.receiver
    for channel in ("slack", "teams", "webhook"):
        [alert] = receiver.received(channel)
        assert "qbutler test alert" in alert.text(), channel
    # MQTT: Butler's failure topic and its per-task topic, each one line of the answer.
    expect(card.locator("#test-mqtt .test-result li")).to_have_count(2)
    expect(card.locator("#test-mqtt .test-result")).to_contain_text("qliksense/task_failure")
    assert page.console_errors == []
