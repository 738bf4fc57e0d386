"""The two-step script-log download (reference §1.7.4, behaviour 5 of §5)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from support.sensesim_support import SALES_TASK, Qrs, UdpListener

NULL_GUID = "00000000-0000-0000-0000-000000000000"


async def finished(qrs: Qrs, task_id: str, udp: UdpListener) -> dict[str, Any]:
    await qrs.post(f"/qrs/task/{task_id}/start")
    await udp.receive()  # the datagram comes after the terminal state
    return (await qrs.json(f"/qrs/reloadtask/{task_id}"))["operational"]["lastExecutionResult"]


async def test_reference_then_download(qrs: Qrs, udp: UdpListener) -> None:
    result = await finished(qrs, SALES_TASK, udp)
    ref = await qrs.json(f"/qrs/reloadtask/{SALES_TASK}/scriptlog", fileReferenceId=result["fileReferenceID"])
    assert set(ref) == {"value"}
    download = await qrs.get(f"/qrs/download/reloadtask/{ref['value']}/scriptlog.txt")
    assert download.status_code == 200
    text = download.content.decode("utf-8")
    assert not download.content.startswith(b"\xef\xbb\xbf")
    lines = text.split("\r\n")
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    assert lines[0].endswith(" Execution started.")
    assert lines[-2].endswith(" Execution finished.") and lines[-1] == ""
    assert any(" 0005  SQL SELECT Region, Amount, OrderDate FROM sales" in line for line in lines)
    assert len(download.content) == result["scriptLogSize"]
    # The file-name segment is cosmetic.
    again = await qrs.json(
        f"/qrs/reloadtask/{SALES_TASK}/scriptlog", fileReferenceId=result["fileReferenceID"]
    )
    other = await qrs.get(f"/qrs/download/reloadtask/{again['value']}/Reload%20Sales%20Dashboard.log")
    assert other.content == download.content


async def test_execution_result_fallback(qrs: Qrs, udp: UdpListener) -> None:
    result = await finished(qrs, SALES_TASK, udp)
    ref = await qrs.json(f"/qrs/reloadtask/{SALES_TASK}/scriptlogfile", executionResultId=result["id"])
    download = await qrs.get(f"/qrs/download/reloadtask/{ref['value']}/scriptlog.txt")
    assert download.status_code == 200 and "Execution finished." in download.text


async def test_failed_log_says_so(qrs: Qrs, udp: UdpListener) -> None:
    tasks = await qrs.json("/qrs/task", filter="name eq 'Chain fails'")
    result = await finished(qrs, tasks[0]["id"], udp)
    await udp.receive()  # the chained recovery task
    ref = await qrs.json(
        f"/qrs/reloadtask/{tasks[0]['id']}/scriptlog", fileReferenceId=result["fileReferenceID"]
    )
    text = (await qrs.get(f"/qrs/download/reloadtask/{ref['value']}/scriptlog.txt")).text
    tail = text.split("\r\n")[-5:]
    assert any("Error: Cannot open file: 'lib://Missing/file.qvd'" in line for line in tail)
    assert any(line.endswith("Execution Failed") for line in tail)


async def test_unknown_references_are_404(qrs: Qrs, udp: UdpListener) -> None:
    assert (
        await qrs.get(f"/qrs/reloadtask/{SALES_TASK}/scriptlog", fileReferenceId=NULL_GUID)
    ).status_code == 404
    assert (
        await qrs.get(f"/qrs/reloadtask/{SALES_TASK}/scriptlogfile", executionResultId=NULL_GUID)
    ).status_code == 404
    assert (await qrs.get(f"/qrs/download/reloadtask/{NULL_GUID}/scriptlog.txt")).status_code == 404
    # A reference of another task's log does not resolve under this task.
    result = await finished(qrs, SALES_TASK, udp)
    other = (await qrs.json("/qrs/task", filter="name eq 'Chain next'"))[0]["id"]
    response = await qrs.get(f"/qrs/reloadtask/{other}/scriptlog", fileReferenceId=result["fileReferenceID"])
    assert response.status_code == 404


async def test_delayed_script_log(qrs: Qrs, udp: UdpListener, control: httpx.AsyncClient) -> None:
    # Time scale 0.02: 10 s of configured delay is 200 ms of real time.
    assert (await control.post("/faults", json={"scriptLogDelayMs": 10_000})).status_code == 200
    result = await finished(qrs, SALES_TASK, udp)
    assert result["fileReferenceID"] != NULL_GUID
    early = await qrs.get(
        f"/qrs/reloadtask/{SALES_TASK}/scriptlog", fileReferenceId=result["fileReferenceID"]
    )
    assert early.status_code == 404
    await asyncio.sleep(0.3)
    late = await qrs.get(f"/qrs/reloadtask/{SALES_TASK}/scriptlog", fileReferenceId=result["fileReferenceID"])
    assert late.status_code == 200
