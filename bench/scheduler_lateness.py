"""Scheduler lateness: 1,000 schedules firing every second for 60 s, task starts sent to sensesim.

qbutler (its services without the REST listener) runs in this process on uvloop, as `qbutler
serve` does, and the scheduler starts tasks through the task starter and QRS client over mTLS.
sensesim runs as a separate process so its CPU is not counted. Lateness is the time from an
occurrence (a whole second) to the moment the scheduler fires it (hands it to a firing task);
"sent" lateness runs to the moment the task-start call goes out, after waiting for one of the
scheduler's start slots, so it includes any backlog at QRS. CPU is this process's user+system
time over the run, as a share of one core. The scheduler's per-firing warnings (overlap skips when
QRS cannot keep up) are silenced so that console output does not distort the figures.

With --isolated, firings go to a task starter that does nothing (no QRS call), which shows the
scheduler's own lateness apart from the cost of the QRS client sharing its event loop.

    python bench/scheduler_lateness.py [--schedules 1000] [--seconds 60] [--isolated] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench")]

from cpu import own_cpu, process_cpu  # noqa: E402

from qbutler.config import parse_config  # noqa: E402
from qbutler.runtime import run  # noqa: E402
from qbutler.scheduler.runner import Firing  # noqa: E402
from qbutler.service import Service  # noqa: E402

TASK = "3c9e2f5a-6d1b-4c8e-9a0f-2b7d4e6f8a1c"


def start_sensesim(folder: Path) -> tuple[subprocess.Popen[str], dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-c", "from sensesim.cli import main; main()", "serve", "--seed", "minimal",
               "--certs", str(folder / "certs"), "--qrs-port", "0", "--systeminfo-port", "0", "--control-port", "0",
               "--no-engine", "--time-scale", "0.05", "--log-level", "WARNING"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("{"):
            info = json.loads(line)
            if info.get("event") == "listening":
                return process, info
    raise RuntimeError("sensesim did not start")


def qbutler_config(info: dict, folder: Path, max_starts: int) -> dict:
    certs = Path(info["certs"])
    qrs_port = int(info["qrs"].rsplit(":", 1)[1])
    user = [{"name": "X-Qlik-User", "value": "UserDirectory=Internal;UserId=sa_repository"}]
    return {"Butler": {
        "logLevel": "warn",
        "cert": {"clientCert": str(certs / "client.pem"), "clientCertKey": str(certs / "client_key.pem"),
                 "clientCertCA": str(certs / "root.pem")},
        "configQRS": {"host": "127.0.0.1", "port": qrs_port, "useSSL": True, "headers": {"static": user},
                      "rejectUnauthorized": True},
        "scheduler": {"enable": True, "configfile": str(folder / "schedule.yaml"), "maxConcurrentStarts": max_starts},
        "qbutler": {"dataDirectory": str(folder / "data")},
    }}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class NoTasks:
    """A task starter that starts nothing: for --isolated."""

    async def start_task(self, task_id: str) -> None:
        await asyncio.sleep(0)


async def measure(config: dict, folder: Path, seconds: float, isolated: bool, sensesim_pid: int) -> dict:
    service = Service(parse_config(config, folder))
    scheduler = service.scheduler
    assert scheduler is not None
    if isolated:
        service.tasks = NoTasks()  # type: ignore[assignment]
    firings: list[Firing] = []
    await service.start()
    try:
        # Start measuring at a whole second, after connections are warm.
        await asyncio.sleep(3 - time.time() % 1)
        scheduler.observers.append(firings.append)
        begin, cpu_begin, sense_begin = time.time(), own_cpu(), process_cpu(sensesim_pid)
        await asyncio.sleep(seconds)
        scheduler.observers.remove(firings.append)
        end, cpu, sense_cpu = time.time(), own_cpu() - cpu_begin, process_cpu(sensesim_pid) - sense_begin
    finally:
        await service.stop()
    fired = [f for f in firings if f.outcome in ("started", "failed")]
    late = [(f.started_at - f.occurrence) * 1000 for f in fired]
    sent = [(f.sent_at - f.occurrence) * 1000 for f in fired if f.sent_at is not None]
    return {"firings": len(late), "skipped": sum(f.outcome.startswith("skipped") for f in firings),
            "failed": sum(f.outcome == "failed" for f in firings),
            "p50_ms": statistics.median(late), "p99_ms": percentile(late, 0.99), "max_ms": max(late),
            "sent_p50_ms": statistics.median(sent), "sent_p99_ms": percentile(sent, 0.99),
            "cpu_percent": 100 * cpu / (end - begin), "sensesim_cpu_percent": 100 * sense_cpu / (end - begin),
            "seconds": end - begin}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--isolated", action="store_true", help="start nothing: the scheduler's own lateness")
    parser.add_argument("--max-concurrent-starts", type=int, default=20, help="Butler.scheduler.maxConcurrentStarts")
    parser.add_argument("--markdown", action="store_true")
    options = parser.parse_args()
    logging.getLogger("qbutler").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        sensesim, info = start_sensesim(folder)
        try:
            schedules = [{"name": f"bench {i}", "cronSchedule": "* * * * * *", "timezone": "Europe/Stockholm",
                          "qlikSenseTaskId": TASK, "startupState": "started", "id": f"bench-{i}"}
                         for i in range(options.schedules)]
            (folder / "schedule.yaml").write_text(yaml.safe_dump({"butlerSchedule": schedules}), encoding="utf-8")
            config = qbutler_config(info, folder, options.max_concurrent_starts)
            result = run(measure(config, folder, options.seconds, options.isolated, sensesim.pid))
        finally:
            sensesim.terminate()
            sensesim.wait(10)
    expected = options.schedules * round(result["seconds"])
    mode = "isolated (no task starts)" if options.isolated else "task starts to sensesim over QRS"
    print(f"scheduler lateness: {options.schedules} schedules x every second x {result['seconds']:.0f} s, {mode}")
    print(f"  firings   {result['firings']} of ~{expected} (skipped {result['skipped']}, failed {result['failed']}); "
          f"{result['firings'] / result['seconds']:.0f} task starts/s")
    print(f"  lateness  p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  max {result['max_ms']:.1f} ms")
    print(f"  sent      p50 {result['sent_p50_ms']:.1f} ms  p99 {result['sent_p99_ms']:.1f} ms "
          "(start call out, after queueing for QRS)")
    print(f"  CPU       {result['cpu_percent']:.0f}% of one core (qbutler's process), "
          f"sensesim {result['sensesim_cpu_percent']:.0f}%")
    if options.markdown:
        print(f"| {options.schedules} schedules, every second, {result['seconds']:.0f} s, {mode} | "
              f"{result['firings']} | "
              f"{result['p50_ms']:.1f} ms | {result['p99_ms']:.1f} ms | {result['max_ms']:.1f} ms | "
              f"{result['sent_p50_ms']:.0f} / {result['sent_p99_ms']:.0f} ms | {result['cpu_percent']:.0f}% | "
              f"{result['sensesim_cpu_percent']:.0f}% |")


if __name__ == "__main__":
    main()
