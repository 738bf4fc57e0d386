"""Reload history end to end on SQLite: sensesim task runs → UDP events → stored rows → the API."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

from alertkit import FINANCE_TASK, site_start, task_id
from historykit import executions, history_config, wait_for_rows

from support.qbutler import running_service
from support.waiting import until

SALES_TASK = "Reload Sales Dashboard"  # succeeds
HR_TASK = "Reload HR Overview"  # is aborted
ETL_TASK = "Run ETL batch"  # external program, fails


async def test_runs_are_stored_with_trigger_deliveries_and_script_log_and_survive_a_restart(
        site, udp_port, receiver, tmp_path: Path):
    config = history_config(site, udp_port, receiver)
    finance = task_id(site, FINANCE_TASK)
    async with running_service(config, tmp_path / "qbutler") as running:
        async with running.client() as client:
            answer = await client.put(f"/v4/reloadtask/{finance}/start", json=[])
            assert answer.status_code == 200, answer.text
        sales = await site_start(site, SALES_TASK)
        hr = await site_start(site, HR_TASK)
        etl = await site_start(site, ETL_TASK)
        rows = await wait_for_rows(running, 4)
        # The Finance alert's deliveries are final once the receivers answered.
        await until(lambda: len(receiver.at("/slack")) and len(receiver.at("/hook")) and len(receiver.at("/teams")))
        await running.service.alerts.deliverer.wait_idle()
        assert running.service.history is not None
        await running.service.history.recorder.wait_idle()

        by_task = {row["taskId"]: row for row in rows}
        assert set(by_task) == {finance, sales, hr, etl}
        failed = by_task[finance]
        assert failed["outcome"] == "failed" and failed["status"] == "FinishedFail"
        assert failed["trigger"] == "rest" and failed["triggerDetail"] == "127.0.0.1"
        assert failed["taskName"] == FINANCE_TASK and failed["appName"] == "Finance Report" and failed["taskType"] == 0
        assert failed["durationMs"] and failed["durationMs"] > 0 and failed["startedAt"] < failed["endedAt"]
        assert failed["scriptLogTail"] and len(failed["scriptLogTail"]) <= 20
        assert any("Execution Failed" in line or "Error" in line for line in failed["scriptLogTail"]), failed
        assert failed["details"] and failed["recordedBy"] == "qb-test" and failed["node"]

        assert by_task[sales]["outcome"] == "success" and by_task[sales]["status"] == "FinishedSuccess"
        assert by_task[sales]["trigger"] == "sense" and by_task[sales]["scriptLogTail"] is None
        assert by_task[hr]["outcome"] == "aborted"
        assert by_task[etl]["outcome"] == "failed" and by_task[etl]["taskType"] == 1
        assert by_task[etl]["appId"] == ""

        async with running.client() as client:
            detail = (await client.get(f"/qbutler/v1/executions/{failed['executionId']}")).json()
            missing = await client.get("/qbutler/v1/executions/00000000-0000-0000-0000-000000000001")
        channels = sorted((d["channel"], d["outcome"], d["attempts"]) for d in detail["deliveries"])
        assert channels == [("slack", "delivered", 1), ("teams", "delivered", 1), ("webhook", "delivered", 1)]
        assert missing.status_code == 404 and "00000000-0000-0000-0000-000000000001" in missing.json()["message"]

    # A new process over the same data directory still has every run.
    async with running_service(config, tmp_path / "qbutler") as running:
        again = (await executions(running))["executions"]
        assert {row["executionId"] for row in again} == {row["executionId"] for row in rows}


async def test_a_start_that_waits_for_its_result_keeps_its_trigger(site, udp_port, receiver, tmp_path: Path):
    # With ?wait=true the run's task event arrives before the wait ends; the start must be known
    # to the history by then, or the run counts as started by Sense.
    sales = task_id(site, SALES_TASK)
    async with running_service(history_config(site, udp_port, receiver), tmp_path / "qbutler") as running:
        heard_at: list[float] = []
        running.service.tasks.observers.append(lambda *start: heard_at.append(time.time()))
        async with running.client() as client:
            answer = await client.put(f"/v4/reloadtask/{sales}/start", params={"wait": "true"}, json=[])
            assert answer.status_code == 200 and "FinishedSuccess" in answer.text, answer.text
        [row] = await wait_for_rows(running, 1)
        assert (row["taskId"], row["trigger"], row["triggerDetail"]) == (sales, "rest", "127.0.0.1")
        # The start was announced while the run was going on, not once the wait was over.
        assert len(heard_at) == 1 and heard_at[0] < datetime.fromisoformat(row["endedAt"]).timestamp()


async def test_filters_and_cursor_pagination(site, udp_port, receiver, tmp_path: Path):
    config = history_config(site, udp_port, receiver)
    async with running_service(config, tmp_path / "qbutler") as running:
        sales = task_id(site, SALES_TASK)
        for _ in range(3):
            await site_start(site, SALES_TASK)
            await asyncio.sleep(0.3)  # one run at a time: Sense refuses to start a running task
        finance = await site_start(site, FINANCE_TASK)
        rows = await wait_for_rows(running, 4)
        assert [row["endedAt"] for row in rows] == sorted((row["endedAt"] for row in rows), reverse=True)

        assert {r["taskId"] for r in (await executions(running, status="failed"))["executions"]} == {finance}
        only_sales = (await executions(running, task=sales))["executions"]
        assert len(only_sales) == 3 and all(r["outcome"] == "success" for r in only_sales)
        assert (await executions(running, trigger="rest"))["executions"] == []
        newest = rows[0]["endedAt"]
        assert [r["executionId"] for r in (await executions(running, **{"from": newest}))["executions"]] == \
            [rows[0]["executionId"]]
        assert len((await executions(running, to=newest))["executions"]) == 3
        epoch = time.time() + 3600
        assert (await executions(running, **{"from": str(epoch)}))["executions"] == []

        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await executions(running, limit=3, **({"cursor": cursor} if cursor else {}))
            seen += [r["executionId"] for r in page["executions"]]
            pages += 1
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert pages == 2 and seen == [r["executionId"] for r in rows]

        async with running.client() as client:
            bad_cursor = await client.get("/qbutler/v1/executions", params={"cursor": "garbage!"})
            bad_status = await client.get("/qbutler/v1/executions", params={"status": "exploded"})
            bad_time = await client.get("/qbutler/v1/executions", params={"from": "yesterday"})
            bad_limit = await client.get("/qbutler/v1/executions", params={"limit": "0"})
            stats = (await client.get("/qbutler/v1/stats/tasks")).json()["tasks"]
            document = (await client.get("/documentation/json")).json()
        assert bad_cursor.status_code == 400 and "cursor" in bad_cursor.json()["message"]
        assert bad_status.status_code == 400 and "status" in bad_status.json()["message"]
        assert bad_time.status_code == 400 and "from" in bad_time.json()["message"]
        assert bad_limit.status_code == 400 and "limit" in bad_limit.json()["message"]
        listed = document["paths"]["/qbutler/v1/executions"]["get"]
        assert {p["name"] for p in listed["parameters"]} >= {"task", "app", "status", "trigger", "from", "to", "cursor"}
        assert "/qbutler/v1/executions/{executionId}" in document["paths"] and "/metrics" in document["paths"]
        by_task = {s["taskId"]: s for s in stats}
        assert by_task[sales]["runs"] == 3 and by_task[sales]["failures"] == 0
        assert by_task[sales]["p50DurationMs"] > 0 and by_task[sales]["lastSuccessAt"] is not None
        assert by_task[finance]["runs"] == 1 and by_task[finance]["failures"] == 1
        assert by_task[finance]["lastSuccessAt"] is None and by_task[finance]["p95DurationMs"] is None
