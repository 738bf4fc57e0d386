"""KV REST throughput on the sqlite backend with durable writes, against a `qbutler serve` subprocess.

GET /v4/keyvalues/{ns}?key= and POST /v4/keyvalues/{ns} over 1,000 rotating keys, 50 concurrent
connections, wrk with a Lua script per request type. Every POST is acknowledged only after its
transaction is fsync'd (WAL, synchronous=FULL, group commit). Reports medians over several runs.

    python bench/kv_rest.py [--runs 3] [--seconds 8] [--markdown] [--backend memory]

`--backend memory` runs the same load without durability, to show what the durable writes cost.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from ping import _ms, free_port, start_qbutler

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "bench"
KEYS = 1000
# The real Butler (everything in memory) on the reference machine, same load.
BUTLER = {"GET": {"req_s": 6911, "p99_ms": 11.9}, "POST": {"req_s": 4061, "p99_ms": 28.6}}

# Each wrk thread has its own Lua state; both walk the same 1,000 keys.
GET_SCRIPT = f"""
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v4/keyvalues/{NAMESPACE}?key=k" .. (n % {KEYS}))
end
"""
POST_SCRIPT = f"""
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  local body = '{{"key":"k' .. (n % {KEYS}) .. '","value":"run value ' .. n .. '","ttl":"3600000"}}'
  return wrk.format(nil, "/v4/keyvalues/{NAMESPACE}", nil, body)
end
"""



def run_wrk(url: str, script: Path, seconds: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t2", "-c50", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    failures = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if failures:
        raise RuntimeError(f"{failures.group(1)} requests failed:\n{out}")
    return {"req_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
            "p99_ms": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--backend", choices=["sqlite", "memory"], default="sqlite")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scripts = {"GET": folder / "get.lua", "POST": folder / "post.lua"}
        scripts["GET"].write_text(GET_SCRIPT, encoding="utf-8")
        scripts["POST"].write_text(POST_SCRIPT, encoding="utf-8")
        process = start_qbutler(folder, port, restServerEndpointsEnable={"keyValueStore": True},
                                keyValueStore={"backend": args.backend}, qbutler={"dataDirectory": "data"})
        try:
            run_wrk(url, scripts["POST"], 2)  # creates the 1,000 keys and warms up
            runs: dict[str, list[dict[str, float]]] = {"GET": [], "POST": []}
            for _ in range(args.runs):
                for method in ("GET", "POST"):
                    runs[method].append(run_wrk(url, scripts[method], args.seconds))
        finally:
            process.terminate()
            process.wait(10)
        if args.backend == "sqlite":
            with sqlite3.connect(folder / "data" / "kv.sqlite") as conn:
                stored = conn.execute("SELECT count(*) FROM kv WHERE namespace = ?", (NAMESPACE,)).fetchone()[0]
            if stored != KEYS:
                sys.exit(f"expected {KEYS} keys on disk, found {stored}")
    for method, measured in runs.items():
        results[method] = {key: statistics.median(run[key] for run in measured) for key in measured[0]}
    kind = "sqlite (durable writes)" if args.backend == "sqlite" else "memory (nothing written to disk)"
    print(f"KV REST on {kind}, 50 connections, wrk, {KEYS} rotating keys, "
          f"median of {args.runs} x {args.seconds}s:")
    lines = []
    for method, path in (("GET", "/v4/keyvalues/{ns}?key="), ("POST", "/v4/keyvalues/{ns}")):
        result, butler = results[method], BUTLER[method]
        ratio = result["req_s"] / butler["req_s"]
        print(f"  {method:4} {result['req_s']:7.0f} req/s  p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms"
              f"  ({ratio:.2f}x Butler's {butler['req_s']} req/s; target >= 2x)")
        lines.append(f"| {method} {path} | wrk -c50, 1,000 keys | {result['req_s']:.0f} req/s | "
                     f"{result['p50_ms']:.2f} ms | {result['p99_ms']:.2f} ms | {ratio:.2f}x Butler "
                     f"({butler['req_s']} req/s, p99 {butler['p99_ms']} ms) |")
    if args.markdown:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
