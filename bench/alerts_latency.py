"""1,000 reload-failure datagrams within one second → qbutler → Slack and webhook receivers.

sensesim (`sensesim serve`, its own process) runs 100 failing reload tasks once, so each has an
execution result and a script log ready. Their datagrams are captured and replayed 10 times each
with fresh ExecutionIds, paced evenly over one second, at a `qbutler serve` subprocess. A local
HTTP receiver stands in for Slack (formatted default template, script-log head and tail) and an
outgoing webhook. Each alert is matched to its datagram by ExecutionId: every one must arrive
exactly once; the latency is from sending the datagram to the receiver reading the request.

Smaller bursts (100 and 10 datagrams in one second) show the latency of one alert when qbutler
is not working through a backlog.

`--mixed N` adds a burst of N datagrams of every task type and outcome (reload failures and
successes, external program, user sync, distribute and preload failures and successes) with every
destination on: Slack, Teams, webhook, email (SMTP receiver), MQTT failure and success topics (a
Mosquitto broker), New Relic events and logs, Signl4, and script logs on disk. Deliveries that
carry the ExecutionId (Slack, webhook, New Relic event, MQTT full JSON) are matched one to one;
mails, Teams and Signl4 are counted. CPU is each process's user+system time from the first datagram
to the last delivery, as a share of one core (2 cores: all three together cannot exceed 200%);
"bench" is this process: the datagram sender and the receivers.

    python bench/alerts_latency.py [--runs 1] [--bursts 1000,100,10] [--mixed 1000] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "alerts"), str(ROOT / "bench")]

from alertkit import HttpReceiver, SmtpReceiver, mqtt_messages  # noqa: E402
from cpu import own_cpu, process_cpu  # noqa: E402

from support.brokers import Mosquitto  # noqa: E402
from support.sense import sense_config  # noqa: E402

TASKS = 100
# The mixed burst's other tasks: seed list, name prefix, scenario -> how many.
OTHER_TASKS = [("reloadTasks", "Reload ok", "success", 20),
               *((kind, f"{prefix} {scenario}", scenario, 10) for kind, prefix in (
                   ("externalProgramTasks", "Program"), ("userSyncTasks", "Sync"), ("distributeTasks", "Distribute"),
                   ("preloadTasks", "Preload")) for scenario in ("fail", "success"))]
# Receiver paths of the HTTP destinations.
PATHS = {"slack": "/slack", "webhook": "/hook", "newrelic": "/nr/v1/accounts/1/events", "newrelic-log": "/nr-log",
         "teams": "/teams", "signl4": "/s4"}
NAMES = {path: name for name, path in PATHS.items()}
# Destinations whose messages carry the ExecutionId: matched to their datagram one to one.
MATCHED = ("slack", "webhook", "newrelic", "mqtt")
EXECUTION = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def cpu_now(*pids: int) -> list[float]:
    return [process_cpu(pid) for pid in pids] + [own_cpu()]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(folder: Path, mixed: bool) -> Path:
    data: dict[str, Any] = {
        "users": [{"userDirectory": "ACME", "userId": "anna", "name": "Anna", "email": "anna@acme.example"}],
        "apps": [{"name": f"App {n}", "owner": "ACME\\anna", "reload": "fail",
                  "script": "\n".join(f"LET v{i} = {i};" for i in range(40)) + "\nLOAD * FROM [lib://x/y.qvd] (qvd);"}
                 for n in range(10)],
        "reloadTasks": [{"name": f"Reload {n}", "app": f"App {n % 10}", "scenario": "fail", "durationMs": 200}
                        for n in range(TASKS)],
    }
    if mixed:
        for kind, prefix, scenario, count in OTHER_TASKS:
            data.setdefault(kind, []).extend(
                {"name": f"{prefix} {n}", "scenario": scenario, "durationMs": 200, "path": "C:\\x.cmd",
                 **({"app": f"App {n % 10}"} if kind in ("reloadTasks", "distributeTasks", "preloadTasks") else {})}
                for n in range(count))
    path = folder / "bench-seed.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def every_destination(receiver: HttpReceiver, smtp_port: int, mqtt_port: int, folder: Path) -> dict[str, Any]:
    """The mixed burst's extra destinations, all unlimited by rate limits."""
    mail = {"enable": True, "rateLimit": 0, "recipients": ["ops@example.com"], "fromAddress": "sense@example.com"}
    nr = {"enable": True, "sendToAccount": {"always": {"enable": True, "account": ["bench"]}}, "tailScriptLogLines": 10}
    return {
        "teamsNotification": {"enable": True, "reloadTaskFailure": {
            "enable": True, "rateLimit": 0, "webhookURL": receiver.url("/teams")}},
        "emailNotification": {"enable": True, "smtp": {"host": "127.0.0.1", "port": smtp_port},
                              **{f"{kind}Task{outcome}": mail for kind in (
                                  "externalProgram", "userSync", "distribute", "preload")
                                 for outcome in ("Failure", "Success")}},
        "mqttConfig": {"enable": True, "brokerHost": "127.0.0.1", "brokerPort": mqtt_port,
                       "taskSuccessTopic": "qliksense/task_success",
                       "taskSuccessFullTopic": "qliksense/task_success_full"},
        "thirdPartyToolsCredentials": {"newRelic": [{"accountName": "bench", "insertApiKey": "k", "accountId": 1}]},
        "incidentTool": {
            "newRelic": {"enable": True, "url": {"event": receiver.url("/nr"), "log": receiver.url("/nr-log")},
                         "reloadTaskFailure": {"destination": {"event": nr, "log": nr},
                                               "sharedSettings": {"rateLimit": 0}}},
            "signl4": {"enable": True, "url": receiver.url("/s4"),
                       "reloadTaskFailure": {"enable": True, "rateLimit": 0}}},
        "scriptLog": {"storeOnDisk": {"clientManaged": {"reloadTaskFailure": {
            "enable": True, "logDirectory": str(folder / "scriptlogs")}}}},
    }


def qbutler_config(site: Any, udp_port: int, http_port: int, receiver: HttpReceiver,
                   extra: dict[str, Any] | None = None, observability: bool = True) -> dict[str, Any]:
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
        **(extra or {}),
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

    def __init__(self, folder: Path, certs: Path, mixed: bool = False, seed_file: Path | None = None):
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        self.tasks = TASKS + (sum(count for *_, count in OTHER_TASKS) if mixed else 0)
        self.log = open(folder / "sensesim.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sensesim.cli", "serve", "--seed", str(seed_file or seed(folder, mixed)),
             "--certs", str(certs),
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
            sent = [d for d in (await control.get("/datagrams")).json()
                    # A distribution's own datagram repeats its task's execution: a duplicate.
                    if not d["payload"].startswith("/scheduler-distribute/")]
            if len(sent) >= site.tasks:
                return [d["payload"].encode() for d in sent]
            await asyncio.sleep(0.05)
    raise RuntimeError("sensesim did not finish the task runs")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def expected(templates: list[bytes], count: int) -> Counter[str]:
    """How many messages each counted destination should get for `count` replayed datagrams."""
    wanted: Counter[str] = Counter()
    for index in range(count):
        fields = templates[index % len(templates)].split(b";")
        failed, reload = fields[0] == b"/scheduler-task-failed/", fields[2].startswith(b"Reload")
        if failed and reload:
            wanted.update(("slack", "webhook", "newrelic", "newrelic-log", "teams", "signl4", "mqtt"))
        elif not reload:
            wanted["email"] += 1
        if not failed:
            wanted["mqtt"] += 1
    return wanted


def execution_of(channel: str, body: bytes) -> str:
    if channel == "webhook":
        return str(orjson.loads(body)["executionId"])
    if channel == "newrelic":
        return str(orjson.loads(gzip.decompress(body))[0]["qs_executionId"])
    if channel == "mqtt":
        return str(orjson.loads(body)["executionId"])
    match = re.search(rb"Execution ([0-9a-f-]{36})", body)
    return match.group(1).decode() if match else "?"


class MqttRecorder:
    """Every message under qliksense/task_ with the time the bench saw it."""

    def __init__(self, raw: list[tuple[str, str]]):
        self.raw = raw
        self.stamped: list[tuple[str, bytes, float]] = []

    def full(self) -> list[tuple[bytes, float]]:
        now = time.time()
        for topic, payload in self.raw[len(self.stamped):]:
            self.stamped.append((topic, payload.encode(), now))
        return [(payload, at) for topic, payload, at in self.stamped if topic.endswith("_full")]


@dataclass
class Destinations:
    """The receivers of one run: HTTP always; SMTP and MQTT in the mixed burst."""

    http: HttpReceiver
    smtp: SmtpReceiver | None = None
    mqtt: MqttRecorder | None = None
    # Delivered HTTP requests per destination, counted as they come (the poll must stay cheap:
    # the bench shares the two cores with qbutler).
    delivered: Counter[str] = field(default_factory=Counter)
    counted_up_to: int = 0

    def arrivals(self, name: str) -> list[tuple[bytes, float]]:
        if name == "mqtt":
            return self.mqtt.full() if self.mqtt is not None else []
        return [(r.body, r.time) for r in self.http.at(PATHS[name])]

    def counts(self) -> Counter[str]:
        requests = self.http.requests
        for request in requests[self.counted_up_to:]:
            if request.status < 300:
                self.delivered[NAMES.get(request.path, request.path)] += 1
        self.counted_up_to = len(requests)
        got = Counter(self.delivered)
        got["mqtt"] = len(self.mqtt.full()) if self.mqtt is not None else 0
        got["email"] = len(self.smtp.messages) if self.smtp is not None else 0
        return got


async def one_run(certs: Path, folder: Path, count: int, mixed: bool = False,
                  observability: bool = True) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        receiver = HttpReceiver()
        await receiver.start()
        stack.push_async_callback(receiver.stop)
        site = SenseSim(folder, certs, mixed)
        stack.callback(site.stop)
        destinations = Destinations(receiver)
        extra = None
        if mixed:
            smtp, broker = SmtpReceiver(free_port()), Mosquitto(folder / "mosquitto")
            smtp.start()
            stack.callback(smtp.stop)
            broker.start()
            stack.callback(broker.stop)
            raw = await stack.enter_async_context(mqtt_messages(broker.port, "qliksense/task_"))
            destinations = Destinations(receiver, smtp, MqttRecorder(raw))
            extra = every_destination(receiver, smtp.port, broker.port, folder)
        return await measure(folder, site, destinations, count, extra, observability)


async def measure(folder: Path, site: SenseSim, destinations: Destinations, count: int,
                  extra: dict[str, Any] | None, observability: bool = True) -> dict[str, Any]:
    udp_port, http_port = free_port(socket.SOCK_DGRAM), free_port()
    config = qbutler_config(site, udp_port, http_port, destinations.http, extra, observability)
    templates = await captured_datagrams(site, config)
    wanted = expected(templates, count) if extra else Counter({"slack": count, "webhook": count})
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
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            got = destinations.counts()
            if all(got[name] >= number for name, number in wanted.items()):
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - start
        cpu = [(after - before) / elapsed
               for before, after in zip(cpu_before, cpu_now(process.pid, site.process.pid), strict=True)]
        await asyncio.sleep(1.0)  # duplicates would show up now
        got = destinations.counts()
    finally:
        process.terminate()
        process.wait(15)
    result: dict[str, Any] = {"sent": len(datagrams), "send_seconds": send_seconds, "seconds": elapsed,
                              "cpu": dict(zip(("qbutler", "sensesim", "bench"), cpu, strict=True)),
                              "counted": {name: (got[name], number) for name, number in sorted(wanted.items())}}
    for name in (MATCHED if extra else ("slack", "webhook")):
        latencies: list[float] = []
        counts: Counter[str] = Counter()
        for body, at in destinations.arrivals(name):
            execution = execution_of(name, body)
            counts[execution] += 1
            if execution in sent:
                latencies.append(at - sent[execution])
        result[name] = {
            "delivered": sum(1 for e in sent if counts[e] == 1),
            "expected": wanted[name],
            "duplicates": sum(c - 1 for c in counts.values() if c > 1),
            "missing": wanted[name] - len(counts),
            "p50": percentile(latencies, 0.5) if latencies else float("nan"),
            "p95": percentile(latencies, 0.95) if latencies else float("nan"),
        }
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--bursts", default="1000,100,10", help="datagrams sent within one second, per burst")
    parser.add_argument("--mixed", default="", help="mixed bursts (every task type and destination), e.g. 1000")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    bursts = [(int(b), False) for b in args.bursts.split(",") if b] + [
        (int(b), True) for b in args.mixed.split(",") if b]
    rows = []
    cpus: list[tuple[str, int, float, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        certs = Path(tmp) / "certs"
        for count, mixed in bursts:
            label = f"{count}{' mixed' if mixed else ''} in 1 s"
            channels = MATCHED if mixed else ("slack", "webhook")
            runs = []
            for run in range(args.runs):
                folder = Path(tmp) / f"burst{count}{'-mixed' if mixed else ''}-run{run}"
                folder.mkdir()
                runs.append(await one_run(certs, folder, count, mixed))
                r = runs[-1]
                print(f"{label}, run {run + 1}: sent in {r['send_seconds']:.2f}s; " + "; ".join(
                    f"{c}: {r[c]['delivered']}/{r[c]['expected']} once, {r[c]['missing']} missing, "
                    f"{r[c]['duplicates']} dup, p50 {r[c]['p50'] * 1000:.0f} ms, p95 {r[c]['p95'] * 1000:.0f} ms"
                    for c in channels)
                    + f"; all delivered after {r['seconds']:.2f}s, CPU "
                    + ", ".join(f"{name} {share:.0%}" for name, share in r["cpu"].items())
                    + "; messages (got/expected) "
                    + ", ".join(f"{name} {got}/{want}" for name, (got, want) in r["counted"].items()), flush=True)
            cpu = {name: statistics.median(r["cpu"][name] for r in runs) for name in runs[0]["cpu"]}
            cpus.append((label, count, statistics.median(r["seconds"] for r in runs), cpu))
            for channel in channels:
                exact = all(r[channel]["delivered"] == r[channel]["expected"] and r[channel]["duplicates"] == 0
                            and all(got == want for got, want in r["counted"].values()) for r in runs)
                rows.append((label, channel, statistics.median(r[channel]["p50"] for r in runs),
                             statistics.median(r[channel]["p95"] for r in runs), exact))
    print(f"\nalerts_latency: datagrams within 1 s, datagram → delivery, median of {args.runs} run(s)")
    for label, channel, p50, p95, exact in rows:
        print(f"  {label:18} {channel:8} p50 {p50 * 1000:6.0f} ms   p95 {p95 * 1000:6.0f} ms   "
              f"every message exactly once: {'yes' if exact else 'NO'}")
    for label, count, seconds, cpu in cpus:
        print(f"  {label:18} all delivered after {seconds:.2f} s; CPU "
              + ", ".join(f"{name} {share:.0%}" for name, share in cpu.items())
              + f"; qbutler {cpu['qbutler'] * seconds / count * 1000:.2f} ms and sensesim "
                f"{cpu['sensesim'] * seconds / count * 1000:.2f} ms CPU per datagram")
    if args.markdown:
        print("\n| Burst | Channel | p50 datagram→delivery | p95 | Every message exactly once |")
        print("|---|---|---|---|---|")
        for label, channel, p50, p95, exact in rows:
            print(f"| {label} | {channel} | {p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms | {'yes' if exact else 'no'} |")
        print("\n| Burst | All delivered after | CPU qbutler | CPU sensesim | CPU bench | "
              "qbutler CPU per datagram | sensesim CPU per datagram |")
        print("|---|---|---|---|---|---|---|")
        for label, count, seconds, cpu in cpus:
            print(f"| {label} | {seconds:.2f} s | {cpu['qbutler']:.0%} | {cpu['sensesim']:.0%} | "
                  f"{cpu['bench']:.0%} | {cpu['qbutler'] * seconds / count * 1000:.2f} ms | "
                  f"{cpu['sensesim'] * seconds / count * 1000:.2f} ms |")


if __name__ == "__main__":
    asyncio.run(main())
