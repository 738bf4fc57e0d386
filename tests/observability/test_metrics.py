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

import pytest
from alertkit import FINANCE_TASK, task_id
from historykit import history_config

from support.qbutler import base_config, merge, running_service
from support.scheduling import schedule, write_schedules
from support.waiting import until

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')
SALES = "3c9e2f5a-6d1b-4c8e-9a0f-2b7d4e6f8a1c"  # "Reload Sales Dashboard", succeeds


def parse(text: str) -> dict[str, float]:
    """`name{labels}` → value, every sample of the exposition."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


async def test_counters_after_rest_calls_a_failing_task_a_retried_alert_and_a_schedule(
        site, udp_port, receiver, tmp_path: Path):
    folder = tmp_path / "qbutler"
    folder.mkdir()
    # One occurrence, a few seconds from now (Butler's six-field cron, seconds first).
    due = datetime.fromtimestamp(time.time() + 4, UTC)
    write_schedules(folder / "schedule.yaml", [schedule("s1", f"{due.second} {due.minute} {due.hour} * * *")])
    config = merge(history_config(site, udp_port, receiver),
                   {"Butler": {"scheduler": {"enable": True, "configfile": "schedule.yaml"}}})
    receiver.script("/slack", (503, {}))  # Slack fails once; the retry gets through
    finance = task_id(site, FINANCE_TASK)
    async with running_service(config, folder) as running:
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
