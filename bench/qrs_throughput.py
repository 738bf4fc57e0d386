"""QRS calls per second: qbutler's QrsClient against a `sensesim serve` process over mTLS.

sensesim (its own process, the alert bench's seed: 10 apps, 100 reload tasks) answers; this
process runs the QrsClient with `--concurrency` calls in flight for `--seconds` per call kind:

- `reloadtask/{id}`: the per-event lookup of the alert path (a full task entity);
- `task/{id}/start`: the scheduler's and REST API's task start (sensesim starts a run each time).

The client runs on uvloop, as in `qbutler serve`. The rate is completed calls per second; CPU is
each process's user+system time over the run as a share of one core (the machine has 2 cores,
so the two processes together cannot exceed 200%).

    python bench/qrs_throughput.py [--seconds 5] [--concurrency 20] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "bench")]

from alerts_latency import SenseSim  # noqa: E402
from cpu import own_cpu, process_cpu  # noqa: E402

from support.sense import sense_config  # noqa: E402


async def measure(qrs: Any, site: SenseSim, paths: list[str], method: str, seconds: float,
                  concurrency: int) -> dict[str, float]:
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        index = offset
        while time.perf_counter() < stop_at:
            path = paths[index % len(paths)]
            if method == "GET":
                await qrs.get(path)
            else:
                await qrs.post(path, json={})
            done += 1
            index += concurrency

    cpu_client, cpu_server, start = own_cpu(), process_cpu(site.process.pid), time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"rate": done / elapsed,
            "client_cpu": (own_cpu() - cpu_client) / elapsed,
            "server_cpu": (process_cpu(site.process.pid) - cpu_server) / elapsed}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    from qbutler.config import parse_config
    from qbutler.sense.qrs import QrsClient

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        site = SenseSim(Path(tmp), Path(tmp) / "certs")
        qrs = QrsClient(parse_config(sense_config(site, logLevel="warn"), Path(tmp)))
        try:
            async with httpx.AsyncClient(base_url=site.control_url) as control:
                ids = [t["id"] for t in (await control.get("/tasks")).json()]
            await qrs.get("about")  # connect once before measuring
            for label, method, paths in (("GET reloadtask/{id}", "GET", [f"reloadtask/{i}" for i in ids]),
                                         ("POST task/{id}/start", "POST", [f"task/{i}/start" for i in ids])):
                result = await measure(qrs, site, paths, method, args.seconds, args.concurrency)
                rows.append((label, result))
                print(f"{label:22} {result['rate']:6.0f} calls/s   CPU qbutler {result['client_cpu']:4.0%}"
                      f"  sensesim {result['server_cpu']:4.0%}", flush=True)
        finally:
            await qrs.stop()
            site.stop()
    if args.markdown:
        print(f"\n| Call ({args.concurrency} in flight, {args.seconds:g} s) | Calls/s | CPU qbutler | CPU sensesim |")
        print("|---|---|---|---|")
        for label, r in rows:
            print(f"| {label} | {r['rate']:.0f} | {r['client_cpu']:.0%} | {r['server_cpu']:.0%} |")


if __name__ == "__main__":
    from qbutler.runtime import run

    run(main())  # on uvloop, as `qbutler serve` runs
