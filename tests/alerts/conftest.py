"""Fixtures of the alert tests: receivers, an SMTP server, and a sensesim site sending datagrams to
a known UDP port."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from alertkit import control, receiver, smtp  # noqa: F401 - fixtures

from support.net import free_port
from support.sense import running_site
from support.slack import FakeSlack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A stand-in for Slack's Web API and incoming webhooks."""
    server = FakeSlack()
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
