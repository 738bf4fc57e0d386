"""GET /v4/senseappdump/{appId} and GET /v4/app/{appId}/dump end to end: qbutler in-process,
sensesim's engine over mTLS, the demo seed's richest app."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from sensesim.engine import EngineOptions, EngineServer
from sensesim.state import State
from support.appdump import SALES, UNKNOWN_APP, service_config
from support.qbutler import running_service


def seeded(state: State, key: str) -> list[dict[str, Any]]:
    return state.apps[SALES].engine.get(key) or []


@pytest.fixture
async def qbutler(demo_engine: EngineServer, engine_certs: Path, tmp_path: Path):
    async with running_service(service_config(engine_certs, demo_engine.port), tmp_path) as running:
        async with running.client() as client:
            yield client


async def test_dump_has_every_key_in_order_with_the_seeded_content(qbutler, demo_state: State) -> None:
    response = await qbutler.get(f"/v4/app/{SALES}/dump")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    dump = response.json()
    assert list(dump) == ["properties", "loadScript", "lineage", "sheets", "stories", "masterobjects", "appprops",
                          "dimensions", "measures", "bookmarks", "embeddedmedia", "snapshots", "fields",
                          "dataconnections", "variables", "appId"]

    app = demo_state.apps[SALES]
    assert dump["appId"] == SALES
    assert dump["properties"]["qTitle"] == "Sales Dashboard"
    assert dump["properties"]["description"] == app.description
    assert dump["loadScript"] == app.engine["script"]
    assert dump["lineage"] == [{"qDiscriminator": e["discriminator"], "qStatement": e["statement"]}
                               for e in seeded(demo_state, "lineage")]

    sheets = {s["qProperty"]["qInfo"]["qId"]: s for s in dump["sheets"]}
    assert list(sheets) == [s["id"] for s in seeded(demo_state, "sheets")]
    for sheet in seeded(demo_state, "sheets"):
        tree = sheets[sheet["id"]]
        assert tree["qProperty"]["qMetaDef"]["title"] == sheet["title"]
        # GetFullPropertyTree: the sheet's cells come along as children.
        assert [c["qProperty"]["qInfo"]["qId"] for c in tree["qChildren"]] == [c["name"] for c in sheet["cells"]]
    assert [(s["qProperty"]["qInfo"]["qId"], s["qProperty"]["qMetaDef"]["title"]) for s in dump["stories"]] == [
        (s["id"], s["title"]) for s in seeded(demo_state, "stories")]
    assert [(m["qProperty"]["qInfo"]["qId"], m["qProperty"]["visualization"]) for m in dump["masterobjects"]] == [
        (m["id"], m["type"]) for m in seeded(demo_state, "masterobjects")]
    assert [(a["qProperty"]["qInfo"]["qId"], a["qProperty"]["sheetTitleBgColor"]) for a in dump["appprops"]] == [
        ("appprops-sales", "#f0f0f0")]

    assert [(d["qInfo"]["qId"], d["qDim"]["qFieldDefs"]) for d in dump["dimensions"]] == [
        (d["id"], d["fields"]) for d in seeded(demo_state, "dimensions")]
    assert [(m["qInfo"]["qId"], m["qMeasure"]["qDef"]) for m in dump["measures"]] == [
        (m["id"], m["expression"]) for m in seeded(demo_state, "measures")]
    assert [b["qInfo"]["qId"] for b in dump["bookmarks"]] == [b["id"] for b in seeded(demo_state, "bookmarks")]
    for bookmark in dump["bookmarks"]:
        # The bookmark's state from its layout, under Butler's spelling qBookMark.
        assert bookmark["qData"]["qBookMark"]["qStateData"][0]["qStateName"] == "$"
    assert [(s["qInfo"]["qId"], s["qInfo"]["qType"]) for s in dump["snapshots"]] == [
        (s["id"], "snapshot") for s in seeded(demo_state, "snapshots")]

    # Only media from the site's media library; the app's own content is left out.
    assert dump["embeddedmedia"] == [{"qUrlDef": "/media/Logos/company-logo.png",
                                      "qUrl": "/media/Logos/company-logo.png"}]
    assert [f["qName"] for f in dump["fields"]] == [f["name"] for f in seeded(demo_state, "fields")]
    assert [(c["qName"], c["qConnectionString"]) for c in dump["dataconnections"]] == [
        (c["name"], c["connectionString"]) for c in seeded(demo_state, "dataconnections")]

    variables = {v["qName"]: v for v in dump["variables"]}
    for variable in seeded(demo_state, "variables"):
        assert variables[variable["name"]]["qDefinition"] == variable["definition"]
        assert "qIsScriptCreated" not in variables[variable["name"]]
    # SET lines of the script: script-created, and flagged as the list reports them.
    assert (variables["ThousandSep"]["qIsScriptCreated"], variables["ThousandSep"]["qIsReserved"],
            variables["ThousandSep"]["qIsConfig"]) == (True, True, True)


async def test_two_dumps_are_byte_identical_on_both_paths(qbutler) -> None:
    first = await qbutler.get(f"/v4/app/{SALES}/dump")
    second = await qbutler.get(f"/v4/senseappdump/{SALES}")
    assert first.status_code == second.status_code == 200
    assert first.content == second.content


async def test_every_list_has_its_own_session_object_id(qbutler, demo_state: State) -> None:
    demo_state.calls.clear()
    assert (await qbutler.get(f"/v4/app/{SALES}/dump")).status_code == 200
    ids = [c.body[0]["qInfo"]["qId"] for c in demo_state.calls if c.method == "CreateSessionObject"]
    assert len(ids) == 11 and len(set(ids)) == 11
    opens = [c for c in demo_state.calls if c.method == "OpenDoc"]
    # Opened without data, on a virtual-app session as Butler does.
    assert [o.body for o in opens] == [[SALES, "", "", "", True]]


@pytest.mark.parametrize("engine_options", [EngineOptions(duplicate_session_ids="reject")])
async def test_dump_works_on_an_engine_that_rejects_duplicate_session_ids(qbutler) -> None:
    response = await qbutler.get(f"/v4/app/{SALES}/dump")
    assert response.status_code == 200
    assert len(response.json()["snapshots"]) == 2 and len(response.json()["bookmarks"]) == 3


async def test_unknown_app_is_404_with_a_clear_message(qbutler) -> None:
    response = await qbutler.get(f"/v4/app/{UNKNOWN_APP}/dump")
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": "Not Found",
                               "message": f"Failed dumping app: app {UNKNOWN_APP} not found on the Qlik Sense engine"}


async def test_unreachable_engine_is_503_naming_the_engine(engine_certs: Path, closed_port: int,
                                                           tmp_path: Path) -> None:
    config = service_config(engine_certs, closed_port, configEngine={"timeout": 3})
    async with running_service(config, tmp_path) as running, running.client() as client:
        response = await client.get(f"/v4/senseappdump/{SALES}")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "Service Unavailable"
    assert body["message"].startswith(f"Failed dumping app: Qlik Sense engine at wss://127.0.0.1:{closed_port}/")
    assert "unreachable" in body["message"]


async def test_switch_off_removes_both_routes(demo_engine: EngineServer, engine_certs: Path, tmp_path: Path) -> None:
    config = service_config(engine_certs, demo_engine.port, restServerEndpointsEnable={"senseAppDump": False})
    async with running_service(config, tmp_path) as running, running.client() as client:
        for path in (f"/v4/app/{SALES}/dump", f"/v4/senseappdump/{SALES}"):
            response = await client.get(path)
            assert response.status_code == 404
            assert response.json()["message"] == f"Route GET:{path} not found"



async def test_an_engine_that_never_answers_is_504(engine_certs: Path, tmp_path: Path) -> None:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept the connection, say nothing until the client leaves
        writer.close()

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        config = service_config(engine_certs, port, configEngine={"timeout": 0.5})
        async with running_service(config, tmp_path) as running, running.client() as client:
            response = await client.get(f"/v4/app/{SALES}/dump")
    finally:
        silent.close()
        await silent.wait_closed()
    assert response.status_code == 504
    message = response.json()["message"]
    assert message.startswith(f"Failed dumping app: Qlik Sense engine at wss://127.0.0.1:{port}/app/engineData/")
    assert message.endswith(": no connection within 0.5 s")


@pytest.mark.parametrize("engine_options", [EngineOptions(deny_unknown_users=True)])
async def test_a_user_the_engine_denies_is_403(demo_engine: EngineServer, engine_certs: Path,
                                               tmp_path: Path) -> None:
    stranger = [{"name": "X-Qlik-User", "value": "UserDirectory=ACME;UserId=stranger"}]
    config = service_config(engine_certs, demo_engine.port, configEngine={"headers": {"static": stranger}})
    async with running_service(config, tmp_path) as running, running.client() as client:
        response = await client.get(f"/v4/app/{SALES}/dump")
    assert response.status_code == 403
    assert response.json()["message"] == (
        f"Failed dumping app: the Qlik Sense engine denied access to app {SALES}")
