"""History queries over 1,000,000 stored executions on SQLite (the embedded backend).

Fills a history.sqlite through the backend's own schema with 1,000,000 executions of 200 tasks
spread over a year (about 5% failed, 1% aborted), then times, through `qbutler.history.queries`:
one task's statistics (all time), every task's statistics over the last day, the last 100 failures,
the newest page of runs, a page deep in a task's runs by cursor, and one execution with its deliveries.
Each query is run several times; the median and the slowest are reported.

    python bench/history_queries.py [--executions 1000000] [--repeat 9] [--keep FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from qbutler.history import queries  # noqa: E402
from qbutler.history import store as sql  # noqa: E402
from qbutler.history.model import Execution, ExecutionFilter  # noqa: E402
from qbutler.history.sqlite import SqliteHistory  # noqa: E402

TASKS = 200
YEAR = 365 * 86400


def fill(path: Path, count: int, now: float) -> None:
    """Rows written straight through the backend's INSERT (one transaction per 50,000), for speed."""
    rng = random.Random(7)
    tasks = [(str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"Reload task {n}") for n in range(TASKS)]
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    step = YEAR / count
    for start in range(0, count, 50_000):
        rows = []
        for n in range(start, min(count, start + 50_000)):
            task_id, name = tasks[rng.randrange(TASKS)]
            roll = rng.random()
            outcome = "failed" if roll < 0.05 else "aborted" if roll < 0.06 else "success"
            duration = int(rng.lognormvariate(10, 0.8))
            ended = now - YEAR + n * step
            rows.append(sql.execution_row(Execution(
                execution_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), task_id=task_id, task_name=name,
                task_type=0, outcome=outcome, status={"success": "FinishedSuccess", "failed": "FinishedFail"}.get(
                    outcome, "Aborted"), ended_at=ended, started_at=ended - duration / 1000, duration_ms=duration,
                app_id=f"app-{rng.randrange(50)}", node="node1", log_message="done",
                details=["Changing task state from Started to " + outcome],
                script_log_tail=["Error: table not found"] * 20 if outcome == "failed" else None)))
        connection.execute("BEGIN")
        connection.executemany(sql.INSERT_EXECUTION, rows)
        connection.execute("COMMIT")
    connection.execute("ANALYZE")
    connection.close()


async def timed(repeat: int, query: Callable[[], Awaitable[Any]]) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await query()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times), result


async def measure(path: Path, repeat: int, now: float) -> list[tuple[str, float, float, str]]:
    store = SqliteHistory(path)
    await store.start()
    try:
        some_task = (await store.list_executions(ExecutionFilter(), 1, None))[0].task_id
        cursor_page = await queries.list_executions(store, ExecutionFilter(task_id=some_task), limit=100)
        for _ in range(20):  # 2,000 runs deep
            assert cursor_page.next_cursor is not None
            cursor_page = await queries.list_executions(store, ExecutionFilter(task_id=some_task), limit=100,
                                                        cursor=cursor_page.next_cursor)
        deep_cursor = cursor_page.next_cursor
        failure = (await queries.recent_failures(store, 1)).items[0].execution_id
        checks: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[Any], str]]] = [
            ("per-task stats, one task, all time", lambda: queries.task_stats(store, task_id=some_task),
             lambda r: f"{r[0].runs} runs, p95 {r[0].p95_duration_ms / 1000:.0f} s"),
            ("per-task stats, all 200 tasks, last 24 h", lambda: queries.task_stats(store, since=now - 86400),
             lambda r: f"{len(r)} tasks, {sum(s.runs for s in r)} runs"),
            ("per-task stats, all 200 tasks, last 7 days", lambda: queries.task_stats(store, since=now - 7 * 86400),
             lambda r: f"{len(r)} tasks, {sum(s.runs for s in r)} runs"),
            ("last 100 failures", lambda: queries.recent_failures(store, 100), lambda r: f"{len(r.items)} rows"),
            ("newest 50 runs", lambda: queries.list_executions(store, ExecutionFilter()),
             lambda r: f"{len(r.items)} rows"),
            ("a task's runs, page 21 by cursor", lambda: queries.list_executions(
                store, ExecutionFilter(task_id=some_task), limit=100, cursor=deep_cursor),
             lambda r: f"{len(r.items)} rows"),
            ("one execution with deliveries", lambda: queries.get_execution(store, failure), lambda r: "found"),
        ]
        results = []
        for name, query, describe in checks:
            median, slowest, result = await timed(repeat, query)
            results.append((name, median, slowest, describe(result)))
        return results
    finally:
        await store.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--keep", type=Path, help="reuse (or create) this history file instead of a temporary one")
    args = parser.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "history.sqlite"
        if not path.exists():
            asyncio.run(SqliteHistory(path).start())  # the schema, exactly as qbutler creates it
            started = time.perf_counter()
            fill(path, args.executions, now)
            print(f"filled {args.executions:,} executions in {time.perf_counter() - started:.0f} s "
                  f"({path.stat().st_size / 1e6:.0f} MB)", flush=True)
        results = asyncio.run(measure(path, args.repeat, now))
    print(f"\nhistory_queries: SQLite, {args.executions:,} executions, median and slowest of {args.repeat}")
    print("| query | median | slowest | answer |\n|---|---|---|---|")
    for name, median, slowest, answer in results:
        print(f"| {name} | {median:.1f} ms | {slowest:.1f} ms | {answer} |")


if __name__ == "__main__":
    main()
