"""Task runs seen from outside: QRS status progression, execution results, UDP datagrams.

Reference §1.7.1, §1.8, §1.9, §3.4 and behaviours 1 and 6 of §5.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sensesim.server import Site
from support.sensesim_support import SALES_APP, SALES_TASK, XRFKEY, Qrs, UdpListener, admin_qrs

NULL_GUID = "00000000-0000-0000-0000-000000000000"
NULL_DATE = "1753-01-01T00:00:00.000Z"
DATE_FIELD = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}$")


def messages(result: dict[str, Any]) -> list[str]:
    ordered = sorted(result["details"], key=lambda d: d["detailCreatedDate"])
    return [d["message"] for d in ordered]


async def task_id(qrs: Qrs, name: str) -> str:
    rows = await qrs.json("/qrs/task", filter=f"name eq '{name.replace(chr(39), chr(39) * 2)}'")
    assert len(rows) == 1, name
    return str(rows[0]["id"])


def fields(datagram: bytes) -> list[str]:
    parts = datagram.decode("utf-8").split(";")
    assert len(parts) == 11, datagram
    return parts


async def test_start_is_async_204_and_walks_to_success(qrs: Qrs, udp: UdpListener, site: Site) -> None:
    before = (await qrs.json(f"/qrs/app/{SALES_APP}"))["lastReloadTime"]
    never_run = (await qrs.json(f"/qrs/reloadtask/{SALES_TASK}"))["operational"]["lastExecutionResult"]
    response = await qrs.post(f"/qrs/task/{SALES_TASK}/start", {})
    assert response.status_code == 204 and response.content == b""
    # A new result (new id) replaced the never-run one; that the 204 comes before the run ends
    # is shown with slower timing in test_status_progression_is_observable.
    after_start = (await qrs.json(f"/qrs/reloadtask/{SALES_TASK}"))["operational"]["lastExecutionResult"]
    assert after_start["id"] != never_run["id"]
    task = await qrs.wait_status(SALES_TASK, {7})
    result = task["operational"]["lastExecutionResult"]
    assert result["id"] == after_start["id"]
    assert messages(result) == [
        "Changing task state from NeverStarted to Triggered",
        "Changing task state from Triggered to Started",
        "Changing task state from Started to FinishedSuccess",
    ]
    assert result["startTime"] != NULL_DATE and result["stopTime"] != NULL_DATE
    started = datetime.fromisoformat(result["startTime"].replace("Z", "+00:00"))
    stopped = datetime.fromisoformat(result["stopTime"].replace("Z", "+00:00"))
    assert abs((stopped - started).total_seconds() * 1000 - result["duration"]) <= 2
    assert result["duration"] >= 30  # 2000 ms default x 0.02 time scale
    assert result["fileReferenceID"] != NULL_GUID and result["scriptLogAvailable"] is True
    assert result["scriptLogSize"] > 0 and result["executingNodeName"] == "sensesim-node1"
    assert (await qrs.json(f"/qrs/app/{SALES_APP}"))["lastReloadTime"] > before

    data = await udp.receive()
    f = fields(data)
    assert f[0] == "/scheduler-task-success/"
    assert f[1:7] == [
        "sensesim-node1",
        "Reload Sales Dashboard",
        "Sales Dashboard",
        "INTERNAL\\sa_repository",
        SALES_TASK,
        SALES_APP,
    ]
    assert DATE_FIELD.match(f[7]) and f[8] == "INFO"
    assert f[10] == "Execution State Change to FinishedSuccess"
    # ExecutionId is the execution session; QRS knows it through the execution results.
    results = await qrs.json("/qrs/executionresult", filter=f"ExecutionId eq {f[9]}")
    assert [r["id"] for r in results] == [result["id"]]
    # The session is gone once the run is over.
    assert (await qrs.get(f"/qrs/executionsession/{f[9]}")).status_code == 404
    assert await qrs.json("/qrs/executionsession", filter=f"id eq {f[9]}") == []


async def test_status_progression_is_observable(certs_dir: Path, udp: UdpListener) -> None:
    """Poll slowly-running tasks and see every intermediate status (1, 2, then 7 / 8)."""
    async with (
        Site(
            seed="minimal",
            certs_dir=certs_dir,
            engine=False,
            trigger_delay_ms=150,
            default_duration_ms=200,
        ) as site,
        admin_qrs(site, certs_dir) as qrs,
    ):
        for name, terminal in (("Reload Sales Dashboard", 7), ("Reload Finance Report", 8)):
            tid = await task_id(qrs, name)
            await qrs.post(f"/qrs/task/{tid}/start")
            seen: list[int] = []
            while not seen or seen[-1] != terminal:
                status = (await qrs.json(f"/qrs/reloadtask/{tid}"))["operational"]["lastExecutionResult"][
                    "status"
                ]
                if not seen or seen[-1] != status:
                    seen.append(status)
                await asyncio.sleep(0.01)
            assert seen == [1, 2, terminal]


async def test_failed_run_and_datagram(qrs: Qrs, udp: UdpListener) -> None:
    tid = await task_id(qrs, "Reload Finance Report")
    await qrs.post(f"/qrs/task/{tid}/start")
    task = await qrs.wait_status(tid, {8})
    result = task["operational"]["lastExecutionResult"]
    assert messages(result)[-1] == "Changing task state from Started to FinishedFail"
    assert [d["detailsType"] for d in result["details"]][-1] == 0
    assert result["fileReferenceID"] != NULL_GUID
    f = fields(await udp.receive())
    assert f[0] == "/scheduler-task-failed/" and f[2] == "Reload Finance Report" and f[5] == tid
    assert f[10] == "Max retries reached"


async def test_retries_make_one_result_per_attempt_and_one_datagram(qrs: Qrs, udp: UdpListener) -> None:
    tid = await task_id(qrs, "Reload Broken App with retries")
    await qrs.post(f"/qrs/task/{tid}/start")
    await qrs.wait_status(tid, {8})
    f = fields(await udp.receive())
    assert f[0] == "/scheduler-task-failed/"
    results = await qrs.json("/qrs/executionresult", filter=f"executionID eq {f[9]}", orderby="startTime")
    assert len(results) == 3  # maxRetries 2 -> three attempts
    assert len({r["id"] for r in results}) == 3
    assert [r["status"] for r in results] == [10, 10, 8]
    assert messages(results[0])[-1] == "Changing task state from Started to Retry"
    assert messages(results[1])[0] == "Changing task state from Retry to Triggered"
    assert all(r["fileReferenceID"] != NULL_GUID for r in results)
    await asyncio.sleep(0.1)
    assert udp.pending() == []  # only the last retry is reported


async def test_abort_scenario(qrs: Qrs, udp: UdpListener) -> None:
    tid = await task_id(qrs, "Reload HR Overview")
    await qrs.post(f"/qrs/task/{tid}/start")
    task = await qrs.wait_status(tid, {6})
    assert messages(task["operational"]["lastExecutionResult"])[-3:] == [
        "Changing task state from Started to AbortInitiated",
        "Changing task state from AbortInitiated to Aborting",
        "Changing task state from Aborting to Aborted",
    ]
    f = fields(await udp.receive())
    assert f[0] == "/scheduler-task-aborted/" and f[10] == "Execution State Change to Aborting"


async def test_stop_aborts_a_running_task(certs_dir: Path, udp: UdpListener) -> None:
    async with (
        Site(
            seed="minimal",
            certs_dir=certs_dir,
            engine=False,
            udp_targets=[("127.0.0.1", udp.port)],
            default_duration_ms=5000,
            trigger_delay_ms=10,
            abort_step_ms=10,
        ) as site,
        admin_qrs(site, certs_dir) as qrs,
    ):
        await qrs.post(f"/qrs/task/{SALES_TASK}/start")
        await qrs.wait_status(SALES_TASK, {2})
        session = (await qrs.json("/qrs/executionsession/full"))[0]
        assert session["reloadTask"]["id"] == SALES_TASK and session["app"]["id"] == SALES_APP
        assert (await qrs.json(f"/qrs/executionsession/{session['id']}"))["executionResult"]["status"] == 2
        assert (await qrs.post(f"/qrs/task/{SALES_TASK}/stop")).status_code == 204
        await qrs.wait_status(SALES_TASK, {6}, within=2)
        f = fields(await udp.receive())
        assert f[0] == "/scheduler-task-aborted/" and f[9] == session["id"]


async def test_start_synchronous_returns_the_session_id(qrs: Qrs, udp: UdpListener) -> None:
    response = await qrs.post(f"/qrs/task/{SALES_TASK}/start/synchronous")
    assert response.status_code == 201
    session_id = response.json()["value"]
    result = (await qrs.json(f"/qrs/reloadtask/{SALES_TASK}"))["operational"]["lastExecutionResult"]
    assert result["status"] >= 2  # it has started
    f = fields(await udp.receive())
    assert f[9] == session_id


async def test_start_synchronous_of_disabled_task_returns_null_guid(qrs: Qrs) -> None:
    tid = await task_id(qrs, "Reload Sales disabled")
    response = await qrs.post(f"/qrs/task/{tid}/start/synchronous")
    assert response.status_code == 201 and response.json() == {"value": NULL_GUID}
    assert (await qrs.post(f"/qrs/task/{tid}/start")).status_code == 204
    await asyncio.sleep(0.1)
    assert (await qrs.json(f"/qrs/reloadtask/{tid}"))["operational"]["lastExecutionResult"]["status"] == 0


async def test_start_while_running_does_not_start_twice(qrs: Qrs, udp: UdpListener) -> None:
    assert (await qrs.post(f"/qrs/task/{SALES_TASK}/start")).status_code == 204
    assert (await qrs.post(f"/qrs/task/{SALES_TASK}/start")).status_code == 204
    await qrs.wait_status(SALES_TASK, {7})
    await udp.receive()
    await asyncio.sleep(0.15)
    assert udp.pending() == []


async def test_start_by_name_and_many(qrs: Qrs, udp: UdpListener, site: Site) -> None:
    assert (await qrs.post("/qrs/task/start", name="reload sales dashboard")).status_code == 204
    assert (await qrs.post("/qrs/task/start", name="No such task")).status_code == 404
    sync = await qrs.post("/qrs/task/start/synchronous", name="Reload Finance Report")
    assert sync.status_code == 201 and sync.json()["value"] != NULL_GUID
    tid = await task_id(qrs, "Reload HR Overview")
    many = await qrs.post("/qrs/task/start/many", [tid, NULL_GUID])
    assert many.status_code == 204
    assert (await qrs.post("/qrs/task/start/many", {"not": "a list"})).status_code == 400
    kinds = sorted([fields(await udp.receive())[0] for _ in range(3)])
    assert kinds == ["/scheduler-task-aborted/", "/scheduler-task-failed/", "/scheduler-task-success/"]


async def test_start_unknown_and_malformed_task(qrs: Qrs) -> None:
    assert (await qrs.post(f"/qrs/task/{NULL_GUID}/start")).status_code == 404
    assert (await qrs.post("/qrs/task/not-a-guid/start")).status_code == 400
    response = await qrs.client.post(
        f"/qrs/task/{SALES_TASK}/start", params={"xrfkey": XRFKEY}, content=b"[1,2]"
    )
    assert response.status_code == 400


async def test_start_with_empty_body(qrs: Qrs, udp: UdpListener) -> None:
    response = await qrs.client.post(f"/qrs/task/{SALES_TASK}/start", params={"xrfkey": XRFKEY})
    assert response.status_code == 204
    await udp.receive()


async def test_user_of_the_caller_appears_in_the_datagram(qrs: Qrs, udp: UdpListener) -> None:
    response = await qrs.client.post(
        f"/qrs/task/{SALES_TASK}/start",
        params={"xrfkey": XRFKEY},
        headers={"X-Qlik-User": "UserDirectory=ACME;UserId=anna"},
        json={},
    )
    assert response.status_code == 204
    assert fields(await udp.receive())[4] == "ACME\\anna"


async def test_chains_on_success_and_on_failure(qrs: Qrs, udp: UdpListener) -> None:
    start = await task_id(qrs, "Chain start")
    nxt = await task_id(qrs, "Chain next")
    await qrs.post(f"/qrs/task/{start}/start")
    first, second = fields(await udp.receive()), fields(await udp.receive())
    assert (first[5], first[0]) == (start, "/scheduler-task-success/")
    assert (second[5], second[0]) == (nxt, "/scheduler-task-success/")
    assert second[4] == "INTERNAL\\sa_scheduler"  # started by the scheduler, not the caller

    fails = await task_id(qrs, "Chain fails")
    recovery = await task_id(qrs, "Chain recovery")
    await qrs.post(f"/qrs/task/{fails}/start")
    first, second = fields(await udp.receive()), fields(await udp.receive())
    assert (first[5], first[0]) == (fails, "/scheduler-task-failed/")
    assert second[5] == recovery


async def test_fail_every_third_run(qrs: Qrs, udp: UdpListener) -> None:
    tid = await task_id(qrs, "Reload Sales every third fails")
    markers = []
    for _ in range(6):
        await qrs.post(f"/qrs/task/{tid}/start")
        markers.append(fields(await udp.receive())[0])
        await qrs.wait_status(tid, {7, 8})
    assert markers == ["/scheduler-task-success/", "/scheduler-task-success/", "/scheduler-task-failed/"] * 2


async def test_non_reload_tasks_run_without_script_log(qrs: Qrs, udp: UdpListener) -> None:
    tid = await task_id(qrs, "Run ETL batch")
    await qrs.post(f"/qrs/task/{tid}/start")
    task = await qrs.wait_status(tid, {8})
    assert task["operational"]["lastExecutionResult"]["fileReferenceID"] == NULL_GUID
    f = fields(await udp.receive())
    assert f[0] == "/scheduler-task-failed/" and f[3] == "" and f[6] == ""


async def test_app_reload_runs_the_manually_triggered_task(qrs: Qrs, udp: UdpListener) -> None:
    assert (await qrs.post(f"/qrs/app/{SALES_APP}/reload")).status_code == 204
    f = fields(await udp.receive())
    assert f[2] == "Manually triggered reload of Sales Dashboard" and f[6] == SALES_APP
    task = await qrs.json(f"/qrs/reloadtask/{f[5]}")
    assert task["isManuallyTriggered"] is True
    assert (await qrs.post(f"/qrs/app/{NULL_GUID}/reload")).status_code == 404


async def test_datagram_time_is_now_in_local_time(qrs: Qrs, udp: UdpListener) -> None:
    await qrs.post(f"/qrs/task/{SALES_TASK}/start")
    f = fields(await udp.receive())
    sent = datetime.strptime(f[7], "%Y-%m-%d %H:%M:%S,%f").astimezone()
    assert abs((datetime.now(UTC) - sent).total_seconds()) < 5


async def test_double_slash_success_marker(certs_dir: Path, udp: UdpListener) -> None:
    async with (
        Site(
            seed="minimal",
            certs_dir=certs_dir,
            engine=False,
            udp_targets=[("127.0.0.1", udp.port)],
            success_marker="double",
            time_scale=0.02,
        ) as site,
        admin_qrs(site, certs_dir) as qrs,
    ):
        await qrs.post(f"/qrs/task/{SALES_TASK}/start")
        assert (await udp.receive()).startswith(b"/scheduler-task-success//;sensesim-node1;")


async def test_datagrams_go_to_every_target(certs_dir: Path) -> None:
    first, second = UdpListener(), UdpListener()
    try:
        async with (
            Site(
                seed="minimal",
                certs_dir=certs_dir,
                engine=False,
                udp_targets=[("127.0.0.1", first.port), ("localhost", second.port)],
                time_scale=0.02,
            ) as site,
            admin_qrs(site, certs_dir) as qrs,
        ):
            await qrs.post(f"/qrs/task/{SALES_TASK}/start")
            assert await first.receive() == await second.receive()
    finally:
        first.close()
        second.close()


async def test_preload_and_distribute_tasks_send_their_own_datagrams(qrs: Qrs, udp: UdpListener) -> None:
    preload = await task_id(qrs, "Preload Finance Report")  # scenario: fail
    await qrs.post(f"/qrs/task/{preload}/start", {})
    f = fields(await udp.receive())
    assert f[0] == "/scheduler-task-failed/" and f[5] == preload
    assert f[10] == "Could not reserve an executor for task"
    entity = await qrs.json(f"/qrs/reloadtask/{preload}")  # served by id, as Butler reads it
    assert entity["taskType"] == 4 and entity["schemaPath"] == "PreloadTask" and entity["app"]["name"]
    assert entity["operational"]["lastExecutionResult"]["status"] == 8

    distribute = await task_id(qrs, "Distribute Sales Dashboard")  # scenario: success
    await qrs.post(f"/qrs/task/{distribute}/start", {})
    success, done = fields(await udp.receive()), fields(await udp.receive())
    assert success[0] == "/scheduler-task-success/" and success[5] == distribute
    assert done[0] == "/scheduler-distribute/" and done[10] == "Exiting execute of Distribute task request."
    assert done[9] == success[9]  # one execution
    assert distribute not in {t["id"] for t in await qrs.json("/qrs/reloadtask")}
