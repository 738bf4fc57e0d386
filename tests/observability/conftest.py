"""Fixtures of the observability tests: a sensesim site sending datagrams to a known UDP port, HTTP
receivers standing in for alert channels, and real PostgreSQL / InfluxDB servers."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "alerts"))
sys.path.insert(0, str(Path(__file__).parent))

from alertkit import HttpReceiver

from support.databases import InfluxServer, PostgresServer
from support.net import free_port
from support.sense import running_site


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    server = HttpReceiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)


@pytest.fixture
async def site(sense_certs: Path, udp_port: int) -> AsyncIterator[Any]:
    async with running_site(sense_certs, udp_targets=[("127.0.0.1", udp_port)]) as running:
        yield running


@pytest.fixture(scope="session")
def postgres_session() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres(postgres_session: PostgresServer) -> Iterator[PostgresServer]:
    """The session's PostgreSQL with a fresh, empty database for this test (running again if a test stopped it)."""
    if not postgres_session.running():
        postgres_session.start()
    yield postgres_session.fresh_database()


@pytest.fixture
def influxdb(tmp_path: Path) -> Iterator[InfluxServer]:
    server = InfluxServer(tmp_path / "influxdb")
    server.start()
    yield server
    server.stop()
