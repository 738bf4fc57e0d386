"""The dashboard under a large site: page render times with 2,000 reload tasks, and the cost of
50 open pages' live streams while nothing happens.

sensesim (`sensesim serve`, its own process) holds 2,000 reload tasks in 100 apps; 100 of them are
run once and fail, so the overview has failing tasks to list. qbutler runs as `qbutler serve` (its
own process) with 20 schedules. Each page is fetched `--requests` times in a row by one client
holding a session cookie; the time is the whole HTTP request as a browser sees it (reading the
data from the domain rooms, rendering, sending). The first request after start-up reads the tasks
from QRS; later ones use the task list qbutler keeps for 30 s (refreshed sooner after a task event),
as a dashboard left open does. The cold figure (QRS read included) is reported separately.

History: `--history-rows` executions (default 1,000,000, spread over a year as in
bench/history_queries.py) are written into qbutler's SQLite history before it starts; the
overview's 24-hour strip reads the last day's runs from it (at most once a minute, in the background).

Live streams: `--streams` concurrent `GET /ui/events` held open by this process; qbutler's CPU
(user+system, from /proc) over `--idle` seconds with the streams open, against the same window
with none open.

    python bench/dashboard.py [--requests 200] [--streams 50] [--idle 60] [--history-rows 1000000]
                              [--keep-history FILE] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "alerts"), str(ROOT / "bench")]

from alerts_latency import SenseSim, free_port, percentile, start_qbutler  # noqa: E402
from cpu import process_cpu  # noqa: E402

from support.sense import sense_config  # noqa: E402

TASKS = 2000
APPS = 100
FAILING = 100
PAGES = ["/ui/", "/ui/tasks", "/ui/tasks?q=Reload+1999", "/ui/schedules", "/ui/alerts", "/ui/kv"]


def site_seed(folder: Path) -> Path:
    data = {
        "users": [{"userDirectory": "ACME", "userId": "anna", "name": "Anna", "email": "anna@acme.example"}],
        "apps": [{"name": f"App {n}", "owner": "ACME\\anna"} for n in range(APPS)],
        "reloadTasks": [{"name": f"Reload {n}", "app": f"App {n % APPS}", "durationMs": 100,
                         "scenario": "fail" if n < FAILING else "success"} for n in range(TASKS)],
    }
    path = folder / "dashboard-seed.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def qbutler_config(site: SenseSim, folder: Path, port: int, task_ids: list[str]) -> dict[str, Any]:
    schedules = [{"id": f"s{n}", "name": f"Schedule {n}", "cronSchedule": f"0 {n} 2 * * *", "timezone": "Europe/Berlin",
                  "qlikSenseTaskId": task_ids[n], "startupState": "started"} for n in range(20)]
    (folder / "schedule.yaml").write_text(yaml.safe_dump({"butlerSchedule": schedules}), encoding="utf-8")
    return sense_config(site, logLevel="warn",
                        restServerConfig={"enable": True, "serverHost": "127.0.0.1", "serverPort": port},
                        scheduler={"enable": True, "configfile": str(folder / "schedule.yaml")})


async def fail_some(site: SenseSim, config: dict[str, Any]) -> list[str]:
    from qbutler.config import parse_config
    from qbutler.sense.qrs import QrsClient

    async with httpx.AsyncClient(base_url=site.control_url) as control:
        tasks = sorted((await control.get("/tasks")).json(), key=lambda t: int(t["name"].split()[-1]))
    qrs = QrsClient(parse_config(config, Path.cwd()))
    try:
        await asyncio.gather(*(qrs.post(f"task/{t['id']}/start", json={}) for t in tasks[:FAILING]))
    finally:
        await qrs.stop()
    async with httpx.AsyncClient(base_url=site.control_url) as control:
        for _ in range(600):
            rows = (await control.get("/tasks")).json()
            if sum(1 for r in rows if r["status"] == "FinishedFail") >= FAILING:
                return [t["id"] for t in tasks]
            await asyncio.sleep(0.1)
    raise RuntimeError("sensesim did not finish the failing runs")


async def page_times(url: str, requests: int) -> tuple[dict[str, list[float]], float]:
    timings: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        first = await client.get("/ui/")  # sets the session cookie; reads the 2,000 tasks from QRS
        cold = time.perf_counter() - started
        assert first.status_code == 200 and f"{FAILING}</span>" in first.text, "failing tasks missing"
        for path in PAGES:
            times = timings.setdefault(path, [])
            for _ in range(requests):
                started = time.perf_counter()
                response = await client.get(path)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, (path, response.status_code)
    return timings, cold


async def idle_cpu(url: str, pid: int, streams: int, seconds: float) -> tuple[float, float]:
    """qbutler's CPU share of one core over `seconds` idle, without and then with `streams` open."""
    before = process_cpu(pid)
    await asyncio.sleep(seconds)
    baseline = (process_cpu(pid) - before) / seconds
    limits = httpx.Limits(max_connections=streams + 5)
    async with httpx.AsyncClient(base_url=url, timeout=None, limits=limits) as client:
        await client.get("/ui/")
        opened: list[Any] = []
        connected = asyncio.Event()

        async def hold() -> None:
            async with client.stream("GET", "/ui/events") as response:
                assert response.status_code == 200
                opened.append(response)
                if len(opened) == streams:
                    connected.set()
                async for _ in response.aiter_bytes():
                    pass

        holders = [asyncio.create_task(hold()) for _ in range(streams)]
        await asyncio.wait_for(connected.wait(), 30)
        await asyncio.sleep(2)
        before = process_cpu(pid)
        await asyncio.sleep(seconds)
        with_streams = (process_cpu(pid) - before) / seconds
        for holder in holders:
            holder.cancel()
        await asyncio.gather(*holders, return_exceptions=True)
    return baseline, with_streams


async def fill_history(folder: Path, rows: int, kept: Path | None) -> float:
    """qbutler's history file with `rows` executions (a copy of `kept` when that exists, else
    filled, and kept there); the seconds it took."""
    from history_queries import fill  # the reload history's own bench: 1,000,000 rows over a year

    from qbutler.history.sqlite import SqliteHistory

    path = folder / "qbutler-data" / "history.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if kept is not None and kept.exists():
        shutil.copyfile(kept, path)
        return time.perf_counter() - started
    store = SqliteHistory(path)
    await store.start()  # the schema, exactly as qbutler creates it
    await store.stop()
    fill(path, rows, time.time())
    if kept is not None:
        shutil.copyfile(path, kept)
    return time.perf_counter() - started


async def one_run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qbutler-dashboard-bench-") as temp:
        folder = Path(temp)
        if args.history_rows:
            seconds = await fill_history(folder, args.history_rows, args.keep_history)
            print(f"history: {args.history_rows:,} rows written in {seconds:.0f} s")
        site = SenseSim(folder, folder / "certs", site_seed(folder))
        try:
            port = free_port()
            task_ids = await fail_some(site, sense_config(site))
            process = await start_qbutler(folder, qbutler_config(site, folder, port, task_ids))
            try:
                url = f"http://127.0.0.1:{port}"
                timings, cold = await page_times(url, args.requests)
                baseline, streaming = await idle_cpu(url, process.pid, args.streams, args.idle)
            finally:
                process.terminate()
                process.wait(15)
        finally:
            site.stop()
    return {"timings": timings, "cold": cold, "baseline": baseline, "streaming": streaming}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    parser.add_argument("--keep-history", type=Path, help="reuse (or create) this filled history file")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    runs = [asyncio.run(one_run(args)) for _ in range(args.runs)]
    print(f"Dashboard pages, {TASKS} reload tasks ({FAILING} failing), {args.history_rows:,} history rows, "
          f"{args.requests} requests each, "
          f"{args.runs} run(s); milliseconds (median over runs)")
    print(f"{'page':28} {'p50':>7} {'p95':>7} {'max':>7}")
    for path in PAGES:
        rows = [[f(r["timings"][path]) * 1000 for r in runs]
                for f in (lambda t: percentile(t, 0.5), lambda t: percentile(t, 0.95), max)]
        print(f"{path:28} " + " ".join(f"{statistics.median(v):7.1f}" for v in rows))
    print(f"first /ui/ after start-up (reads {TASKS} tasks from QRS): "
          f"{statistics.median(r['cold'] for r in runs) * 1000:.0f} ms")
    print(f"qbutler CPU idle, {args.idle:.0f} s: no stream {statistics.median(r['baseline'] for r in runs):.2%} "
          f"of a core, {args.streams} open live streams {statistics.median(r['streaming'] for r in runs):.2%}")


if __name__ == "__main__":
    main()
