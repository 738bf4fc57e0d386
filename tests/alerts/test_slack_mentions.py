"""Slack reload alerts that mention people: the app owner (`@owner`, found by email through the bot
token) and the users a task custom property names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alertkit import FINANCE_TASK, alert_config, site_start

from support.qbutler import running_service
from support.slack import TOKEN, FakeSlack
from support.waiting import until


def mention_config(site: Any, udp_port: int, receiver: Any, slack: FakeSlack, *, token: bool,
                   **failure: Any) -> dict[str, Any]:
    rest = {"apiUrl": slack.api_url, **({"botToken": TOKEN} if token else {})}
    return alert_config(site, udp_port, receiver, slackNotification={
        "restMessage": rest, "reloadTaskFailure": {"webhookURL": slack.webhook_url("alerts"), **failure}})


async def test_alert_mentions_the_app_owner_and_custom_property_users(site, udp_port, receiver, slack: FakeSlack,
                                                                      tmp_path: Path):
    slack.users += [{"id": "U0BOBON001", "name": "bob.oneill", "real_name": "Bob O'Neill", "deleted": False,
                     "profile": {"email": "bob@acme.example"}},
                    {"id": "U0ANNAS001", "name": "anna.s", "real_name": "Anna S", "deleted": False,
                     "profile": {"email": "anna@acme.example"}}]
    # The task's Butler_FailedAlertSendToEmail holds anna@ and bob@; bob, the owner, is named once.
    config = mention_config(site, udp_port, receiver, slack, token=True, messageType="basic",
                            mention={"users": ["@owner", "U0CARL0001"],
                                     "customPropertyName": "Butler_FailedAlertSendToEmail"})
    async with running_service(config, tmp_path / "q") as running:
        await site_start(site, FINANCE_TASK)
        await until(lambda: slack.webhook_posts("alerts"), within=15)
        await running.service.alerts.deliverer.wait_idle()
    body = slack.webhook_posts("alerts")[0].json()
    line = "<@U0BOBON001> <@U0CARL0001> <@U0ANNAS001>"
    assert body["blocks"][0]["type"] == "header"
    assert body["blocks"][1] == {"type": "section", "text": {"type": "mrkdwn", "text": line}}
    assert body["text"] == line
    lookups = slack.to("users.lookupByEmail")
    assert sorted(c.query["email"] for c in lookups) == ["anna@acme.example", "bob@acme.example"]
    assert all(c.headers["authorization"] == f"Bearer {TOKEN}" for c in lookups)


async def test_without_a_token_ids_still_mention_and_emails_stay_text(site, udp_port, receiver, slack: FakeSlack,
                                                                      tmp_path: Path):
    config = mention_config(site, udp_port, receiver, slack, token=False,
                            mention={"users": ["@owner", "U0CARL0001"]})
    async with running_service(config, tmp_path / "q") as running:
        await site_start(site, FINANCE_TASK)
        await until(lambda: slack.webhook_posts("alerts"), within=15)
        await running.service.alerts.deliverer.wait_idle()
    body = slack.webhook_posts("alerts")[0].json()
    # The default template starts with a header; the mention line follows it.
    assert body["blocks"][1]["text"]["text"] == "bob@acme.example <@U0CARL0001>"
    assert slack.to("users.lookupByEmail") == []
