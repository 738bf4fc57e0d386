"""Script logs of failed reloads on disk: Butler's folder and file names, the content, a 50 MB log
written in slices, the size cap, and retention."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

from alertkit import FINANCE_TASK, alert_config, site_start, task_id

from qbutler.alerts.scriptlog_disk import CAPPED, log_file_path, remove_older_than, write_log
from support.qbutler import running_service
from support.waiting import until


async def test_a_failed_reload_leaves_its_script_log_in_butlers_layout(site, udp_port, receiver, tmp_path: Path):
    folder = tmp_path / "scriptlogs"
    # Only the disk store is on: qbutler fetches the log for it (Butler would not).
    config = alert_config(site, udp_port, receiver, slackNotification={"enable": False},
                          teamsNotification={"enable": False}, webhookNotification={"enable": False},
                          scriptLog={"storeOnDisk": {"clientManaged": {"reloadTaskFailure": {
                              "enable": True, "logDirectory": str(folder)}}}})
    async with running_service(config, tmp_path / "q") as running:
        await site_start(site, FINANCE_TASK)
        await site_start(site, "Reload HR Overview")  # aborted: no file
        await site_start(site, "Reload Sales Dashboard")  # success: no file
        await until(lambda: running.service.alerts.listener.processed == 3, within=15)
        store = running.service.alerts.script_logs
    assert store.written == 1
    [path] = folder.glob("*/*")
    [datagram] = [d for d in site.runner.datagrams if d.kind == "failed"]
    stamp = datagram.payload.decode().split(";")[7]
    task = site.state.tasks[task_id(site, FINANCE_TASK)]
    assert path == folder / stamp[:10] / (f"{stamp[:10]}_{stamp[11:19].replace(':', '-')}"
                                          f"_appId={task.app.id}_taskId={task.id}.log")
    [archived] = [log.text for log in site.state.script_logs.values() if log.task_id == task.id]
    assert path.read_bytes() == archived.replace("\r\n", "\n").removesuffix("\n").encode("utf-8")
    assert not list(folder.glob("*/*.part"))


def test_a_hostile_timestamp_names_no_file():
    assert log_file_path(Path("/logs"), "../../etc/x", "a", "b") is None
    assert log_file_path(Path("/logs"), "2024-01-10 06:47:52,992", "a", "b") == Path(
        "/logs/2024-01-10/2024-01-10_06-47-52_appId=a_taskId=b.log")


def test_a_50_mb_log_is_written_in_slices_not_copied_whole(tmp_path: Path):
    line = "Sales << sales_2024.qvd 123,456 Lines fetched " + "x" * 53  # 100 characters
    lines = [f"{n:08d} {line}" for n in range(500_000)]  # 54.5 MB of text
    path = tmp_path / "2024-01-10" / "big.log"
    tracemalloc.start()
    try:
        write_log(path, lines)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    assert size == sum(len(x) for x in lines) + len(lines) - 1
    # One slice at a time: far below a second copy of the log.
    assert peak < 2 * 1024 * 1024, peak
    with open(path, "rb") as file:
        assert file.read(len(lines[0]) + 1) == (lines[0] + "\n").encode()
        file.seek(-len(lines[-1]), os.SEEK_END)
        assert file.read() == lines[-1].encode()


def test_the_size_cap_keeps_the_last_lines_and_says_so(tmp_path: Path):
    lines = [f"line {n}" for n in range(1000)]
    path = tmp_path / "capped.log"
    write_log(path, lines, max_bytes=100)
    text = path.read_text()
    first, *kept = text.split("\n")
    assert first == CAPPED.format(size=100) and kept == lines[-len(kept):] and kept[-1] == "line 999"
    assert sum(len(x) + 1 for x in kept) <= 100


def test_retention_removes_old_logs_and_empty_day_folders(tmp_path: Path):
    now = time.time()
    old_day, new_day = tmp_path / "2024-01-01", tmp_path / "2024-03-01"
    old_day.mkdir()
    new_day.mkdir()
    old_file, new_file, other = old_day / "a.log", new_day / "b.log", new_day / "notes.txt"
    for path in (old_file, new_file, other):
        path.write_text("x")
    os.utime(old_file, (now - 40 * 86400, now - 40 * 86400))
    os.utime(other, (now - 40 * 86400, now - 40 * 86400))
    assert remove_older_than(tmp_path, now - 30 * 86400) == 1
    assert not old_day.exists() and new_file.exists() and other.exists()


def test_two_failures_in_the_same_second_do_not_trip_over_each_other(tmp_path: Path):
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "day" / "same.log"
    contents = [[f"run {n} line {i}" for i in range(20_000)] for n in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda lines: write_log(path, lines), contents))  # raises if one write failed
    assert path.read_text() in {"\n".join(lines) for lines in contents}
    assert [p.name for p in path.parent.iterdir()] == ["same.log"]
