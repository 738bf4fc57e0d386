"""Time from a trigger to the QRS start call arriving at the Sense site.

A `qbutler serve` subprocess is connected to an in-process sensesim site (QRS over mTLS) and to a
Mosquitto broker started here. Two triggers, one after the other, each repeated N times:

- REST: `PUT /v4/reloadtask/{id}/start` with body `[]` (qbutler checks the task exists, then starts it);
- MQTT: the task id published on `qliksense/start_task` (QoS 1).

The clock stops when sensesim receives `POST /qrs/task/{id}/start` (a hook on its call log), so the
figure is what a load script or upstream system waits for before Sense knows about the start.

Each round measures both triggers; the figures reported are medians over the rounds (the machine
is shared, so one round's tail can be another process's doing).

    python bench/task_start_latency.py [--starts 1000] [--rounds 3] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sensesim.server import Site  # noqa: E402

TASK = "3c9e2f5a-6d1b-4c8e-9a0f-2b7d4e6f8a1c"  # "Reload Sales Dashboard" in the minimal seed
TARGET_P99_MS = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


def start_mosquitto(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n", encoding="utf-8")
    process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process, "mosquitto")
    return process, port


def start_qbutler(folder: Path, site: Site, broker_port: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    certs = Path(site.config.certs_dir)
    user = [{"name": "X-Qlik-User", "value": "UserDirectory=Internal;UserId=sa_repository"}]
    config = {"Butler": {
        "logLevel": "warn",
        "restServerConfig": {"enable": True, "serverHost": "127.0.0.1", "serverPort": port},
        "restServerEndpointsEnable": {"senseStartTask": True},
        "cert": {"clientCert": str(certs / "client.pem"), "clientCertKey": str(certs / "client_key.pem"),
                 "clientCertCA": str(certs / "root.pem")},
        "configQRS": {"host": "127.0.0.1", "port": site.qrs_port, "headers": {"static": user},
                      "rejectUnauthorized": True},
        "mqttConfig": {"enable": True, "brokerHost": "127.0.0.1", "brokerPort": broker_port},
        "qbutler": {"dataDirectory": str(folder / "data")},
    }}
    file = folder / "qbutler.yaml"
    file.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen([sys.executable, "-m", "qbutler", "serve", "-c", str(file)], env=env, cwd=folder)
    wait_for_port(port, process, "qbutler")
    return process, port


class StartProbe:
    """Resolves a future with the perf_counter time at which sensesim logs a task start call."""

    def __init__(self, site: Site):
        self.arrived: asyncio.Future[float] | None = None
        record = site.state.record_call

        def hooked(service: str, method: str, path: str, query: str, body: Any) -> Any:
            now = time.perf_counter()
            if method == "POST" and path.endswith("/start") and self.arrived and not self.arrived.done():
                self.arrived.set_result(now)
            return record(service, method, path, query, body)

        site.state.record_call = hooked  # type: ignore[method-assign]

    async def measure(self, trigger: Callable[[], Awaitable[Any]]) -> float:
        self.arrived = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        await trigger()
        async with asyncio.timeout(5):
            arrived = await self.arrived
        return (arrived - sent) * 1000


async def wait_until_qbutler_subscribed(probe: StartProbe, publish: Callable[[], Awaitable[Any]]) -> None:
    """qbutler connects to the broker in the background: publish until a start arrives."""
    deadline = time.monotonic() + 20
    while True:
        try:
            await probe.measure(publish)
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": statistics.median(ordered), "p99": pick(0.99), "max": ordered[-1], "n": len(ordered)}


async def bench(starts: int, warmup: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    with tempfile.TemporaryDirectory(prefix="qbutler-bench-") as tmp:
        folder = Path(tmp)
        # Long task runs: the task keeps running, so every start is one QRS call and no run piles up.
        async with Site(seed="minimal", certs_dir=folder / "certs", time_scale=1000.0) as site:
            probe = StartProbe(site)
            broker, broker_port = start_mosquitto(folder)
            qbutler, port = start_qbutler(folder, site, broker_port)
            try:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as api, \
                        aiomqtt.Client("127.0.0.1", broker_port) as mqtt:

                    async def rest() -> None:
                        (await api.put(f"/v4/reloadtask/{TASK}/start", json=[])).raise_for_status()

                    async def message() -> None:
                        await mqtt.publish("qliksense/start_task", TASK, qos=1)

                    await wait_until_qbutler_subscribed(probe, message)
                    results: dict[str, list[dict[str, float]]] = {"REST": [], "MQTT": []}
                    for _ in range(rounds):
                        for name, trigger in (("REST", rest), ("MQTT", message)):
                            for _ in range(warmup):
                                await probe.measure(trigger)
                            results[name].append(summary([await probe.measure(trigger) for _ in range(starts)]))
                    return results
            finally:
                qbutler.terminate()
                qbutler.wait(10)
                broker.terminate()
                broker.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markdown", action="store_true", help="also print the lines for docs/performance.md")
    args = parser.parse_args()
    rounds = asyncio.run(bench(args.starts, args.warmup, args.rounds))
    results = {name: {key: statistics.median(r[key] for r in runs) for key in ("p50", "p99", "max")}
               for name, runs in rounds.items()}
    print(f"Trigger to QRS start call at sensesim: {args.starts} sequential starts per trigger and round, "
          f"medians of {args.rounds} rounds (target p99 < {TARGET_P99_MS:g} ms)")
    for name, r in results.items():
        verdict = "ok" if r["p99"] < TARGET_P99_MS else "OVER TARGET"
        p99s = ", ".join(f"{run['p99']:.1f}" for run in rounds[name])
        print(f"  {name:4}  p50 {r['p50']:6.2f} ms   p99 {r['p99']:6.2f} ms (rounds: {p99s})   "
              f"max {r['max']:7.2f} ms   {verdict}")
    if args.markdown:
        print()
        print("| Trigger | Starts per round | p50 | p99 | max |")
        print("|---|---|---|---|---|")
        for name, r in results.items():
            print(f"| {name} | {args.starts} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | {r['max']:.2f} ms |")


if __name__ == "__main__":
    main()
