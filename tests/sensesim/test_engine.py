"""The simulated Engine over a real WSS socket, driven by a plain `websockets` client.

Contract: qlik-sense-apis.md §2 (JSON-RPC), §4 (mTLS, X-Qlik-User) and behaviours 7-9 of
§5; the dump sequence of butler-subsystems.md §7.  No qbutler code is involved.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.exceptions import InvalidMessage, InvalidStatus

from sensesim.certs import server_ssl_context
from sensesim.engine import EngineOptions, EngineServer, start_engine
from sensesim.state import State, build_state, load_seed
from support.engine_client import Rpc, session
from support.sensesim_support import running_engine

SALES = "5e1f8a2c-3b4d-4c6e-8f0a-1b2c3d4e5f60"  # the rich app of the minimal seed


@pytest.fixture
def state() -> State:
    return load_seed("minimal")


@pytest.fixture
def options() -> EngineOptions:
    return EngineOptions()


@pytest.fixture
async def engine(state: State, certs_dir: Path, options: EngineOptions) -> AsyncIterator[EngineServer]:
    async with running_engine(state, certs_dir, options) as server:
        yield server


def app_id(state: State, name: str) -> str:
    return next(a.id for a in state.apps.values() if a.name == name)


# --------------------------------------------------------------------------- handshake


async def test_without_client_certificate_the_handshake_fails(engine: EngineServer, certs_dir: Path) -> None:
    # TLS 1.2 fails inside the handshake; with TLS 1.3 the client learns it when the server
    # drops the connection instead of answering the upgrade.  Either way: no HTTP, no session.
    with pytest.raises((ssl.SSLError, OSError, InvalidMessage)):
        async with session(engine, certs_dir, with_cert=False):
            pass
    assert not engine.state.calls


async def test_without_x_qlik_user_the_upgrade_is_refused_with_401(engine: EngineServer, certs_dir: Path) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with session(engine, certs_dir, user=None):
            pass
    assert caught.value.response.status_code == 401


async def test_x_qlik_user_without_user_id_is_refused(engine: EngineServer, certs_dir: Path) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with session(engine, certs_dir, user="UserDirectory=INTERNAL"):
            pass
    assert caught.value.response.status_code == 401


async def test_unknown_path_is_404(engine: EngineServer, certs_dir: Path) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with session(engine, certs_dir, path="/qrs/about"):
            pass
    assert caught.value.response.status_code == 404


@pytest.mark.parametrize(
    "path", ["/", "/app/", "/app/engineData", f"/app/{SALES}", f"/app/{SALES}/identity/x"]
)
async def test_every_documented_path_connects_and_on_connected_comes_first(
    engine: EngineServer, certs_dir: Path, path: str
) -> None:
    async with session(engine, certs_dir, path=path) as rpc:
        assert rpc.first_frame == {
            "jsonrpc": "2.0",
            "method": "OnConnected",
            "params": {"qSessionState": "SESSION_CREATED"},
        }
        assert (await rpc("EngineVersion")) == {"qVersion": {"qComponentVersion": "12.612.0"}}


async def test_url_encoded_user_header_is_accepted(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir, user="UserId=sa%5Fapi;UserDirectory=INTERNAL") as rpc:
        assert (await rpc("GetAuthenticatedUser"))["qReturn"] == "UserDirectory=INTERNAL; UserId=sa_api"


# --------------------------------------------------------------------------- envelope


async def test_handles_are_numbered_per_connection(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as one, session(engine, certs_dir) as two:
        opened = await one("OpenDoc", -1, [SALES])
        assert opened["qReturn"] == {"qType": "Doc", "qHandle": 1, "qGenericId": SALES}
        listed = await one("CreateSessionObject", 1, [{"qInfo": {"qId": "sheetList", "qType": "sheetList"}}])
        assert listed["qReturn"] == {
            "qType": "GenericObject",
            "qHandle": 2,
            "qGenericType": "sheetList",
            "qGenericId": "sheetList",
        }
        sheet = await one("GetObject", 1, ["s1"])
        assert sheet["qReturn"] == {
            "qType": "GenericObject",
            "qHandle": 3,
            "qGenericType": "sheet",
            "qGenericId": "s1",
        }
        # The open object keeps its handle; enigma.js caches objects by handle.
        assert (await one("GetObject", 1, ["s1"]))["qReturn"]["qHandle"] == 3
        assert (await one("GetDimension", 1, ["d1"]))["qReturn"] == {
            "qType": "GenericDimension",
            "qHandle": 4,
            "qGenericType": "dimension",
            "qGenericId": "d1",
        }
        # A second connection has its own numbering.
        assert (await two.open(SALES)) == 1
        assert (await one("GetActiveDoc"))["qReturn"]["qHandle"] == 1


async def test_positional_and_named_params_are_equivalent(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        opened = await rpc("OpenDoc", -1, {"qDocName": SALES, "qNoData": True})
        doc = opened["qReturn"]["qHandle"]
        positional = await rpc("GetObject", doc, ["s2"])
        named = await rpc("GetObject", doc, {"qId": "s2"})
        assert positional == named
        assert (await rpc("DoReload", doc, {"qMode": 0, "qPartial": False}))["qReturn"] is True
        layout = await rpc("GetAppLayout", doc)
        assert layout["qLayout"]["qIsOpenedWithoutData"] is True


async def test_void_methods_answer_an_empty_result_and_changes_are_listed(
    engine: EngineServer, certs_dir: Path
) -> None:
    async with session(engine, certs_dir, path=f"/app/{SALES}") as rpc:
        opened = await rpc.ask("OpenDoc", -1, [SALES, "", "", "", False])
        assert opened["change"] == [1]
        answer = await rpc.ask("SetScript", 1, ["LOAD 1 as x AutoGenerate 1;"])
        assert answer["result"] == {} and answer["change"] == [1]
        saved = await rpc.ask("DoSave", 1, [])
        assert saved == {"jsonrpc": "2.0", "id": saved["id"], "result": {}}


async def test_delta_requests_get_plain_answers_by_default(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        answer = await rpc.ask("EngineVersion", -1, [], delta=True)
        assert answer == {
            "jsonrpc": "2.0",
            "id": answer["id"],
            "result": {"qVersion": {"qComponentVersion": "12.612.0"}},
        }


@pytest.mark.parametrize("options", [EngineOptions(delta_patches=True)])
async def test_delta_patches_option_answers_root_replacements(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        answer = await rpc.ask("EngineVersion", -1, [], delta=True)
        assert answer["delta"] is True
        assert answer["result"] == {
            "qVersion": [{"op": "add", "path": "/", "value": {"qComponentVersion": "12.612.0"}}]
        }
        # Without delta in the request the answer stays plain.
        plain = await rpc.ask("EngineVersion", -1, [])
        assert "delta" not in plain and plain["result"]["qVersion"] == {"qComponentVersion": "12.612.0"}


async def test_every_call_is_recorded(engine: EngineServer, certs_dir: Path, state: State) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES, no_data=True)
        await rpc("GetScript", 1)
    calls = [c for c in state.calls if c.service == "engine"]
    assert [c.method for c in calls] == ["OpenDoc", "GetScript"]
    assert calls[0].path == "/app/engineData" and calls[0].body == [SALES, "", "", "", True]
    assert calls[1].path == f"/app/{SALES}" and "handle=1" in calls[1].query


# --------------------------------------------------------------------------- errors (§2.6)


async def test_unknown_app_is_1003(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        missing = "00000000-1111-2222-3333-444444444444"
        assert await rpc.error("OpenDoc", -1, [missing]) == {
            "code": 1003,
            "parameter": missing,
            "message": "App not found",
        }


async def test_second_open_on_a_connection_is_1002_and_other_mode_1009(
    engine: EngineServer, certs_dir: Path, state: State
) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES)
        again = await rpc.error("OpenDoc", -1, [SALES])
        assert again == {"code": 1002, "parameter": "Sales Dashboard", "message": "App already open"}
        assert (await rpc.error("OpenDoc", -1, [SALES, "", "", "", True]))["code"] == 1009
        assert (await rpc.error("OpenDoc", -1, [app_id(state, "HR Overview")]))["code"] == 1002
        # Recovering as real clients do: the open document is still there.
        assert (await rpc("GetActiveDoc"))["qReturn"]["qHandle"] == 1


async def test_unknown_method_is_32601(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        assert (await rpc.error("NoSuchMethod"))["code"] == -32601
        # A Doc method on the Global handle does not exist either.
        assert (await rpc.error("GetScript", -1))["code"] == -32601
        await rpc.open(SALES)
        assert (await rpc.error("EngineVersion", 1))["code"] == -32601


async def test_bad_params_and_handles_are_32602(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        assert (await rpc.error("GetScript", 7))["parameter"] == "Invalid handle"
        assert (await rpc.error("OpenDoc", -1, []))["code"] == -32602  # qDocName is required
        assert (await rpc.error("OpenDoc", -1, [42]))["code"] == -32602  # wrong type
        assert (await rpc.error("OpenDoc", -1, {"qDoc": SALES}))["code"] == -32602  # unknown name
        assert (await rpc.error("EngineVersion", -1, [1]))["code"] == -32602  # surplus
        await rpc.open(SALES)
        assert (await rpc.error("DoReload", 1, ["0"]))["code"] == -32602
        assert (await rpc.error("CreateSessionObject", 1, [{"qInfo": {"qId": "x"}}]))["code"] == -32602


async def test_malformed_frames(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.ws.send("{not json")
        parse = orjson.loads(await rpc.ws.recv())
        assert parse["id"] is None and parse["error"]["code"] == -32700
        await rpc.ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 99, "method": "EngineVersion"}).decode())
        invalid = orjson.loads(await rpc.ws.recv())
        assert invalid["id"] == 99 and invalid["error"]["code"] == -32600


async def test_missing_objects_answer_a_null_handle(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES)
        for method in ("GetObject", "GetDimension", "GetMeasure", "GetBookmark"):
            assert (await rpc(method, 1, ["nope"])) == {"qReturn": {"qType": None, "qHandle": None}}
        # A measure id is not a generic object.
        assert (await rpc("GetObject", 1, ["m1"]))["qReturn"]["qHandle"] is None
        assert (await rpc.error("GetVariableById", 1, ["nope"]))["code"] == 2
        assert (await rpc.error("GetVariableByName", 1, ["vNope"]))["code"] == 2
        assert (await rpc.error("GetConnection", 1, ["nope"]))["code"] == 2


async def test_get_active_doc_without_a_document(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        assert (await rpc.error("GetActiveDoc"))["code"] == 1007


@pytest.mark.parametrize("options", [EngineOptions(deny_unknown_users=True)])
async def test_unknown_user_is_denied_when_configured(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir, user="UserDirectory=ACME; UserId=nobody") as rpc:
        assert (await rpc.error("OpenDoc", -1, [SALES]))["code"] == 5
    async with session(engine, certs_dir, user="UserDirectory=ACME; UserId=anna") as rpc:
        assert await rpc.open(SALES) == 1


# --------------------------------------------------------------------------- reload and save


async def test_reload_success_becomes_visible_to_qrs_only_after_dosave(
    engine: EngineServer, certs_dir: Path, state: State
) -> None:
    app = state.apps[SALES]
    before = app.lastReloadTime
    results_before = len(state.execution_results)
    async with session(engine, certs_dir, path=f"/app/{SALES}") as rpc:
        assert (await rpc("EngineVersion"))["qVersion"]["qComponentVersion"] == "12.612.0"
        await rpc.open(SALES)
        sheets = await rpc("CreateSessionObject", 1, [{"qInfo": {"qType": "sheetList"}}])
        reload = await rpc.ask("DoReload", 1, [0, False])
        assert reload["result"] == {"qReturn": True}
        assert reload["change"] == [1, sheets["qReturn"]["qHandle"]]
        in_memory = (await rpc("GetAppLayout", 1))["qLayout"]["qLastReloadTime"]
        assert in_memory > before and app.lastReloadTime == before
        assert (await rpc("GetAppLayout", 1))["qLayout"]["qModified"] is True
        await rpc("DoSave", 1)
        assert app.lastReloadTime == in_memory
        assert (await rpc("GetAppLayout", 1))["qLayout"]["qModified"] is False
    # An engine-API reload leaves no scheduler artefacts.
    assert len(state.execution_results) == results_before


async def test_reload_without_save_is_lost_when_the_session_ends(
    engine: EngineServer, certs_dir: Path, state: State
) -> None:
    before = state.apps[SALES].lastReloadTime
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES)
        assert (await rpc("DoReload", 1))["qReturn"] is True
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES)
        assert (await rpc("GetAppProperties", 1))["qProp"]["qLastReloadTime"] == before
    assert state.apps[SALES].lastReloadTime == before


async def test_reload_failure_is_a_false_result_not_an_error(
    engine: EngineServer, certs_dir: Path, state: State
) -> None:
    broken = app_id(state, "Broken App")
    before = state.apps[broken].lastReloadTime
    async with session(engine, certs_dir, path=f"/app/{broken}") as rpc:
        await rpc.open(broken)
        reload = await rpc.ask("DoReload", 1, [0, False])
        assert reload["result"] == {"qReturn": False} and "change" not in reload
        ex = await rpc("DoReloadEx", 1, [{"qMode": 0, "qPartial": False, "qDebug": False}])
        assert ex["qResult"]["qSuccess"] is False
        assert ex["qResult"]["qScriptLogFile"] == f"C:\\ProgramData\\Qlik\\Sense\\Log\\Script\\{broken}.log"
        assert ex["qResult"]["qEndedWithMemoryConstraint"] is False
        await rpc("DoSave", 1)
    assert state.apps[broken].lastReloadTime == before


async def test_reload_mode_2_ignores_script_errors(engine: EngineServer, certs_dir: Path, state: State) -> None:
    broken = app_id(state, "Broken App")
    async with session(engine, certs_dir) as rpc:
        await rpc.open(broken)
        assert (await rpc("DoReload", 1, [2]))["qReturn"] is True


async def test_reload_ex_success(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES)
        assert (await rpc("DoReloadEx", 1))["qResult"]["qSuccess"] is True


@pytest.mark.parametrize("options", [EngineOptions(reload_seconds=0.3)])
async def test_a_slow_reload_does_not_block_other_calls(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES)
        reload_id = await rpc.send("DoReload", 1, [0])
        script = await rpc("GetScript", 1)
        assert reload_id not in rpc.early and "Sales" in script["qScript"]
        assert (await rpc.receive(reload_id))["result"] == {"qReturn": True}


async def test_script_round_trip_and_persistence(engine: EngineServer, certs_dir: Path, state: State) -> None:
    seeded = state.apps[SALES].engine["script"]
    new_script = "///$tab Main\r\nSET ThousandSep=' ';\r\nLOAD 1 as x AutoGenerate 1;\r\n"
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES)
        assert (await rpc("GetScript", 1)) == {"qScript": seeded}
        await rpc("SetScript", 1, [new_script])
        assert (await rpc("GetScript", 1)) == {"qScript": new_script}
    # Not saved: the next session gets the stored script back.
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES)
        assert (await rpc("GetScript", 1))["qScript"] == seeded
        await rpc("SetScript", 1, {"qScript": new_script})
        await rpc("DoSave", 1)
    assert state.apps[SALES].engine["script"] == new_script
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES)
        assert (await rpc("GetScript", 1))["qScript"] == new_script


# --------------------------------------------------------------------------- sessions


async def test_concurrent_connections_share_the_document(engine: EngineServer, certs_dir: Path) -> None:
    async with (
        session(engine, certs_dir) as one,
        session(engine, certs_dir, user="UserDirectory=ACME; UserId=anna") as two,
    ):
        await one.open(SALES)
        await two.open(SALES)
        await one("SetScript", 1, ["LOAD 2 as y AutoGenerate 1;"])
        # One document in engine memory: the unsaved edit is visible to the other session.
        assert (await two("GetScript", 1))["qScript"] == "LOAD 2 as y AutoGenerate 1;"
        listing = await one("GetDocList")
        sales = next(d for d in listing["qDocList"] if d["qDocId"] == SALES)
        assert sales["qConnectedUsers"] == 2


@pytest.mark.parametrize("options", [EngineOptions(share_sessions=True)])
async def test_shared_sessions_attach_and_refuse_a_second_open(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir, path=f"/app/{SALES}") as one:
        await one.open(SALES)
        async with session(engine, certs_dir, path=f"/app/{SALES}") as two:
            assert two.first_frame["params"] == {"qSessionState": "SESSION_ATTACHED"}
            assert (await two.error("OpenDoc", -1, [SALES]))["code"] == 1002
            assert (await two("GetActiveDoc"))["qReturn"]["qHandle"] == 1
            assert "Sales" in (await two("GetScript", 1))["qScript"]
    # Once every websocket closed the session is gone.
    async with session(engine, certs_dir, path=f"/app/{SALES}") as three:
        assert three.first_frame["params"] == {"qSessionState": "SESSION_CREATED"}
        assert await three.open(SALES) == 1


async def test_doc_list(engine: EngineServer, certs_dir: Path, state: State) -> None:
    async with session(engine, certs_dir, path="/") as rpc:
        docs = (await rpc("GetDocList"))["qDocList"]
    assert {d["qDocId"]: d["qDocName"] for d in docs} == {a.id: a.name for a in state.apps.values()}
    sales = next(d for d in docs if d["qDocId"] == SALES)
    assert sales["qTitle"] == "Sales Dashboard"
    assert sales["qLastReloadTime"] == state.apps[SALES].lastReloadTime
    assert sales["qMeta"]["stream"]["name"] == "Finance" and sales["qMeta"]["published"] is True
    assert sales["qConnectedUsers"] == 0 and sales["qFileSize"] == state.apps[SALES].file_size


# --------------------------------------------------------------------------- app content (Butler's dump)


def list_def(kind: str, qid: str, definition: dict[str, Any]) -> dict[str, Any]:
    return {"qInfo": {"qId": qid, "qType": qid}, kind: definition}


async def layout_of(rpc: Rpc, props: dict[str, Any]) -> dict[str, Any]:
    created = await rpc("CreateSessionObject", 1, [props])
    return (await rpc("GetLayout", created["qReturn"]["qHandle"]))["qLayout"]


async def list_items(rpc: Rpc, kind: str, qid: str, definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Create a list session object and return its layout's qItems (`qFooListDef` -> `qFooList`)."""
    layout = await layout_of(rpc, list_def(kind, qid, definition))
    return list(layout[kind.removesuffix("Def")]["qItems"])


async def test_app_object_lists_and_property_trees(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES, no_data=True)
        found: dict[str, list[str]] = {}
        for kind in ("sheet", "story", "masterobject", "appprops"):
            props = {
                "qInfo": {"qId": f"{kind}List", "qType": f"{kind}List"},
                "qAppObjectListDef": {"qType": kind, "qData": {"id": "/qInfo/qId"}},
                "qMetaDef": {},
                "qExtendsId": "",
            }
            layout = await layout_of(rpc, props)
            assert set(layout) == {"qInfo", "qAppObjectList", "qSelectionInfo"}
            items = layout["qAppObjectList"]["qItems"]
            for item in items:
                assert item["qInfo"]["qType"] == kind and item["qData"] == {"id": item["qInfo"]["qId"]}
            found[kind] = [item["qMeta"]["title"] for item in items]
        assert found == {
            "sheet": ["Overview", "Details"],
            "story": ["Quarterly story"],
            "masterobject": ["Sales by Region"],
            "appprops": [],
        }
        sheet = await rpc("GetObject", 1, ["s1"])
        tree = (await rpc("GetFullPropertyTree", sheet["qReturn"]["qHandle"]))["qPropEntry"]
        assert tree["qProperty"]["qInfo"] == {"qId": "s1", "qType": "sheet"}
        assert tree["qProperty"]["qMetaDef"] == {"title": "Overview", "description": "Top-level KPIs"}
        assert [c["name"] for c in tree["qProperty"]["cells"]] == ["obj1", "obj2"]
        assert [c["qProperty"]["qInfo"] for c in tree["qChildren"]] == [
            {"qId": "obj1", "qType": "barchart"},
            {"qId": "obj2", "qType": "kpi"},
        ]
        assert tree["qEmbeddedSnapshotRef"] is None
        handle = sheet["qReturn"]["qHandle"]
        assert (await rpc("GetChildInfos", handle))["qInfos"] == [
            {"qId": "obj1", "qType": "barchart"},
            {"qId": "obj2", "qType": "kpi"},
        ]
        layout = (await rpc("GetLayout", handle))["qLayout"]
        assert layout["qMeta"]["title"] == "Overview"
        assert [i["qInfo"]["qId"] for i in layout["qChildList"]["qItems"]] == ["obj1", "obj2"]
        master = await rpc("GetObject", 1, ["mo1"])
        props = (await rpc("GetProperties", master["qReturn"]["qHandle"]))["qProp"]
        assert props["visualization"] == "barchart" and props["qMetaDef"]["title"] == "Sales by Region"


async def test_dimension_and_measure_lists(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES, no_data=True)
        dims = await layout_of(
            rpc,
            list_def(
                "qDimensionListDef", "DimensionList", {"qType": "dimension", "qData": {"info": "/qDimInfos"}}
            ),
        )
        items = dims["qDimensionList"]["qItems"]
        assert [(i["qInfo"], i["qMeta"]["title"]) for i in items] == [
            ({"qId": "d1", "qType": "dimension"}, "Region")
        ]
        assert len(items[0]["qData"]["info"]) == 1
        dim = await rpc("GetDimension", 1, ["d1"])
        props = (await rpc("GetProperties", dim["qReturn"]["qHandle"]))["qProp"]
        assert props["qDim"] == {
            "qGrouping": "N",
            "qFieldDefs": ["Region"],
            "qFieldLabels": [""],
            "title": "Region",
        }
        assert props["qMetaDef"] == {"title": "Region", "description": "", "tags": []}

        measures = await layout_of(
            rpc, list_def("qMeasureListDef", "MeasureList", {"qType": "measure", "qData": {}})
        )
        assert [i["qInfo"]["qId"] for i in measures["qMeasureList"]["qItems"]] == ["m1"]
        measure = await rpc("GetMeasure", 1, ["m1"])
        props = (await rpc("GetProperties", measure["qReturn"]["qHandle"]))["qProp"]
        assert props == {
            "qInfo": {"qId": "m1", "qType": "measure"},
            "qMeasure": {
                "qLabel": "Revenue",
                "qDef": "Sum(Amount)",
                "qGrouping": "N",
                "qExpressions": [],
                "qActiveExpression": 0,
            },
            "qMetaDef": {"title": "Revenue", "description": "", "tags": []},
        }


async def test_bookmark_and_snapshot_lists_share_an_id(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES, no_data=True)
        # Butler creates both lists concurrently with the same qId (butler-subsystems §7).
        requests = [
            await rpc.send(
                "CreateSessionObject",
                1,
                [
                    list_def(
                        "qBookmarkListDef",
                        "BookmarkList",
                        {"qType": kind, "qData": {"title": "/qMetaDef/title"}},
                    )
                ],
            )
            for kind in ("bookmark", "snapshot")
        ]
        handles = [(await rpc.receive(r))["result"]["qReturn"]["qHandle"] for r in requests]
        assert len(set(handles)) == 2
        layouts = [(await rpc("GetLayout", h))["qLayout"]["qBookmarkList"]["qItems"] for h in handles]
        assert [i["qInfo"] for i in layouts[0]] == [{"qId": "b1", "qType": "bookmark"}]
        assert [i["qInfo"] for i in layouts[1]] == [{"qId": "sn1", "qType": "snapshot"}]
        assert layouts[0][0]["qData"] == {"title": "Q1"}
        bookmark = await rpc("GetBookmark", 1, ["b1"])
        handle = bookmark["qReturn"]["qHandle"]
        assert bookmark["qReturn"]["qType"] == "GenericBookmark"
        assert (await rpc("GetProperties", handle))["qProp"]["qMetaDef"]["title"] == "Q1"
        layout = (await rpc("GetLayout", handle))["qLayout"]
        assert layout["qBookmark"]["qStateData"] == [{"qStateName": "$", "qFieldItems": []}]
        snapshot = await rpc("GetBookmark", 1, ["sn1"])
        assert snapshot["qReturn"]["qGenericType"] == "snapshot"


@pytest.mark.parametrize("options", [EngineOptions(duplicate_session_ids="reject")])
async def test_duplicate_session_ids_can_be_rejected(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES)
        props = list_def("qBookmarkListDef", "BookmarkList", {"qType": "bookmark"})
        await rpc("CreateSessionObject", 1, [props])
        assert (await rpc.error("CreateSessionObject", 1, [props]))["code"] == 3


async def test_variable_list_and_variables(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES, no_data=True)
        full = {
            "qType": "variable",
            "qShowReserved": True,
            "qShowConfig": True,
            "qData": {"info": "/qDimInfos"},
        }
        items = await list_items(rpc, "qVariableListDef", "VariableList", full)
        by_name = {i["qName"]: i for i in items}
        assert by_name["vToday"]["qDefinition"] == "=Today()" and by_name["vToday"]["qInfo"]["qId"] == "v1"
        assert "qIsScriptCreated" not in by_name["vToday"]
        # `SET ThousandSep=',';` in the seeded script made a configuration variable.
        assert by_name["ThousandSep"]["qDefinition"] == ","
        thousand = by_name["ThousandSep"]
        assert thousand["qIsScriptCreated"] is True and thousand["qIsConfig"] is True
        plain = {"qType": "variable", "qData": {}}
        user_items = await list_items(rpc, "qVariableListDef", "Vars2", plain)
        assert [i["qName"] for i in user_items] == ["vToday"]

        var = await rpc("GetVariableById", 1, ["v1"])
        assert var["qReturn"]["qType"] == "GenericVariable"
        props = (await rpc("GetProperties", var["qReturn"]["qHandle"]))["qProp"]
        assert props == {
            "qInfo": {"qId": "v1", "qType": "variable"},
            "qName": "vToday",
            "qDefinition": "=Today()",
            "qComment": "",
            "qIncludeInBookmark": False,
        }
        by_name_handle = await rpc("GetVariableByName", 1, ["vToday"])
        assert by_name_handle["qReturn"]["qHandle"] == var["qReturn"]["qHandle"]


async def test_field_and_media_lists(engine: EngineServer, certs_dir: Path) -> None:
    field_def = {"qShowSystem": True, "qShowHidden": True, "qShowSrcTables": True, "qShowSemantic": True}
    media_url = f"/appcontent/{SALES}/logo.png"
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES)
        fields = await list_items(rpc, "qFieldListDef", "FieldList", field_def)
        assert [f["qName"] for f in fields] == ["Region", "Amount", "OrderDate"]
        assert all("qSrcTables" in f and "qTags" in f for f in fields)
        media = await list_items(rpc, "qMediaListDef", "mediaList", {})
        assert media == [{"qUrlDef": media_url, "qUrl": media_url}]
    async with session(engine, certs_dir) as rpc:
        # Opened without data there is no data model, hence no fields.
        await rpc.open(SALES, no_data=True)
        fields = await list_items(rpc, "qFieldListDef", "FieldList", field_def)
        assert fields == []


async def test_connections_lineage_properties_and_infos(
    engine: EngineServer, certs_dir: Path, state: State
) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES, no_data=True)
        connections = (await rpc("GetConnections", 1))["qConnections"]
        assert [(c["qId"], c["qName"], c["qType"]) for c in connections] == [
            ("0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "SalesDB", "ODBC")
        ]
        one = (await rpc("GetConnection", 1, [connections[0]["qId"]]))["qConnection"]
        assert one == connections[0]
        assert one["qConnectionString"] == "ODBC CONNECT TO [SalesDB]" and one["qMeta"] == {
            "qName": "SalesDB"
        }
        assert (await rpc("GetLineage", 1))["qLineage"] == [
            {"qDiscriminator": "DB:SalesDB", "qStatement": "SELECT Region, Amount, OrderDate FROM sales"}
        ]
        props = (await rpc("GetAppProperties", 1))["qProp"]
        assert props["qTitle"] == "Sales Dashboard"
        assert props["qLastReloadTime"] == state.apps[SALES].lastReloadTime
        assert props["description"] == "Sales KPIs per region" and props["qHasSectionAccess"] is False
        infos = (await rpc("GetAllInfos", 1))["qInfos"]
        assert {"qId": "s1", "qType": "sheet"} in infos and {"qId": "obj3", "qType": "table"} in infos
        assert {"qId": "d1", "qType": "dimension"} in infos and {"qId": "sn1", "qType": "snapshot"} in infos
        layout = (await rpc("GetAppLayout", 1))["qLayout"]
        assert layout["qFileName"] == SALES and layout["qHasScript"] is True and layout["qHasData"] is False
        assert layout["qLocaleInfo"]["qThousandSep"] == ","


async def test_session_objects_can_be_destroyed(engine: EngineServer, certs_dir: Path) -> None:
    async with session(engine, certs_dir) as rpc:
        await rpc.open(SALES)
        created = await rpc(
            "CreateSessionObject", 1, [{"qInfo": {"qId": "tmp", "qType": "mine"}, "custom": 1}]
        )
        handle = created["qReturn"]["qHandle"]
        assert (await rpc("GetLayout", handle))["qLayout"] == {
            "qInfo": {"qId": "tmp", "qType": "mine"},
            "custom": 1,
            "qSelectionInfo": {},
        }
        assert (await rpc("GetObject", 1, ["tmp"]))["qReturn"]["qHandle"] == handle
        destroyed = await rpc.ask("DestroySessionObject", 1, ["tmp"])
        assert destroyed["result"] == {"qSuccess": True} and destroyed["close"] == [handle]
        assert (await rpc.error("GetLayout", handle))["code"] == -32602


async def test_tables_and_keys_from_seeded_source_tables(certs_dir: Path) -> None:
    state = build_state(
        {
            "apps": [
                {
                    "id": SALES,
                    "name": "Model",
                    "fields": [
                        {"name": "OrderId", "srcTables": ["Orders", "Lines"], "cardinal": 10},
                        {"name": "Amount", "srcTables": ["Lines"], "cardinal": 7},
                        {"name": "$Field", "srcTables": ["$$SysTable 1"], "isSystem": True},
                    ],
                }
            ]
        }
    )
    server = await start_engine(state, server_ssl_context(certs_dir), "127.0.0.1", 0)
    try:
        async with session(server, certs_dir) as rpc:
            await rpc.open(SALES)
            size = {"qcx": 1000, "qcy": 1000}
            result = await rpc("GetTablesAndKeys", 1, [size, size, 30, False, False])
            assert [t["qName"] for t in result["qtr"]] == ["Orders", "Lines"]
            lines = result["qtr"][1]["qFields"]
            assert [(f["qName"], f["qKeyType"]) for f in lines] == [
                ("OrderId", "ANY_KEY"),
                ("Amount", "NOT_KEY"),
            ]
            assert result["qk"] == [{"qKeyFields": ["OrderId"], "qTables": ["Orders", "Lines"]}]
            system = await rpc("GetTablesAndKeys", 1, [size, size, 30, False, True])
            assert "$$SysTable 1" in [t["qName"] for t in system["qtr"]]
            hidden = {"qShowSystem": False, "qShowSrcTables": False}
            created = await rpc("CreateSessionObject", 1, [list_def("qFieldListDef", "F", hidden)])
            items = (await rpc("GetLayout", created["qReturn"]["qHandle"]))["qLayout"]["qFieldList"]["qItems"]
            assert [i["qName"] for i in items] == ["OrderId", "Amount"] and "qSrcTables" not in items[0]
    finally:
        await server.close()


async def test_butler_dump_sequence_with_concurrent_requests(engine: EngineServer, certs_dir: Path) -> None:
    """The §7 dump as Butler runs it: everything after OpenDoc in flight at once."""
    async with session(engine, certs_dir, path="/app/engineData") as rpc:
        await rpc.open(SALES, no_data=True)

        async def gather(*calls: tuple[str, int, Any]) -> list[dict[str, Any]]:
            ids = [await rpc.send(method, handle, params) for method, handle, params in calls]
            answers = [await rpc.receive(i) for i in ids]
            assert all("result" in a for a in answers), answers
            return [a["result"] for a in answers]

        props, script, lineage = await gather(
            ("GetAppProperties", 1, []), ("GetScript", 1, []), ("GetLineage", 1, [])
        )
        defs = [
            list_def("qAppObjectListDef", f"{k}List", {"qType": k})
            for k in ("sheet", "story", "masterobject")
        ]
        defs += [
            list_def("qDimensionListDef", "DimensionList", {"qType": "dimension"}),
            list_def("qMeasureListDef", "MeasureList", {"qType": "measure"}),
            list_def("qBookmarkListDef", "BookmarkList", {"qType": "bookmark"}),
            list_def("qMediaListDef", "mediaList", {}),
            list_def("qBookmarkListDef", "BookmarkList", {"qType": "snapshot"}),
            list_def("qFieldListDef", "FieldList", {"qShowSystem": True, "qShowSrcTables": True}),
            list_def("qVariableListDef", "VariableList", {"qType": "variable"}),
        ]
        created = await gather(*[("CreateSessionObject", 1, [d]) for d in defs])
        layouts = await gather(*[("GetLayout", c["qReturn"]["qHandle"], []) for c in created])
        counts = {}
        for layout in layouts:
            (key,) = [k for k in layout["qLayout"] if k.endswith("List")]
            counts[f"{layout['qLayout']['qInfo']['qId']}:{key}"] = len(layout["qLayout"][key]["qItems"])
        assert counts == {
            "sheetList:qAppObjectList": 2,
            "storyList:qAppObjectList": 1,
            "masterobjectList:qAppObjectList": 1,
            "DimensionList:qDimensionList": 1,
            "MeasureList:qMeasureList": 1,
            "BookmarkList:qBookmarkList": 1,
            "mediaList:qMediaList": 1,
            "FieldList:qFieldList": 0,  # opened without data
            "VariableList:qVariableList": 1,
        }
        opened = await gather(
            ("GetObject", 1, ["s1"]),
            ("GetObject", 1, ["s2"]),
            ("GetDimension", 1, ["d1"]),
            ("GetMeasure", 1, ["m1"]),
            ("GetBookmark", 1, ["b1"]),
            ("GetBookmark", 1, ["sn1"]),
            ("GetVariableById", 1, ["v1"]),
            ("GetConnections", 1, []),
        )
        handles = [o["qReturn"]["qHandle"] for o in opened[:7]]
        assert len(set(handles)) == 7
        trees = await gather(*[("GetFullPropertyTree", h, []) for h in handles[:2]])
        assert [t["qPropEntry"]["qProperty"]["qMetaDef"]["title"] for t in trees] == ["Overview", "Details"]
        properties = await gather(*[("GetProperties", h, []) for h in handles[2:]])
        assert [p["qProp"]["qInfo"]["qId"] for p in properties] == ["d1", "m1", "b1", "sn1", "v1"]
        connection_id = opened[7]["qConnections"][0]["qId"]
        (connection,) = await gather(("GetConnection", 1, [connection_id]))
        assert connection["qConnection"]["qName"] == "SalesDB"
        assert props["qProp"]["qTitle"] == "Sales Dashboard" and "LIB CONNECT" in script["qScript"]
        assert len(lineage["qLineage"]) == 1
