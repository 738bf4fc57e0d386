"""The schedule file: Butler's format round-trips, unknown fields stay, writes are atomic."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from qbutler.scheduler.store import ScheduleFileError, ScheduleStore, dump_schedules, parse_schedules

SRC = Path(__file__).resolve().parents[2] / "src"


async def test_butler_template_round_trips(shared_reference: Path, tmp_path: Path):
    template = shared_reference / "butler-schedule-template.yaml"
    original = yaml.safe_load(template.read_text(encoding="utf-8"))["butlerSchedule"]
    path = tmp_path / "schedule.yaml"
    path.write_bytes(template.read_bytes())
    store = ScheduleStore(path)
    entries = await store.load()
    assert entries == original
    await store.mutate(lambda current: None)
    text = path.read_text(encoding="utf-8")
    # js-yaml's layout, so a diff against a Butler-written file stays small.
    assert text.startswith("butlerSchedule:\n  - name: Every 30 sec\n    cronSchedule: '*/30 * * * * *'\n")
    assert "      - abc 123 åäö\n" in text
    assert [list(e) for e in yaml.safe_load(text)["butlerSchedule"]] == [list(e) for e in original]
    assert yaml.safe_load(text)["butlerSchedule"] == original


async def test_unknown_fields_and_their_order_are_kept(tmp_path: Path):
    path = tmp_path / "schedule.yaml"
    path.write_text(textwrap.dedent("""\
        butlerSchedule:
          - owner: ops
            name: nightly
            cronSchedule: 0 2 * * *
            id: 42
            created: '2026-11-24T10:24:56.897Z'
            custom: {ticket: OPS-1, retries: 3}
            qlikSenseTaskId: abc
        """), encoding="utf-8")
    store = ScheduleStore(path)
    await store.load()

    def rename(entries):
        entries[0]["name"] = "nightly run"

    await store.mutate(rename)
    [entry] = yaml.safe_load(path.read_text(encoding="utf-8"))["butlerSchedule"]
    assert list(entry) == ["owner", "name", "cronSchedule", "id", "created", "custom", "qlikSenseTaskId"]
    assert entry["custom"] == {"ticket": "OPS-1", "retries": 3}
    assert entry["id"] == 42
    # The timestamp stays a string, as Butler wrote it.
    assert entry["created"] == "2026-11-24T10:24:56.897Z"


async def test_missing_file_is_empty_and_created_on_first_change(tmp_path: Path):
    path = tmp_path / "sub" / "schedule.yaml"
    store = ScheduleStore(path)
    assert await store.load() == []
    await store.mutate(lambda entries: entries.append({"id": "a"}))
    assert parse_schedules(path.read_text(encoding="utf-8"), "x") == [{"id": "a"}]


@pytest.mark.parametrize(("text", "problem"), [
    ("butlerSchedule: [unclosed", "not valid YAML"),
    ("schedules: []", "root key 'butlerSchedule'"),
    ("butlerSchedule: {a: 1}", "must be a list"),
    ("butlerSchedule: [1, 2]", "entry 1 is not a mapping"),
])
async def test_unusable_file_is_reported_and_never_overwritten(tmp_path: Path, text: str, problem: str):
    path = tmp_path / "schedule.yaml"
    path.write_text(text, encoding="utf-8")
    store = ScheduleStore(path)
    with pytest.raises(ScheduleFileError, match=problem):
        await store.load()
    with pytest.raises(ScheduleFileError, match="not writing the schedule file"):
        await store.mutate(lambda entries: entries.append({"id": "x"}))
    assert path.read_text(encoding="utf-8") == text


async def test_failed_write_changes_nothing(tmp_path: Path):
    path = tmp_path / "schedule.yaml"
    path.write_text(dump_schedules([{"id": "a"}]), encoding="utf-8")
    store = ScheduleStore(path)
    await store.load()
    # A directory where the file should go: the rename fails (whoever runs the tests).
    path.unlink()
    path.mkdir()
    with pytest.raises(ScheduleFileError, match="cannot be written"):
        await store.mutate(lambda entries: entries.append({"id": "b"}))
    assert store.entries == [{"id": "a"}]
    assert [p.name for p in tmp_path.iterdir()] == ["schedule.yaml"]


WRITER = """
import sys
from pathlib import Path
from qbutler.durable import write_atomic
from qbutler.scheduler.store import dump_schedules
path = Path(sys.argv[1])
versions = [dump_schedules([{"id": str(i), "name": "x" * 20000, "tags": [str(n) for n in range(2000)]}])
            for i in range(2)]
print("ready", flush=True)
i = 0
while True:
    write_atomic(path, versions[i % 2].encode())
    i += 1
"""


def test_sigkill_during_writes_leaves_the_old_or_the_new_file(tmp_path: Path):
    path = tmp_path / "schedule.yaml"
    expected = {dump_schedules([{"id": str(i), "name": "x" * 20000, "tags": [str(n) for n in range(2000)]}])
                for i in range(2)}
    for attempt in range(8):
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                                   env={"PYTHONPATH": str(SRC)})
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(0.05 + attempt * 0.013)
        process.kill()
        process.wait()
        assert path.read_text(encoding="utf-8") in expected
