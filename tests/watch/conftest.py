"""Fixtures of the site-watch tests: the alert tests' receivers, an SMTP server and a sensesim site."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "alerts"))

from alertkit import HttpReceiver, SmtpReceiver

from support.net import free_port
from support.sense import Control, running_site


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    server = HttpReceiver()
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
async def site(sense_certs: Path) -> AsyncIterator[Any]:
    async with running_site(sense_certs) as running:
        yield running


@pytest.fixture
async def control(site: Any) -> AsyncIterator[Control]:
    client = Control(site)
    yield client
    await client.aclose()
