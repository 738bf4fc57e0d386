"""Helpers of the history tests: qbutler's config for a site, and reading the history API."""

from __future__ import annotations

from typing import Any

from alertkit import HttpReceiver, alert_config

from support.qbutler import RunningService
from support.waiting import until


def history_config(site: Any, udp_port: int, receiver: HttpReceiver, **history: Any) -> dict[str, Any]:
    """Alerts to the receiver (Slack, Teams, webhook), history as given (SQLite by default)."""
    return alert_config(site, udp_port, receiver, qbutler={"dataDirectory": "data", "instanceId": "qb-test",
                                                           "history": history})


async def executions(running: RunningService, **query: Any) -> dict[str, Any]:
    async with running.client() as client:
        answer = await client.get("/qbutler/v1/executions", params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def wait_for_rows(running: RunningService, count: int, within: float = 20, **query: Any) -> list[dict]:
    """Until the history lists `count` executions (matching `query`); they, newest first."""
    found: list[dict] = []

    async def enough() -> bool:
        nonlocal found
        history = running.service.history
        assert history is not None
        await history.recorder.wait_idle()
        found = (await executions(running, limit=500, **query))["executions"]
        return len(found) >= count

    await until(enough, within=within)
    return found
