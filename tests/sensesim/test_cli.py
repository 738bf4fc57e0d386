"""`sensesim serve` as a parent process sees it: a JSON line with ports, clean SIGTERM exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from support.sensesim_support import XRFKEY, UdpListener, client_context

SRC = Path(__file__).resolve().parents[2] / "src"


def test_serve_prints_ports_and_stops_on_sigterm(tmp_path: Path, udp: UdpListener) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    command = [
        sys.executable,
        "-m",
        "sensesim.cli",
        "serve",
        "--seed",
        "minimal",
        "--certs",
        str(tmp_path / "certs"),
        "--qrs-port",
        "0",
        "--engine-port",
        "0",
        "--systeminfo-port",
        "0",
        "--control-port",
        "0",
        "--udp-target",
        f"127.0.0.1:{udp.port}",
        "--success-marker",
        "double",
        "--time-scale",
        "0.01",
        "--clock-start",
        "2025-03-28T12:00:00Z",
        "--log-level",
        "WARNING",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        info = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{"):
                info = json.loads(line)
                break
        assert info is not None and info["event"] == "listening"
        assert info["qrsPort"] > 0 and info["controlPort"] > 0 and info["systeminfoPort"] > 0
        assert info["udpTargets"] == [f"127.0.0.1:{udp.port}"] and info["successMarker"] == "double"
        certs = tmp_path / "certs"
        with httpx.Client(verify=client_context(certs), headers={"X-Qlik-Xrfkey": XRFKEY}) as client:
            response = client.post(
                f"{info['qrs']}/qrs/task/3c9e2f5a-6d1b-4c8e-9a0f-2b7d4e6f8a1c/start",
                params={"xrfkey": XRFKEY},
            )
            assert response.status_code == 204
        udp.sock.settimeout(5)
        udp.sock.setblocking(True)
        assert udp.sock.recv(65535).startswith(b"/scheduler-task-success//;")
        assert httpx.get(f"{info['control']}/health").json()["status"] == "ok"
        # The simulated clock started at --clock-start and runs on from there.
        assert httpx.get(f"{info['control']}/clock").json()["now"].startswith("2025-03-28T12:0")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert '"event": "stopped"' in out


def test_bad_seed_exits_with_an_error(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    bad = tmp_path / "bad.yaml"
    bad.write_text("apps: [{name: A, owner: 'X\\\\nobody'}]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sensesim.cli", "serve", "--seed", str(bad), "--certs", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert proc.returncode == 2 and "unknown user" in proc.stderr
