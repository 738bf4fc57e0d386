"""Fixtures for the simulator tests: real TLS sockets, plain clients (httpx, ssl, UDP)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sensesim.certs import ensure_certs
from sensesim.server import Site
from support.sensesim_support import FAST, Qrs, UdpListener, admin_qrs


@pytest.fixture(scope="session")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("certs")
    ensure_certs(path)
    return path


@pytest.fixture
def udp() -> Iterator[UdpListener]:
    listener = UdpListener()
    yield listener
    listener.close()


@pytest.fixture
def site_options() -> dict[str, Any]:
    """More `Site` options for the `site` fixture; a test module overrides this to change them."""
    return {}


@pytest.fixture
async def site(certs_dir: Path, udp: UdpListener, site_options: dict[str, Any]) -> AsyncIterator[Site]:
    async with Site(seed="minimal", certs_dir=certs_dir, udp_targets=[("127.0.0.1", udp.port)], **FAST,
                    **site_options) as s:
        yield s


@pytest.fixture
async def qrs(site: Site, certs_dir: Path) -> AsyncIterator[Qrs]:
    async with admin_qrs(site, certs_dir, client_timeout=10) as client:
        yield client


@pytest.fixture
async def control(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site.control_url, timeout=10) as client:
        yield client
