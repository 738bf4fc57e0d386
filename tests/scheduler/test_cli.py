"""`qbutler schedule list | validate | next`, run as the real command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from support.qbutler import SRC
from support.scheduling import schedule, write_schedules


def qbutler(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200", "TZ": "UTC"}
    return subprocess.run([sys.executable, "-m", "qbutler", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_next_fire_times_in_a_zone_across_spring_forward():
    result = qbutler("schedule", "next", "30 2 * * *", "--timezone", "Europe/Stockholm",
                     "--after", "2026-03-28T00:00:00Z", "-n", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["2026-03-28 02:30:00 CET", "2026-03-29 03:00:00 CEST",
                                          "2026-03-30 02:30:00 CEST"]


def test_next_in_both_dialects():
    butler = qbutler("schedule", "next", "0 0 1 1 *", "-z", "UTC", "--after", "2026-01-15T00:00:00Z", "-n", "1")
    standard = qbutler("schedule", "next", "0 0 1 1 *", "-z", "UTC", "--after", "2026-01-15T00:00:00Z", "-n", "1",
                       "--dialect", "standard")
    assert butler.stdout.strip() == "2026-02-01 00:00:00 UTC"
    assert standard.stdout.strip() == "2027-01-01 00:00:00 UTC"


def test_next_rejects_a_bad_expression_naming_the_field():
    result = qbutler("schedule", "next", "0 0 * * 7")
    assert result.returncode == 1
    assert "field 'day of week': value 7 is out of range 0-6" in result.stderr


def test_validate_lists_every_problem(tmp_path: Path):
    path = tmp_path / "schedule.yaml"
    write_schedules(path, [schedule("ok", "0 * * * *"), schedule("bad", "0 0 1 12 *"),
                           schedule("zone", "0 * * * *", "Nowhere/City")])
    result = qbutler("schedule", "validate", str(path))
    assert result.returncode == 1
    assert "2 of 3 schedule(s) cannot run" in result.stderr
    assert "schedule 'bad'" in result.stderr and "Nowhere/City" in result.stderr
    assert qbutler("schedule", "validate", str(path), "--dialect", "standard").returncode == 1
    write_schedules(path, [schedule("ok", "0 * * * *")])
    good = qbutler("schedule", "validate", str(path))
    assert good.returncode == 0 and "all valid" in good.stdout


def test_list_shows_next_fire_times(tmp_path: Path):
    write_schedules(tmp_path / "schedule.yaml", [schedule("nightly", "0 2 * * *", "Europe/Stockholm"),
                                                 schedule("bad", "0 0 1 12 *")])
    config = {"Butler": {"scheduler": {"enable": True, "configfile": "schedule.yaml"}}}
    (tmp_path / "qbutler.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = qbutler("schedule", "list", "-c", str(tmp_path / "qbutler.yaml"), "-n", "2")
    assert result.returncode == 0, result.stderr
    assert "nightly" in result.stdout and "02:00:00 CE" in result.stdout
    assert "value 12 is out of range 0-11" in result.stdout
