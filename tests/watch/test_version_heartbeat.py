"""The version monitor reports a changed Sense version once (also across a restart); the
heartbeat reaches its receiver at the times its later.js text names."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from alertkit import HttpReceiver

from support.qbutler import running_service
from support.sense import Control, sense_config
from support.waiting import until


async def test_a_version_change_is_reported_once(site, control: Control, receiver: HttpReceiver, tmp_path: Path):
    config = sense_config(
        site, qlikSenseVersion={"versionMonitor": {
            "enable": True, "frequency": "every 1 seconds", "host": "127.0.0.1", "port": site.systeminfo_port,
            "rejectUnauthorized": True, "destination": {"webhook": {"enable": True}}}},
        webhookNotification={"qlikSenseVersionChange": {"webhooks": [
            {"webhookURL": receiver.url("/version"), "httpMethod": "POST"}]}})
    async with running_service(config, tmp_path / "q") as running:
        monitor = running.service.watch.version
        await until(lambda: monitor.runs >= 2, within=10)
        assert monitor.info["version"] == "14.187.4" and monitor.failures_in_a_row == 0
        assert receiver.requests == []  # the first version seen is recorded, not reported
        await control.client.put("/version", json={"version": "14.200.1", "releaseLabel": "November 2024"})
        await until(lambda: len(receiver.at("/version")) == 1, within=10)
    async with running_service(config, tmp_path / "q") as running:
        await until(lambda: running.service.watch.version.runs >= 2, within=10)
        await running.service.alerts.deliverer.wait_idle()
    [report] = receiver.at("/version")
    assert report.json() == {"event": "Qlik Sense version changed", "previousVersion": "14.187.4",
                             "previousReleaseLabel": "May 2024 Patch 3", "version": "14.200.1",
                             "releaseLabel": "November 2024", "productName": "Qlik Sense"}
    calls = [c for c in await control.calls() if c["service"] == "systeminfo"]
    assert calls and all(c["path"] == "/v1/systeminfo" and "xrfkey" not in c["query"] for c in calls)


async def test_heartbeats_arrive_at_the_texts_times(receiver: HttpReceiver, qbutler_config, tmp_path: Path):
    config = qbutler_config(heartbeat={"enable": True, "remoteURL": receiver.url("/beat"),
                                       "frequency": "every 2 seconds"})
    async with running_service(config, tmp_path / "q"):
        await until(lambda: len(receiver.at("/beat")) >= 4, within=10)
    times = [r.time for r in receiver.at("/beat")]
    # One at start-up, then on even seconds of the clock (later.js alignment), 2 s apart.
    for beat in times[1:]:
        assert math.floor(beat) % 2 == 0 and beat - math.floor(beat) < 0.5
    gaps = [b - a for a, b in itertools.pairwise(times[1:])]
    assert all(1.5 < gap < 2.5 for gap in gaps)


async def test_a_failing_heartbeat_never_stops_qbutler(qbutler_config, tmp_path: Path, caplog):
    config = qbutler_config(heartbeat={"enable": True, "remoteURL": "http://127.0.0.1:9/nothing",
                                       "frequency": "every 1 seconds"})
    async with running_service(config, tmp_path / "q") as running, running.client() as client:
        beat = running.service.watch.heartbeat
        await until(lambda: beat.failures_in_a_row >= 3, within=10)
        assert (await client.get("/v4/butlerping")).status_code == 200
    logged = [r for r in caplog.records if "heartbeat failed" in r.getMessage()]
    # Back-off: the 1st, 2nd, 4th ... failure is logged, not every one.
    assert 1 <= len(logged) < beat.failures_in_a_row
