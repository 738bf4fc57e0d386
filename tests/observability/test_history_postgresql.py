"""The history on a real PostgreSQL: two qbutler instances sharing it store each execution once,
and a database that is down delays no alert."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from alertkit import FINANCE_TASK, site_start
from historykit import executions, history_config, wait_for_rows

from qbutler.history.config import HistoryConfig
from qbutler.history.model import StartRequest
from qbutler.history.postgresql import PostgresHistory
from qbutler.history.recorder import Recorder
from support.net import free_port
from support.qbutler import merge, running_service
from support.sense import running_site
from support.waiting import until

SALES_TASK = "Reload Sales Dashboard"


def pg_config(site, udp_port, receiver, postgres, instance: str) -> dict:
    config = history_config(site, udp_port, receiver, backend="postgresql", postgresql={"dsn": postgres.dsn})
    return merge(config, {"Butler": {"qbutler": {"instanceId": instance}}})


async def test_two_instances_share_the_history_and_store_each_execution_once(
        sense_certs, receiver, postgres, tmp_path: Path):
    ports = [free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)]
    # Both instances receive every datagram (as two qbutlers behind one log appender would).
    async with running_site(sense_certs, udp_targets=[("127.0.0.1", p) for p in ports]) as site:
        first_config = pg_config(site, ports[0], receiver, postgres, "qb-1")
        second_config = pg_config(site, ports[1], receiver, postgres, "qb-2")
        async with running_service(first_config, tmp_path / "one") as one, \
                running_service(second_config, tmp_path / "two") as two:
            await site_start(site, FINANCE_TASK)
            for _ in range(2):
                await site_start(site, SALES_TASK)
                await asyncio.sleep(0.3)
            rows = await wait_for_rows(one, 3)
            # Both processed all three events; let the slower one finish writing.
            for running in (one, two):
                await until(lambda r=running: r.service.alerts.listener.processed >= 3, within=15)
                await running.service.alerts.deliverer.wait_idle()
                await running.service.history.recorder.wait_idle()
            seen_by_one = (await executions(one))["executions"]
            seen_by_two = (await executions(two))["executions"]
        assert len(rows) == 3
        assert sorted(r["executionId"] for r in seen_by_one) == sorted(r["executionId"] for r in seen_by_two)
        assert len(seen_by_one) == 3 and {r["recordedBy"] for r in seen_by_one} <= {"qb-1", "qb-2"}
        # Each instance's own alerts are recorded under the one stored execution.
        failed = next(r for r in seen_by_one if r["outcome"] == "failed")
        async with running_service(first_config, tmp_path / "one") as again:
            async with again.client() as client:
                detail = (await client.get(f"/qbutler/v1/executions/{failed['executionId']}")).json()
            assert len((await executions(again))["executions"]) == 3
    slack = [d for d in detail["deliveries"] if d["channel"] == "slack"]
    assert len(slack) == 2 and all(d["outcome"] == "delivered" for d in slack)


async def test_a_hung_database_delays_no_alert_and_rows_arrive_once_it_answers(
        site, udp_port, receiver, postgres, tmp_path: Path):
    # The database stops answering (connections stay open) and qbutler waits up to 30 s per statement.
    config = pg_config(site, udp_port, receiver, postgres, "qb-1")
    config = merge(config, {"Butler": {"qbutler": {"history": {"postgresql": {"timeoutSeconds": 30}}}}})
    async with running_service(config, tmp_path / "qbutler") as running:
        history = running.service.history
        await site_start(site, SALES_TASK)
        await wait_for_rows(running, 1)
        postgres.freeze()
        try:
            started = time.monotonic()
            await site_start(site, FINANCE_TASK)
            await until(lambda: len(receiver.at("/slack")) and len(receiver.at("/hook")), within=25)
            alert_seconds = time.monotonic() - started
            assert history.recorder.written["execution"] == 1  # the failure is not in the database yet
        finally:
            postgres.thaw()
        rows = await wait_for_rows(running, 2, within=40)
        async with running.client() as client:
            await client.get("/qbutler/v1/executions")
    # A reload in sensesim takes about half a second; the alert did not wait for the database.
    assert alert_seconds < 15, alert_seconds
    assert rows[0]["outcome"] == "failed" and rows[0]["taskName"] == FINANCE_TASK


async def test_a_stopped_database_answers_503_and_rows_arrive_once_it_is_back(
        site, udp_port, receiver, postgres, tmp_path: Path):
    config = pg_config(site, udp_port, receiver, postgres, "qb-1")
    async with running_service(config, tmp_path / "qbutler") as running:
        postgres.stop()
        await site_start(site, FINANCE_TASK)
        await until(lambda: len(receiver.at("/slack")) and len(receiver.at("/hook")), within=20)
        async with running.client() as client:
            unavailable = await client.get("/qbutler/v1/executions")
        # The failed write comes once the writer has gathered its batch (batching.GATHER_SECONDS).
        await until(lambda: running.service.history.recorder.available is False, within=5)
        postgres.start()
        rows = await wait_for_rows(running, 1, within=40)
    assert unavailable.status_code == 503 and "unavailable" in unavailable.json()["message"]
    assert rows[0]["outcome"] == "failed" and rows[0]["taskName"] == FINANCE_TASK


async def test_qbutler_starts_while_the_database_is_down(site, udp_port, receiver, postgres, tmp_path: Path):
    postgres.stop()
    config = pg_config(site, udp_port, receiver, postgres, "qb-1")
    async with running_service(config, tmp_path / "qbutler") as running:
        await site_start(site, FINANCE_TASK)
        await until(lambda: len(receiver.at("/slack")), within=10)
        postgres.start()
        rows = await wait_for_rows(running, 1, within=40)
    assert rows[0]["taskName"] == FINANCE_TASK


async def test_a_full_queue_drops_history_rows_with_a_counted_logged_reason(postgres, caplog):
    postgres.stop()
    settings = HistoryConfig(queueSize=10, backend="postgresql", postgresql={"dsn": postgres.dsn, "timeoutSeconds": 1})
    recorder = Recorder(PostgresHistory(postgres.dsn, timeout=1), settings, "qb-1")
    await recorder.start()
    try:
        recorder.record(StartRequest("t", "rest", "", time.time()))
        await asyncio.sleep(0.2)  # the writer holds that row and retries it
        for _ in range(15):
            recorder.record(StartRequest("t", "rest", "", time.time()))
        assert recorder.queue.qsize() == 10 and recorder.dropped["queue_full"] == 5
        assert any("dropped (queue_full)" in r.message for r in caplog.records)
        postgres.start()
        await asyncio.wait_for(recorder.wait_idle(), 40)
        assert recorder.written["start"] == 11
    finally:
        await recorder.stop()
