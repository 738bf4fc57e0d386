"""A 1 MB script log, quotes, backslashes, emoji and markup render safely in every channel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import yaml
from alertkit import alert_config, site_start

from support.qbutler import running_service
from support.sense import running_site
from support.waiting import until

NAME = 'Reload "Sales" \\ C:\\Temp\\new <b>bold</b> & 🚀 it\'s'
HOSTILE = ('LOAD "quoted" AS q, \'single\' AS s, C:\\path\\to\\x AS p, <script>alert(1)</script> AS m, '
           '😀 AS e, "\\" AS b')
GIANT = "LOAD " + "x\\\"<i>" * 60_000  # one 360 kB statement, in the script log's head


def hostile_seed(folder: Path) -> Path:
    filler = [f"LET v{n} = '{'y' * 480}'" for n in range(1300)]  # ~650 kB of ordinary lines
    script = "\n".join([GIANT, *filler, HOSTILE])
    seed = {
        "users": [{"userDirectory": "ACME", "userId": "zoe", "name": 'Zoë "Z" <O\'Hara>', "email": "zoe@acme.example"}],
        "apps": [{"id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "name": "Hostile <app> \"1\"", "owner": "ACME\\zoe",
                  "script": script}],
        "reloadTasks": [{"name": NAME, "app": "Hostile <app> \"1\"", "scenario": "fail"}],
    }
    path = folder / "hostile.yaml"
    path.write_text(yaml.safe_dump(seed, allow_unicode=True), encoding="utf-8")
    return path


async def test_hostile_script_log_and_names_render_safely(sense_certs, udp_port, receiver, smtp, tmp_path: Path):
    async with running_site(sense_certs, seed=hostile_seed(tmp_path), udp_targets=[("127.0.0.1", udp_port)]) as site:
        chat = {"headScriptLogLines": 15, "tailScriptLogLines": 5}
        config = alert_config(site, udp_port, receiver, smtp_port=smtp.port, slackNotification={
            "reloadTaskFailure": chat}, teamsNotification={"reloadTaskFailure": chat})
        config["Butler"]["emailNotification"]["reloadTaskFailure"]["recipients"] = ["ops@example.com"]
        async with running_service(config, tmp_path / "q") as running:
            await site_start(site, NAME)
            await until(lambda: receiver.at("/slack") and receiver.at("/teams") and receiver.at("/hook")
                             and len(smtp.messages) >= 2, within=15)
            await running.service.alerts.deliverer.wait_idle()
            await asyncio.sleep(0.2)

    [slack] = receiver.at("/slack")
    body = slack.json()
    # The formatted template rendered (not the fallback), and every text fits Slack's 3000 limit.
    assert body["blocks"][0]["text"]["text"] == "Qlik Sense reload failed"
    texts = [b["text"]["text"] for b in body["blocks"] if b.get("type") == "section" and "text" in b]
    texts += [f["text"] for b in body["blocks"] for f in b.get("fields", [])]
    assert all(len(t) <= 3000 for t in texts)
    everything = "\n".join(texts)
    assert NAME in everything
    assert HOSTILE in everything  # the tail: quotes, backslashes, emoji, markup intact
    assert "Script log truncated by qbutler" in everything  # the giant head line was cut

    [teams] = receiver.at("/teams")
    card = teams.json()["attachments"][0]["content"]
    card_text = orjson.dumps(card).decode()
    assert len(teams.body) < 28_000
    assert card["body"][0]["text"].endswith(NAME) and HOSTILE in "\n".join(b.get("text", "") for b in card["body"])
    assert "Script log truncated by qbutler" in card_text

    assert receiver.at("/hook")[0].json()["taskName"] == NAME

    mails = {m["To"]: m for m in smtp.messages}
    assert set(mails) == {"ops@example.com", "zoe@acme.example"}
    mail = mails["ops@example.com"]
    assert mail["Subject"] == f'Qlik Sense reload failed: "{NAME}"'
    html = mail.get_body(("html",)).get_content()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Zoë &quot;Z&quot; &lt;O&#x27;Hara&gt;" in html
    assert HOSTILE in mail.get_body(("plain",)).get_content()
