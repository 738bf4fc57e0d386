"""Access control over real sockets: keys, address rules, client certificates, the Host header,
public endpoints, rate limit per key, and the audit trail (what it records, and that no key ever
reaches it or the log)."""

from __future__ import annotations

import logging
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from qbutler.auth.keys import new_key
from sensesim.certs import CLIENT_CN, ensure_certs
from support.qbutler import base_config, running_service

WRITER, WRITER_HASH = new_key()
READER, READER_HASH = new_key()
KEYS = [{"name": "writer", "hash": WRITER_HASH, "scopes": ["kv:read", "kv:write", "files"]},
        {"name": "reader", "hash": READER_HASH, "scopes": ["kv:read"]}]


def secured(**api: Any) -> dict[str, Any]:
    return base_config(keyValueStore={"backend": "memory"},
                       qbutler={"dataDirectory": "data", "api": {"requireAuth": True, "keys": KEYS, **api}})


def audit_lines(folder: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for path in sorted((folder / "data" / "audit").glob("audit-*.jsonl"))
            for line in path.read_bytes().splitlines()]


async def test_keys_in_either_header_and_their_scopes(tmp_path):
    async with running_service(secured(), tmp_path) as running, running.client() as api:
        bearer = {"Authorization": f"Bearer {WRITER}"}
        created = await api.post("/v4/keyvalues/ns", json={"key": "k", "value": "v"}, headers=bearer)
        assert created.status_code == 201
        read = await api.get("/v4/keyvalues/ns", params={"key": "k"}, headers={"X-API-Key": READER})
        assert read.json()["value"] == "v"
        denied = await api.delete("/v4/keyvalues/ns", headers={"X-API-Key": READER})
        assert denied.status_code == 403
        assert denied.json() == {"statusCode": 403, "error": "Forbidden",
                                 "message": "key:reader lacks the scope 'kv:write' that DELETE "
                                            "/v4/keyvalues/{namespace} needs"}
        for headers in ({}, {"X-API-Key": READER + "x"}, {"Authorization": f"Basic {READER}"},
                        {"X-API-Key": "qbk_00000000_guess"}):
            refused = await api.get("/v4/keyvaluesnamespaces", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == 'Bearer realm="qbutler", charset="UTF-8"'
            assert refused.json()["message"].startswith("A valid API key is required")
        # Unknown routes do not reveal themselves to anonymous clients.
        assert (await api.get("/v4/nothing")).status_code == 401
        assert (await api.get("/v4/nothing", headers=bearer)).status_code == 404


async def test_auth_is_off_by_default(tmp_path):
    async with running_service(base_config(keyValueStore={"backend": "memory"}), tmp_path) as running, \
            running.client() as api:
        assert (await api.post("/v4/keyvalues/ns", json={"key": "k", "value": "v"})).status_code == 201


async def test_a_key_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("QB_TEST_KEY", "chosen-by-the-admin")
    config = secured(keys=[{"name": "env", "env": "QB_TEST_KEY", "scopes": ["kv:read"]}])
    async with running_service(config, tmp_path) as running, running.client() as api:
        assert (await api.get("/v4/keyvaluesnamespaces", headers={"X-API-Key": "chosen-by-the-admin"})).json() == []
        assert (await api.get("/v4/keyvaluesnamespaces", headers={"X-API-Key": "chosen"})).status_code == 401


async def test_address_rules_let_load_scripts_in_without_a_key_and_others_need_one(tmp_path):
    config = secured(allowedClients=[{"name": "sense-nodes", "addresses": ["127.0.0.2/32", "10.0.0.0/8"],
                                      "scopes": ["kv:read", "kv:write"]}])
    async with running_service(config, tmp_path) as running:
        node = httpx.AsyncClient(base_url=running.url, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2"))
        other = httpx.AsyncClient(base_url=running.url, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.3"))
        async with node, other:
            assert (await node.post("/v4/keyvalues/ns", json={"key": "k", "value": "v"})).status_code == 201
            refused = await node.put("/v4/filecopy", json={})
            assert refused.status_code == 403
            assert refused.json()["message"].startswith("address:sense-nodes lacks the scope 'files'")
            assert (await other.get("/v4/keyvaluesnamespaces")).status_code == 401
            assert (await other.get("/v4/keyvaluesnamespaces", headers={"X-API-Key": READER})).json() == ["ns"]
            # A wrong key is refused even from an allowed address: the misconfiguration shows.
            assert (await node.get("/v4/keyvaluesnamespaces", headers={"X-API-Key": "wrong"})).status_code == 401


async def test_public_endpoints_need_no_key(tmp_path):
    async with running_service(secured(publicEndpoints=["/v4/butlerping"]), tmp_path) as running, \
            running.client() as api:
        assert (await api.get("/v4/butlerping")).json()["response"] == "Butler reporting for duty"
        assert (await api.get("/v4/keyvaluesnamespaces")).status_code == 401


async def test_a_foreign_host_header_is_refused(tmp_path, caplog):
    async with running_service(secured(), tmp_path) as running, running.client() as api:
        for host in ("127.0.0.1", "localhost:1234", "[::1]:80"):
            response = await api.get("/v4/butlerping", headers={"Host": host, "X-API-Key": READER})
            assert response.status_code == 200, host
        rebound = await api.get("/v4/butlerping", headers={"Host": "attacker.example:8080", "X-API-Key": READER})
        assert rebound.status_code == 421
        assert rebound.json()["message"] == ("Host 'attacker.example:8080' is not a name of this server "
                                             "(Butler.qbutler.api.allowedHosts)")
    listed = base_config(qbutler={"dataDirectory": "data", "api": {"allowedHosts": ["qlik.example.com"]}})
    async with running_service(listed, tmp_path / "listed") as running, running.client() as api:
        assert (await api.get("/v4/butlerping", headers={"Host": "QLIK.example.com:8080"})).status_code == 200
        assert (await api.get("/v4/butlerping", headers={"Host": "localhost"})).status_code == 421
    caplog.set_level(logging.WARNING, "qbutler.auth")
    every = base_config(restServerConfig={"serverHost": "0.0.0.0"})
    async with running_service(every, tmp_path / "every") as running, running.client() as api:
        assert (await api.get("/v4/butlerping", headers={"Host": "anything.example"})).status_code == 200
    assert "binds every interface, so any Host header is accepted" in caplog.text


async def test_rate_limit_is_per_key_when_keys_are_on(tmp_path):
    config = merge_rest(secured(), rateLimit={"enable": True, "maxPerMinute": 3})
    async with running_service(config, tmp_path) as running, running.client() as api:
        statuses = [(await api.get("/v4/keyvaluesnamespaces", headers={"X-API-Key": READER})).status_code
                    for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert (await api.get("/v4/keyvaluesnamespaces", headers={"X-API-Key": WRITER})).status_code == 200


def merge_rest(config: dict[str, Any], **rest: Any) -> dict[str, Any]:
    config["Butler"]["restServerConfig"].update(rest)
    return config


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory):
    return ensure_certs(tmp_path_factory.mktemp("certs"))


def tls_config(certs, require: bool, **api: Any) -> dict[str, Any]:
    config = secured(**api)
    return merge_rest(config, tls={"enable": True, "cert": str(certs.server), "key": str(certs.server_key),
                                   "ca": str(certs.root), "requireClientCert": require})


def client_context(certs, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.root))
    if with_cert:
        context.load_cert_chain(str(certs.client), str(certs.client_key))
    return context


async def test_a_client_certificate_subject_stands_in_for_a_key(tmp_path, certs):
    config = tls_config(certs, require=False,
                        clientCertificates=[{"subject": f"CN={CLIENT_CN}", "scopes": ["kv:read"]}])
    async with running_service(config, tmp_path) as running:
        async with httpx.AsyncClient(base_url=running.url, verify=client_context(certs, True)) as with_cert:
            assert (await with_cert.get("/v4/keyvaluesnamespaces")).json() == []
            refused = await with_cert.delete("/v4/keyvalues/ns")
            assert refused.json()["message"].startswith(f"certificate:CN={CLIENT_CN} lacks the scope 'kv:write'")
        async with httpx.AsyncClient(base_url=running.url, verify=client_context(certs, False)) as without:
            assert (await without.get("/v4/keyvaluesnamespaces")).status_code == 401
            assert (await without.get("/v4/keyvaluesnamespaces", headers={"X-API-Key": READER})).status_code == 200


async def test_require_client_cert_refuses_the_handshake_without_one(tmp_path, certs):
    async with running_service(tls_config(certs, require=True), tmp_path) as running:
        async with httpx.AsyncClient(base_url=running.url, verify=client_context(certs, False)) as without:
            with pytest.raises(httpx.HTTPError):
                await without.get("/v4/butlerping", headers={"X-API-Key": READER})
        async with httpx.AsyncClient(base_url=running.url, verify=client_context(certs, True)) as with_cert:
            # The certificate opens the connection; this subject is not mapped, so the key decides.
            assert (await with_cert.get("/v4/butlerping")).status_code == 401
            assert (await with_cert.get("/v4/butlerping", headers={"X-API-Key": READER})).status_code == 200


async def test_the_audit_trail_records_changes_and_refusals_and_never_a_key_or_value(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    (tmp_path / "from").mkdir()
    (tmp_path / "from" / "a.txt").write_text("a")
    config = secured(publicEndpoints=["/v4/butlerping"])
    pair = [{"fromDirectory": str(tmp_path / "from"), "toDirectory": str(tmp_path / "to")}]
    config["Butler"]["fileCopyApprovedDirectories"] = pair
    async with running_service(config, tmp_path) as running, running.client() as api:
        writer = {"X-API-Key": WRITER}
        await api.post("/v4/keyvalues/ns", json={"key": "k", "value": "SECRET-VALUE", "ttl": 60000}, headers=writer)
        await api.get("/v4/keyvalues/ns", params={"key": "k"}, headers=writer)  # a read: not recorded
        await api.get("/v4/butlerping")  # public read: not recorded
        await api.put("/v4/filecopy", json={"fromFile": str(tmp_path / "from" / "a.txt"),
                                            "toFile": str(tmp_path / "to" / "a.txt")}, headers=writer)
        await api.delete("/v4/keyvalues/ns/k", headers={"X-API-Key": READER})
        await api.get("/v4/keyvaluesnamespaces", headers={"X-API-Key": WRITER + "wrong"})
        await api.get("/v4/keyvaluesnamespaces", headers={"Host": "evil.example", "X-API-Key": READER})
    lines = audit_lines(tmp_path)
    assert [(line["method"], line["path"], line["status"], line["identity"]) for line in lines] == [
        ("POST", "/v4/keyvalues/ns", 201, "key:writer"),
        ("PUT", "/v4/filecopy", 201, "key:writer"),
        ("DELETE", "/v4/keyvalues/ns/k", 403, "key:reader"),
        ("GET", "/v4/keyvaluesnamespaces", 401, None),
        ("GET", "/v4/keyvaluesnamespaces", 421, None),
    ]
    assert lines[0]["changed"] == {"namespace": "ns", "key": "k"}
    assert lines[1]["changed"] == {"fromFile": str(tmp_path / "from" / "a.txt"),
                                   "toFile": str(tmp_path / "to" / "a.txt")}
    assert lines[2]["changed"] == {"namespace": "ns", "key": "k"}
    assert all(line["client"] == "127.0.0.1" and line["time"].endswith("Z") for line in lines)
    trail = b"".join(path.read_bytes() for path in (tmp_path / "data" / "audit").iterdir())
    everything = trail.decode() + caplog.text
    for secret in (WRITER, READER, WRITER.split("_", 2)[2], "SECRET-VALUE"):
        assert secret not in everything


def test_apikey_new_prints_a_key_once_and_a_config_entry_that_accepts_it(tmp_path):
    result = subprocess.run([sys.executable, "-m", "qbutler", "apikey", "new", "--name", "etl",
                             "--scopes", "kv:read,tasks"], capture_output=True, text=True, check=True)
    key = next(line.strip() for line in result.stdout.splitlines() if line.strip().startswith("qbk_"))
    entry = yaml.safe_load(result.stdout.split("Butler.qbutler.api.keys in the config file:")[1])
    assert entry[0]["name"] == "etl" and entry[0]["scopes"] == ["kv:read", "tasks"]
    assert key not in entry[0]["hash"]
    from qbutler.auth.keys import KeyRing
    from qbutler.config import parse_config

    config = parse_config(secured(keys=entry), tmp_path)
    identity = KeyRing(config.Butler.qbutler.api.keys).identify(key)
    assert identity is not None and identity.name == "key:etl"
    assert identity.scopes == frozenset({"kv:read", "tasks"})
    bad = subprocess.run([sys.executable, "-m", "qbutler", "apikey", "new", "--name", "x", "--scopes", "kv"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown scope(s): kv" in bad.stderr


@pytest.mark.parametrize(("api", "message"), [
    ({"keys": [{"name": "k", "hash": READER_HASH, "scopes": ["kv:delete"]}]},
     "Butler.qbutler.api.keys.0.scopes: Value error, unknown scope(s) kv:delete; known: kv:read, kv:write"),
    ({"keys": [{"name": "k", "hash": "plain-text-key", "scopes": ["kv:read"]}]},
     "Butler.qbutler.api.keys.0.hash: Value error, expected the hash `qbutler apikey new` printed"),
    ({"allowedClients": [{"addresses": ["10.0.0.0/33"], "scopes": ["*"]}]},
     "Butler.qbutler.api.allowedClients.0.addresses: Value error, '10.0.0.0/33' is not an IP address or network"),
])
def test_invalid_access_settings_name_the_key(tmp_path, api, message):
    from qbutler.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as raised:
        parse_config(base_config(qbutler={"api": api}), tmp_path)
    assert any(line.startswith(message) for line in raised.value.errors), raised.value.errors


def test_a_key_variable_that_is_not_set_stops_start_up(tmp_path, monkeypatch):
    from qbutler.config import ConfigError, parse_config
    from qbutler.service import Service

    monkeypatch.delenv("QB_UNSET_KEY", raising=False)
    config = parse_config(secured(keys=[{"name": "ci", "env": "QB_UNSET_KEY", "scopes": ["admin"]}]), tmp_path)
    with pytest.raises(ConfigError, match="keys \\(ci\\): environment variable QB_UNSET_KEY is not set"):
        Service(config)
