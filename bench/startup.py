"""Start-up time and idle memory of `qbutler serve`.

Start-up is the wall time from spawning `python -m qbutler serve -c FILE` to the first 200 answer
on GET /v4/butlerping, and the CPU time (user + system) the process had used by then, which a busy
shared machine disturbs less than the wall time; idle RSS is read from /proc two seconds later.
Two configs, both against a simulated site (sensesim, in this process) so every address in them
answers:

- demo: the config `qbutler demo` writes (REST, scheduler, KV, UDP, Slack and webhook alerts,
  file operations, MQTT when mosquitto is installed);
- full: the demo config plus every other feature: Teams and email alerts, app snapshots, the
  start-task filter, the REST rate limit, TLS-less MQTT with credentials.

    python bench/startup.py [--runs 10] [--markdown] [--baseline /path/to/other/checkout/src]

With --baseline, the same measurements run on another source tree too (e.g. main before a change),
interleaved run by run, so that both see the same load on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from installed import installed_env

from qbutler.demo.environment import DemoEnvironment, Options

ROOT = Path(__file__).resolve().parents[1]
IDLE_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def full_config(demo: dict[str, Any], smtp_port: int) -> dict[str, Any]:
    butler = demo["Butler"]
    channel = {"enable": True, "rateLimit": 0, "headScriptLogLines": 5, "tailScriptLogLines": 10}
    teams = {**channel, "webhookURL": butler["slackNotification"]["restMessage"]["webhookURL"],
             "messageType": "formatted"}
    email = {**channel, "recipients": ["ops@example.com"]}
    butler.update({
        "teamsNotification": {"enable": True, "reloadTaskFailure": teams, "reloadTaskAborted": teams},
        "emailNotification": {"enable": True, "smtp": {"host": "127.0.0.1", "port": smtp_port, "secure": False,
                                                       "tls": {"ignoreTLS": True}},
                              "reloadTaskFailure": email, "reloadTaskAborted": email,
                              "reloadTaskSuccess": email},
        "appSnapshots": {"enable": True, "schedule": "0 2 * * *", "directory": "snapshots"},
        "startTaskFilter": {"enable": True, "allowTask": {"tag": ["startable"]}},
    })
    butler["restServerConfig"]["rateLimit"] = {"enable": True, "maxPerMinute": 10000}
    return demo


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET /v4/butlerping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def measure(config_file: Path, src: Path) -> tuple[float, float, float]:
    """(seconds to the first 200, CPU seconds by then, idle RSS in MiB) of one `qbutler serve`
    process from `src`."""
    config = yaml.safe_load(config_file.read_text())
    port = free_port()
    config["Butler"]["restServerConfig"]["serverPort"] = port
    run_file = config_file.with_name(f"run-{config_file.name}")
    run_file.write_text(yaml.safe_dump(config, sort_keys=False))
    env = installed_env(PYTHONPATH=str(src))
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qbutler", "serve", "-c", str(run_file), env=env, cwd=config_file.parent,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        while not await asyncio.to_thread(ping, port):
            if process.returncode is not None:
                raise RuntimeError(f"qbutler exited with {process.returncode} on {run_file}")
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(process.pid)
        await asyncio.sleep(IDLE_SECONDS)
        return elapsed, cpu, rss_mib(process.pid)
    finally:
        process.terminate()
        await process.wait()
        # A fresh data directory per run: the sqlite store must not grow across runs.
        for leftover in (config_file.parent / "data").glob("*"):
            if leftover.is_file():
                leftover.unlink()


async def main(runs: int, markdown: bool, baseline: Path | None) -> None:
    trees = {"": ROOT / "src"} if baseline is None else {"baseline ": baseline, "": ROOT / "src"}
    with tempfile.TemporaryDirectory(prefix="qbutler-startup-") as tmp:
        demo_env = DemoEnvironment(Options(folder=Path(tmp)))
        try:
            demo_file = await demo_env.start_site()
            demo = yaml.safe_load(demo_file.read_text())
            full_file = demo_file.with_name("full.yaml")
            full_file.write_text(yaml.safe_dump(full_config(demo, free_port()), sort_keys=False))
            results: dict[str, list[tuple[float, float, float]]] = {
                f"{tree}{name}": [] for tree in trees for name in ("demo", "full")}
            for _ in range(runs):
                # Interleaved, so a busy moment on the machine hits every variant alike.
                for tree, src in trees.items():
                    for name, file in (("demo", demo_file), ("full", full_file)):
                        results[f"{tree}{name}"].append(await measure(file, src))
        finally:
            await demo_env.stop()
    rows = []
    for name, samples in results.items():
        times = sorted(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        rss = statistics.median(s[2] for s in samples)
        rows.append((name, statistics.median(times), times[0], times[-1], cpu, rss))
    if markdown:
        print(f"| Config | Start-up (median of {runs}) | min-max | CPU to first 200 (median) | Idle RSS (median) |")
        print("|---|---|---|---|---|")
        for name, median, low, high, cpu, rss in rows:
            print(f"| {name} | {median:.2f} s | {low:.2f}-{high:.2f} s | {cpu:.2f} s | {rss:.0f} MiB |")
    else:
        for name, median, low, high, cpu, rss in rows:
            print(f"{name}: start-up median {median:.3f} s (min {low:.3f}, max {high:.3f}), CPU {cpu:.3f} s, "
                  f"idle RSS {rss:.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--baseline", type=Path, help="another checkout's src folder to measure alongside")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.markdown, args.baseline))
