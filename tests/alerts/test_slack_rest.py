"""PUT /v4/slackpostmessage against a stand-in for Slack: Butler's plain webhook body unchanged,
mrkdwn formatting, long messages in sections, the Web API with a bot token (channels by name,
people by name or email), and Slack's refusals as answers to the script."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from qbutler.config import ConfigError, parse_config
from support.qbutler import base_config, running_service
from support.slack import TOKEN, FakeSlack
from support.waiting import until

MESSAGE = {"channel": "#finance-reloads", "from_user": "Load script", "emoji": "thumbsup"}


def slack_config(slack: FakeSlack, *, token: bool, **rest: Any) -> dict[str, Any]:
    rest_message = {"webhookURL": slack.webhook_url(), "apiUrl": slack.api_url, "maxWaitSeconds": 3,
                    **({"botToken": TOKEN} if token else {}), **rest}
    return base_config(slackNotification={"restMessage": rest_message},
                       alertDelivery={"initialBackoffSeconds": 0.05, "maxBackoffSeconds": 0.2})


def echo(msg: str) -> bytes:
    """Butler's answer: the four fields in its order."""
    return orjson.dumps({"channel": MESSAGE["channel"], "from_user": MESSAGE["from_user"], "msg": msg,
                         "emoji": MESSAGE["emoji"]})


async def post(running: Any, **fields: Any) -> Any:
    async with running.client() as client:
        return await client.put("/v4/slackpostmessage", json={**MESSAGE, **fields})


def squeezed(text: str) -> str:
    """Without white space: a cut at a line break or space drops that one character."""
    return "".join(text.split())


def texts(body: dict[str, Any]) -> list[str]:
    return [block["text"]["text"] for block in body["blocks"]]


async def test_plain_webhook_body_is_butlers_byte_for_byte(slack: FakeSlack, tmp_path: Path):
    msg = 'Reload *done* <https://x.example|report> & "ok" @anna #general'
    async with running_service(slack_config(slack, token=False), tmp_path) as running:
        answer = await post(running, msg=msg)
        await until(lambda: slack.webhook_posts(), within=10)
    assert answer.status_code == 201
    assert answer.content == echo(msg)
    [sent] = slack.webhook_posts()
    assert sent.method == "POST" and sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert sent.body == orjson.dumps({"username": "Load script", "channel": "#finance-reloads",
                                      "icon_emoji": "thumbsup",
                                      "blocks": [{"type": "section", "text": {"type": "plain_text", "text": msg}}]})
    assert slack.to("chat.postMessage") == []


async def test_mrkdwn_through_the_webhook_keeps_markup_and_escapes_the_rest(slack: FakeSlack, tmp_path: Path):
    msg = ("*Sales* reloaded: <https://sense.example/app/1|open the app> for <@U0ANNA0001> and <!subteam^S0OPS|@ops>"
           " <!here>; rows < 10 & growth > 5% — @channel, see `a<b`")
    async with running_service(slack_config(slack, token=False, format="mrkdwn"), tmp_path) as running:
        answer = await post(running, msg=msg)
        await until(lambda: slack.webhook_posts(), within=10)
    expected = ("*Sales* reloaded: <https://sense.example/app/1|open the app> for <@U0ANNA0001> and "
                "<!subteam^S0OPS|@ops> <!here>; rows &lt; 10 &amp; growth &gt; 5% — <!channel>, see `a&lt;b`")
    body = slack.webhook_posts()[0].json()
    assert body == {"username": "Load script", "channel": "#finance-reloads", "icon_emoji": "thumbsup",
                    "text": expected, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": expected}}]}
    assert answer.status_code == 201
    assert answer.json()["slack"] == {"format": "mrkdwn", "via": "webhook", "delivery": "queued", "sections": 1,
                                      "messages": 1, "channel": "", "ts": []}


async def test_a_request_may_ask_for_mrkdwn_and_a_bad_format_is_refused(slack: FakeSlack, tmp_path: Path):
    async with running_service(slack_config(slack, token=False), tmp_path) as running:
        answer = await post(running, msg="a & b", format="mrkdwn")
        wrong = await post(running, msg="x", format="markdown")
        await until(lambda: slack.webhook_posts(), within=10)
    assert answer.json()["slack"]["format"] == "mrkdwn"
    assert slack.webhook_posts()[0].json()["blocks"][0]["text"] == {"type": "mrkdwn", "text": "a &amp; b"}
    assert wrong.status_code == 400
    assert wrong.json()["message"] == "body/format must be equal to one of the allowed values"


async def test_a_12000_character_message_is_split_into_sections_not_cut(slack: FakeSlack, tmp_path: Path):
    lines = [f"Line {n:04d}: table Sales_{n} loaded with <{n * 7}> rows & no errors" for n in range(150)]
    msg = "\n".join(lines)
    msg += "\n" + "x" * (12_000 - len(msg) - 1)
    assert len(msg) == 12_000
    async with running_service(slack_config(slack, token=True, format="mrkdwn"), tmp_path) as running:
        answer = await post(running, msg=msg)
        plain = await post(running, msg=msg, format="plain")
    assert answer.status_code == 201, answer.text
    mrkdwn_body, plain_body = slack.posted
    sections = texts(mrkdwn_body)
    assert len(sections) >= 5 and all(0 < len(s) <= 3000 for s in sections)
    # Nothing lost, nothing broken: unescaped and joined at the cuts, the sections are the message.
    unescaped = "".join(sections).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert squeezed(unescaped) == squeezed(msg)
    assert mrkdwn_body["text"] == "\n".join(sections)
    assert answer.json()["slack"]["sections"] == len(sections) and answer.json()["slack"]["messages"] == 1
    plain_sections = texts(plain_body)
    assert all(b["text"]["type"] == "plain_text" for b in plain_body["blocks"]) and plain_body["mrkdwn"] is False
    assert squeezed("".join(plain_sections)) == squeezed(msg)
    assert plain.json()["slack"]["sections"] == len(plain_sections)


async def test_a_long_plain_message_through_the_webhook_is_split_too(slack: FakeSlack, tmp_path: Path):
    msg = " ".join(f"word{n}" for n in range(1500))  # about 12,000 characters
    async with running_service(slack_config(slack, token=False), tmp_path) as running:
        answer = await post(running, msg=msg)
        await until(lambda: slack.webhook_posts(), within=10)
    body = slack.webhook_posts()[0].json()
    assert [b["text"]["type"] for b in body["blocks"]] == ["plain_text"] * len(body["blocks"])
    assert len(body["blocks"]) >= 4 and all(len(t) <= 3000 for t in texts(body))
    assert " ".join(texts(body)) == msg
    assert answer.content == echo(msg)


async def test_text_beyond_one_message_goes_as_several_in_order(slack: FakeSlack, tmp_path: Path):
    msg = "\n".join(f"{n:05d} " + "z" * 93 for n in range(450))  # 45,000 characters
    async with running_service(slack_config(slack, token=True, format="mrkdwn"), tmp_path) as running:
        answer = await post(running, channel="C0FINANCE1", msg=msg)
    first, second = slack.posted
    assert len(first["blocks"]) == 13 and 1 <= len(second["blocks"]) <= 13
    assert squeezed("".join(texts(first) + texts(second))) == squeezed(msg)
    assert answer.json()["slack"]["messages"] == 2
    assert answer.json()["slack"]["ts"] == ["1700000001.000100", "1700000002.000100"]


async def test_a_refused_later_part_says_how_much_was_posted(slack: FakeSlack, tmp_path: Path):
    slack.script("chat.postMessage", 200, {"ok": True, "channel": "C0FINANCE1", "ts": "1.1"})
    slack.script("chat.postMessage", 200, {"ok": False, "error": "msg_too_long"})
    async with running_service(slack_config(slack, token=True), tmp_path) as running:
        answer = await post(running, channel="C0FINANCE1", msg="\n".join("y" * 2900 for _ in range(20)))
    assert answer.status_code == 413
    assert answer.json()["message"].endswith("(after 1 of 2 messages were posted)")


async def test_webhook_parts_after_a_failure_continue_where_they_stopped(slack: FakeSlack, tmp_path: Path):
    msg = "\n".join(f"{n:05d} " + "z" * 93 for n in range(450))
    slack.script("webhook:rest", 200, {})
    slack.script("webhook:rest", 503, {})
    async with running_service(slack_config(slack, token=False), tmp_path) as running:
        answer = await post(running, msg=msg)
        await until(lambda: len(slack.webhook_posts()) == 3, within=10)
        await running.service.alerts.deliverer.wait_idle()
    assert answer.content == echo(msg)
    first, failed, again = (call.json() for call in slack.webhook_posts())
    # The first part went once; the second was tried again after Slack's 503.
    assert failed == again and first != failed
    assert squeezed("".join(texts(first) + texts(again))) == squeezed(msg)


async def test_web_api_post_to_a_channel_by_name(slack: FakeSlack, tmp_path: Path):
    async with running_service(slack_config(slack, token=True), tmp_path) as running:
        answer = await post(running, msg="Finance data is fresh")
    assert answer.status_code == 201
    assert answer.json() == {**MESSAGE, "msg": "Finance data is fresh", "slack": {
        "format": "plain", "via": "webApi", "delivery": "sent", "sections": 1, "messages": 1,
        "channel": "C0FINANCE1", "ts": ["1700000001.000100"]}}
    lists = slack.to("conversations.list")
    assert [c.method for c in lists] == ["GET"] * len(lists) and len(lists) == 2  # two pages
    assert lists[0].query["types"] == "public_channel,private_channel"
    [call] = slack.to("chat.postMessage")
    assert call.method == "POST" and call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.headers["content-type"] == "application/json; charset=utf-8"
    assert call.json() == {"channel": "C0FINANCE1", "username": "Load script", "icon_emoji": ":thumbsup:",
                           "text": "Finance data is fresh", "mrkdwn": False,
                           "blocks": [{"type": "section", "text": {"type": "plain_text",
                                                                   "text": "Finance data is fresh"}}]}
    assert slack.webhook_posts() == []


async def test_names_and_channels_written_plainly_become_mentions(slack: FakeSlack, tmp_path: Path):
    msg = ("@anna and @Bob: #finance-reloads and #board are updated; @nobody and #nowhere stay text, "
           "mail anna@example.com, code `@anna #general` is left alone, cc @anna.b")
    async with running_service(slack_config(slack, token=True, format="mrkdwn"), tmp_path) as running:
        answer = await post(running, msg=msg)
    assert answer.status_code == 201, answer.text
    assert texts(slack.posted[0]) == [
        "<@U0ANNA0001> and <@U0BOB00001>: <#C0FINANCE1> and <#C0SECRET01> are updated; @nobody and #nowhere "
        "stay text, mail anna@example.com, code `@anna #general` is left alone, cc <@U0ANNA0001>"]
    # The directories are read once per request, page by page, with the token.
    assert len(slack.to("users.list")) == 2 and len(slack.to("conversations.list")) == 2
    assert all(c.headers["authorization"] == f"Bearer {TOKEN}" for c in slack.calls)


async def test_a_direct_message_by_email_address(slack: FakeSlack, tmp_path: Path):
    async with running_service(slack_config(slack, token=True, format="mrkdwn"), tmp_path) as running:
        answer = await post(running, channel="Bob@Example.com", msg="Your app *Sales* has new data")
    assert answer.status_code == 201, answer.text
    [lookup] = slack.to("users.lookupByEmail")
    assert lookup.method == "GET" and lookup.query == {"email": "Bob@Example.com"}
    assert lookup.headers["authorization"] == f"Bearer {TOKEN}"
    assert slack.posted[0]["channel"] == "U0BOB00001"
    assert answer.json()["slack"]["channel"] == "U0BOB00001"


@pytest.mark.parametrize(("channel", "script", "status", "code"), [
    ("#nope", None, 404, "channel_not_found"),
    ("C0NOSUCH01", None, 404, "channel_not_found"),
    ("nobody@example.com", None, 404, "users_not_found"),
    ("@nobody", None, 404, "users_not_found"),
    ("C0GENERAL1", None, 403, "not_in_channel"),
    ("C0OLD00001", None, 403, "is_archived"),
    ("C0FINANCE1", "missing_scope", 403, "missing_scope"),
    ("C0FINANCE1", "token_revoked", 401, "token_revoked"),
    ("C0FINANCE1", "msg_too_long", 413, "msg_too_long"),
    ("C0FINANCE1", "invalid_blocks", 400, "invalid_blocks"),
    ("C0FINANCE1", "fatal_error", 502, "fatal_error"),
])
async def test_slack_refusals_are_clear_answers(slack: FakeSlack, tmp_path: Path, channel: str,
                                                script: str | None, status: int, code: str):
    if script:
        slack.script("chat.postMessage", 200, {"ok": False, "error": script, "needed": "chat:write"})
    async with running_service(slack_config(slack, token=True), tmp_path) as running:
        answer = await post(running, channel=channel, msg="hello")
    assert answer.status_code == status
    body = answer.json()
    assert body["statusCode"] == status and body["message"].startswith("Failed sending Slack message: Slack ")
    assert f": {code}: " in body["message"]
    assert slack.posted == []


async def test_slack_unreachable_while_finding_the_channel_is_502(slack: FakeSlack, tmp_path: Path):
    slack.script("conversations.list", 500, {"ok": False})
    async with running_service(slack_config(slack, token=True), tmp_path) as running:
        down = await post(running, channel="#finance-reloads", msg="hello")
    async with running_service(slack_config(slack, token=True, apiUrl=slack.webhook_url()), tmp_path) as running:
        wrong = await post(running, channel="C0FINANCE1", msg="hello")
    assert down.status_code == 502 and "Slack conversations.list answered 500" in down.json()["message"]
    assert wrong.status_code == 502 and "not_slack" in wrong.json()["message"]
    assert "restMessage.apiUrl" in wrong.json()["message"]


async def test_a_bad_token_is_401_and_says_which_key(slack: FakeSlack, tmp_path: Path):
    slack.token = "xoxb-the-real-one"
    async with running_service(slack_config(slack, token=True), tmp_path) as running:
        answer = await post(running, channel="C0FINANCE1", msg="hello")
    assert answer.status_code == 401
    assert "invalid_auth" in answer.json()["message"]
    assert "Butler.slackNotification.restMessage.botToken" in answer.json()["message"]


async def test_rate_limit_waits_for_retry_after_then_sends(slack: FakeSlack, tmp_path: Path):
    slack.script("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    async with running_service(slack_config(slack, token=True), tmp_path) as running:
        started = time.monotonic()
        answer = await post(running, channel="C0FINANCE1", msg="hello")
        took = time.monotonic() - started
    assert answer.status_code == 201 and answer.json()["slack"]["delivery"] == "sent"
    first, second = slack.to("chat.postMessage")
    assert second.time - first.time >= 0.95 and took >= 0.95
    assert len(slack.posted) == 1


async def test_rate_limit_longer_than_the_wait_budget_is_429_with_retry_after(slack: FakeSlack, tmp_path: Path):
    slack.script("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"})
    async with running_service(slack_config(slack, token=True), tmp_path) as running:
        started = time.monotonic()
        answer = await post(running, channel="C0FINANCE1", msg="hello")
    assert time.monotonic() - started < 2
    assert answer.status_code == 429 and answer.headers["retry-after"] == "30"
    assert "ratelimited" in answer.json()["message"]
    assert slack.posted == []


async def test_slack_down_leaves_the_message_to_the_outbox(slack: FakeSlack, tmp_path: Path):
    slack.script("chat.postMessage", 503, {"ok": False, "error": "service_unavailable"})
    slack.script("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    async with running_service(slack_config(slack, token=True, format="mrkdwn"), tmp_path) as running:
        answer = await post(running, channel="C0FINANCE1", msg="fresh *data*")
        await until(lambda: slack.posted, within=10)
    assert answer.status_code == 201 and answer.json()["slack"]["delivery"] == "queued"
    # The outbox's retry met Slack's rate limit and waited for its Retry-After.
    _, limited, delivered = slack.to("chat.postMessage")
    assert delivered.time - limited.time >= 0.95
    assert texts(slack.posted[0]) == ["fresh *data*"] and slack.posted[0]["channel"] == "C0FINANCE1"


async def test_without_webhook_or_token_butler_still_answers_201(slack: FakeSlack, tmp_path: Path):
    async with running_service(slack_config(slack, token=False, webhookURL=""), tmp_path) as running:
        answer = await post(running, msg="hello")
    assert answer.status_code == 201 and answer.content == echo("hello")
    assert slack.calls == []



def test_config_names_each_bad_slack_key():
    with pytest.raises(ConfigError) as refused:
        parse_config({"Butler": {"slackNotification": {"restMessage": {
            "format": "html", "botToken": "abc", "apiUrl": "ftp://slack.example", "maxWaitSeconds": -1}}}}, Path("."))
    lines = str(refused.value).splitlines()
    prefix = "Butler.slackNotification.restMessage."
    assert [line.split(":")[0] for line in lines] == [prefix + key for key in
                                                      ("format", "botToken", "apiUrl", "maxWaitSeconds")]
    settings = parse_config({"Butler": {"slackNotification": {"restMessage": {
        "format": "MRKDWN", "botToken": " xoxb-1-2\n"}}}}, Path(".")).Butler.slackNotification.restMessage
    assert (settings.format, settings.botToken, settings.apiUrl) == ("mrkdwn", "xoxb-1-2", "https://slack.com/api")
