"""Butler's own shipped Slack, Teams and email templates (../shared, read in place) through the real
pipeline: sensesim fails a reload, qbutler renders Butler's files, the receivers get the formatted
messages (never the fallback) as valid Block Kit and Adaptive Card payloads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alertkit import FINANCE_TASK, alert_config, task_id

from support.qbutler import running_service
from support.waiting import until

TEMPLATES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "butler-templates"
pytestmark = pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"Butler's shipped templates are not at {TEMPLATES}")


def assert_block_kit(body: dict[str, Any]) -> None:
    """The Block Kit rules Slack enforces on what these templates produce."""
    assert isinstance(body["blocks"], list) and 0 < len(body["blocks"]) <= 50
    for block in body["blocks"]:
        assert block["type"] in ("header", "divider", "section", "actions"), block
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            texts = [block["text"]] if "text" in block else block["fields"]
            assert len(texts) <= 10 and all(t["type"] in ("mrkdwn", "plain_text") and 0 < len(t["text"]) <= 3000
                                            for t in texts), block
        if block["type"] == "actions":
            assert 0 < len(block["elements"]) <= 25
            for button in block["elements"]:
                assert button["type"] == "button" and button["text"]["type"] == "plain_text"
                assert button["url"].startswith("https://") and len(button["text"]["text"]) <= 75


def assert_adaptive_card(message: dict[str, Any]) -> dict[str, Any]:
    """A Teams workflow message with one Adaptive Card whose elements all have a known type."""
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.3"
    known = {"TextBlock", "ColumnSet", "Column", "Image", "FactSet", "ActionSet", "Container", "CodeBlock"}

    def walk(element: dict[str, Any]) -> None:
        assert element["type"] in known, element
        for child in element.get("items", []) + element.get("columns", []):
            walk(child)
        for action in element.get("actions", []):
            assert action["type"] == "Action.OpenUrl" and action["url"].startswith("https://")
        for fact in element.get("facts", []):
            assert isinstance(fact["title"], str) and isinstance(fact["value"], str)

    for element in card["body"]:
        walk(element)
    return card


async def test_butlers_shipped_templates_render_through_the_pipeline(site, udp_port, receiver, smtp, tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture):
    formatted = {"messageType": "formatted", "headScriptLogLines": 3, "tailScriptLogLines": 4}
    config = alert_config(
        site, udp_port, receiver, smtp_port=smtp.port,
        slackNotification={"reloadTaskFailure": {
            **formatted, "templateFile": str(TEMPLATES / "slack_templates" / "failed-reload-qseow.handlebars")}},
        teamsNotification={"reloadTaskFailure": {
            **formatted, "templateFile": str(TEMPLATES / "teams_templates" / "failed-reload-qseow.handlebars")}},
        emailNotification={"reloadTaskFailure": {"bodyFileDirectory": str(TEMPLATES / "email_templates"),
                                                 "htmlTemplateFile": "failed-reload-qseow"}})
    async with running_service(config, tmp_path / "qbutler") as running:
        tid = task_id(site, FINANCE_TASK)
        await running.service.qrs.post(f"task/{tid}/start", json={})
        await until(lambda: receiver.at("/slack") and receiver.at("/teams") and len(smtp.messages) >= 1, within=15)
        await running.service.alerts.deliverer.wait_idle()
        await asyncio.sleep(0.2)
    assert "template failed" not in caplog.text  # no fallback to the basic message

    [slack] = receiver.at("/slack")
    body = slack.json()
    assert_block_kit(body)
    blocks = body["blocks"]
    assert blocks[0]["text"]["text"] == "Qlik Sense reload failed"  # Butler's header, not the basic message
    fields = [field["text"] for field in blocks[2]["fields"]]
    assert fields[0] == f"*Task name:*\n{FINANCE_TASK}" and fields[1] == f"*Task ID:*\n{tid}"
    buttons = blocks[5]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Open QMC", "Open Hub", "Open app", "Runbook"]
    assert [b["url"] for b in buttons][:2] == ["https://sense.example/qmc", "https://sense.example/hub"]
    assert buttons[2]["url"].startswith("https://sense.example/sense/app/") and buttons[3]["url"] == "https://runbook.example"
    tail = blocks[-1]["text"]["text"]
    assert tail.startswith("```") and tail.endswith("```") and "Execution Failed" in tail
    assert blocks[-2]["text"]["text"] == "Here are the last 4 rows:"

    [teams] = receiver.at("/teams")
    card = assert_adaptive_card(teams.json())
    facts = {fact["title"]: fact["value"] for fact in card["body"][2]["facts"]}
    assert facts["Task name:"] == FINANCE_TASK and facts["Task ID:"] == ""  # Butler's `{{tasId}}` typo, kept
    actions = card["body"][3]["actions"]
    assert [a["title"] for a in actions] == ["Open QMC", "Open hub", "Open app", "Runbook"]
    assert card["body"][-1]["items"][-1]["codeSnippet"] == tail[3:-3]

    mail = next(m for m in smtp.messages if m["To"] == "ops@example.com")
    html = mail.get_body(("html",)).get_content()
    assert FINANCE_TASK in html and "https://runbook.example" in html and "Execution Failed" in html
