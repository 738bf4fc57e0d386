"""A simulated Sense site (sensesim) for tests, and qbutler config that points at it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from support.qbutler import base_config, merge

# Fast but still asynchronous task runs: a 2 s reload takes ~100 ms.
FAST = {"time_scale": 0.05}


@contextlib.asynccontextmanager
async def running_site(certs_dir: Path, seed: str | Path = "minimal", **options: Any) -> AsyncIterator[Any]:
    from sensesim.server import Site

    async with Site(seed=seed, certs_dir=certs_dir, **{**FAST, **options}) as site:
        yield site


def sense_connection(site: Any) -> dict[str, Any]:
    """The Butler config keys that connect qbutler to `site` over mTLS."""
    certs = Path(site.config.certs_dir)
    user = [{"name": "X-Qlik-User", "value": "UserDirectory=Internal;UserId=sa_repository"}]
    return {
        "cert": {"clientCert": str(certs / "client.pem"), "clientCertKey": str(certs / "client_key.pem"),
                 "clientCertCA": str(certs / "root.pem")},
        "configQRS": {"host": "127.0.0.1", "port": site.qrs_port, "useSSL": True,
                      "headers": {"static": user}, "rejectUnauthorized": True},
        "configEngine": {"host": "127.0.0.1", "port": site.engine_port or 1, "useSSL": True,
                         "headers": {"static": user}, "rejectUnauthorized": True},
    }


def sense_config(site: Any, **butler: Any) -> dict[str, Any]:
    """base_config() connected to `site`, with `butler` merged over it."""
    return merge(base_config(), {"Butler": merge(sense_connection(site), butler)})


class Control:
    """sensesim's control API (plain HTTP on loopback)."""

    def __init__(self, site: Any):
        self.client = httpx.AsyncClient(base_url=site.control_url, timeout=10)

    async def calls(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/calls", params=params)
        response.raise_for_status()
        return response.json()

    async def set_outcome(self, task_id: str, outcome: str) -> None:
        (await self.client.put(f"/tasks/{task_id}/outcome", json={"outcome": outcome})).raise_for_status()

    async def fault(self, **fault: Any) -> None:
        (await self.client.post("/faults", json=fault)).raise_for_status()

    async def reset(self) -> None:
        (await self.client.post("/reset")).raise_for_status()

    async def tasks(self) -> list[dict[str, Any]]:
        return (await self.client.get("/tasks")).json()

    async def aclose(self) -> None:
        await self.client.aclose()
