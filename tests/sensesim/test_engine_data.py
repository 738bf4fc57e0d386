"""The Engine's data model over WSS: fields with cardinals, tables and keys, expressions,
hypercubes with data pages, selections, search, streams, media and saved property edits.

The demo seed's "Sales Dashboard" carries a data block (Orders, Customers, Products,
Calendar); expected figures are computed here from that block, not copied from answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sensesim.engine import EngineServer
from sensesim.state import State, load_seed
from support.engine_client import Rpc, session
from support.sensesim_support import running_engine


@pytest.fixture
def state() -> State:
    return load_seed("demo")


@pytest.fixture
async def engine(state: State, certs_dir: Path) -> AsyncIterator[EngineServer]:
    async with running_engine(state, certs_dir) as server:
        yield server


def sales_app(state: State) -> Any:
    return next(a for a in state.apps.values() if a.name == "Sales Dashboard")


def orders(state: State) -> list[dict[str, Any]]:
    return list(sales_app(state).engine["data"]["Orders"])


@pytest.fixture
async def doc(engine: EngineServer, certs_dir: Path, state: State) -> AsyncIterator[tuple[Rpc, int]]:
    async with session(engine, certs_dir) as rpc:
        yield rpc, await rpc.open(sales_app(state).id)


async def test_tables_keys_and_field_cardinals(doc: tuple[Rpc, int], state: State) -> None:
    rpc, handle = doc
    result = await rpc("GetTablesAndKeys", handle, [{"qcx": 1000, "qcy": 1000}, {"qcx": 0, "qcy": 0}, 30, True, False])
    tables = {t["qName"]: t for t in result["qtr"]}
    assert set(tables) == {"Orders", "Customers", "Products", "Calendar"}
    assert tables["Orders"]["qNoOfRows"] == len(orders(state))
    keys = {k["qKeyFields"][0]: sorted(k["qTables"]) for k in result["qk"]}
    assert keys == {"CustomerID": ["Customers", "Orders"], "ProductID": ["Orders", "Products"],
                    "OrderDate": ["Calendar", "Orders"]}
    described = (await rpc("GetFieldDescription", handle, ["Region"]))["qReturn"]
    assert described["qCardinal"] == len({o["Region"] for o in orders(state)})
    assert described["qSrcTables"] == ["Orders"] and described["qIsNumeric"] is False
    assert (await rpc.error("GetFieldDescription", handle, ["NoSuchField"]))["code"] == 2
    listing = await rpc("CreateSessionObject", handle, [{"qInfo": {"qType": "FieldList"},
                                                        "qFieldListDef": {"qShowSrcTables": True}}])
    layout = await rpc("GetLayout", listing["qReturn"]["qHandle"])
    by_name = {f["qName"]: f for f in layout["qLayout"]["qFieldList"]["qItems"]}
    assert by_name["CustomerID"]["qCardinal"] == 5 and "$key" in by_name["CustomerID"]["qTags"]


async def test_evaluate_variables_and_check_expression(doc: tuple[Rpc, int], state: State) -> None:
    rpc, handle = doc
    total = sum(o["Amount"] for o in orders(state))
    assert (await rpc("Evaluate", handle, ["Sum(Amount)"]))["qReturn"] == str(total)
    value = (await rpc("EvaluateEx", handle, ["=Sum(Amount) / Count(DISTINCT OrderID)"]))["qValue"]
    assert value["qIsNumeric"] is True and value["qNumber"] == pytest.approx(total / len(orders(state)))
    assert (await rpc("Evaluate", handle, ["If(Max(Quantity) > 5, 'many', 'few')"]))["qReturn"] == "many"
    assert (await rpc("Evaluate", handle, ["'a' & 1 + 2"]))["qReturn"] == "a3"
    assert (await rpc("Evaluate", handle, ["vTarget * 2"]))["qReturn"] == "3000000"
    assert (await rpc("Evaluate", handle, ["Sum(Nope)"]))["qReturn"].startswith("Error: Bad field name")
    expression = "Sum(Amount) + Sum([No Such])"
    checked = await rpc("CheckExpression", handle, [expression, []])
    assert checked["qErrorMsg"].startswith("Bad field name") and checked["qBadFieldNames"] == [
        {"qFrom": expression.index("[No Such]"), "qCount": len("[No Such]")}]
    assert (await rpc("CheckExpression", handle, ["Sum(Amount)", []]))["qErrorMsg"] == ""
    assert (await rpc("CheckExpression", handle, ["Sum(Amount", []]))["qErrorMsg"].startswith("Error in expression")
    expanded = await rpc("ExpandExpression", handle, ["Sum(Amount) > $(vTarget)"])
    assert expanded["qExpandedExpression"] == "Sum(Amount) > 1500000"
    variable = await rpc("GetVariableByName", handle, ["vToday"])
    layout = await rpc("GetLayout", variable["qReturn"]["qHandle"])
    assert layout["qLayout"]["qText"] == (await rpc("Evaluate", handle, ["Today()"]))["qReturn"]
    assert isinstance(layout["qLayout"]["qNum"], float)


CUBE = {
    "qInfo": {"qType": "table"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["Region"]}}],
        "qMeasures": [{"qLibraryId": "msr-revenue"}, {"qDef": {"qDef": "Count(OrderID)", "qLabel": "Orders"}}],
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 3, "qHeight": 2}],
    },
}


async def test_hypercube_pages_and_selections(doc: tuple[Rpc, int], state: State) -> None:
    rpc, handle = doc
    regions = sorted({o["Region"] for o in orders(state)}, key=str.casefold)  # Qlik collation ignores case
    by_region = {r: sum(o["Amount"] for o in orders(state) if o["Region"] == r) for r in regions}
    cube = (await rpc("CreateSessionObject", handle, [CUBE]))["qReturn"]["qHandle"]
    layout = (await rpc("GetLayout", cube))["qLayout"]["qHyperCube"]
    assert layout["qSize"] == {"qcx": 3, "qcy": len(regions)}
    first = layout["qDataPages"][0]["qMatrix"]
    assert [row[0]["qText"] for row in first] == regions[:2]
    assert [row[1]["qNum"] for row in first] == [by_region[r] for r in regions[:2]]
    assert layout["qMeasureInfo"][0]["qFallbackTitle"] == "Revenue"
    page = await rpc("GetHyperCubeData", cube, ["/qHyperCubeDef", [{"qTop": 1, "qLeft": 1, "qWidth": 1,
                                                                    "qHeight": 5}]])
    assert [row[0]["qNum"] for row in page["qDataPages"][0]["qMatrix"]] == [by_region[r] for r in regions[1:]]
    # Select the last region through the cube: the measure and other fields follow.
    elem = first[0][0]["qElemNumber"]
    reply = await rpc.ask("SelectHyperCubeValues", cube, ["/qHyperCubeDef", 0, [elem], False])
    assert cube in reply["change"]
    assert (await rpc("Evaluate", handle, ["Sum(Amount)"]))["qReturn"] == str(by_region[regions[0]])
    selected_customers = {o["CustomerID"] for o in orders(state) if o["Region"] == regions[0]}
    field = (await rpc("GetField", handle, ["CustomerID"]))["qReturn"]["qHandle"]
    assert (await rpc("GetCardinal", field))["qReturn"] == 5
    listbox = {"qInfo": {"qType": "listbox"}, "qListObjectDef": {
        "qDef": {"qFieldDefs": ["CustomerID"]}, "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1,
                                                                        "qHeight": 10}]}}
    lb = (await rpc("CreateSessionObject", handle, [listbox]))["qReturn"]["qHandle"]
    matrix = (await rpc("GetLayout", lb))["qLayout"]["qListObject"]["qDataPages"][0]["qMatrix"]
    assert {row[0]["qText"] for row in matrix if row[0]["qState"] == "O"} == selected_customers
    assert {row[0]["qState"] for row in matrix if row[0]["qText"] not in selected_customers} <= {"X"}
    # Field.Select replaces, SelectValues toggles, ClearAll forgets.
    region = (await rpc("GetField", handle, ["Region"]))["qReturn"]["qHandle"]
    assert (await rpc("Select", region, [regions[1]]))["qReturn"] is True
    assert (await rpc("Evaluate", handle, ["Only(Region)"]))["qReturn"] == regions[1]
    await rpc("SelectValues", region, [[{"qText": regions[2], "qIsNumeric": False, "qNumber": 0}], True])
    both = by_region[regions[1]] + by_region[regions[2]]
    assert (await rpc("Evaluate", handle, ["Sum(Amount)"]))["qReturn"] == str(both)
    await rpc("ClearAll", handle, [])
    assert (await rpc("Evaluate", handle, ["Sum(Amount)"]))["qReturn"] == str(sum(by_region.values()))
    assert (await rpc.error("SelectHyperCubeValues", cube, ["/qHyperCubeDef", 0, [999], False]))["code"] == -32602


async def test_search_streams_and_media(doc: tuple[Rpc, int], state: State) -> None:
    rpc, handle = doc
    result = (await rpc("SearchResults", handle, [{}, ["glob"], {"qOffset": 0, "qCount": 10}]))["qResult"]
    (group,) = result["qSearchGroupArray"]
    (item,) = group["qItems"]
    assert item["qIdentifier"] == "CustomerName" and item["qItemMatches"][0]["qText"] == "Globex"
    suggest = (await rpc("SearchSuggest", handle, [{}, ["ware"]]))["qResult"]
    assert {s["qValue"] for s in suggest["qSuggestions"]} == {"hardware", "software"}
    objects = (await rpc("SearchObjects", handle, [{}, "revenue", {"qOffset": 0, "qCount": 10}]))["qResult"]
    titles = {i["qItemMatches"][0]["qText"] for i in objects["qSearchGroupArray"][0]["qItems"]}
    assert {"Revenue by Region", "Revenue trend", "Revenue"} <= titles
    streams = (await rpc("GetStreamList", -1))["qStreamList"]
    assert {s["qName"] for s in streams} == {s.name for s in state.streams.values()}
    media = await rpc("GetMediaList", handle)
    assert media["qReturn"] is True and len(media["qList"]["qItems"]) == 3


async def test_set_properties_and_patches_persist_only_after_do_save(
    engine: EngineServer, certs_dir: Path, state: State
) -> None:
    app_id = sales_app(state).id
    async with session(engine, certs_dir) as rpc:
        handle = await rpc.open(app_id)
        sheet = (await rpc("GetObject", handle, ["7d1f2a3b-sheet-overview"]))["qReturn"]["qHandle"]
        props = (await rpc("GetProperties", sheet))["qProp"]
        await rpc("SetProperties", sheet, [{**props, "qMetaDef": {**props["qMetaDef"], "title": "Renamed"}}])
        patch = {"qOp": "replace", "qPath": "/qMetaDef/description", "qValue": '"patched"'}
        await rpc("ApplyPatches", sheet, [[patch]])
        layout = (await rpc("GetLayout", sheet))["qLayout"]
        assert layout["qMeta"]["title"] == "Renamed" and layout["qMeta"]["description"] == "patched"
        bad = await rpc.error("ApplyPatches", sheet, [[{"qOp": "replace", "qPath": "/qInfo/qId", "qValue": '"x"'}]])
        assert bad["code"] == -32602
    async with session(engine, certs_dir) as rpc:  # closed without DoSave: the edit is gone
        handle = await rpc.open(app_id)
        sheet = (await rpc("GetObject", handle, ["7d1f2a3b-sheet-overview"]))["qReturn"]["qHandle"]
        assert (await rpc("GetLayout", sheet))["qLayout"]["qMeta"]["title"] == "Overview"
        props = (await rpc("GetProperties", sheet))["qProp"]
        await rpc("SetProperties", sheet, [{**props, "qMetaDef": {**props["qMetaDef"], "title": "Saved"}}])
        await rpc("DoSave", handle)
    async with session(engine, certs_dir) as rpc:
        handle = await rpc.open(app_id)
        sheet = (await rpc("GetObject", handle, ["7d1f2a3b-sheet-overview"]))["qReturn"]["qHandle"]
        assert (await rpc("GetLayout", sheet))["qLayout"]["qMeta"]["title"] == "Saved"
        listing = await rpc("CreateSessionObject", handle, [{"qInfo": {"qType": "sheetList"},
                                                            "qAppObjectListDef": {"qType": "sheet"}}])
        items = (await rpc("GetLayout", listing["qReturn"]["qHandle"]))["qLayout"]["qAppObjectList"]["qItems"]
        assert "Saved" in {i["qMeta"]["title"] for i in items}


async def test_virtual_proxy_prefix_on_the_engine_path(engine: EngineServer, certs_dir: Path, state: State) -> None:
    async with session(engine, certs_dir, path=f"/sales/app/{sales_app(state).id}") as rpc:
        handle = await rpc.open(sales_app(state).id)
        assert (await rpc("GetAppLayout", handle))["qLayout"]["qTitle"] == "Sales Dashboard"


async def test_created_objects_and_master_items_persist_after_do_save(
    engine: EngineServer, certs_dir: Path, state: State
) -> None:
    app_id = sales_app(state).id
    sheet_list = {"qInfo": {"qType": "sheetList"}, "qAppObjectListDef": {"qType": "sheet"}}

    async def sheet_titles(rpc: Rpc, handle: int) -> set[str]:
        listing = (await rpc("CreateSessionObject", handle, [sheet_list]))["qReturn"]["qHandle"]
        items = (await rpc("GetLayout", listing))["qLayout"]["qAppObjectList"]["qItems"]
        return {i["qMeta"]["title"] for i in items}

    async with session(engine, certs_dir) as rpc:
        handle = await rpc.open(app_id)
        created = await rpc.ask("CreateObject", handle, [{"qInfo": {"qId": "newsheet1", "qType": "sheet"},
                                                          "qMetaDef": {"title": "Created sheet"}}])
        result = created["result"]
        assert result["qInfo"] == {"qId": "newsheet1", "qType": "sheet"}
        assert result["qReturn"]["qType"] == "GenericObject" and result["qReturn"]["qGenericId"] == "newsheet1"
        assert handle in created["change"]
        layout = (await rpc("GetLayout", result["qReturn"]["qHandle"]))["qLayout"]
        assert layout["qMeta"]["title"] == "Created sheet" and layout["qMeta"]["published"] is False
        assert "Created sheet" in await sheet_titles(rpc, handle)
        # An id already used by any entity of the document is refused with LOCERR_GENERIC_ALREADY_EXISTS.
        for method, qid in (("CreateObject", "newsheet1"), ("CreateMeasure", "newsheet1"),
                            ("CreateObject", "7d1f2a3b-sheet-overview")):
            error = await rpc.error(method, handle, [{"qInfo": {"qId": qid, "qType": "sheet"}}])
            assert (error["code"], error["parameter"]) == (3, qid)
        assert (await rpc.error("CreateObject", handle, [{"qInfo": {"qId": "x"}}]))["code"] == -32602
        # No id: the engine names the object.
        named = (await rpc("CreateMeasure", handle, [{"qInfo": {"qType": "measure"},
                                                      "qMeasure": {"qLabel": "Orders", "qDef": "Count(OrderID)"},
                                                      "qMetaDef": {"title": "Order count"}}]))
        measure_id = named["qInfo"]["qId"]
        assert measure_id and named["qReturn"]["qType"] == "GenericMeasure"
        dim = await rpc("CreateDimension", handle, [{"qInfo": {"qId": "dimRegion2"},
                                                    "qDim": {"qFieldDefs": ["Region"], "qGrouping": "N"},
                                                    "qMetaDef": {"title": "Region again"}}])
        assert dim["qInfo"] == {"qId": "dimRegion2", "qType": "dimension"}
        dim_handle = dim["qReturn"]["qHandle"]
        dim_layout = (await rpc("GetLayout", dim_handle))["qLayout"]
        assert len(dim_layout["qDimInfos"]) == 1
        created_at = dim_layout["qMeta"]["createdDate"]
        dim_props = (await rpc("GetProperties", dim_handle))["qProp"]
        await rpc("SetProperties", dim_handle, [{**dim_props, "qMetaDef": {"title": "Region (edited)"}}])
        edited = (await rpc("GetLayout", dim_handle))["qLayout"]["qMeta"]
        assert (edited["title"], edited["createdDate"]) == ("Region (edited)", created_at)
        variable = (await rpc("GetVariableByName", handle, ["vToday"]))["qReturn"]["qHandle"]
        var_props = (await rpc("GetProperties", variable))["qProp"]
        await rpc("SetProperties", variable, [{**var_props, "qComment": "edited through the engine"}])
        assert (await rpc("GetProperties", variable))["qProp"]["qComment"] == "edited through the engine"
        bookmark = await rpc("CreateBookmark", handle, [{"qInfo": {"qId": "bm-new", "qType": "bookmark"},
                                                        "qMetaDef": {"title": "New bookmark"}}])
        assert bookmark["qReturn"]["qType"] == "GenericBookmark"
        # Destroying the seeded overview sheet takes its cells along and closes its open handle.
        overview = (await rpc("GetObject", handle, ["7d1f2a3b-sheet-overview"]))["qReturn"]["qHandle"]
        cells = [c["qId"] for c in (await rpc("GetChildInfos", overview))["qInfos"]]
        assert cells
        gone = await rpc.ask("DestroyObject", handle, ["7d1f2a3b-sheet-overview"])
        assert gone["result"] == {"qSuccess": True} and gone["close"] == [overview]
        assert (await rpc("GetObject", handle, [cells[0]]))["qReturn"] == {"qType": None, "qHandle": None}
        assert (await rpc("DestroyObject", handle, ["no-such-object"])) == {"qSuccess": False}
        assert (await rpc("DestroyDimension", handle, ["newsheet1"])) == {"qSuccess": False}
        assert (await rpc("DestroyBookmark", handle, ["bm-new"])) == {"qSuccess": True}
        await rpc("DoSave", handle)
    async with session(engine, certs_dir) as rpc:
        handle = await rpc.open(app_id)
        titles = await sheet_titles(rpc, handle)
        assert "Created sheet" in titles and "Overview" not in titles
        ids = {i["qId"] for i in (await rpc("GetAllInfos", handle))["qInfos"]}
        assert {"newsheet1", measure_id, "dimRegion2"} <= ids
        dim = (await rpc("GetDimension", handle, ["dimRegion2"]))["qReturn"]["qHandle"]
        assert (await rpc("GetLayout", dim))["qLayout"]["qMeta"]["title"] == "Region (edited)"
        assert "bm-new" not in ids and "7d1f2a3b-sheet-overview" not in ids and cells[0] not in ids
        measure = (await rpc("GetMeasure", handle, [measure_id]))["qReturn"]["qHandle"]
        assert (await rpc("GetMeasure", measure))["qMeasure"]["qDef"] == "Count(OrderID)"
        # Destroyed without a save: back after the document is closed.
        assert (await rpc("DestroyMeasure", handle, [measure_id])) == {"qSuccess": True}
    async with session(engine, certs_dir) as rpc:
        handle = await rpc.open(app_id)
        assert (await rpc("GetMeasure", handle, [measure_id]))["qReturn"]["qType"] == "GenericMeasure"
