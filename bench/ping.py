"""GET /v4/butlerping under 50 concurrent connections against a `qbutler serve` subprocess.

Uses wrk where installed (the load generator then costs little CPU of its own), else a Python
load generator. Reports the median req/s and latency percentiles over several runs.

    python bench/ping.py [--runs 5] [--seconds 8] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUTLER = {"req_s": 7405, "p99_ms": 11.8}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_qbutler(folder: Path, port: int, **butler: Any) -> subprocess.Popen[bytes]:
    """`qbutler serve` as a subprocess with REST on loopback `port` and `butler` added to its
    Butler section (the other benches import this); returns once the port accepts connections."""
    config = {"Butler": {"logLevel": "warn",
                         "restServerConfig": {"enable": True, "serverHost": "127.0.0.1", "serverPort": port},
                         **butler}}
    file = folder / "qbutler.yaml"
    file.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen([sys.executable, "-m", "qbutler", "serve", "-c", str(file)], env=env, cwd=folder)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("qbutler did not start")


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, seconds: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t2", "-c50", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    return {"req_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
            "p99_ms": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))}


async def run_python(url: str, seconds: int) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            (await client.get(url)).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)

    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with httpx.AsyncClient(limits=limits) as client:
        begin = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(50)))
        elapsed = time.perf_counter() - begin
    return summarize(latencies, elapsed)


def summarize(latencies_ms: list[float], elapsed: float) -> dict[str, float]:
    """Throughput and latency percentiles of one load run."""
    ordered = sorted(latencies_ms)
    return {"req_s": len(ordered) / elapsed, "p50_ms": ordered[len(ordered) // 2],
            "p99_ms": ordered[int(len(ordered) * 0.99)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v4/butlerping"
    tool = "wrk" if shutil.which("wrk") else "python"
    with tempfile.TemporaryDirectory() as folder:
        process = start_qbutler(Path(folder), port, restServerEndpointsEnable={"butlerping": True})
        try:
            runs = [run_wrk(url, args.seconds) if tool == "wrk" else asyncio.run(run_python(url, args.seconds))
                    for _ in range(args.runs)]
        finally:
            process.terminate()
            process.wait(10)
    result = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    ratio = result["req_s"] / BUTLER["req_s"]
    print(f"GET /v4/butlerping, 50 connections, {tool}, median of {args.runs} x {args.seconds}s:")
    print(f"  {result['req_s']:.0f} req/s  p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms"
          f"  ({ratio:.2f}x Butler's {BUTLER['req_s']} req/s; target >= 2x)")
    if args.markdown:
        print(f"| GET /v4/butlerping | {tool} -c50 | {result['req_s']:.0f} req/s | {result['p50_ms']:.2f} ms "
              f"| {result['p99_ms']:.2f} ms | {ratio:.2f}x Butler ({BUTLER['req_s']} req/s, p99 "
              f"{BUTLER['p99_ms']} ms) |")


if __name__ == "__main__":
    main()
