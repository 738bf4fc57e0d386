"""A qbutler process killed (SIGKILL) in the middle of an alert loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from alertkit import FINANCE_TASK, alert_config, eventually, site_start


def records(folder: Path, box: str) -> list[Path]:
    return sorted((folder / "data" / "alerts" / box).glob("*.json"))


async def test_queued_deliveries_survive_a_kill(site, udp_port, receiver, qbutler_process, tmp_path: Path):
    receiver.script("/slack", *[(503, {})] * 1000)
    folder = tmp_path / "q"
    process = qbutler_process(alert_config(site, udp_port, receiver), folder)
    await site_start(site, FINANCE_TASK)
    await eventually(lambda: receiver.at("/teams") and receiver.at("/hook")
                     and len(receiver.at("/slack", delivered_only=False)) >= 2)
    await eventually(lambda: len(records(folder, "outbox")) == 1)  # only Slack's message is left
    process.kill()
    receiver.scripts["/slack"].clear()
    process.start()
    await eventually(lambda: receiver.at("/slack"))
    await asyncio.sleep(0.5)
    assert len(receiver.at("/slack")) == 1
    assert len(receiver.at("/teams")) == 1 and len(receiver.at("/hook")) == 1
    assert "Execution Failed" in receiver.at("/slack")[0].body.decode()
    assert records(folder, "outbox") == []


async def test_an_event_being_enriched_at_a_kill_is_processed_after_the_restart(
        site, control, udp_port, receiver, qbutler_process, tmp_path: Path):
    # The script log stays unavailable for a while (60 s x time scale 0.05 = 3 s): qbutler is
    # still fetching it when it is killed.
    await control.fault(scriptLogDelayMs=60_000)
    folder = tmp_path / "q"
    config = alert_config(site, udp_port, receiver, scriptLog={"retries": 40, "retryDelaySeconds": 0.2})
    process = qbutler_process(config, folder)
    await site_start(site, FINANCE_TASK)
    await eventually(lambda: len(records(folder, "inbox")) == 1)
    process.kill()
    process.start()
    await eventually(lambda: receiver.at("/slack") and receiver.at("/teams") and receiver.at("/hook"))
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
