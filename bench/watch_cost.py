"""The cost of watching a site: 10 nodes with 6 Sense services each, polled every 5 s.

sensesim runs as its own process with 10 nodes x 6 services (QRS ServiceStatus); qbutler runs as
`qbutler serve` in another, with only the service monitor on (frequency `every 5 seconds`, all six
service types). After a warm-up, the window measures qbutler's CPU time (user+system, from /proc)
and the QRS calls sensesim saw. Every 30 s one service flips state, so the window includes a few
alerts (to a webhook that refuses connections: delivery retries are part of the cost). With
--mqtt, a Mosquitto broker takes the per-poll status messages Butler publishes (60 per poll).

    python bench/watch_cost.py [--seconds 120] [--runs 3] [--mqtt]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench"), str(ROOT / "tests")]

from cpu import process_cpu  # noqa: E402
from scheduler_lateness import start_sensesim  # noqa: E402

from support.brokers import Mosquitto  # noqa: E402
from support.net import free_port  # noqa: E402

NODES = [f"node{n:02d}.sense.example" for n in range(1, 11)]
TYPES = ["Repository", "Proxy", "Scheduler", "Engine", "AppMigration", "Printing"]


def config(info: dict, folder: Path, mqtt_port: int | None) -> dict:
    certs = Path(info["certs"])
    user = [{"name": "X-Qlik-User", "value": "UserDirectory=Internal;UserId=sa_repository"}]
    butler = {
        "logLevel": "warn",
        "cert": {"clientCert": str(certs / "client.pem"), "clientCertKey": str(certs / "client_key.pem"),
                 "clientCertCA": str(certs / "root.pem")},
        "configQRS": {"host": "127.0.0.1", "port": int(info["qrs"].rsplit(":", 1)[1]), "useSSL": True,
                      "headers": {"static": user}, "rejectUnauthorized": True},
        "serviceMonitor": {"enable": True, "frequency": "every 5 seconds", "qrs": {"services": TYPES},
                           "alertDestination": {"webhook": {"enable": True}}},
        "webhookNotification": {"serviceMonitor": {"rateLimit": 0, "webhooks": [
            {"webhookURL": f"http://127.0.0.1:{free_port()}/hook", "httpMethod": "POST"}]}},
        "alertDelivery": {"maxAttempts": 3, "initialBackoffSeconds": 1},
        "qbutler": {"dataDirectory": str(folder / "data")},
    }
    if mqtt_port is not None:
        butler["mqttConfig"] = {"enable": True, "brokerHost": "127.0.0.1", "brokerPort": mqtt_port}
    return {"Butler": butler}


def one_run(seconds: float, mqtt_port: int | None) -> tuple[float, float]:
    """(qbutler CPU seconds per hour, QRS calls per minute) over one window."""
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        sensesim, info = start_sensesim(folder)
        control = httpx.Client(base_url=info["control"], timeout=10)
        qbutler = None
        try:
            control.put("/nodes", json={"nodes": NODES, "services": TYPES}).raise_for_status()
            file = folder / "qbutler.yaml"
            file.write_text(yaml.safe_dump(config(info, folder, mqtt_port)), encoding="utf-8")
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            log = open(folder / "qbutler.log", "wb")
            qbutler = subprocess.Popen([sys.executable, "-m", "qbutler", "serve", "-c", str(file)], env=env,
                                       stdout=log, stderr=subprocess.STDOUT)
            # Start-up (imports take seconds on a busy machine) and two polls are left out.
            deadline = time.monotonic() + 120
            while sum("servicestatus" in c["path"] for c in control.get("/calls").json()) < 2:
                if time.monotonic() > deadline or qbutler.poll() is not None:
                    raise RuntimeError("qbutler did not start polling")
                time.sleep(0.5)
            cpu_before = process_cpu(qbutler.pid)
            calls_before = len(control.get("/calls").json())
            started = time.monotonic()
            flips = 0
            while time.monotonic() - started < seconds:
                time.sleep(min(30.0, seconds - (time.monotonic() - started)))
                state = "NoCommunication" if flips % 2 == 0 else "Running"
                control.put(f"/services/{NODES[flips % 10]}/Scheduler", json={"state": state})
                flips += 1
            elapsed = time.monotonic() - started
            cpu = process_cpu(qbutler.pid) - cpu_before
            calls = [c for c in control.get("/calls").json()[calls_before:] if "servicestatus" in c["path"]]
            return cpu / elapsed * 3600, len(calls) / elapsed * 60
        finally:
            if qbutler is not None:
                qbutler.terminate()
                try:
                    qbutler.wait(60)
                except subprocess.TimeoutExpired:
                    print("qbutler did not stop within 60 s of SIGTERM; its log ends:\n"
                          + (folder / "qbutler.log").read_text(errors="replace")[-2000:], file=sys.stderr)
                    qbutler.kill()
                    qbutler.wait()
            control.close()
            sensesim.terminate()
            sensesim.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mqtt", action="store_true")
    args = parser.parse_args()
    broker = None
    if args.mqtt:
        broker = Mosquitto(Path(tempfile.mkdtemp()) / "mosquitto")
        broker.start()
    try:
        results = [one_run(args.seconds, broker.port if broker else None) for _ in range(args.runs)]
    finally:
        if broker is not None:
            broker.stop()
    cpu = [r[0] for r in results]
    calls = [r[1] for r in results]
    print(f"10 nodes x 6 services, every 5 s{' + MQTT status per poll' if args.mqtt else ''}, "
          f"{args.runs} runs of {args.seconds:.0f} s")
    print(f"qbutler CPU: median {statistics.median(cpu):.1f} s per hour "
          f"({statistics.median(cpu) / 36:.2f}% of one core); runs {', '.join(f'{c:.1f}' for c in cpu)}")
    print(f"QRS calls: median {statistics.median(calls):.1f} per minute; runs {', '.join(f'{c:.1f}' for c in calls)}")


if __name__ == "__main__":
    main()
