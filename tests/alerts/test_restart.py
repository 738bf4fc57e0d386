"""A qbutler process killed (SIGKILL) in the middle of an alert loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from pathlib import Path

from alertkit import FINANCE_TASK, alert_config, site_start

from qbutler.alerts.journal import read_records
from support.qbutler import running_service
from support.waiting import until


def records(folder: Path, box: str) -> list[str]:
    """The ids of the records in the instance's inbox or outbox."""
    return list(read_records(folder / "data" / "alerts" / box)[0])


async def test_queued_deliveries_survive_a_kill(site, udp_port, receiver, qbutler_process, tmp_path: Path):
    receiver.script("/slack", *[(503, {})] * 1000)
    folder = tmp_path / "q"
    process = qbutler_process(alert_config(site, udp_port, receiver), folder)
    await site_start(site, FINANCE_TASK)
    await until(lambda: receiver.at("/teams") and receiver.at("/hook")
                     and len(receiver.at("/slack", delivered_only=False)) >= 2, within=15)
    await until(lambda: len(records(folder, "outbox")) == 1, within=15)  # only Slack's message is left
    process.kill()
    receiver.scripts["/slack"].clear()
    process.start()
    await until(lambda: receiver.at("/slack"), within=15)
    await asyncio.sleep(0.5)
    assert len(receiver.at("/slack")) == 1
    assert len(receiver.at("/teams")) == 1 and len(receiver.at("/hook")) == 1
    assert "Execution Failed" in receiver.at("/slack")[0].body.decode()
    assert records(folder, "outbox") == []


async def test_a_webhook_in_flight_at_a_kill_is_sent_again_with_the_same_delivery_id(
        site, udp_port, receiver, qbutler_process, tmp_path: Path):
    # The receiver reads the request and does not answer: qbutler dies not knowing it arrived.
    receiver.hold("/hook")
    folder = tmp_path / "q"
    process = qbutler_process(alert_config(site, udp_port, receiver), folder)
    await site_start(site, FINANCE_TASK)
    await until(lambda: receiver.at("/hook"), within=15)
    process.kill()
    receiver.answer("/hook")
    process.start()
    await until(lambda: len(receiver.at("/hook")) == 2, within=15)
    first, again = receiver.at("/hook")
    key = first.headers["idempotency-key"]
    assert str(uuid.UUID(key)) == key
    assert again.headers["idempotency-key"] == key
    assert first.json()["deliveryId"] == again.json()["deliveryId"] == key
    assert first.json()["executionId"] == again.json()["executionId"]
    await until(lambda: records(folder, "outbox") == [], within=15)


async def test_an_event_being_enriched_at_a_kill_is_processed_after_the_restart(
        site, control, udp_port, receiver, qbutler_process, tmp_path: Path):
    # The script log stays unavailable for a while (60 s x time scale 0.05 = 3 s): qbutler is
    # still fetching it when it is killed.
    await control.fault(scriptLogDelayMs=60_000)
    folder = tmp_path / "q"
    config = alert_config(site, udp_port, receiver, scriptLog={"retries": 40, "retryDelaySeconds": 0.2})
    process = qbutler_process(config, folder)
    await site_start(site, FINANCE_TASK)
    await until(lambda: len(records(folder, "inbox")) == 1, within=15)
    process.kill()
    process.start()
    await until(lambda: receiver.at("/slack") and receiver.at("/teams") and receiver.at("/hook"), within=15)
    # Sense sending the same datagram again changes nothing: the execution is known.
    [datagram] = (await control.client.get("/datagrams")).json()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(datagram["payload"].encode(), ("127.0.0.1", udp_port))
    await asyncio.sleep(1.0)
    for path in ("/slack", "/teams", "/hook"):
        assert len(receiver.at(path)) == 1, path
    assert "Execution Failed" in receiver.at("/slack")[0].body.decode()
    assert records(folder, "inbox") == [] and records(folder, "outbox") == []
    assert "received before the restart" in process.log()


async def test_events_waiting_at_a_clean_shutdown_are_processed_after_the_start(site, control, udp_port, receiver,
                                                                               tmp_path: Path):
    unlimited = {"reloadTaskFailure": {"rateLimit": 0}}
    config = alert_config(site, udp_port, receiver, slackNotification=unlimited,
                          udpServerConfig={"messageQueue": {"maxConcurrent": 1}})
    folder = tmp_path / "q"
    async with running_service(config, folder) as running:
        await site_start(site, FINANCE_TASK)
        await until(lambda: receiver.at("/slack"), within=15)
        [datagram] = (await control.client.get("/datagrams")).json()
        # QRS slows down: one event is being enriched, two wait in the queue when qbutler stops.
        await control.fault(service="qrs", match="/qrs/reloadtask/", delayMs=3000)
        fields = datagram["payload"].split(";")
        first = fields[9]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for n in range(3):
                fields[9] = f"14a81bf5-f81c-4047-b1a1-{n:012d}"
                sock.sendto(";".join(fields).encode(), ("127.0.0.1", udp_port))
        await until(lambda: running.service.alerts.listener.queue.qsize() == 2, within=15)
    assert len(records(folder, "inbox")) == 3
    await control.client.delete("/faults")
    async with running_service(config, folder) as running:
        await until(lambda: len(receiver.at("/slack")) == 4, within=15)
        await running.service.alerts.deliverer.wait_idle()
        await asyncio.sleep(0.3)
    executions = sorted(re.search(r"Execution ([0-9a-f-]{36})", r.body.decode()).group(1)
                        for r in receiver.at("/slack"))
    assert executions == sorted([first, *(f"14a81bf5-f81c-4047-b1a1-{n:012d}" for n in range(3))])
    assert records(folder, "inbox") == []
