"""Fixtures of the alert tests: receivers, an SMTP server, and a sensesim site sending datagrams to
a known UDP port (the shared ones live in alertkit, which the site-watch tests use too)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from alertkit import control, receiver, site, smtp, udp_port  # noqa: F401 (fixtures)

from support.slack import FakeSlack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A stand-in for Slack's Web API and incoming webhooks."""
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()
