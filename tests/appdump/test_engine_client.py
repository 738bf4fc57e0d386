"""The Engine JSON-RPC client against sensesim's engine over real mTLS websockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from qbutler.config import Config, parse_config
from qbutler.sense.engine import (
    APP_NOT_FOUND,
    OBJECT_NOT_FOUND,
    EngineClient,
    EngineError,
    EngineTimeout,
    EngineUnavailable,
)
from sensesim.certs import ensure_certs
from sensesim.engine import EngineOptions, EngineServer
from sensesim.state import State, load_seed
from support.sensesim_support import running_engine

SALES = "5e1f8a2c-3b4d-4c6e-8f0a-1b2c3d4e5f60"  # the minimal seed's rich app
USER = [{"name": "X-Qlik-User", "value": "UserDirectory=Internal;UserId=sa_repository"}]


@pytest.fixture
def certs(engine_certs: Path) -> Path:
    return engine_certs


@pytest.fixture
def state() -> State:
    return load_seed("minimal")


@pytest.fixture
def options() -> EngineOptions:
    return EngineOptions()


@pytest.fixture
async def server(state: State, certs: Path, options: EngineOptions) -> AsyncIterator[EngineServer]:
    async with running_engine(state, certs, options) as engine:
        yield engine


def engine_config(certs: Path, port: int, folder: Path, **engine: Any) -> Config:
    section = {"host": "127.0.0.1", "port": port, "useSSL": True, "rejectUnauthorized": True,
               "headers": {"static": USER}, **engine}
    return parse_config({"Butler": {
        "cert": {"clientCert": str(certs / "client.pem"), "clientCertKey": str(certs / "client_key.pem"),
                 "clientCertCA": str(certs / "root.pem")},
        "configEngine": section}}, folder)


@pytest.fixture
def client(server: EngineServer, certs: Path, tmp_path: Path) -> EngineClient:
    return EngineClient(engine_config(certs, server.port, tmp_path, timeout=5))


async def test_global_calls_on_a_session_without_app(client: EngineClient, state: State) -> None:
    async with client.session() as session:
        assert session.session_state == "SESSION_CREATED"
        assert await session.engine_version() == "12.612.0"
        docs = await session.get_doc_list()
    assert sorted(d["qDocId"] for d in docs) == sorted(state.apps)
    assert sorted(d["qDocId"] for d in await client.get_doc_list()) == sorted(state.apps)


async def test_session_opens_the_app_and_reads_it(client: EngineClient, state: State) -> None:
    async with client.session(SALES, no_data=True) as session:
        assert session.doc is not None and session.handles[session.doc].q_type == "Doc"
        assert await session.get_script(session.doc) == state.apps[SALES].engine["script"]
        handle = await session.create_session_object(session.doc, {
            "qInfo": {"qId": "mySheets", "qType": "sheetList"},
            "qAppObjectListDef": {"qType": "sheet", "qData": {"id": "/qInfo/qId"}}})
        assert session.handles[handle].generic_id == "mySheets"
        layout = await session.get_layout(handle)
        assert [i["qInfo"]["qId"] for i in layout["qAppObjectList"]["qItems"]] == ["s1", "s2"]
        props = await session.get_properties(await session.call_for_handle(session.doc, "GetMeasure", ["m1"]))
        assert props["qMeasure"]["qDef"] == "Sum(Amount)"


async def test_virtual_app_session_with_identity(client: EngineClient, state: State) -> None:
    async with client.session(SALES, virtual=True, identity="dump-1") as session:
        assert session.url.endswith("/app/engineData/identity/dump-1")
        props = (await session.call(session.doc, "GetAppProperties"))["qProp"]
    assert props["qTitle"] == "Sales Dashboard"


async def test_unknown_app_is_engine_error_1003(client: EngineClient) -> None:
    with pytest.raises(EngineError) as caught:
        async with client.session("00000000-0000-4000-8000-000000000000"):
            pass
    assert caught.value.code == APP_NOT_FOUND
    assert caught.value.name == "LOCERR_APP_NOT_FOUND"
    assert "App not found" in str(caught.value)


async def test_missing_object_is_error_minus_2_and_unknown_method_keeps_its_code(client: EngineClient) -> None:
    async with client.session(SALES) as session:
        with pytest.raises(EngineError) as missing:
            await session.call_for_handle(session.doc, "GetObject", ["no-such-object"])
        assert (missing.value.code, missing.value.parameter) == (OBJECT_NOT_FOUND, "no-such-object")
        with pytest.raises(EngineError) as unknown:
            await session.call(session.doc, "NoSuchMethod")
        assert unknown.value.name == "METHOD_NOT_FOUND"
        # The session goes on after errors.
        assert await session.get_script(session.doc)


async def test_unreachable_engine(certs: Path, tmp_path: Path, closed_port: int) -> None:
    client = EngineClient(engine_config(certs, closed_port, tmp_path, timeout=2))
    with pytest.raises(EngineUnavailable) as caught:
        await client.get_doc_list()
    assert "unreachable" in str(caught.value) and f":{closed_port}/" in str(caught.value)


async def test_refused_upgrade_without_x_qlik_user(server: EngineServer, certs: Path, tmp_path: Path) -> None:
    client = EngineClient(engine_config(certs, server.port, tmp_path, headers={"static": []}))
    with pytest.raises(EngineUnavailable, match="upgrade refused with HTTP 401"):
        await client.get_doc_list()


async def test_missing_certificate_file_is_reported(server: EngineServer, certs: Path, tmp_path: Path) -> None:
    config = engine_config(certs, server.port, tmp_path)
    config.Butler.cert.clientCert = str(tmp_path / "nope.pem")
    with pytest.raises(EngineUnavailable, match="cannot load the client certificate"):
        await EngineClient(config).get_doc_list()


@pytest.mark.parametrize("options", [EngineOptions(reload_seconds=3.0)])
async def test_calls_run_concurrently_and_time_out_alone(client: EngineClient, state: State) -> None:
    async with client.session(SALES) as session:
        reload = asyncio.create_task(session.do_reload(session.doc, time_limit=0.3))
        started = time.monotonic()
        scripts = await asyncio.gather(*(session.get_script(session.doc) for _ in range(20)))
        assert time.monotonic() - started < 1.0  # not stuck behind the slow reload
        assert set(scripts) == {state.apps[SALES].engine["script"]}
        with pytest.raises(EngineTimeout, match=r"no answer to DoReload within 0\.3 s"):
            await reload
        assert await session.get_script(session.doc)


async def test_reload_and_save_persist(client: EngineClient, state: State) -> None:
    before = state.apps[SALES].lastReloadTime
    async with client.session(SALES) as session:
        await session.set_script(session.doc, "LOAD 1 as x AutoGenerate 1;")
        assert await session.do_reload(session.doc, 0, False) is True
        await session.do_save(session.doc)
    assert state.apps[SALES].engine["script"] == "LOAD 1 as x AutoGenerate 1;"
    assert state.apps[SALES].lastReloadTime != before


async def test_failing_reload_is_false_not_an_error(client: EngineClient, state: State) -> None:
    broken = next(a.id for a in state.apps.values() if a.name == "Broken App")
    async with client.session(broken) as session:
        assert await session.do_reload(session.doc) is False


@pytest.mark.parametrize("options", [EngineOptions(share_sessions=True)])
async def test_attached_session_takes_over_the_open_doc(client: EngineClient) -> None:
    async with client.session(SALES) as first, client.session(SALES) as second:
        assert second.session_state == "SESSION_ATTACHED"
        assert second.doc == first.doc
        assert await second.get_script(second.doc) == await first.get_script(first.doc)


@pytest.mark.parametrize("options", [EngineOptions(reload_seconds=5.0)])
async def test_pending_calls_fail_when_the_engine_goes_away(client: EngineClient, server: EngineServer) -> None:
    async with client.session(SALES) as session:
        reload = asyncio.create_task(session.do_reload(session.doc))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await server.close()
        with pytest.raises(EngineUnavailable, match="closed"):
            await reload
        assert time.monotonic() - started < 3.0
        with pytest.raises(EngineUnavailable):
            await session.get_script(session.doc)


async def test_certificates_of_another_site_are_reported(server: EngineServer, certs: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-site"
    ensure_certs(other)
    # Our client certificate is not from the engine's CA.
    config = engine_config(certs, server.port, tmp_path)
    config.Butler.cert.clientCert = str(other / "client.pem")
    config.Butler.cert.clientCertKey = str(other / "client_key.pem")
    with pytest.raises(EngineUnavailable, match="does the engine trust the client certificate"):
        await EngineClient(config).get_doc_list()
    # The engine's certificate is not from the CA we trust.
    config = engine_config(certs, server.port, tmp_path)
    config.Butler.cert.clientCertCA = str(other / "root.pem")
    with pytest.raises(EngineUnavailable, match=r"TLS handshake failed: .*CERTIFICATE_VERIFY_FAILED"):
        await EngineClient(config).get_doc_list()


async def test_a_server_that_is_no_engine_is_reported(tmp_path: Path) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def greet(ws: ServerConnection) -> None:
        await ws.send("hello, I am not an engine")
        await ws.wait_closed()

    async with serve(greet, "127.0.0.1", 0) as plain:
        port = plain.sockets[0].getsockname()[1]
        config = parse_config({"Butler": {"configEngine": {"host": "127.0.0.1", "port": port, "useSSL": False}}},
                              tmp_path)
        with pytest.raises(EngineUnavailable, match="not JSON; is this the Qlik Sense engine port"):
            await EngineClient(config).get_doc_list()
