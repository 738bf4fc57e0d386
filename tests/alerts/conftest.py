"""Fixtures of the alert tests: receivers, an SMTP server, and a sensesim site sending datagrams to
a known UDP port."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from alertkit import SmtpReceiver, receiver, site, udp_port  # noqa: F401 (fixtures)

from support.net import free_port
from support.sense import Control
from support.slack import FakeSlack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A stand-in for Slack's Web API and incoming webhooks."""
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def control(site: Any) -> AsyncIterator[Control]:  # noqa: F811 (it takes the site fixture)
    """sensesim's control API of `site`."""
    client = Control(site)
    yield client
    await client.aclose()
