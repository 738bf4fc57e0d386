"""Fixtures for the key-value store: every behaviour runs on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.qbutler import base_config, running_service

BACKENDS = ["memory", "sqlite", "redis"]


@pytest.fixture(params=BACKENDS)
def kv_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """`Butler.keyValueStore` for one backend (redis: the test's real Redis server)."""
    settings: dict[str, Any] = {"backend": request.param}
    if request.param == "redis":
        settings["redis"] = {"url": request.getfixturevalue("redis_server").url}
    return settings


@pytest.fixture
def kv_config(kv_settings: dict[str, Any]):
    """`kv_config(**keyValueStore overrides)` -> a full config dict on this test's backend."""

    def build(**overrides: Any) -> dict[str, Any]:
        return base_config(keyValueStore={**kv_settings, **overrides})

    return build


@pytest.fixture
async def api(kv_config, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_service(kv_config(), tmp_path) as running, running.client() as client:
        yield client
