"""1,000 reload-failure datagrams within one second → qbutler → Slack and webhook receivers.

sensesim (`sensesim serve`, its own process) runs 100 failing reload tasks once, so each has an
execution result and a script log ready. Their datagrams are captured and replayed 10 times each
with fresh ExecutionIds, paced evenly over one second, at a `qbutler serve` subprocess. A local
HTTP receiver stands in for Slack (formatted default template, script-log head and tail) and an
outgoing webhook. Each alert is matched to its datagram by ExecutionId: every one must arrive
exactly once; the latency is from sending the datagram to the receiver reading the request.

Smaller bursts (100 and 10 datagrams in one second) show the latency of one alert when qbutler
is not working through a backlog. CPU is each process's user+system time from the first datagram
to the last delivery, as a share of one core (2 cores: all three together cannot exceed 200%);
"bench" is this process: the datagram sender and the receivers.

    python bench/alerts_latency.py [--runs 1] [--bursts 1000,100,10] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "alerts"), str(ROOT / "bench")]

from alertkit import HttpReceiver  # noqa: E402
from cpu import own_cpu, process_cpu  # noqa: E402

from support.sense import sense_config  # noqa: E402

TASKS = 100
EXECUTION = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def cpu_now(*pids: int) -> list[float]:
    return [process_cpu(pid) for pid in pids] + [own_cpu()]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(folder: Path) -> Path:
    data = {
        "users": [{"userDirectory": "ACME", "userId": "anna", "name": "Anna", "email": "anna@acme.example"}],
        "apps": [{"name": f"App {n}", "owner": "ACME\\anna", "reload": "fail",
                  "script": "\n".join(f"LET v{i} = {i};" for i in range(40)) + "\nLOAD * FROM [lib://x/y.qvd] (qvd);"}
                 for n in range(10)],
        "reloadTasks": [{"name": f"Reload {n}", "app": f"App {n % 10}", "scenario": "fail", "durationMs": 200}
                        for n in range(TASKS)],
    }
    path = folder / "bench-seed.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def qbutler_config(site: Any, udp_port: int, http_port: int, receiver: HttpReceiver,
                   observability: bool = True) -> dict[str, Any]:
    chat = {"enable": True, "rateLimit": 0, "headScriptLogLines": 10, "tailScriptLogLines": 10,
            "webhookURL": receiver.url("/slack"), "channel": "bench"}
    config = sense_config(
        site,
        logLevel="warn",
        restServerConfig={"enable": True, "serverHost": "127.0.0.1", "serverPort": http_port},
        udpServerConfig={"enable": True, "serverHost": "127.0.0.1", "portTaskFailure": udp_port,
                         "messageQueue": {"maxConcurrent": 10, "maxSize": 2000}},
        slackNotification={"enable": True, "reloadTaskFailure": chat},
        webhookNotification={"enable": True, "reloadTaskFailure": {"rateLimit": 0, "webhooks": [
            {"webhookURL": receiver.url("/hook"), "httpMethod": "POST"}]}},
        qlikSenseUrls={"qmc": "https://sense/qmc", "hub": "https://sense/hub", "appBaseUrl": "https://sense/app"},
        # The reload history (SQLite) and the Prometheus metrics, on by default.
        qbutler={"dataDirectory": "data", "history": {"enable": observability},
                 "metrics": {"enable": observability}},
    )
    return config


async def start_qbutler(folder: Path, config: dict[str, Any]) -> subprocess.Popen[bytes]:
    file = folder / "qbutler.yaml"
    file.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with open(folder / "qbutler.log", "ab") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 (start-up, before the measurement)
            [sys.executable, "-m", "qbutler", "serve", "-c", str(file)], env=env, cwd=folder, stdout=log,
            stderr=subprocess.STDOUT)
    port = config["Butler"]["restServerConfig"]["serverPort"]
    async with httpx.AsyncClient() as client:
        for _ in range(400):
            try:
                await client.get(f"http://127.0.0.1:{port}/v4/butlerping")
                return process
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    process.kill()
    raise RuntimeError(f"qbutler did not start:\n{(folder / 'qbutler.log').read_text()}")


class SenseSim:
    """`sensesim serve` as a child process, with the attributes `sense_config` reads from a Site."""

    def __init__(self, folder: Path, certs: Path):
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        self.log = open(folder / "sensesim.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sensesim.cli", "serve", "--seed", str(seed(folder)), "--certs", str(certs),
             "--qrs-port", "0", "--systeminfo-port", "0", "--control-port", "0", "--no-engine",
             "--time-scale", "0.05", "--log-level", "WARNING"],
            env=env, cwd=folder, stdout=subprocess.PIPE, stderr=self.log)
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(b"{") and b'"listening"' in line:
                info = orjson.loads(line)
                break
        else:
            raise RuntimeError(f"sensesim did not start: {(folder / 'sensesim.log').read_text()}")
        self.config = type("SiteConfig", (), {"certs_dir": certs})()
        self.qrs_port, self.engine_port, self.control_url = info["qrsPort"], None, info["control"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)
        self.log.close()


async def captured_datagrams(site: SenseSim, config: dict[str, Any]) -> list[bytes]:
    """Run every task once in sensesim and return the datagrams it would have sent."""
    from qbutler.config import parse_config
    from qbutler.sense.qrs import QrsClient

    qrs = QrsClient(parse_config(config, Path.cwd()))
    try:
        async with httpx.AsyncClient(base_url=site.control_url) as control:
            ids = [t["id"] for t in (await control.get("/tasks")).json()]
        await asyncio.gather(*(qrs.post(f"task/{tid}/start", json={}) for tid in ids))
    finally:
        await qrs.stop()
    async with httpx.AsyncClient(base_url=site.control_url) as control:
        for _ in range(600):
            sent = (await control.get("/datagrams")).json()
            if len(sent) >= TASKS:
                return [d["payload"].encode() for d in sent]
            await asyncio.sleep(0.05)
    raise RuntimeError("sensesim did not finish the task runs")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def one_run(certs: Path, folder: Path, count: int, observability: bool = True) -> dict[str, Any]:
    receiver = HttpReceiver()
    await receiver.start()
    udp_port, http_port = free_port(socket.SOCK_DGRAM), free_port()
    site = SenseSim(folder, certs)
    try:
        config = qbutler_config(site, udp_port, http_port, receiver, observability)
        templates = await captured_datagrams(site, config)
        process = await start_qbutler(folder, config)
        try:
            sent: dict[str, float] = {}
            datagrams = []
            for index in range(count):
                execution = str(uuid.uuid4())
                fields = templates[index % len(templates)].split(b";")
                fields[9] = execution.encode()
                datagrams.append((execution, b";".join(fields)))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
                cpu_before = cpu_now(process.pid, site.process.pid)
                start = time.perf_counter()
                for index, (execution, payload) in enumerate(datagrams):
                    # Evenly over one second.
                    delay = start + index / len(datagrams) - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    sent[execution] = time.time()
                    sock.sendto(payload, ("127.0.0.1", udp_port))
                send_seconds = time.perf_counter() - start
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and len(receiver.requests) < 2 * len(datagrams):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - start
            cpu = [(after - before) / elapsed
                   for before, after in zip(cpu_before, cpu_now(process.pid, site.process.pid), strict=True)]
            await asyncio.sleep(1.0)  # duplicates would show up now
        finally:
            process.terminate()
            process.wait(15)
    finally:
        site.stop()
    await receiver.stop()
    result: dict[str, Any] = {"sent": len(datagrams), "send_seconds": send_seconds, "seconds": elapsed,
                              "cpu": dict(zip(("qbutler", "sensesim", "bench"), cpu, strict=True))}
    for path, name in (("/slack", "slack"), ("/hook", "webhook")):
        latencies: list[float] = []
        counts: Counter[str] = Counter()
        for request in receiver.at(path):
            if path == "/hook":
                execution = orjson.loads(request.body)["executionId"]
            else:
                match = re.search(rb"Execution ([0-9a-f-]{36})", request.body)
                execution = match.group(1).decode() if match else "?"
            counts[execution] += 1
            if execution in sent:
                latencies.append(request.time - sent[execution])
        result[name] = {
            "delivered": sum(1 for e in sent if counts[e] == 1),
            "duplicates": sum(c - 1 for c in counts.values() if c > 1),
            "missing": sum(1 for e in sent if counts[e] == 0),
            "p50": percentile(latencies, 0.5) if latencies else float("nan"),
            "p95": percentile(latencies, 0.95) if latencies else float("nan"),
        }
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--bursts", default="1000,100,10", help="datagrams sent within one second, per burst")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    bursts = [int(b) for b in args.bursts.split(",")]
    rows = []
    cpus: list[tuple[int, float, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        certs = Path(tmp) / "certs"
        for count in bursts:
            runs = []
            for run in range(args.runs):
                folder = Path(tmp) / f"burst{count}-run{run}"
                folder.mkdir()
                runs.append(await one_run(certs, folder, count))
                r = runs[-1]
                print(f"{count} datagrams, run {run + 1}: sent in {r['send_seconds']:.2f}s; " + "; ".join(
                    f"{c}: {r[c]['delivered']} once, {r[c]['missing']} missing, {r[c]['duplicates']} dup, "
                    f"p50 {r[c]['p50'] * 1000:.0f} ms, p95 {r[c]['p95'] * 1000:.0f} ms" for c in ("slack", "webhook"))
                    + f"; all delivered after {r['seconds']:.2f}s, CPU "
                    + ", ".join(f"{name} {share:.0%}" for name, share in r["cpu"].items()), flush=True)
            cpu = {name: statistics.median(r["cpu"][name] for r in runs) for name in runs[0]["cpu"]}
            cpus.append((count, statistics.median(r["seconds"] for r in runs), cpu))
            for channel in ("slack", "webhook"):
                rows.append((count, channel, statistics.median(r[channel]["p50"] for r in runs),
                             statistics.median(r[channel]["p95"] for r in runs),
                             all(r[channel]["delivered"] == r["sent"] and r[channel]["duplicates"] == 0 for r in runs)))
    print(f"\nalerts_latency: failure datagrams within 1 s, datagram → delivery, median of {args.runs} run(s)")
    for count, channel, p50, p95, exact in rows:
        print(f"  {count:5} datagrams  {channel:8} p50 {p50 * 1000:6.0f} ms   p95 {p95 * 1000:6.0f} ms   "
              f"every alert exactly once: {'yes' if exact else 'NO'}")
    for count, seconds, cpu in cpus:
        print(f"  {count:5} datagrams  all delivered after {seconds:.2f} s; CPU "
              + ", ".join(f"{name} {share:.0%}" for name, share in cpu.items())
              + f"; qbutler {cpu['qbutler'] * seconds / count * 1000:.2f} ms and sensesim "
                f"{cpu['sensesim'] * seconds / count * 1000:.2f} ms CPU per alert")
    if args.markdown:
        print("\n| Burst | Channel | p50 datagram→delivery | p95 | Every alert exactly once |")
        print("|---|---|---|---|---|")
        for count, channel, p50, p95, exact in rows:
            print(f"| {count} in 1 s | {channel} | {p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms | "
                  f"{'yes' if exact else 'no'} |")
        print("\n| Burst | All delivered after | CPU qbutler | CPU sensesim | CPU bench | "
              "qbutler CPU per alert | sensesim CPU per alert |")
        print("|---|---|---|---|---|---|---|")
        for count, seconds, cpu in cpus:
            print(f"| {count} in 1 s | {seconds:.2f} s | {cpu['qbutler']:.0%} | {cpu['sensesim']:.0%} | "
                  f"{cpu['bench']:.0%} | {cpu['qbutler'] * seconds / count * 1000:.2f} ms | "
                  f"{cpu['sensesim'] * seconds / count * 1000:.2f} ms |")


if __name__ == "__main__":
    asyncio.run(main())
