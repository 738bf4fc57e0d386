"""GET /metrics after a scripted scenario: the counters hold the values the scenario implies, and
Prometheus' own checker accepts the output."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alertkit import FINANCE_TASK, task_id
from historykit import history_config

from support.qbutler import base_config, merge, running_service
from support.scheduling import schedule, write_schedules
from support.waiting import until

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')
SALES = "3c9e2f5a-6d1b-4c8e-9a0f-2b7d4e6f8a1c"  # "Reload Sales Dashboard", succeeds
NODE = "sensesim-node1"


def parse(text: str) -> dict[str, float]:
    """`name{labels}` → value, every sample of the exposition."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def site_watch(site: Any) -> dict[str, Any]:
    """Every site-watch monitor on against `site`; service changes alert nowhere (the scenario
    counts alert deliveries of task events only)."""
    hourly = {"enable": True, "frequency": "every 1 hours"}
    return {
        "serviceMonitor": {"enable": True, "frequency": "every 1 seconds", "alertDestination": {
            name: {"enable": False} for name in ("influxDb", "newRelic", "email", "mqtt", "teams", "slack",
                                                 "webhook")}},
        "qlikSenseVersion": {"versionMonitor": {**hourly, "host": "127.0.0.1", "port": site.systeminfo_port}},
        "qlikSenseLicense": {"serverLicenseMonitor": hourly, "licenseMonitor": hourly, "licenseRelease": {
            **hourly, "dryRun": True, "licenseType": {"professional": {"enable": True, "releaseThresholdDays": 30},
                                                      "analyzer": {"enable": True, "releaseThresholdDays": 30}}}},
    }


async def test_counters_after_rest_calls_a_failing_task_a_retried_alert_a_schedule_and_the_watch(
        site, control, udp_port, receiver, tmp_path: Path):
    started = time.time()
    folder = tmp_path / "qbutler"
    folder.mkdir()
    # One occurrence, a few seconds from now (Butler's six-field cron, seconds first).
    due = datetime.fromtimestamp(time.time() + 4, UTC)
    write_schedules(folder / "schedule.yaml", [schedule("s1", f"{due.second} {due.minute} {due.hour} * * *")])
    config = merge(history_config(site, udp_port, receiver),
                   {"Butler": {"scheduler": {"enable": True, "configfile": "schedule.yaml"}, **site_watch(site)}})
    receiver.script("/slack", (503, {}))  # Slack fails once; the retry gets through
    finance = task_id(site, FINANCE_TASK)
    async with running_service(config, folder) as running:
        watch = running.service.watch
        await until(lambda: all(m.runs >= 1 for m in watch.monitors), within=15)
        # Sense's scheduler stops talking to the repository; the service monitor sees it.
        await control.client.put(f"/services/{NODE}/Scheduler", json={"state": "NoCommunication"})
        await until(lambda: watch.services.changes == 1, within=10)
        async with running.client() as client:
            for _ in range(3):
                assert (await client.get("/v4/butlerping")).status_code == 200
            assert (await client.post("/v4/keyvalues/ns1", json={"key": "k", "value": "v"})).status_code == 201
            assert (await client.get("/v4/keyvalues/ns1", params={"key": "k"})).status_code == 200
            assert (await client.get("/v4/keyvalues/ns1", params={"key": "nope"})).status_code == 400
            assert (await client.get("/v4/no/such/route")).status_code == 404
            assert (await client.put(f"/v4/reloadtask/{finance}/start", json=[])).status_code == 200
            await until(lambda: running.service.alerts.listener.processed >= 2, within=20)
            await until(lambda: len(receiver.at("/slack")) == 1, within=10)
            await running.service.alerts.deliverer.wait_idle()
            await running.service.history.recorder.wait_idle()
            answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    metrics = parse(answer.text)

    assert metrics['qbutler_http_requests_total{method="GET",route="/v4/butlerping",status="200"}'] == 3
    assert metrics['qbutler_http_requests_total{method="GET",route="unmatched",status="404"}'] == 1
    assert metrics['qbutler_http_request_duration_seconds_count{method="GET",route="/v4/butlerping"}'] == 3
    assert metrics['qbutler_kv_operations_total{operation="set",outcome="ok"}'] == 1
    assert metrics['qbutler_kv_operations_total{operation="get",outcome="ok"}'] == 1
    assert metrics['qbutler_kv_operations_total{operation="get",outcome="error"}'] == 1
    assert metrics['qbutler_kv_keys{namespace="ns1"}'] == 1
    assert metrics["qbutler_udp_datagrams_received_total"] == 2
    assert metrics['qbutler_udp_datagrams_processed_total{outcome="ok"}'] == 2
    assert metrics['qbutler_task_events_total{task_type="reload",outcome="failed"}'] == 1
    assert metrics['qbutler_task_events_total{task_type="reload",outcome="success"}'] == 1
    assert metrics['qbutler_alert_deliveries_total{channel="slack",outcome="delivered"}'] == 1
    assert metrics['qbutler_alert_deliveries_total{channel="teams",outcome="delivered"}'] == 1
    assert metrics['qbutler_alert_deliveries_total{channel="webhook",outcome="delivered"}'] == 1
    assert metrics['qbutler_alert_retries_total{channel="slack"}'] == 1
    assert 'qbutler_alert_retries_total{channel="teams"}' not in metrics
    assert metrics['qbutler_alert_delivery_seconds_count{channel="slack"}'] == 1
    assert metrics['qbutler_alert_delivery_seconds_sum{channel="slack"}'] > 0
    assert metrics["qbutler_alert_outbox_messages"] == 0 and metrics["qbutler_alert_outbox_oldest_age_seconds"] == 0
    assert metrics['qbutler_scheduler_occurrences_total{outcome="started"}'] == 1
    assert metrics["qbutler_scheduler_lateness_seconds_count"] == 1
    assert metrics['qbutler_scheduler_lateness_seconds_bucket{le="1.0"}'] == 1  # fired within a second
    assert metrics['qbutler_task_starts_total{trigger="schedule",outcome="started"}'] == 1
    assert metrics['qbutler_task_starts_total{trigger="rest",outcome="started"}'] == 1
    assert metrics['qbutler_qrs_requests_total{method="POST",outcome="ok"}'] == 2
    assert metrics['qbutler_qrs_requests_total{method="GET",outcome="ok"}'] >= 4
    assert metrics['qbutler_history_rows_written_total{kind="execution"}'] == 2
    assert metrics["process_cpu_seconds_total"] > 0 and metrics["process_resident_memory_bytes"] > 1e6

    # The site watch: service states, licenses, the Sense version, each monitor's runs.
    scheduler, engine = (f'host="{NODE}",service="QlikSense{name}Service"' for name in ("Scheduler", "Engine"))
    assert metrics[f"qbutler_sense_service_up{{{scheduler}}}"] == 0
    assert metrics[f"qbutler_sense_service_up{{{engine}}}"] == 1
    assert metrics[f'qbutler_sense_service_state{{{scheduler},state="NoCommunication"}}'] == 1
    assert metrics[f'qbutler_sense_service_state{{{scheduler},state="Running"}}'] == 0
    assert sum(v for k, v in metrics.items() if k.startswith(f"qbutler_sense_service_state{{{scheduler},")) == 1
    assert len([k for k in metrics if k.startswith("qbutler_sense_service_up{")]) == 5
    assert metrics["qbutler_sense_service_changes_total"] == 1
    assert metrics["qbutler_sense_server_license_expired"] == 0
    assert metrics["qbutler_sense_server_license_expiry_timestamp_seconds"] == datetime(2030, 12, 31,
                                                                                       tzinfo=UTC).timestamp()
    # sensesim's minimal seed: 50 professional seats, anna's and bob's taken; carl's analyzer one quarantined.
    assert metrics['qbutler_sense_access_licenses_limit{type="professional"}'] == 50
    assert metrics['qbutler_sense_access_licenses_allocated{type="professional"}'] == 2
    assert metrics['qbutler_sense_access_licenses_available{type="professional"}'] == 48
    assert metrics['qbutler_sense_access_licenses_quarantined{type="analyzer"}'] == 1
    assert metrics['qbutler_sense_access_licenses_available{type="analyzer"}'] == 99
    # A dry run: both professional allocations are unused for 30 days, nothing is released.
    assert metrics['qbutler_sense_license_release_candidates{type="professional"}'] == 2
    assert metrics['qbutler_sense_license_release_candidates{type="analyzer"}'] == 0
    assert metrics['qbutler_sense_licenses_released_total{type="professional"}'] == 0
    [version] = [k for k in metrics if k.startswith("qbutler_sense_version_info{")]
    assert 'version="14.187.4",release_label="May 2024 Patch 3",product_name="Qlik Sense"' in version
    assert metrics['qbutler_watch_runs_total{monitor="serviceMonitor",outcome="ok"}'] >= 2
    assert metrics['qbutler_watch_runs_total{monitor="serviceMonitor",outcome="failed"}'] == 0
    assert metrics['qbutler_watch_runs_total{monitor="versionMonitor",outcome="ok"}'] == 1
    assert metrics['qbutler_watch_last_success_timestamp_seconds{monitor="licenseMonitor"}'] > started
    # Histogram buckets are cumulative and end in +Inf = count.
    buckets = [v for k, v in metrics.items() if k.startswith('qbutler_http_request_duration_seconds_bucket{method="GET"'
                                                            ',route="/v4/butlerping"')]
    assert buckets == sorted(buckets) and buckets[-1] == 3

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    checker = await asyncio.create_subprocess_exec(promtool, "check", "metrics", stdin=subprocess.PIPE,
                                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = await checker.communicate(answer.content)
    assert checker.returncode == 0, output.decode()


async def test_metrics_and_history_endpoints_can_be_switched_off(tmp_path: Path):
    config = base_config(qbutler={"dataDirectory": "data", "metrics": {"enable": False},
                                  "history": {"enable": False}})
    async with running_service(config, tmp_path) as running:
        async with running.client() as client:
            assert (await client.get("/metrics")).status_code == 404
            assert (await client.get("/qbutler/v1/executions")).status_code == 404
            assert (await client.get("/v4/butlerping")).status_code == 200
        assert running.service.history is None and running.service.metrics is None
