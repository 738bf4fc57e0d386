"""Fixtures of the observability tests: a sensesim site sending datagrams to a known UDP port, HTTP
receivers standing in for alert channels, and real PostgreSQL / InfluxDB servers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "alerts"))
sys.path.insert(0, str(Path(__file__).parent))

from alertkit import control, receiver, site, udp_port  # noqa: F401 (fixtures)

from support.databases import InfluxServer, PostgresServer


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
