"""The history stores' contract, on SQLite and on a real PostgreSQL: writing once, attributing a run
to the start that caused it, filters, order, statistics and retention."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from qbutler.history.model import Delivery, Execution, ExecutionFilter, StartRequest
from qbutler.history.postgresql import PostgresHistory
from qbutler.history.sqlite import SqliteHistory
from qbutler.history.store import HistoryStore

TASK_A = "11111111-1111-4111-8111-111111111111"
TASK_B = "22222222-2222-4222-8222-222222222222"


def run(task: str, outcome: str, ended: float, duration_ms: int | None = 1000, **extra: Any) -> Execution:
    return Execution(execution_id=str(uuid.uuid4()), task_id=task, task_name=f"task {task[:4]}", task_type=0,
                     outcome=outcome, status={"success": "FinishedSuccess", "failed": "FinishedFail"}.get(outcome,
                                                                                                     "Aborted"),
                     ended_at=ended, started_at=None if duration_ms is None else ended - duration_ms / 1000,
                     duration_ms=duration_ms, **extra)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[HistoryStore]:
    if request.param == "sqlite":
        backend: HistoryStore = SqliteHistory(tmp_path / "history.sqlite")
    else:
        backend = PostgresHistory(request.getfixturevalue("postgres").dsn)
    await backend.start()
    yield backend
    await backend.stop()


async def test_an_execution_is_stored_once_and_keeps_its_first_version(store: HistoryStore) -> None:
    first = run(TASK_A, "failed", 1000.0, log_message="first")
    again = Execution(**{**first.to_dict(), "log_message": "second"})
    await store.write([first], [], [])
    await store.write([again], [], [])
    rows = await store.list_executions(ExecutionFilter(), 10, None)
    assert [(r.execution_id, r.log_message) for r in rows] == [(first.execution_id, "first")]


async def test_a_run_inherits_the_trigger_of_the_start_just_before_it(store: HistoryStore) -> None:
    now = time.time()
    await store.write([], [], [StartRequest(TASK_A, "schedule", "Nightly", now - 30, "task A"),
                               StartRequest(TASK_A, "rest", "10.0.0.9", now - 2, "task A"),
                               StartRequest(TASK_B, "mqtt", "qliksense/start_task", now - 2000, "task B")])
    caused = run(TASK_A, "success", now + 5, duration_ms=6000)  # started 1 s after the REST start
    second = run(TASK_A, "success", now + 6, duration_ms=6000)  # takes the older start that is left
    unrelated = run(TASK_B, "success", now, duration_ms=1000)  # its start is too long ago
    await store.write([caused], [], [])
    await store.write([second, unrelated], [], [])
    rows = {r.execution_id: r for r in await store.list_executions(ExecutionFilter(), 10, None)}
    assert (rows[caused.execution_id].trigger, rows[caused.execution_id].trigger_detail) == ("rest", "10.0.0.9")
    assert (rows[second.execution_id].trigger, rows[second.execution_id].trigger_detail) == ("schedule", "Nightly")
    assert rows[unrelated.execution_id].trigger == "sense"


async def test_filters_order_cursor_and_deliveries(store: HistoryStore) -> None:
    runs = [run(TASK_A, "success", 100.0 + i, app_id="app-1") for i in range(5)]
    runs += [run(TASK_B, "failed", 103.0, app_id="app-2", trigger="mqtt")]
    await store.write(runs, [Delivery(runs[-1].execution_id, "slack", "#ops", "delivered", 2, 104.0),
                             Delivery(runs[-1].execution_id, "email", "a@b", "failed", 5, 105.0, "550 no")], [])
    everything = await store.list_executions(ExecutionFilter(), 100, None)
    assert [(r.ended_at, r.execution_id) for r in everything] == sorted(
        ((r.ended_at, r.execution_id) for r in runs), reverse=True)
    assert [r.task_id for r in await store.list_executions(ExecutionFilter(outcome="failed"), 10, None)] == [TASK_B]
    assert len(await store.list_executions(ExecutionFilter(app_id="app-1"), 10, None)) == 5
    assert len(await store.list_executions(ExecutionFilter(trigger="mqtt"), 10, None)) == 1
    assert len(await store.list_executions(ExecutionFilter(since=102.0, until=104.0), 10, None)) == 3
    after = (everything[1].ended_at, everything[1].execution_id)
    assert await store.list_executions(ExecutionFilter(), 100, after) == everything[2:]
    detail = await store.get_execution(runs[-1].execution_id)
    assert detail is not None and detail.task_id == TASK_B
    assert [(d.channel, d.outcome, d.attempts, d.error) for d in detail.deliveries] == [
        ("slack", "delivered", 2, ""), ("email", "failed", 5, "550 no")]
    assert await store.get_execution(str(uuid.uuid4())) is None


async def test_statistics_per_task(store: HistoryStore) -> None:
    durations = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    runs = [run(TASK_A, "success", 1000.0 + i, duration_ms=d) for i, d in enumerate(durations)]
    runs += [run(TASK_A, "failed", 2000.0, duration_ms=50), run(TASK_A, "aborted", 2001.0, duration_ms=None)]
    runs += [run(TASK_B, "failed", 3000.0)]
    await store.write(runs, [], [])
    stats = {s.task_id: s for s in await store.task_stats(None, None)}
    a = stats[TASK_A]
    assert (a.runs, a.failures, a.aborts) == (12, 1, 1)
    assert (a.p50_duration_ms, a.p95_duration_ms) == (500.0, 1000.0)
    assert (a.last_success_at, a.last_run_at) == (1009.0, 2001.0)
    assert stats[TASK_B].last_success_at is None and stats[TASK_B].p50_duration_ms is None
    [recent] = await store.task_stats(TASK_A, 1005.0)
    assert (recent.runs, recent.p50_duration_ms) == (7, 800.0)


async def test_retention_by_age_and_by_count(store: HistoryStore) -> None:
    runs = [run(TASK_A, "success", 1000.0 + i) for i in range(10)]
    await store.write(runs, [Delivery(r.execution_id, "slack", "#ops", "delivered", 1, r.ended_at) for r in runs],
                      [StartRequest(TASK_A, "rest", "", 900.0), StartRequest(TASK_A, "rest", "", 1008.0)])
    assert await store.apply_retention(1003.0, None) == 3  # 1000, 1001, 1002
    assert await store.apply_retention(None, 4) == 3  # keeps 1006-1009
    left = await store.list_executions(ExecutionFilter(), 100, None)
    assert [r.ended_at for r in left] == [1009.0, 1008.0, 1007.0, 1006.0]
    assert await store.get_execution(runs[0].execution_id) is None
    kept = await store.get_execution(runs[9].execution_id)
    assert kept is not None and len(kept.deliveries) == 1
    assert await store.apply_retention(None, 4) == 0
