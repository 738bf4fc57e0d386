"""The control API: outcomes, call log, faults, reset."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from sensesim.server import Site
from support.sensesim_support import SALES_TASK, Qrs, UdpListener, client_context


async def test_health_and_tasks(control: httpx.AsyncClient) -> None:
    health = (await control.get("/health")).json()
    assert health["status"] == "ok" and health["tasks"] == 19
    tasks = (await control.get("/tasks")).json()
    sales = next(t for t in tasks if t["id"] == SALES_TASK)
    assert sales["name"] == "Reload Sales Dashboard"
    assert sales["app"] == "Sales Dashboard" and sales["scenario"] == "success"
    assert sales["nextOutcome"] is None and sales["status"] == "NeverStarted"
    every = next(t for t in tasks if t["name"] == "Reload Sales every third fails")
    assert every["scenario"] == {"failEvery": 3}


async def test_outcome_override_applies_to_the_next_run_only(
    control: httpx.AsyncClient, qrs: Qrs, udp: UdpListener
) -> None:
    response = await control.put(f"/tasks/{SALES_TASK}/outcome", json={"outcome": "fail"})
    assert response.status_code == 200
    assert (await control.get("/tasks")).json()[0]["nextOutcome"] == "fail"
    await qrs.post(f"/qrs/task/{SALES_TASK}/start")
    assert (await udp.receive()).startswith(b"/scheduler-task-failed/")
    await qrs.wait_status(SALES_TASK, {8})
    await qrs.post(f"/qrs/task/{SALES_TASK}/start")
    assert (await udp.receive()).startswith(b"/scheduler-task-success/")

    await control.put(f"/tasks/{SALES_TASK}/outcome", json={"outcome": "abort"})
    await qrs.wait_status(SALES_TASK, {7})
    await qrs.post(f"/qrs/task/{SALES_TASK}/start")
    assert (await udp.receive()).startswith(b"/scheduler-task-aborted/")


async def test_outcome_validation(control: httpx.AsyncClient) -> None:
    assert (await control.put(f"/tasks/{SALES_TASK}/outcome", json={"outcome": "maybe"})).status_code == 400
    assert (await control.put(f"/tasks/{SALES_TASK}/outcome", content=b"not json")).status_code == 400
    unknown = "00000000-0000-0000-0000-000000000001"
    assert (await control.put(f"/tasks/{unknown}/outcome", json={"outcome": "fail"})).status_code == 404


async def test_calls_oldest_first_with_since(control: httpx.AsyncClient, qrs: Qrs) -> None:
    await qrs.get("/qrs/about")
    await qrs.post(f"/qrs/task/{SALES_TASK}/start", {"a": 1})
    calls = (await control.get("/calls")).json()
    assert [(c["service"], c["method"], c["path"]) for c in calls] == [
        ("qrs", "GET", "/qrs/about"),
        ("qrs", "POST", f"/qrs/task/{SALES_TASK}/start"),
    ]
    assert calls[1]["body"] == {"a": 1} and "xrfkey=" in calls[1]["query"]
    assert {"seq", "time"} <= set(calls[0])
    assert (await control.get("/calls", params={"since": 1})).json() == calls[1:]
    assert (await control.get("/calls", params={"since": "x"})).status_code == 400


async def test_status_fault_with_count(control: httpx.AsyncClient, qrs: Qrs) -> None:
    fault = {"service": "qrs", "match": "/qrs/task/", "status": 500, "count": 2}
    assert (await control.post("/faults", json=fault)).status_code == 200
    first = await qrs.post(f"/qrs/task/{SALES_TASK}/start")
    second = await qrs.get(f"/qrs/task/{SALES_TASK}")
    assert first.status_code == second.status_code == 500
    assert (await qrs.get(f"/qrs/task/{SALES_TASK}")).status_code == 200
    assert (await qrs.get("/qrs/app")).status_code == 200  # did not match
    rules = (await control.get("/faults")).json()["rules"]
    assert rules[0]["hits"] == 2


async def test_conflict_fault_with_method_and_body(control: httpx.AsyncClient, qrs: Qrs) -> None:
    await control.post(
        "/faults",
        json=[
            {
                "service": "qrs",
                "match": "/start",
                "method": "POST",
                "status": 409,
                "body": {"message": "busy"},
            }
        ],
    )
    assert (await qrs.get(f"/qrs/task/{SALES_TASK}")).status_code == 200
    response = await qrs.post(f"/qrs/task/{SALES_TASK}/start")
    assert response.status_code == 409 and response.json() == {"message": "busy"}


async def test_delay_fault(control: httpx.AsyncClient, qrs: Qrs) -> None:
    await control.post("/faults", json={"service": "qrs", "match": "/qrs/about", "delayMs": 300, "count": 1})
    started = time.monotonic()
    assert (await qrs.get("/qrs/about")).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await qrs.get("/qrs/about")
    assert time.monotonic() - started < 0.3


async def test_fault_validation_and_clearing(control: httpx.AsyncClient, qrs: Qrs) -> None:
    assert (await control.post("/faults", json={"service": "nope"})).status_code == 400
    assert (await control.post("/faults", json={"service": "engine", "status": 500})).status_code == 400
    assert (await control.post("/faults", json={"service": "qrs", "status": 99})).status_code == 400
    assert (await control.post("/faults", json={"bogus": 1})).status_code == 400
    await control.post("/faults", json={"service": "qrs", "status": 503})
    assert (await qrs.get("/qrs/about")).status_code == 503
    assert (await control.delete("/faults")).json()["rules"] == []
    assert (await qrs.get("/qrs/about")).status_code == 200


async def test_udp_lag(control: httpx.AsyncClient, qrs: Qrs, udp: UdpListener) -> None:
    # 10 s configured x 0.02 scale = 200 ms between terminal state and datagram.
    await control.post("/faults", json={"udpLagMs": 10_000})
    await qrs.post(f"/qrs/task/{SALES_TASK}/start")
    await qrs.wait_status(SALES_TASK, {7})
    assert udp.pending() == []
    assert (await udp.receive()).startswith(b"/scheduler-task-success/")


async def test_reset(control: httpx.AsyncClient, qrs: Qrs, udp: UdpListener) -> None:
    await control.put(f"/tasks/{SALES_TASK}/outcome", json={"outcome": "fail"})
    await control.post("/faults", json={"service": "qrs", "match": "/qrs/user", "status": 500})
    await qrs.post(f"/qrs/task/{SALES_TASK}/start")
    await udp.receive()
    assert len((await control.get("/datagrams")).json()) == 1
    assert (await control.post("/reset")).json() == {"status": "reset"}
    assert (await control.get("/calls")).json() == []
    assert (await control.get("/datagrams")).json() == []
    assert (await control.get("/faults")).json()["rules"] == []
    assert all(t["nextOutcome"] is None for t in (await control.get("/tasks")).json())
    task = await qrs.json(f"/qrs/reloadtask/{SALES_TASK}")
    assert task["operational"]["lastExecutionResult"]["status"] == 0
    assert (await qrs.get("/qrs/user")).status_code == 200


async def test_reset_cancels_running_runs(control: httpx.AsyncClient, qrs: Qrs, udp: UdpListener) -> None:
    # The lag (20 s x 0.02 = 400 ms) keeps the datagram pending long enough for the reset to land.
    await control.post("/faults", json={"udpLagMs": 20_000})
    await qrs.post("/qrs/task/start/many", [SALES_TASK])
    await control.post("/reset")
    assert (await control.get("/health")).json()["running"] == 0
    await asyncio.sleep(0.5)
    assert udp.pending() == []


async def test_datagrams_log(control: httpx.AsyncClient, qrs: Qrs, udp: UdpListener) -> None:
    await qrs.post(f"/qrs/task/{SALES_TASK}/start")
    sent = await udp.receive()
    rows = (await control.get("/datagrams")).json()
    assert rows[0]["payload"].encode() == sent and rows[0]["kind"] == "success"
    assert rows[0]["target"] == f"127.0.0.1:{udp.port}"


async def test_systeminfo_fault(control: httpx.AsyncClient, site: Site, certs_dir: Path) -> None:
    await control.post("/faults", json={"service": "systeminfo", "status": 500, "count": 1})
    async with httpx.AsyncClient(verify=client_context(certs_dir)) as client:
        assert (await client.get(f"{site.systeminfo_url}/v1/systeminfo")).status_code == 500
        assert (await client.get(f"{site.systeminfo_url}/v1/systeminfo")).status_code == 200
    calls = (await control.get("/calls")).json()
    assert [c["service"] for c in calls] == ["systeminfo", "systeminfo"]


async def test_reset_restores_repository_changes(
    control: httpx.AsyncClient, qrs: Qrs, udp: UdpListener
) -> None:
    app_id = "5e1f8a2c-3b4d-4c6e-8f0a-1b2c3d4e5f60"
    await qrs.post(f"/qrs/app/{app_id}/reload")
    await udp.receive()
    licenses = await qrs.json("/qrs/license/professionalaccesstype")
    await qrs.delete(f"/qrs/license/professionalaccesstype/{licenses[-1]['id']}")
    tasks_before = len((await control.get("/tasks")).json())
    await control.post("/reset")
    assert len((await control.get("/tasks")).json()) == tasks_before - 1
    assert len(await qrs.json("/qrs/license/professionalaccesstype")) == len(licenses)
