"""What the reload history and the Prometheus metrics cost: the same load with both on and off.

- REST: GET /v4/butlerping and GET /v4/keyvalues/{ns}?key= (1,000 keys), wrk -c50, against a
  `qbutler serve` subprocess started with `Butler.qbutler.metrics/history.enable` on or off.
- Alerts: the alert burst of bench/alerts_latency.py (1,000 failure datagrams within one second →
  Slack and webhook receivers): p95 datagram → delivery and qbutler's CPU per alert.

On and off alternate (and swap order every run) so a busy machine weighs on both alike; medians.

    python bench/observability_cost.py [--runs 3] [--seconds 5] [--bursts 1000] [--skip-rest] [--skip-alerts]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import alerts_latency
from cpu import process_cpu
from kv_rest import GET_SCRIPT, POST_SCRIPT, run_wrk
from ping import free_port, start_qbutler

PING = 'request = function() return wrk.format("GET", "/v4/butlerping") end\n'


def rest_run(folder: Path, on: bool, seconds: int) -> dict[str, dict[str, float]]:
    scripts = {"ping": folder / "ping.lua", "kv_get": folder / "get.lua", "post": folder / "post.lua"}
    for name, text in (("ping", PING), ("kv_get", GET_SCRIPT), ("post", POST_SCRIPT)):
        scripts[name].write_text(text, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_qbutler(folder, port, restServerEndpointsEnable={"butlerping": True, "keyValueStore": True},
                            qbutler={"dataDirectory": "data", "metrics": {"enable": on}, "history": {"enable": on}})
    try:
        run_wrk(url, scripts["post"], 3)  # the 1,000 keys, and warm-up
        results = {}
        for name in ("ping", "kv_get"):
            before = process_cpu(process.pid)
            result = run_wrk(url, scripts[name], seconds)
            # qbutler's own CPU per request: what a busy machine (other processes) distorts least.
            result["cpu_us"] = 1e6 * (process_cpu(process.pid) - before) / (result["req_s"] * seconds)
            results[name] = result
        return results
    finally:
        process.terminate()
        process.wait(10)


async def asgi_cost(rounds: int, requests: int) -> dict[str, dict[Any, float]]:
    """Microseconds per request through qbutler's ASGI app itself (no sockets, no HTTP parsing),
    metrics on and off; the minimum over `rounds`, which other processes on the machine inflate least.
    Also the Python function calls per request (keys `("calls", on)`): a count no load can distort."""
    from qbutler.config import parse_config
    from qbutler.service import Service

    services = {}
    for on in (True, False):
        config = parse_config({"Butler": {
            "logLevel": "warn", "restServerConfig": {"enable": True, "serverHost": "127.0.0.1", "serverPort": 0},
            "restServerEndpointsEnable": {"butlerping": True, "keyValueStore": True},
            "keyValueStore": {"backend": "memory"},
            "qbutler": {"metrics": {"enable": on}, "history": {"enable": on}}}}, Path.cwd())
        service = Service(config)
        await service.kv.start()
        await service.kv.set("bench", "k1", "value")
        services[on] = service
    paths = {"ping": (b"/v4/butlerping", b""), "kv_get": (b"/v4/keyvalues/bench", b"key=k1")}
    best: dict[str, dict[Any, float]] = {name: {True: float("inf"), False: float("inf")} for name in paths}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    scopes = {name: {"type": "http", "method": "GET", "path": path.decode(), "raw_path": path, "query_string": query,
                     "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 5000)}
              for name, (path, query) in paths.items()}
    for _ in range(rounds):
        for name, scope in scopes.items():
            for on in (True, False):
                assert services[on].http is not None
                app = services[on].http.app
                started = time.perf_counter()
                for _ in range(requests):
                    await app(scope, receive, send)
                best[name][on] = min(best[name][on], 1e6 * (time.perf_counter() - started) / requests)
    for name, scope in scopes.items():
        for on in (True, False):
            assert services[on].http is not None
            app = services[on].http.app
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(1000):
                await app(scope, receive, send)
            profile.disable()
            best[name][("calls", on)] = pstats.Stats(profile).total_calls / 1000  # type: ignore[attr-defined]
    for service in services.values():
        await service.kv.stop()
    return best


def observer_cost(repeat: int = 5, number: int = 200_000) -> dict[str, float]:
    """Microseconds per REST request spent recording it (counter + latency histogram): qbutler's
    registry, and prometheus_client doing the same where it is installed (`pip install
    prometheus-client`; not a dependency). Minimum of `repeat` timings of `number` calls."""
    import timeit

    from qbutler.metrics import LATENCY_BUCKETS, Metrics

    observe = Metrics("bench").on_request
    result = {"qbutler": min(timeit.repeat(lambda: observe("GET", "/v4/butlerping", 200, 0.0004), number=number,
                                           repeat=repeat)) / number * 1e6}
    try:
        from prometheus_client import CollectorRegistry, Counter, Histogram
    except ImportError:
        return result
    registry = CollectorRegistry()
    requests = Counter("requests", "", ["method", "route", "status"], registry=registry)
    seconds = Histogram("seconds", "", ["method", "route"], registry=registry, buckets=LATENCY_BUCKETS)

    def client() -> None:
        requests.labels("GET", "/v4/butlerping", "200").inc()
        seconds.labels("GET", "/v4/butlerping").observe(0.0004)

    result["prometheus_client"] = min(timeit.repeat(client, number=number, repeat=repeat)) / number * 1e6
    return result


def ratio_line(name: str, on: float, off: float, unit: str, better_high: bool) -> str:
    change = (on / off - 1) * 100
    worse = -change if better_high else change
    return f"| {name} | {off:.{0 if unit == 'req/s' else 2}f} {unit} | {on:.{0 if unit == 'req/s' else 2}f} {unit} " \
           f"| {worse:+.1f}% |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--bursts", default="1000")
    parser.add_argument("--skip-rest", action="store_true")
    parser.add_argument("--skip-alerts", action="store_true")
    parser.add_argument("--skip-asgi", action="store_true")
    args = parser.parse_args()
    lines = ["| measure | off | on | cost (positive = worse with history + metrics) |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, micros in observer_cost().items():
            print(f"recording one REST request ({name}): {micros:.2f} us")
            lines.append(f"| recording one REST request, {name} (min of 5 x 200,000) | | {micros:.2f} us | |")
        if not args.skip_asgi:
            best = asyncio.run(asgi_cost(rounds=15, requests=5000))
            for name, label in (("ping", "GET /v4/butlerping"), ("kv_get", "GET /v4/keyvalues/{ns}?key=")):
                print(f"ASGI app, {label}: {best[name][False]:.2f} us off, {best[name][True]:.2f} us on")
                lines.append(ratio_line(f"{label}: qbutler's ASGI app per request (min of 15 x 5,000)",
                                        best[name][True], best[name][False], "us", False))
                lines.append(ratio_line(f"{label}: Python function calls per request", best[name][("calls", True)],
                                        best[name][("calls", False)], "calls", False))
        if not args.skip_rest:
            if shutil.which("wrk") is None:
                sys.exit("wrk is not installed (apt-get install wrk)")
            rest: dict[bool, list[dict[str, dict[str, float]]]] = {True: [], False: []}
            for run in range(args.runs):
                for on in ((True, False) if run % 2 else (False, True)):
                    folder = root / f"rest-{run}-{on}"
                    folder.mkdir()
                    rest[on].append(rest_run(folder, on, args.seconds))
                    r = rest[on][-1]
                    print(f"REST run {run + 1} {'on ' if on else 'off'}: " + ", ".join(
                        f"{name} {r[name]['req_s']:.0f} req/s, p99 {r[name]['p99_ms']:.2f} ms, "
                        f"{r[name]['cpu_us']:.1f} us CPU/request" for name in ("ping", "kv_get")), flush=True)
            for name, label in (("ping", "GET /v4/butlerping"), ("kv_get", "GET /v4/keyvalues/{ns}?key=")):
                for key, what, unit, better_high in (("req_s", "throughput", "req/s", True),
                                                     ("p99_ms", "p99", "ms", False),
                                                     ("cpu_us", "qbutler CPU per request", "us", False)):
                    med = {on: statistics.median(r[name][key] for r in rest[on]) for on in (True, False)}
                    lines.append(ratio_line(f"{label} {what}", med[True], med[False], unit, better_high))
        if not args.skip_alerts:
            certs = root / "certs"
            for count in (int(b) for b in args.bursts.split(",")):
                bursts: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
                for run in range(args.runs):
                    for on in ((True, False) if run % 2 else (False, True)):
                        folder = root / f"burst-{count}-{run}-{on}"
                        folder.mkdir()
                        r = asyncio.run(alerts_latency.one_run(certs, folder, count, observability=on))
                        assert all(r[c]["delivered"] == r["sent"] and r[c]["duplicates"] == 0
                                   for c in ("slack", "webhook")), r
                        if on:  # every event is in the history, with its two deliveries
                            with sqlite3.connect(folder / "data" / "history.sqlite") as db:
                                rows = db.execute("SELECT (SELECT count(*) FROM executions), "
                                                  "(SELECT count(*) FROM deliveries)").fetchone()
                            assert rows == (r["sent"], 2 * r["sent"]), rows
                        r["cpu_per_alert_ms"] = 1000 * r["cpu"]["qbutler"] * r["seconds"] / r["sent"]
                        bursts[on].append(r)
                        print(f"burst {count} run {run + 1} {'on ' if on else 'off'}: slack p95 "
                              f"{r['slack']['p95'] * 1000:.0f} ms, webhook p95 {r['webhook']['p95'] * 1000:.0f} ms,"
                              f" qbutler CPU {r['cpu_per_alert_ms']:.2f} ms per event", flush=True)
                for channel in ("slack", "webhook"):
                    p95 = {on: statistics.median(r[channel]["p95"] * 1000 for r in bursts[on]) for on in (True, False)}
                    lines.append(ratio_line(f"{count} datagrams/s: {channel} p95", p95[True], p95[False], "ms", False))
                cpu = {on: statistics.median(r["cpu_per_alert_ms"] for r in bursts[on]) for on in (True, False)}
                lines.append(ratio_line(f"{count} datagrams/s: qbutler CPU per event", cpu[True], cpu[False], "ms",
                                        False))
    print(f"\nobservability_cost: medians of {args.runs} run(s) each way")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
