"""`qbutler history ...` over the SQLite history of a config file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import yaml
from typer.testing import CliRunner

from qbutler.cli import app
from qbutler.history.model import Delivery, Execution
from qbutler.history.sqlite import SqliteHistory
from support.qbutler import base_config

runner = CliRunner()
TASK = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"


def run(execution_id: str, task: str, outcome: str, ended: float, duration_ms: int, **extra) -> Execution:
    return Execution(execution_id=execution_id, task_id=task, task_name=f"Task {task[:2]}", task_type=0,
                     outcome=outcome, status="FinishedFail" if outcome == "failed" else "FinishedSuccess",
                     ended_at=ended, started_at=ended - duration_ms / 1000, duration_ms=duration_ms, **extra)


def populated(folder: Path) -> Path:
    now = time.time()
    rows = [run(f"e{i}", TASK, "success", now - 3600 * i, 1000 * (i + 1)) for i in range(1, 5)]
    rows += [run("f1", TASK, "failed", now - 60, 500, script_log_tail=["line 1", "Error: table not found"],
                 details=["Execution Failed"], trigger="schedule", trigger_detail="Nightly"),
             run("f2", OTHER, "failed", now - 10 * 86400, 100)]

    async def write() -> None:
        store = SqliteHistory(folder / "data" / "history.sqlite")
        await store.start()
        await store.write(rows, [Delivery("f1", "slack", "#ops", "delivered", 2, now)], [])
        await store.stop()

    asyncio.run(write())
    config = folder / "qbutler.yaml"
    config.write_text(yaml.safe_dump(base_config()), encoding="utf-8")
    return config


def history(config: Path, *args: str):
    return runner.invoke(app, ["history", *args, "-c", str(config)], env={"COLUMNS": "200"})


def test_failures_runs_show_and_stats(tmp_path: Path) -> None:
    config = populated(tmp_path)
    recent = history(config, "failures", "--json")
    assert recent.exit_code == 0, recent.output
    assert [r["execution_id"] for r in orjson.loads(recent.output)] == ["f1", "f2"]
    week = orjson.loads(history(config, "failures", "--since", "7d", "--json").output)
    assert [r["execution_id"] for r in week] == ["f1"]
    table = history(config, "failures")
    assert "Recent failures" in table.output and "schedule (Nightly)" in table.output

    runs = orjson.loads(history(config, "runs", TASK, "--limit", "2", "--json").output)
    assert [r["execution_id"] for r in runs] == ["f1", "e1"]

    shown = history(config, "show", "f1")
    assert shown.exit_code == 0
    assert "Error: table not found" in shown.output and "slack" in shown.output and "Execution Failed" in shown.output
    missing = history(config, "show", "nope")
    assert missing.exit_code == 1 and "no execution nope" in missing.output

    stats = {s["task_id"]: s for s in orjson.loads(history(config, "stats", "--json").output)}
    assert stats[TASK]["runs"] == 5 and stats[TASK]["failures"] == 1
    assert stats[TASK]["p50_duration_ms"] == 3000.0 and stats[TASK]["p95_duration_ms"] == 5000.0
    table = history(config, "stats")
    assert "Task statistics" in table.output and "3.0s" in table.output and "5.0s" in table.output


def test_bad_input_is_named(tmp_path: Path) -> None:
    config = populated(tmp_path)
    bad = history(config, "failures", "--since", "last tuesday")
    assert bad.exit_code == 1 and "--since" in bad.output and "last tuesday" in bad.output
    off = tmp_path / "off.yaml"
    off.write_text(yaml.safe_dump(base_config(qbutler={"history": {"enable": False}})), encoding="utf-8")
    result = history(off, "failures")
    assert result.exit_code == 1 and "switched off" in result.output
