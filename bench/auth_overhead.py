"""What access control costs: ping and KV GET/POST throughput with auth off, with an API key, and
with an address allow-list, against three `qbutler serve` subprocesses (memory KV backend, so
that fsync does not hide the cost; the audit trail on, as by default).

Runs alternate between the three servers round by round, so the machine's background load hits
them alike. Reports the median req/s of each, and the server's CPU time per request (from /proc):
on a shared, noisy machine the CPU cost is the steadier measure of what one request costs, and a
single-process server's saturated throughput is its inverse. Target: auth on within 10% of off.

    python bench/auth_overhead.py [--runs 5] [--seconds 5] [--markdown]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from cpu import process_cpu
from kv_rest import run_wrk
from ping import free_port, start_qbutler

from qbutler.auth.keys import new_key

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
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
