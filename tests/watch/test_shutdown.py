"""`qbutler serve` with the site watch and MQTT on stops promptly on SIGTERM, whatever the broker
is doing: in the middle of a poll's status burst, stopped, or frozen (connected but silent).

A real `qbutler serve` process polls a 10-node sensesim site and publishes every service's state
(60 messages per poll, each acknowledged by a real Mosquitto)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from support.brokers import Mosquitto
from support.qbutler import QbutlerProcess
from support.sense import sense_config

NODES = [f"node{n:02d}.sense.example" for n in range(1, 11)]
TYPES = ["Repository", "Proxy", "Scheduler", "Engine", "AppMigration", "Printing"]
STATUSES_PER_POLL = len(NODES) * len(TYPES)
# A clean stop, measured from SIGTERM: well under qbutler's last-resort deadline (15 s, after
# which it exits with 1), so passing proves the components stop by themselves. The slowest
# component is the MQTT goodbye to a silent broker (2 s) plus closing its connection (5 s).
CLEAN_STOP_SECONDS = 11.0


def watched_site_config(site: Any, mqtt_port: int) -> dict[str, Any]:
    config = sense_config(
        site,
        serviceMonitor={"enable": True, "frequency": "every 2 seconds", "qrs": {"services": TYPES}},
        mqttConfig={"enable": True, "brokerHost": "127.0.0.1", "brokerPort": mqtt_port},
        logLevel="info")
    # No REST listener, as in bench/watch_cost.py: the watch is then the first component to stop,
    # and its cancel lands at the moment the signal arrives.
    config["Butler"]["restServerConfig"]["enable"] = False
    return config


@pytest.fixture
async def ten_nodes(sense_site: Any, sense_control: Any) -> Any:
    (await sense_control.client.put("/nodes", json={"nodes": NODES, "services": TYPES})).raise_for_status()
    return sense_site


async def wait_for_statuses(port: int, count: int) -> None:
    """Until `count` service status messages have reached a subscriber on the broker."""
    async with aiomqtt.Client("127.0.0.1", port) as subscriber:
        await subscriber.subscribe("qliksense/service_status/#", qos=1)
        seen = 0
        async for _ in subscriber.messages:
            seen += 1
            if seen >= count:
                return


async def stop_time(qbutler: QbutlerProcess) -> float:
    """Seconds from SIGTERM until the process has exited with 0 (its log is shown otherwise)."""
    assert qbutler.process is not None
    signalled = time.monotonic()
    qbutler.signal(signal.SIGTERM)
    return await exit_time(qbutler, signalled)


async def exit_time(qbutler: QbutlerProcess, signalled: float) -> float:
    assert qbutler.process is not None
    with contextlib.suppress(subprocess.TimeoutExpired):
        # In a thread: sensesim, which qbutler polls, runs on this test's event loop.
        await asyncio.to_thread(qbutler.process.wait, CLEAN_STOP_SECONDS - (time.monotonic() - signalled))
    took = time.monotonic() - signalled
    assert qbutler.process.poll() == 0, f"qbutler still running {took:.1f}s after SIGTERM:\n{qbutler.log()[-4000:]}"
    assert "qbutler stopped" in qbutler.log()
    return took


async def test_sigterm_in_the_middle_of_a_status_burst_stops_qbutler(
        ten_nodes: Any, mosquitto: Mosquitto, tmp_path: Path):
    # The hang this guards against: SIGTERM handled in the same loop turn as the broker's
    # acknowledgement of a status message. Python 3.11's asyncio.wait_for (under aiomqtt's publish)
    # then swallowed the watch's cancel, the watch polled on and `qbutler serve` never exited.
    # Freezing qbutler (SIGSTOP) lets the acknowledgement and SIGTERM arrive together on SIGCONT.
    # Before the fix about 7 in 10 of these stops hung; four rounds make a pass by luck unlikely.
    config = watched_site_config(ten_nodes, mosquitto.port)
    for round_number in range(4):
        qbutler = QbutlerProcess(config, tmp_path / f"round{round_number}")
        qbutler.start()
        try:
            # Half-way through the second poll's burst (the first may have waited in the outbox).
            await asyncio.wait_for(wait_for_statuses(mosquitto.port, STATUSES_PER_POLL + STATUSES_PER_POLL // 2), 60)
            assert qbutler.process is not None
            qbutler.signal(signal.SIGSTOP)
            await asyncio.sleep(0.2)
            signalled = time.monotonic()
            qbutler.signal(signal.SIGTERM)
            await asyncio.sleep(0.05)
            qbutler.signal(signal.SIGCONT)
            await exit_time(qbutler, signalled)
        finally:
            qbutler.stop()


async def test_sigterm_while_the_broker_is_stopped_stops_qbutler(
        ten_nodes: Any, mosquitto: Mosquitto, tmp_path: Path):
    qbutler = QbutlerProcess(watched_site_config(ten_nodes, mosquitto.port), tmp_path / "qbutler")
    qbutler.start()
    try:
        await asyncio.wait_for(wait_for_statuses(mosquitto.port, STATUSES_PER_POLL), 60)
        mosquitto.stop()
        # Reconnecting with back-off, the polls' statuses queued in the outbox.
        await asyncio.sleep(3)
        await stop_time(qbutler)
        assert "not sent before shutdown" in qbutler.log()
    finally:
        qbutler.stop()


async def test_sigterm_while_the_broker_is_frozen_stops_qbutler(
        ten_nodes: Any, mosquitto: Mosquitto, tmp_path: Path):
    # Connected but silent (SIGSTOP): no acknowledgement, no answer to the goodbye or the disconnect.
    qbutler = QbutlerProcess(watched_site_config(ten_nodes, mosquitto.port), tmp_path / "qbutler")
    qbutler.start()
    assert mosquitto.process is not None
    try:
        await asyncio.wait_for(wait_for_statuses(mosquitto.port, STATUSES_PER_POLL), 60)
        os.kill(mosquitto.process.pid, signal.SIGSTOP)
        try:
            # A poll's statuses are now waiting for acknowledgements that do not come.
            await asyncio.sleep(3)
            await stop_time(qbutler)
        finally:
            os.kill(mosquitto.process.pid, signal.SIGCONT)
    finally:
        qbutler.stop()
