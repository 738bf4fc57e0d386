"""QRS listing latency on a large sensesim site: 10,000 apps and 20,000 reload tasks.

`sensesim serve` runs in its own process with a generated seed; this process calls each listing
one at a time over mTLS (plain httpx) and reports p50/p95 per call, median over `--runs` runs:

- `GET app/full`, `GET reloadtask/full`: whole full listings;
- `POST app/table` and `POST reloadtask/table`: the column-select listing a list view asks for,
  all rows and one sorted page (`sortColumn=name&take=50`);
- `GET app/count?filter=...`: a filtered count.

    python bench/sensesim_listings.py [--apps 10000] [--tasks 20000] [--calls 15] [--runs 3] [--markdown]
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
from typing import Any

import httpx
import orjson
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from support.sensesim_support import ADMIN, XRFKEY, client_context  # noqa: E402

APP_COLUMNS = [
    {"name": "id", "columnType": "Property", "definition": "id"},
    {"name": "name", "columnType": "Property", "definition": "name"},
    {"name": "stream", "columnType": "Property", "definition": "stream.name"},
    {"name": "tags", "columnType": "List", "definition": "Tag",
     "list": [{"name": "name", "columnType": "Property", "definition": "name"}]},
]
TASK_COLUMNS = [
    {"name": "id", "columnType": "Property", "definition": "id"},
    {"name": "name", "columnType": "Property", "definition": "name"},
    {"name": "app", "columnType": "Property", "definition": "app.name"},
    {"name": "status", "columnType": "Property", "definition": "operational.lastExecutionResult.status"},
]


def write_seed(folder: Path, apps: int, tasks: int) -> Path:
    tags = ["Nightly", "Finance", "Sales", "HR"]
    seed = {
        "streams": [{"name": f"Stream {i}"} for i in range(20)],
        "users": [{"userDirectory": "ACME", "userId": f"user{i}"} for i in range(50)],
        "tags": tags,
        "apps": [
            {"name": f"App {i:05d}", "owner": f"ACME\\user{i % 50}",
             "stream": f"Stream {i % 20}" if i % 3 else None, "tags": [tags[i % 4]]}
            for i in range(apps)
        ],
        "reloadTasks": [{"name": f"Reload {i:05d}", "app": f"App {i % apps:05d}"} for i in range(tasks)],
    }
    path = folder / "large.yaml"
    path.write_text(yaml.safe_dump(seed, sort_keys=False), "utf-8")
    return path


def start(folder: Path, seed: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = open(folder / "sensesim.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "sensesim.cli", "serve", "--seed", str(seed), "--certs", str(folder / "certs"),
         "--qrs-port", "0", "--systeminfo-port", "0", "--control-port", "0", "--no-engine",
         "--log-level", "WARNING"],
        env=env, cwd=folder, stdout=subprocess.PIPE, stderr=log)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(b"{") and b'"listening"' in line:
            return process, orjson.loads(line)
    raise RuntimeError(f"sensesim did not start: {(folder / 'sensesim.log').read_text()}")


def timed(client: httpx.Client, calls: int, method: str, path: str, **kwargs: Any) -> list[float]:
    out = []
    for _ in range(calls):
        began = time.perf_counter()
        response = client.request(method, path, **kwargs)
        out.append((time.perf_counter() - began) * 1000)
        assert response.status_code in (200, 201), (path, response.status_code, response.text[:200])
    return out


def p95(samples: list[float]) -> float:
    return sorted(samples)[max(round(0.95 * len(samples)) - 1, 0)]


def one_run(client: httpx.Client, calls: int) -> dict[str, tuple[float, float]]:
    cases: list[tuple[str, str, str, dict[str, Any]]] = [
        ("GET app/full", "GET", "/qrs/app/full", {}),
        ("GET reloadtask/full", "GET", "/qrs/reloadtask/full", {}),
        ("POST app/table (all rows, 4 columns)", "POST", "/qrs/app/table", {"json": {"columns": APP_COLUMNS}}),
        ("POST app/table (sortColumn=name, take=50)", "POST", "/qrs/app/table",
         {"json": {"columns": APP_COLUMNS}, "params": {"sortColumn": "name", "take": "50"}}),
        ("POST reloadtask/table (all rows, 4 columns)", "POST", "/qrs/reloadtask/table",
         {"json": {"columns": TASK_COLUMNS}}),
        ("POST reloadtask/table (sortColumn=name, take=50)", "POST", "/qrs/reloadtask/table",
         {"json": {"columns": TASK_COLUMNS},
          "params": {"sortColumn": "name", "take": "50", "orderAscending": "false"}}),
        ("GET app/count?filter=tags.name eq 'Finance'", "GET", "/qrs/app/count",
         {"params": {"filter": "tags.name eq 'Finance'"}}),
    ]
    results = {}
    for label, method, path, kwargs in cases:
        params = {**kwargs.pop("params", {}), "xrfkey": XRFKEY}
        samples = timed(client, calls, method, path, params=params, **kwargs)
        results[label] = (statistics.median(samples), p95(samples))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=15)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        process, info = start(folder, write_seed(folder, args.apps, args.tasks))
        load_s = time.perf_counter() - began
        runs = []
        try:
            with httpx.Client(base_url=f"https://127.0.0.1:{info['qrsPort']}",
                              verify=client_context(folder / "certs"),
                              headers={"X-Qlik-Xrfkey": XRFKEY, "X-Qlik-User": ADMIN}, timeout=120) as client:
                timed(client, 1, "GET", "/qrs/about", params={"xrfkey": XRFKEY})  # connect once
                for _ in range(args.runs):
                    runs.append(one_run(client, args.calls))
        finally:
            process.terminate()
            process.wait(15)
    print(f"site: {args.apps} apps, {args.tasks} reload tasks; sensesim started in {load_s:.1f} s")
    labels = list(runs[0])
    if args.markdown:
        print(f"| Call ({args.calls} sequential calls, median of {args.runs} runs) | p50 | p95 |")
        print("|---|---|---|")
    for label in labels:
        p50 = statistics.median(r[label][0] for r in runs)
        p95_value = statistics.median(r[label][1] for r in runs)
        if args.markdown:
            print(f"| {label} | {p50:.0f} ms | {p95_value:.0f} ms |")
        else:
            print(f"{label:55s} p50 {p50:8.1f} ms  p95 {p95_value:8.1f} ms")


if __name__ == "__main__":
    main()
