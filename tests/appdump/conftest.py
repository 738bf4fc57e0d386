"""Fixtures for the app dump area: sensesim sites (demo seed for rich apps) and configs for them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from qbutler.config import Config, parse_config
from support.net import free_port
from support.sense import running_site, sense_config

# The demo seed's richest app: every object type the dump covers.
SALES = "6a2e4c1b-8d3f-4a5e-9b7c-1d2e3f4a5b6c"
UNKNOWN_APP = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
async def demo_site(sense_certs: Path) -> AsyncIterator[Any]:
    async with running_site(sense_certs, seed="demo") as site:
        yield site


def qbutler_config(site: Any, folder: Path, **butler: Any) -> Config:
    return parse_config(sense_config(site, **butler), folder)


@pytest.fixture
def demo_config(demo_site: Any, tmp_path: Path) -> Config:
    return qbutler_config(demo_site, tmp_path)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()
