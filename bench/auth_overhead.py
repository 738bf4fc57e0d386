"""What access control costs: ping and KV GET/POST throughput with auth off, with an API key, and
with an address allow-list, against three `qbutler serve` subprocesses (memory KV backend, so
that fsync does not hide the cost; the audit trail on, as by default).

Runs alternate between the three servers round by round, so the machine's background load hits
them alike. Reports the median req/s of each, and the server's CPU time per request (from /proc):
on a shared, noisy machine the CPU cost is the steadier measure of what one request costs, and a
single-process server's saturated throughput is its inverse. Target: auth on within 10% of off.

    python bench/auth_overhead.py [--runs 5] [--seconds 5] [--markdown]
    python bench/auth_overhead.py --in-process [--runs 40]

`--in-process` times the ASGI application alone (no sockets, no uvicorn) on `GET /v4/butlerping`:
the best CPU time (of this process only) over many interleaved rounds, which is the cost the auth
layer adds to each request, free of the network and of most of the machine's noise.
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

from cpu import process_cpu
from kv_rest import run_wrk
from ping import free_port, start_qbutler

from qbutler.auth.keys import new_key
from qbutler.config import parse_config
from qbutler.service import Service

KEY, KEY_HASH = new_key()
MODES: dict[str, dict[str, Any]] = {
    "off": {},
    "key": {"requireAuth": True, "keys": [{"name": "bench", "hash": KEY_HASH, "scopes": ["*"]}]},
    "allow-list": {"requireAuth": True,
                   "allowedClients": [{"name": "loopback", "addresses": ["127.0.0.0/8"], "scopes": ["*"]}]},
}
HEADER = {"off": "", "key": f'wrk.headers["X-API-Key"] = "{KEY}"\n', "allow-list": ""}


def scripts(mode: str) -> dict[str, str]:
    header = HEADER[mode]
    return {
        "GET /v4/butlerping": f"{header}request = function() return wrk.format('GET', '/v4/butlerping') end\n",
        "GET /v4/keyvalues/{ns}?key=": (
            f"{header}local n = 0\nrequest = function()\n  n = n + 1\n"
            "  return wrk.format('GET', '/v4/keyvalues/bench?key=k' .. (n % 1000))\nend\n"),
        "POST /v4/keyvalues/{ns}": (
            f'{header}local n = 0\nwrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            "request = function()\n  n = n + 1\n"
            "  local body = '{\"key\":\"k' .. (n % 1000) .. '\",\"value\":\"v' .. n .. '\"}'\n"
            "  return wrk.format(nil, '/v4/keyvalues/bench', nil, body)\nend\n"),
    }


async def in_process(rounds: int, calls: int = 2000) -> dict[str, float]:
    """Best µs per `GET /v4/butlerping` through each mode's ASGI app, rounds interleaved."""
    apps: dict[str, tuple[Any, list[tuple[bytes, bytes]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, api in MODES.items():
            config = {"Butler": {"restServerConfig": {"enable": True, "serverHost": "127.0.0.1", "serverPort": 0},
                                 "restServerEndpointsEnable": {"butlerping": True},
                                 "qbutler": {"dataDirectory": tmp, "api": api}}}
            service = Service(parse_config(config, Path(tmp)))
            assert service.http is not None
            headers = [(b"host", b"127.0.0.1:8080")] + ([(b"x-api-key", KEY.encode())] if mode == "key" else [])
            apps[mode] = (service.http.app, headers)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        best = dict.fromkeys(MODES, float("inf"))
        for _ in range(rounds):
            for mode, (app, headers) in apps.items():
                scope = {"type": "http", "method": "GET", "path": "/v4/butlerping", "raw_path": b"/v4/butlerping",
                         "query_string": b"", "headers": headers, "client": ("127.0.0.1", 50000)}
                started = time.process_time()
                for _ in range(calls):
                    await app(scope, receive, send)
                best[mode] = min(best[mode], (time.process_time() - started) / calls * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    if args.in_process:
        best = asyncio.run(in_process(args.runs))
        print(f"GET /v4/butlerping through the ASGI app, CPU time, best of {args.runs} interleaved rounds "
              "of 2,000 calls:")
        for mode, micros in best.items():
            print(f"  {mode:10} {micros:6.2f} µs  (+{micros - best['off']:.2f} µs)")
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    results: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    cpu_us: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        servers = {}
        files: dict[str, dict[str, Path]] = {}
        try:
            for mode, api in MODES.items():
                folder = Path(tmp) / mode
                folder.mkdir()
                port = free_port()
                servers[mode] = (start_qbutler(
                    folder, port, restServerEndpointsEnable={"butlerping": True, "keyValueStore": True},
                    keyValueStore={"backend": "memory"}, qbutler={"dataDirectory": "data", "api": api}), port)
                files[mode] = {}
                for request, text in scripts(mode).items():
                    path = folder / f"{len(files[mode])}.lua"
                    path.write_text(text, encoding="utf-8")
                    files[mode][request] = path
                run_wrk(f"http://127.0.0.1:{port}", files[mode]["POST /v4/keyvalues/{ns}"], 2)  # keys + warm-up
            for _ in range(args.runs):
                for request in scripts("off"):
                    for mode, (process, port) in servers.items():
                        before = process_cpu(process.pid)
                        try:
                            measured = run_wrk(f"http://127.0.0.1:{port}", files[mode][request], args.seconds)
                        except RuntimeError as exc:
                            raise RuntimeError(f"{request}, auth {mode}: {str(exc)[:60]}") from None
                        used = process_cpu(process.pid) - before
                        results[mode].setdefault(request, []).append(measured["req_s"])
                        cpu_us[mode].setdefault(request, []).append(used / (measured["req_s"] * args.seconds) * 1e6)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(10)
    print(f"Auth overhead, wrk -c50, memory KV, audit trail on, median of {args.runs} x {args.seconds}s "
          "(ratio to auth off):")
    rows = []
    for request in scripts("off"):
        cells = []
        for mode in MODES:
            rate = statistics.median(results[mode][request])
            cost = statistics.median(cpu_us[mode][request])
            off_rate = statistics.median(results["off"][request])
            off_cost = statistics.median(cpu_us["off"][request])
            cells.append(f"{rate:.0f} req/s, {cost:.0f} µs CPU" if mode == "off" else
                         f"{rate:.0f} req/s ({rate / off_rate:.2f}), {cost:.0f} µs CPU ({cost / off_cost:.2f})")
        print(f"  {request}")
        for mode, cell in zip(MODES, cells, strict=True):
            print(f"    {mode:10} {cell}")
        rows.append(f"| {request} | {' | '.join(cells)} |")
    if args.markdown:
        print("| Request | Auth off | API key | Address allow-list |\n|---|---|---|---|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
