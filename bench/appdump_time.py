"""App dump time per app and for the whole demo site, against `sensesim serve --seed demo` in a
subprocess (the engine then has a core of its own, as a Sense server would).

Measures, each as the median of several rounds:
  * one dump of the demo's richest app (Sales Dashboard: 3 sheets, 9 charts, 4 dimensions, 4
    measures, 3 bookmarks, 2 snapshots, 2 connections, 10 variables, lineage) and the median over
    all 20 apps;
  * the whole site dumped one app after another, and with 4 apps at a time;
  * a snapshot run over the whole site with no change (dump, render, hash, nothing written).

    python bench/appdump_time.py [--rounds 7] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from qbutler.actions.appdump import dump_app  # noqa: E402
from qbutler.actions.snapshots import AppSnapshotJob  # noqa: E402
from qbutler.config import parse_config  # noqa: E402
from qbutler.sense.engine import EngineClient  # noqa: E402
from qbutler.sense.qrs import QrsClient  # noqa: E402

SALES = "6a2e4c1b-8d3f-4a5e-9b7c-1d2e3f4a5b6c"
USER = [{"name": "X-Qlik-User", "value": "UserDirectory=Internal;UserId=sa_repository"}]


def start_sensesim(certs: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    args = [sys.executable, "-c", "from sensesim.cli import main; main()", "serve", "--seed", "demo",
            "--certs", str(certs), "--qrs-port", "0", "--engine-port", "0", "--systeminfo-port", "0",
            "--control-port", "0", "--log-level", "WARNING"]
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    for line in process.stdout:
        if line.startswith("{") and '"listening"' in line:
            return process, json.loads(line)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("sensesim did not start")


def qbutler_config(info: dict[str, Any], certs: Path, folder: Path) -> Any:
    return parse_config({"Butler": {
        "logLevel": "warn",
        "cert": {"clientCert": str(certs / "client.pem"), "clientCertKey": str(certs / "client_key.pem"),
                 "clientCertCA": str(certs / "root.pem")},
        "configQRS": {"host": "127.0.0.1", "port": info["qrsPort"], "headers": {"static": USER},
                      "rejectUnauthorized": True},
        "configEngine": {"host": "127.0.0.1", "port": info["enginePort"], "headers": {"static": USER},
                         "rejectUnauthorized": True},
        "appSnapshots": {"directory": str(folder / "snapshots")},
    }}, folder)


async def timed(coro: Any) -> float:
    started = time.perf_counter()
    await coro
    return (time.perf_counter() - started) * 1000


async def dump_all(engine: EngineClient, apps: list[str], at_once: int) -> None:
    slots = asyncio.Semaphore(at_once)

    async def bounded(app_id: str) -> None:
        async with slots:
            await dump_app(engine, app_id)

    await asyncio.gather(*(bounded(a) for a in apps))


async def measure(config: Any, rounds: int) -> dict[str, float]:
    engine = EngineClient(config)
    qrs = QrsClient(config)
    try:
        apps = [a["id"] for a in await qrs.get("app")]
        job = AppSnapshotJob(config, engine, qrs)
        await job.run()  # first run writes the files; the measured runs find nothing changed
        for app_id in apps:  # warm-up: connections, engine-side document load
            await dump_app(engine, app_id)
        sales, per_app, sequential, parallel, snapshot = [], [], [], [], []
        for _ in range(rounds):
            sales.append(await timed(dump_app(engine, SALES)))
            times = [await timed(dump_app(engine, app_id)) for app_id in apps]
            per_app.append(statistics.median(times))
            sequential.append(sum(times))
            parallel.append(await timed(dump_all(engine, apps, at_once=4)))
            snapshot.append(await timed(job.run()))
            assert job.last_run is not None and job.last_run.count("unchanged") == len(apps)
    finally:
        await qrs.stop()
    return {"apps": len(apps), "sales_ms": statistics.median(sales), "per_app_ms": statistics.median(per_app),
            "site_sequential_ms": statistics.median(sequential), "site_parallel4_ms": statistics.median(parallel),
            "snapshot_unchanged_ms": statistics.median(snapshot)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        certs = Path(folder) / "certs"
        process, info = start_sensesim(certs)
        try:
            result = asyncio.run(measure(qbutler_config(info, certs, Path(folder)), args.rounds))
        finally:
            process.terminate()
            process.wait(10)
    n = result["apps"]
    print(f"App dump against sensesim (demo seed, {n} apps, engine in a subprocess), median of {args.rounds} rounds:")
    print(f"  richest app (Sales Dashboard)   {result['sales_ms']:7.1f} ms")
    print(f"  median app                      {result['per_app_ms']:7.1f} ms")
    print(f"  whole site, one app at a time   {result['site_sequential_ms']:7.1f} ms")
    print(f"  whole site, 4 apps at a time    {result['site_parallel4_ms']:7.1f} ms")
    print(f"  snapshot run, nothing changed   {result['snapshot_unchanged_ms']:7.1f} ms")
    if args.markdown:
        print("| Measure | Time (median) |")
        print("|---|---|")
        print(f"| Dump of the richest demo app (Sales Dashboard) | {result['sales_ms']:.1f} ms |")
        print(f"| Dump, median over the {n} demo apps | {result['per_app_ms']:.1f} ms |")
        print(f"| Whole demo site ({n} apps), one at a time | {result['site_sequential_ms']:.0f} ms |")
        print(f"| Whole demo site, 4 apps at a time | {result['site_parallel4_ms']:.0f} ms |")
        print(f"| Snapshot run over the demo site, nothing changed (parallelApps 2) | "
              f"{result['snapshot_unchanged_ms']:.0f} ms |")


if __name__ == "__main__":
    main()
