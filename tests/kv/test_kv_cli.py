"""`qbutler kv ...` on the configured store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from qbutler.cli import app
from support.qbutler import base_config, running_service

runner = CliRunner()


def write_config(folder: Path, **kv: Any) -> Path:
    file = folder / "qbutler.yaml"
    file.write_text(yaml.safe_dump(base_config(keyValueStore=kv)), encoding="utf-8")
    return file


def kv(config: Path, *args: str):
    return runner.invoke(app, ["kv", *args, "-c", str(config)])


@pytest.fixture(params=["sqlite", "redis"])
def config_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "redis":
        return write_config(tmp_path, backend="redis", redis={"url": request.getfixturevalue("redis_server").url})
    return write_config(tmp_path)


def test_set_get_keys_namespaces_delete(config_file):
    assert kv(config_file, "set", "ns:a", "k:1", "hello").exit_code == 0
    stored = kv(config_file, "set", "ns:a", "k2", "world", "--ttl", "60000")
    assert stored.exit_code == 0
    assert "expires 20" in stored.output
    assert kv(config_file, "set", "other", "k", "v").exit_code == 0
    assert kv(config_file, "get", "ns:a", "k:1").output == "hello\n"
    assert kv(config_file, "keys", "ns:a").output == "k:1\nk2\n"
    listing = kv(config_file, "keys", "ns:a", "--values").output.splitlines()
    assert listing[0] == "k:1\thello\tno expiry"
    assert listing[1].startswith("k2\tworld\texpires ")
    assert kv(config_file, "namespaces").output == "ns:a\nother\n"
    assert kv(config_file, "delete", "ns:a", "k:1").exit_code == 0
    assert kv(config_file, "delete", "other").exit_code == 0
    assert kv(config_file, "namespaces").output == "ns:a\n"


def test_errors_name_the_problem(config_file):
    absent = kv(config_file, "get", "ns", "k")
    assert absent.exit_code == 1
    assert "Namespace not found: ns" in absent.output
    kv(config_file, "set", "ns", "k", "v")
    assert "Key 'x' not found in namespace: ns" in kv(config_file, "get", "ns", "x").output
    assert "Key 'x' not found in namespace: ns" in kv(config_file, "delete", "ns", "x").output
    assert "Namespace not found: nope" in kv(config_file, "delete", "nope").output
    assert "Namespace not found: nope" in kv(config_file, "keys", "nope").output


def test_ttl_expires(config_file):
    kv(config_file, "set", "ns", "k", "v", "--ttl", "1")
    assert kv(config_file, "get", "ns", "k").exit_code == 1


def test_key_limit_applies(tmp_path):
    config = write_config(tmp_path, maxKeysPerNamespace=1)
    assert kv(config, "set", "ns", "a", "v").exit_code == 0
    refused = kv(config, "set", "ns", "b", "v")
    assert refused.exit_code == 1
    assert "maximum of 1 keys" in refused.output


def test_memory_backend_is_out_of_reach(tmp_path):
    result = kv(write_config(tmp_path, backend="memory"), "namespaces")
    assert result.exit_code == 1
    assert "memory backend" in result.output


async def test_sqlite_beside_a_running_service_reads_but_does_not_write(tmp_path):
    config = write_config(tmp_path)
    async with running_service(yaml.safe_load(config.read_text()), tmp_path) as running, \
            running.client() as api:
        await api.post("/v4/keyvalues/ns", json={"key": "k", "value": "from REST"})
        # The CLI runs its own event loop, so it gets a thread beside this test's loop.
        assert (await asyncio.to_thread(kv, config, "get", "ns", "k")).output == "from REST\n"
        refused = await asyncio.to_thread(kv, config, "set", "ns", "k", "v")
        assert refused.exit_code == 1
        assert "in use by another qbutler process" in refused.output
        assert "REST API" in refused.output
