"""Fixtures of the site-watch tests: the alert tests' receivers, an SMTP server and a sensesim site."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "alerts"))

from alertkit import control, receiver, smtp  # noqa: F401 - fixtures

from support.sense import running_site


@pytest.fixture
async def site(sense_certs: Path) -> AsyncIterator[Any]:
    async with running_site(sense_certs) as running:
        yield running
