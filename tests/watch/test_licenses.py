"""License monitors against sensesim: release honouring every neverRelease rule (and dry run), the
server license's expiry alert, access-license usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from alertkit import HttpReceiver, mqtt_messages

from support.qbutler import running_service
from support.sense import Control, running_site, sense_config
from support.waiting import until

SEED = Path(__file__).parent / "seeds" / "licenses.yaml"
EVERYONE = {"listed", "tagged", "property", "otherproperty", "admin", "inactive", "blocked", "removed", "plain"}


@pytest.fixture
async def seeded(sense_certs: Path):
    async with running_site(sense_certs, seed=SEED) as running:
        yield running


def release_config(site: Any, receiver: HttpReceiver, never: dict[str, Any], dry_run: bool = False,
                   **butler: Any) -> dict[str, Any]:
    return sense_config(site, qlikSenseLicense={"licenseRelease": {
        "enable": True, "dryRun": dry_run, "frequency": "at 03:00", "neverRelease": never,
        "licenseType": {"professional": {"enable": True, "releaseThresholdDays": 30},
                        "analyzer": {"enable": False}},
        "destination": {"webhook": {"enable": True}}}},
        webhookNotification={"qlikSenseLicenseRelease": {"webhooks": [
            {"webhookURL": receiver.url("/release"), "httpMethod": "POST"}]}}, **butler)


def owners(site: Any) -> set[str]:
    return {a.user.user_id for a in site.state.licenses.values() if a.kind == "professional"}


# Each rule, alone, keeps exactly its user(s); everyone else with an old, unquarantined allocation goes.
RULES = [
    ({}, set()),
    ({"user": [{"userDir": "ACME", "userId": "listed"}]}, {"listed"}),
    ({"tag": ["License do not release"]}, {"tagged"}),
    ({"customProperty": [{"name": "LicenseManage", "value": "do-not-release"}]}, {"property"}),
    ({"userDirectory": ["ADMIN"]}, {"admin"}),
    ({"inactive": "yes"}, {"inactive"}),
    ({"inactive": "No"}, EVERYONE - {"inactive"}),
    ({"blocked": "yes"}, {"blocked"}),
    ({"removedExternally": "yes"}, {"removed"}),
    ({"removedExternally": "no"}, EVERYONE - {"removed"}),
]


@pytest.mark.parametrize(("never", "kept"), RULES, ids=[str(r[0]) or "none" for r in RULES])
async def test_release_honours_each_never_release_rule(seeded, receiver: HttpReceiver, tmp_path: Path,
                                                       never: dict[str, Any], kept: set[str]):
    async with running_service(release_config(seeded, receiver, never), tmp_path / "q") as running:
        releaser = running.service.watch.release
        await until(lambda: releaser.runs >= 1, within=10)
        await running.service.alerts.deliverer.wait_idle()
    # Really gone from the site; recent and quarantined allocations are never candidates.
    assert owners(seeded) == kept | {"recent", "parked"}
    report = receiver.at("/release")[0].json()
    assert {r["userId"] for r in report["released"]} == EVERYONE - kept
    assert {k["user"].split("\\")[1] for k in report["kept"]} == kept and report["error"] == ""
    assert {a.user.user_id for a in seeded.state.licenses.values() if a.kind == "analyzer"} == {"analyst"}


async def test_dry_run_releases_nothing_and_reports_what_it_would(seeded, receiver: HttpReceiver, tmp_path: Path):
    config = release_config(seeded, receiver, {"tag": ["License do not release"]}, dry_run=True)
    async with running_service(config, tmp_path / "q") as running:
        await until(lambda: running.service.watch.release.runs >= 1, within=10)
        await running.service.alerts.deliverer.wait_idle()
    assert owners(seeded) == EVERYONE | {"recent", "parked"}
    report = receiver.at("/release")[0].json()
    assert report["dryRun"] is True and report["released"] == []
    assert {r["userId"] for r in report["wouldRelease"]} == EVERYONE - {"tagged"}


async def test_a_qrs_error_half_way_releases_nothing_more(seeded, receiver: HttpReceiver, tmp_path: Path):
    # The DELETE of admin's allocation (fifth in QRS order) fails: the four before it are gone,
    # nothing after it is touched, and the report says where it stopped.
    admin = next(a.id for a in seeded.state.licenses.values() if a.user.user_id == "admin")
    control = Control(seeded)
    await control.fault(service="qrs", method="DELETE", match=admin, status=403)
    await control.aclose()
    async with running_service(release_config(seeded, receiver, {}), tmp_path / "q") as running:
        await until(lambda: running.service.watch.release.runs >= 1, within=10)
        await running.service.alerts.deliverer.wait_idle()
        assert running.service.watch.release.failures_in_a_row == 1
    report = receiver.at("/release")[0].json()
    assert [r["userId"] for r in report["released"]] == ["listed", "tagged", "property", "otherproperty"]
    assert "403" in report["error"] and admin in report["error"]
    # Each release is in the audit trail (Butler.qbutler.api.audit, on by default).
    audit = [orjson.loads(line) for file in sorted((tmp_path / "q" / "data" / "audit").glob("*.jsonl"))
             for line in file.read_bytes().splitlines()]
    released = [entry for entry in audit if entry.get("action") == "license.release"]
    assert [(e["userId"], e["kind"]) for e in released] == [
        (user, "professional") for user in ("listed", "tagged", "property", "otherproperty")]
    assert owners(seeded) == EVERYONE - {"listed", "tagged", "property", "otherproperty"} | {"recent", "parked"}


async def test_server_license_below_threshold_alerts_on_mqtt_and_webhooks(site, control: Control, receiver,
                                                                          mosquitto, tmp_path: Path):
    await control.client.put("/license", json={"validTo": "2099-12-31"})
    config = sense_config(
        site, qlikSenseLicense={"serverLicenseMonitor": {
            "enable": True, "frequency": "every 1 seconds", "alert": {"thresholdDays": 30},
            "destination": {"mqtt": {"enable": True}, "webhook": {"enable": True}}},
            "licenseMonitor": {"enable": True, "frequency": "every 1 hours"}},
        mqttConfig={"enable": True, "brokerHost": "127.0.0.1", "brokerPort": mosquitto.port},
        webhookNotification={"enable": True,
                             "qlikSenseServerLicenseMonitor": {"rateLimit": 0, "webhooks": [
                                 {"webhookURL": receiver.url("/status"), "httpMethod": "GET"}]},
                             "qlikSenseServerLicenseExpiryAlert": {"rateLimit": 300, "webhooks": [
                                 {"webhookURL": receiver.url("/alert"), "httpMethod": "POST"}]}})
    async with mqtt_messages(mosquitto.port) as published, running_service(config, tmp_path / "q") as running:
        monitor = running.service.watch.server_license
        await running.service.mqtt.wait_connected()
        await until(lambda: len(receiver.at("/status")) >= 1, within=10)
        assert receiver.at("/alert") == [] and monitor.status["alert"] == ""
        assert "licenseExpired=false" in receiver.at("/status")[0].query
        # Ten days left: below the 30-day threshold.
        soon = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%d")
        await control.client.put("/license", json={"validTo": soon})
        await until(lambda: len(receiver.at("/alert")) >= 1, within=10)
        await until(lambda: any(t.endswith("_expire") for t, _ in published), within=10)
        usage = running.service.watch.access_licenses.usage
    alert = receiver.at("/alert")[0].json()
    assert alert["event"] == "server license about to expire alert" and alert["licenseExpired"] is False
    assert alert["daysUntilExpiry"] in (10, 11) and alert["expiryDateStr"] == soon
    expire = [p for t, p in published if t == "qliksense/qliksense_server_license_expire"]
    assert expire[0] == f"Qlik Sense server license is about to expire in {alert['daysUntilExpiry']} days, on {soon}"
    recurring = orjson.loads(next(p for t, p in published if t == "qliksense/qliksense_server_license"))
    assert list(recurring) == ["licenseExpired", "expiryDateStr", "daysUntilExpiry"]
    assert usage["professional"]["allocated"] == 2 and usage["analyzer"]["quarantined"] == 1
