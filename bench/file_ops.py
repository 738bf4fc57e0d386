"""What the file sandbox costs: each operation through the sandbox against the plain library call,
and file copies over HTTP against a `qbutler serve` subprocess.

The sandbox resolves every path beneath the approved folder's handle, writes copies to a temporary
file, fsyncs and renames; the baseline is the unchecked call (`shutil.copyfile`, `os.unlink`,
`os.makedirs`). Medians over several rounds.

    python bench/file_ops.py [--rounds 3] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ping import free_port, start_qbutler, summarize  # noqa: E402

from qbutler.files import Sandbox  # noqa: E402

SMALL = 4 * 1024
LARGE = 64 * 1024 * 1024



def make_site(folder: Path) -> tuple[Path, Path, Path]:
    source, target, qvd = folder / "data" / "from", folder / "data" / "to", folder / "qvd"
    for path in (source / "sub" / "deeper", target, qvd):
        path.mkdir(parents=True, exist_ok=True)
    (source / "sub" / "deeper" / "small.bin").write_bytes(os.urandom(SMALL))
    (source / "large.bin").write_bytes(os.urandom(LARGE))
    return source, target, qvd


async def timed(action: Callable[[int], Awaitable[object]] | Callable[[int], object], count: int) -> float:
    """Median microseconds per call."""
    samples = []
    for n in range(count):
        started = time.perf_counter()
        result = action(n)
        if asyncio.iscoroutine(result):
            await result
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


async def sandbox_round(folder: Path) -> dict[str, tuple[float, float]]:
    source, target, qvd = make_site(folder)
    pair = [(str(source), str(target))]
    sandbox = Sandbox(copy_pairs=pair, move_pairs=pair, delete_folders=[str(target)], qvd_folder=str(qvd))
    small = source / "sub" / "deeper" / "small.bin"
    large = source / "large.bin"
    results = {}

    async def copy_small(n: int) -> None:
        await sandbox.copy(str(small), f"{target}/s{n}.bin", overwrite=True, preserve_timestamp=False, client="b")

    results["copy 4 KiB file (3 folders deep)"] = (
        await timed(copy_small, 200), await timed(lambda n: shutil.copyfile(small, target / f"p{n}.bin"), 200))

    async def copy_large(n: int) -> None:
        await sandbox.copy(str(large), f"{target}/large{n}.bin", overwrite=True, preserve_timestamp=False, client="b")

    results["copy 64 MiB file"] = (
        await timed(copy_large, 5), await timed(lambda n: shutil.copyfile(large, target / f"plarge{n}.bin"), 5))

    async def delete(n: int) -> None:
        await sandbox.delete(f"{target}/s{n}.bin", client="b")

    results["delete a file"] = (await timed(delete, 200), await timed(lambda n: os.unlink(target / f"p{n}.bin"), 200))

    async def mkdir(n: int) -> None:
        await sandbox.create_dir_qvd(f"2026/{n % 12}", client="b")

    results["createdirqvd (mkdir -p, 2 levels)"] = (
        await timed(mkdir, 200), await timed(lambda n: os.makedirs(qvd / "p2026" / str(n % 12), exist_ok=True), 200))
    return results



async def http_round(url: str, source: Path, target: Path, concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    small = source / "sub" / "deeper" / "small.bin"

    async def worker(client: httpx.AsyncClient, index: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.post(url, headers={"X-HTTP-Method-Override": "PUT"}, json={
                "fromFile": str(small), "toFile": f"{target}/w{index}/f{n % 50}.bin", "overwrite": "true"})
            response.raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            n += 1

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:
        begin = time.perf_counter()
        await asyncio.gather(*(worker(client, i) for i in range(concurrency)))
        elapsed = time.perf_counter() - begin
    return summarize(latencies, elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    rounds = []
    http_runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
        for index in range(args.rounds):
            rounds.append(asyncio.run(sandbox_round(Path(folder) / f"round{index}")))
        source, target, _ = make_site(Path(folder) / "http")
        port = free_port()
        pair = {"fromDirectory": str(source), "toDirectory": str(target)}
        process = start_qbutler(Path(folder), port, restServerEndpointsEnable={"fileCopy": True},
                                fileCopyApprovedDirectories=[pair])
        try:
            url = f"http://127.0.0.1:{port}/v4/filecopy"
            http_runs = [asyncio.run(http_round(url, source, target, 8, args.seconds)) for _ in range(args.rounds)]
        finally:
            process.terminate()
            process.wait(10)
    print(f"File sandbox vs unchecked library calls, median of {args.rounds} rounds:")
    rows = []
    for name in rounds[0]:
        sandboxed = statistics.median(r[name][0] for r in rounds)
        plain = statistics.median(r[name][1] for r in rounds)
        print(f"  {name:36s} sandbox {sandboxed:9.0f} us   plain {plain:9.0f} us   {sandboxed / plain:5.1f}x")
        rows.append(f"| {name} | {sandboxed / 1000:.2f} ms | {plain / 1000:.2f} ms | {sandboxed / plain:.1f}x |")
    http = {key: statistics.median(run[key] for run in http_runs) for key in http_runs[0]}
    print(f"  HTTP filecopy 4 KiB, 8 concurrent: {http['req_s']:.0f} req/s  p50 {http['p50_ms']:.2f} ms"
          f"  p99 {http['p99_ms']:.2f} ms")
    if args.markdown:
        print("| Operation | Sandbox | Unchecked call | Ratio |")
        print("|---|---|---|---|")
        print("\n".join(rows))
        print(f"| PUT /v4/filecopy 4 KiB over HTTP, 8 concurrent | {http['req_s']:.0f} req/s, p50 "
              f"{http['p50_ms']:.2f} ms, p99 {http['p99_ms']:.2f} ms | | |")


if __name__ == "__main__":
    main()
