"""`qbutler app dump` and `qbutler app snapshot` as real subprocesses against the demo site."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

from support.appdump import SALES, UNKNOWN_APP
from support.qbutler import SRC
from support.sense import sense_config


async def qbutler(*args: str, cwd: Path) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "COLUMNS": "200"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qbutler", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def write_config(site: Any, folder: Path, **butler: Any) -> Path:
    path = folder / "qbutler.yaml"
    path.write_text(yaml.safe_dump(sense_config(site, **butler)), encoding="utf-8")
    return path


async def test_dump_to_a_file_and_to_stdout(demo_site: Any, tmp_path: Path) -> None:
    config = write_config(demo_site, tmp_path)
    code, _, err = await qbutler("app", "dump", SALES, "-c", str(config), "-o", "sales.json", cwd=tmp_path)
    assert code == 0, err
    assert f"App {SALES} written to sales.json" in err
    text = (tmp_path / "sales.json").read_bytes()
    dump = orjson.loads(text)
    assert next(iter(dump)) == "properties" and list(dump)[-1] == "appId"
    assert dump["loadScript"] == demo_site.state.apps[SALES].engine["script"]

    code, out, _ = await qbutler("app", "dump", SALES, "-c", str(config), cwd=tmp_path)
    assert code == 0
    assert out.encode() == text


async def test_dump_of_an_unknown_app_exits_1_with_the_reason(demo_site: Any, tmp_path: Path) -> None:
    config = write_config(demo_site, tmp_path)
    code, out, err = await qbutler("app", "dump", UNKNOWN_APP, "-c", str(config), cwd=tmp_path)
    assert code == 1 and out == ""
    assert f"Cannot dump app {UNKNOWN_APP}:" in err and "1003 LOCERR_APP_NOT_FOUND" in err


async def test_snapshot_with_filter_and_folder(demo_site: Any, tmp_path: Path) -> None:
    config = write_config(demo_site, tmp_path)
    args = ("app", "snapshot", "-c", str(config), "--filter", "stream.name eq 'HR'", "--out", "snaps")
    code, out, err = await qbutler(*args, cwd=tmp_path)
    assert code == 0, err
    assert out.strip() == "3 apps: 3 new, 0 changed, 0 unchanged, 0 failed. Folder: snaps"
    assert "Snapshotting apps" in err and "3/3" in err  # the progress bar
    assert len(list((tmp_path / "snaps" / "apps").glob("*.json"))) == 3

    code, out, _ = await qbutler(*args, cwd=tmp_path)
    assert code == 0
    assert out.startswith("3 apps: 0 new, 0 changed, 3 unchanged, 0 failed.")


async def test_snapshot_reports_failed_apps_and_an_unreachable_qrs(demo_site: Any, tmp_path: Path,
                                                                   closed_port: int) -> None:
    config = write_config(demo_site, tmp_path, configEngine={"port": closed_port})
    code, out, err = await qbutler("app", "snapshot", "-c", str(config), "--filter", f"id eq {SALES}",
                                   cwd=tmp_path)
    assert code == 1
    assert out.startswith("1 apps: 0 new, 0 changed, 0 unchanged, 1 failed.")
    assert "failed Sales Dashboard" in err and "unreachable" in err

    config = write_config(demo_site, tmp_path, configQRS={"port": closed_port, "retries": 0})
    code, _, err = await qbutler("app", "snapshot", "-c", str(config), cwd=tmp_path)
    assert code == 1 and "Cannot list apps:" in err
