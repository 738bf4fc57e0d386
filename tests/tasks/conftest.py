"""qbutler connected to a sensesim site, for the task-start, MQTT and app tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.qbutler import RunningService, running_service
from support.sense import Control, sense_config


@dataclass
class Connected:
    running: RunningService
    api: httpx.AsyncClient
    sense: Control
    task_ids: dict[str, str]

    async def qrs_calls(self, method: str | None = None, path_part: str = "") -> list[dict[str, Any]]:
        return [c for c in await self.sense.calls()
                if c["service"] == "qrs" and (method is None or c["method"] == method) and path_part in c["path"]]

    async def starts(self) -> list[str]:
        """Ids of the tasks qbutler asked QRS to start, in order."""
        return [c["path"].split("/")[3] for c in await self.qrs_calls("POST", "/start")]


@pytest.fixture
def connect(sense_site, sense_control, tmp_path: Path) -> Callable[..., Any]:
    """`async with connect(**butler_overrides) as c:` → qbutler on the site, with a REST client."""

    @contextlib.asynccontextmanager
    async def start(**butler: Any) -> AsyncIterator[Connected]:
        config = sense_config(sense_site, configQRS={"retryBackoff": 0.01, "retries": 1}, **butler)
        async with running_service(config, tmp_path / "qbutler") as running, running.client() as api:
            ids = {t["name"]: t["id"] for t in await sense_control.tasks()}
            await sense_control.reset()
            yield Connected(running, api, sense_control, ids)

    return start
