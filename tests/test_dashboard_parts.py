"""The dashboard's pieces without a browser: Butler's masking output, cron in words, daylight-saving
notes, and the signed session cookie."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from qbutler.scheduler.cron import CronExpression
from qbutler.web.access import ANONYMOUS, Principal, SessionSigner
from qbutler.web.cronwords import describe, dst_notes
from qbutler.web.masking import STARS, mask_config


def test_masking_keeps_butlers_visible_shapes():
    masked = mask_config({
        "configQRS": {"host": "10.11.12.13"},
        "slackNotification": {"reloadTaskFailure": {"webhookURL": "https://hooks.slack.com/services/T0/B0/xyz",
                                                    "channel": "#alerts"}},
        "thirdPartyToolsCredentials": {"newRelic": [{"accountName": "a", "insertApiKey": "NRII-abcdef",
                                                     "accountId": 1234567}]},
        "restServerConfig": {"tls": {"enable": False, "cert": "", "key": "/k.pem", "ca": None}},
        "influxDb": {"auth": {"username": "", "password": "p"}},
        "emailNotification": {"smtp": {"auth": {"user": "joe@example.com", "password": ""}}},
        "qlikSenseUrls": {"qmc": "https://sense.example/qmc"},
        "keyValueStore": {"redis": {"url": "redis://app:pw@redis.local:6379/0"}},
    })
    assert masked["configQRS"]["host"] == "10." + STARS
    assert masked["slackNotification"]["reloadTaskFailure"] == {"webhookURL": "https://ho" + STARS,
                                                                "channel": "#alerts"}
    assert masked["thirdPartyToolsCredentials"]["newRelic"][0] == {
        "accountName": "a", "insertApiKey": "NRII-" + STARS, "accountId": "123" + STARS}
    assert masked["restServerConfig"]["tls"] == {"enable": False, "cert": "", "key": STARS, "ca": STARS}
    assert masked["influxDb"]["auth"] == {"username": "", "password": STARS}
    assert masked["emailNotification"]["smtp"]["auth"] == {"user": "joe" + STARS, "password": STARS}
    # Links for alert readers stay; a server URL loses only its password.
    assert masked["qlikSenseUrls"]["qmc"] == "https://sense.example/qmc"
    assert masked["keyValueStore"]["redis"]["url"] == f"redis://app:{STARS}@redis.local:6379/0"


@pytest.mark.parametrize(("cron", "words"), [
    ("*/10 * * * * *", "Every 10 seconds"),
    ("0 30 6 * * 1-5", "At 06:30, Monday through Friday"),
    ("0 0 3-15 * * *", "On the hour, hours 03 through 15"),
    ("0 */15 * * * *", "Every 15 minutes"),
    ("0 0 */6 * * *", "Every 6 hours, on the hour"),
    ("0 15 10 1 * *", "At 10:15, on day 1 of the month"),
    ("0 0 0 * 0,6 *", "At 00:00, in January and July"),  # Butler's months count from 0
    ("30 * * * *", "Every hour, at 30 minutes past the hour"),
])
def test_cron_in_words(cron, words):
    assert describe(CronExpression.parse(cron)) == words


def test_daylight_saving_notes_name_skipped_and_repeated_runs():
    start = datetime(2026, 12, 3, tzinfo=UTC)
    notes = dst_notes(CronExpression.parse("0 30 2 * * *"), ZoneInfo("Europe/Berlin"), start)
    assert [n.text for n in notes] == [
        "2027-03-28 02:30:00 does not exist that day (clocks jump forward); it runs at 03:00 instead",
        "2027-10-31 02:30:00 happens twice that day (clocks go back); it runs once, at the first"]
    assert dst_notes(CronExpression.parse("0 0 12 * * *"), ZoneInfo("Europe/Berlin"), start) == []
    assert dst_notes(CronExpression.parse("0 30 2 * * *"), ZoneInfo("UTC"), start) == []


def test_a_session_cookie_cannot_be_forged_stretched_or_reused_for_csrf():
    signer = SessionSigner(b"k" * 32, 3600)
    session, cookie = signer.issue(Principal("ops", frozenset({"kv:read"})), now=1000.0)
    assert signer.read(cookie, now=2000.0) == session
    assert signer.read(cookie, now=4601.0) is None  # expired
    body, mac = cookie.split(".")
    assert signer.read(body[:-2] + "AA." + mac, now=2000.0) is None
    assert SessionSigner(b"x" * 32, 3600).read(cookie, now=2000.0) is None
    other, _ = signer.issue(ANONYMOUS)
    assert signer.csrf_ok(session, signer.csrf_token(session))
    assert not signer.csrf_ok(session, signer.csrf_token(other))
    assert not signer.csrf_ok(session, None)
