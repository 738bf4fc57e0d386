"""The qbutler command: serve, config check, config example, --version, logging."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from support.qbutler import SRC, base_config

FIXTURES = Path(__file__).parent / "fixtures"


def qbutler(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "qbutler", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=60)


def test_version():
    from qbutler import __version__

    result = qbutler("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == __version__


def test_config_check_accepts_a_production_config_and_lists_unused_keys():
    result = qbutler("config", "check", str(FIXTURES / "butler-production.yaml"))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    assert "Butler.influxDb" in result.stdout


def test_config_check_prints_every_error_and_fails(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("Butler:\n  logLevel: loud\n  restServerConfig:\n    serverPort: notaport\n", encoding="utf-8")
    result = qbutler("config", "check", str(bad))
    assert result.returncode == 1
    assert "Butler.restServerConfig.serverPort: expected an integer 1-65535, got 'notaport'" in result.stderr
    assert "Butler.logLevel: expected one of" in result.stderr


def test_config_example_is_complete_and_valid(tmp_path):
    example = qbutler("config", "example")
    assert example.returncode == 0
    path = tmp_path / "example.yaml"
    path.write_text(example.stdout, encoding="utf-8")
    assert "#" in example.stdout  # commented
    check = qbutler("config", "check", str(path))
    assert check.returncode == 0, check.stderr
    assert "not used" not in check.stdout


def test_serve_refuses_an_invalid_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("Butler:\n  restServerConfig:\n    serverPort: x\n", encoding="utf-8")
    result = qbutler("serve", "-c", str(bad))
    assert result.returncode == 1
    assert "serverPort" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_until_signalled_and_stops_cleanly(qbutler_process, sig):
    process = qbutler_process(base_config())
    assert httpx.get(process.url + "/v4/butlerping").status_code == 200
    process.signal(sig)
    assert process.process.wait(15) == 0
    assert "qbutler stopped" in process.log()


def test_request_lines_are_logged_at_debug_not_info(qbutler_process, tmp_path):
    quiet = qbutler_process(base_config(logLevel="info"), tmp_path / "info")
    httpx.get(quiet.url + "/v4/butlerping")
    chatty = qbutler_process(base_config(logLevel="debug"), tmp_path / "debug")
    httpx.get(chatty.url + "/v4/butlerping")
    quiet.stop()
    chatty.stop()
    assert "/v4/butlerping" not in quiet.log()
    assert "GET /v4/butlerping 200" in chatty.log()


def test_file_logging_writes_into_the_log_directory(qbutler_process, tmp_path):
    process = qbutler_process(base_config(fileLogging=True, logDirectory="logs"), tmp_path / "q")
    process.stop()
    log_file = tmp_path / "q" / "logs" / "qbutler.log"
    assert "qbutler started" in log_file.read_text(encoding="utf-8")


def test_port_in_use_is_a_clear_error(qbutler_process, tmp_path):
    first = qbutler_process(base_config(), tmp_path / "a")
    config = tmp_path / "b.yaml"
    config.write_text(yaml.safe_dump(base_config(port=first.port)), encoding="utf-8")
    result = qbutler("serve", "-c", str(config))
    assert result.returncode == 1
    assert "could not start" in result.stderr
