"""Schemathesis against qbutler with every endpoint switch on and sensesim behind it, auth off and
on: no server error, and every response as the OpenAPI document describes it (status codes,
content types, bodies, headers). Fixed seed and example count, so a run is repeatable and short."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from qbutler.auth.keys import new_key
from support.qbutler import running_service
from support.sense import running_site, sense_config

SEED = 16
EXAMPLES = 8
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance")
KEY, KEY_HASH = new_key()

pytest.importorskip("schemathesis")


def fuzz_config(site: Any, folder: Path, auth: bool, mqtt_port: int) -> dict[str, Any]:
    for name in ("from", "to", "del", "qvd"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / "schedule.yaml").write_text("butlerSchedule: []\n", encoding="utf-8")
    pair = [{"fromDirectory": str(folder / "from"), "toDirectory": str(folder / "to")}]
    api: dict[str, Any] = {"requireAuth": auth}
    if auth:
        api["keys"] = [{"name": "fuzzer", "hash": KEY_HASH, "scopes": ["*"]}]
    return sense_config(
        site, keyValueStore={"backend": "memory"},
        # No New Relic account configured: the routes answer without leaving the machine.
        restServerEndpointsEnable={"newRelic": {"postNewRelicMetric": True, "postNewRelicEvent": True}},
        scheduler={"enable": True, "configfile": "schedule.yaml"},
        fileCopyApprovedDirectories=pair, fileMoveApprovedDirectories=pair,
        fileDeleteApprovedDirectories=[str(folder / "del")],
        configDirectories={"qvdPath": str(folder / "qvd")},
        configEngine={"timeout": 5},
        mqttConfig={"enable": True, "brokerHost": "127.0.0.1", "brokerPort": mqtt_port},
        qbutler={"dataDirectory": "data", "api": api})


# With auth on, the coverage phase's boundary values would repeat what auth off already sent.
@pytest.mark.parametrize(("auth", "phases"), [(False, "coverage,fuzzing"), (True, "fuzzing")],
                         ids=["auth-off", "auth-on"])
async def test_schemathesis_finds_no_server_error_and_no_response_outside_the_document(
        sense_certs: Path, tmp_path: Path, mosquitto: Any, auth: bool, phases: str):
    async with running_site(sense_certs) as site, \
            running_service(fuzz_config(site, tmp_path, auth, mosquitto.port), tmp_path) as running:
        command = [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
                   "--no-color", "run", f"{running.url}/documentation/json",
                   "--checks", CHECKS, "--seed", str(SEED), "--max-examples", str(EXAMPLES),
                   "--phases", phases, "--workers", "2", "--request-timeout", "20",
                   "--suppress-health-check", "all"]
        if auth:
            command += ["--header", f"X-API-Key: {KEY}"]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path)
        output, _ = await process.communicate()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
