"""Fixtures for the app dump area: sensesim sites and engines, and qbutler configs pointing at them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sensesim.certs import ensure_certs
from sensesim.engine import EngineOptions, EngineServer
from sensesim.state import State, load_seed
from support.appdump import SALES
from support.net import free_port
from support.sense import running_site
from support.sensesim_support import running_engine


@pytest.fixture(scope="session")
def engine_certs(sense_certs: Path) -> Path:
    ensure_certs(sense_certs)
    return sense_certs


@pytest.fixture
def demo_state() -> State:
    """The demo seed, with an appprops object added to the rich app (not a seed key yet)."""
    state = load_seed("demo")
    state.apps[SALES].engine["appprops"] = [{"id": "appprops-sales", "sheetTitleBgColor": "#f0f0f0"}]
    return state


@pytest.fixture
def engine_options() -> EngineOptions:
    # The dump opens apps without data; let such sessions still see the seeded fields.
    return EngineOptions(no_data_hides_data_model=False)


@pytest.fixture
async def demo_engine(demo_state: State, engine_certs: Path, engine_options: EngineOptions
                      ) -> AsyncIterator[EngineServer]:
    async with running_engine(demo_state, engine_certs, engine_options) as server:
        yield server


@pytest.fixture
async def demo_site(sense_certs: Path) -> AsyncIterator[Any]:
    async with running_site(sense_certs, seed="demo") as site:
        yield site


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()
