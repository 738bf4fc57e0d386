"""The Site as a whole: every listener up, the engine wired to the same state and call log."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest
import websockets

from sensesim.server import Site
from support.sensesim_support import ADMIN, SALES_APP, UdpListener, admin_qrs, client_context


async def test_describe_lists_every_listener(site: Site) -> None:
    info = site.describe()
    assert info["qrs"] == f"https://127.0.0.1:{site.qrs_port}"
    assert info["control"] == f"http://127.0.0.1:{site.control_port}"
    assert info["systeminfo"] == f"https://127.0.0.1:{site.systeminfo_port}"
    assert len({site.qrs_port, site.control_port, site.systeminfo_port}) == 3
    json.dumps(info)  # machine-readable as is


async def test_engine_shares_state_and_call_log(site: Site, certs_dir: Path) -> None:
    if site.engine_port is None:
        pytest.skip("sensesim.engine not available")
    url = f"wss://127.0.0.1:{site.engine_port}/app/{SALES_APP}"
    async with websockets.connect(
        url, ssl=client_context(certs_dir), additional_headers={"X-Qlik-User": ADMIN}
    ) as ws:
        first = json.loads(await ws.recv())
        assert first["method"] == "OnConnected"
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "EngineVersion", "handle": -1, "params": []})
        )
        reply = json.loads(await ws.recv())
        assert reply["id"] == 1 and "qVersion" in reply["result"]
    async with httpx.AsyncClient(base_url=site.control_url) as control:
        calls = (await control.get("/calls")).json()
    assert any(c["service"] == "engine" and c["method"] == "EngineVersion" for c in calls)


async def test_engine_requires_a_client_certificate(site: Site, certs_dir: Path) -> None:
    if site.engine_port is None:
        pytest.skip("sensesim.engine not available")
    url = f"wss://127.0.0.1:{site.engine_port}/app/"
    with pytest.raises((ssl.SSLError, OSError, websockets.exceptions.WebSocketException)):
        async with websockets.connect(
            url, ssl=client_context(certs_dir, with_cert=False), additional_headers={"X-Qlik-User": ADMIN}
        ) as ws:
            await ws.recv()


async def test_site_without_engine(certs_dir: Path) -> None:
    async with Site(seed="minimal", certs_dir=certs_dir, engine=False) as site:
        assert site.engine_port is None and site.engine_url is None
        async with httpx.AsyncClient(verify=client_context(certs_dir)) as client:
            assert (await client.get(f"{site.systeminfo_url}/v1/systeminfo")).status_code == 200


async def test_unknown_option_is_rejected(certs_dir: Path) -> None:
    with pytest.raises(TypeError):
        Site(seed="minimal", certs_dir=certs_dir, no_such_option=1)


async def test_fixed_ports_can_be_reused_after_close(certs_dir: Path) -> None:
    async with Site(seed="minimal", certs_dir=certs_dir, engine=False) as first:
        port = first.qrs_port
    async with Site(seed="minimal", certs_dir=certs_dir, engine=False, qrs_port=port) as second:
        assert second.qrs_port == port


async def test_demo_site_runs_every_task(certs_dir: Path, udp: UdpListener) -> None:
    async with Site(
        seed="demo",
        certs_dir=certs_dir,
        engine=False,
        udp_targets=[("127.0.0.1", udp.port)],
        time_scale=0.005,
    ) as site:
        async with admin_qrs(site, certs_dir) as qrs:
            tasks = await qrs.json("/qrs/task")
            assert (await qrs.post("/qrs/task/start/many", [t["id"] for t in tasks])).status_code == 204
            await site.runner.idle()
            full = await qrs.json("/qrs/task/full")
        statuses = {t["name"]: t["operational"]["lastExecutionResult"]["status"] for t in full}
        assert statuses["Reload Sandbox"] == 0  # disabled
        assert statuses["Reload Budget vs Actual"] == 8
        assert statuses["Reload Employee Survey"] == 6
        assert statuses["Reload Company KPIs - validation"] == 7  # failed once, retry succeeded
        assert all(s in (6, 7, 8) for name, s in statuses.items() if name != "Reload Sandbox")
        received = udp.pending()
        # One datagram per finished run: every enabled task once, plus runs started by chains.
        assert len(received) == len(site.runner.datagrams) >= len(tasks) - 1
        assert all(len(d.split(b";")) == 11 for d in received)
