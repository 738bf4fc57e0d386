"""`POST /qrs/{type}/table` against a reference evaluator written from Qlik's "Create table" page.

The reference below reads the full entities from `/qrs/{type}/full` and builds the expected
ITable itself (property paths, list columns, count(), sort, skip/take); hypothesis picks column
sets, filters and paging with a fixed seed and a bounded number of examples.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensesim.state import build_state
from support.sensesim_support import SALES_APP, Qrs, threaded_site

NULL_GUID = "00000000-0000-0000-0000-000000000000"
TAG_NAMES = ["Nightly", "Finance", "Critical", "Sales", "HR"]


def _seed() -> dict[str, Any]:
    apps = [
        {
            "name": f"App {i:02d} {'ab'[i % 2]}",
            "owner": "ACME\\anna" if i % 3 else "ACME\\bob",
            "stream": "Finance" if i % 4 == 0 else None,
            "tags": [TAG_NAMES[j] for j in range(len(TAG_NAMES)) if (i >> j) & 1],
            "fileSize": 1000 + (i * 7919) % 5000,
        }
        for i in range(30)
    ]
    tasks = [{"name": f"Reload {i:02d}", "app": f"App {i % 7:02d} {'ab'[(i % 7) % 2]}",
              "enabled": i % 5 != 0} for i in range(25)]
    return {
        "streams": [{"name": "Finance"}],
        "users": [{"userDirectory": "ACME", "userId": "anna"}, {"userDirectory": "ACME", "userId": "bob"}],
        "tags": TAG_NAMES,
        "apps": apps,
        "reloadTasks": tasks,
    }


@pytest.fixture(scope="module")
def table_site(certs_dir: Path) -> Iterator[httpx.Client]:
    with threaded_site(certs_dir, state=build_state(_seed()), certs_dir=certs_dir) as (_site, client):
        yield client


def _get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict):
            return None
        match = [k for k in doc if k.lower() == part.lower()]
        if not match:
            return None
        doc = doc[match[0]]
    return doc


def _reference(client: httpx.Client, kind: str, columns: list[dict[str, Any]], query: dict[str, Any]) -> Any:
    docs = client.get(f"/qrs/{kind}/full", params={"filter": query["filter"]} if "filter" in query else {})
    assert docs.status_code == 200
    task_docs = client.get("/qrs/reloadtask/full").json()

    def cell(doc: dict[str, Any], column: dict[str, Any]) -> Any:
        if column["columnType"] == "Property":
            return _get(doc, column["definition"])
        if column["columnType"] == "Function":
            return sum(1 for t in task_docs if (t.get("app") or {}).get("id") == doc["id"])
        return [[cell(item, sub) for sub in column["list"]] for item in _get(doc, column["name"]) or []]

    rows = [[cell(doc, c) for c in columns] for doc in docs.json()]
    if "sortColumn" in query:
        at = [c["name"] for c in columns].index(query["sortColumn"])

        def key(row: list[Any]) -> tuple[int, Any]:
            value = row[at]
            if value is None:
                return (0, "")
            if isinstance(value, bool | int | float):
                return (1, float(value))
            return (2, str(value).casefold())

        rows.sort(key=key, reverse=query.get("orderAscending") == "false")
    skip = int(query.get("skip", 0))
    rows = rows[skip:]
    if "take" in query:
        rows = rows[: int(query["take"])]
    return rows


PROPERTY_COLUMNS = [
    {"name": "id", "columnType": "Property", "definition": "id"},
    {"name": "name", "columnType": "Property", "definition": "name"},
    {"name": "published", "columnType": "Property", "definition": "published"},
    {"name": "fileSize", "columnType": "Property", "definition": "fileSize"},
    {"name": "owner", "columnType": "Property", "definition": "owner.userId"},
    {"name": "streamName", "columnType": "Property", "definition": "stream.name"},
]
TAGS_COLUMN = {
    "name": "tags",
    "columnType": "List",
    "definition": "Tag",
    "list": [{"name": "name", "columnType": "Property", "definition": "name"},
             {"name": "id", "columnType": "Property", "definition": "id"}],
}
COUNT_COLUMN = {"name": "tasks", "columnType": "Function", "definition": "count(ReloadTask)"}
FILTERS = [None, "name ew 'a'", "tags.name eq 'Finance'", "fileSize gt 3000", "published eq true or name sw 'App 1'"]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    columns=st.lists(st.sampled_from(PROPERTY_COLUMNS), min_size=1, max_size=4, unique_by=lambda c: c["name"]),
    with_tags=st.booleans(),
    with_count=st.booleans(),
    filter_text=st.sampled_from(FILTERS),
    sort=st.one_of(st.none(), st.sampled_from(["name", "fileSize", "owner", "streamName"])),
    ascending=st.sampled_from(["true", "false"]),
    skip=st.one_of(st.none(), st.integers(0, 35)),
    take=st.one_of(st.none(), st.integers(0, 12)),
)
def test_app_table_matches_reference(
    table_site: httpx.Client,
    columns: list[dict[str, Any]],
    with_tags: bool,
    with_count: bool,
    filter_text: str | None,
    sort: str | None,
    ascending: str,
    skip: int | None,
    take: int | None,
) -> None:
    columns = list(columns) + ([TAGS_COLUMN] if with_tags else []) + ([COUNT_COLUMN] if with_count else [])
    if sort is not None and sort not in [c["name"] for c in columns]:
        columns.append(next(c for c in PROPERTY_COLUMNS if c["name"] == sort))
    query: dict[str, Any] = {}
    if filter_text:
        query["filter"] = filter_text
    if sort:
        query["sortColumn"] = sort
        query["orderAscending"] = ascending
    if skip is not None:
        query["skip"] = str(skip)
    if take is not None:
        query["take"] = str(take)
    answer = table_site.post("/qrs/app/table", params=query, json={"type": "App", "columns": columns})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {"id", "type", "columnNames", "rows"}
    assert body["id"] == NULL_GUID and body["type"] == "App"
    assert body["columnNames"] == [c["name"] for c in columns]
    assert body["rows"] == _reference(table_site, "app", columns, query)


def test_every_collection_has_a_table(table_site: httpx.Client) -> None:
    kinds = ["app", "task", "reloadtask", "externalprogramtask", "usersynctask", "user", "tag", "stream",
             "custompropertydefinition", "executionresult", "executionsession",
             "license/professionalaccesstype", "license/analyzeraccesstype"]
    for kind in kinds:
        answer = table_site.post(f"/qrs/{kind}/table",
                                 json={"columns": [{"name": "id", "columnType": "Property", "definition": "id"}]})
        assert answer.status_code == 201, (kind, answer.text)
        ids = sorted(row[0] for row in answer.json()["rows"])
        assert ids == sorted(d["id"] for d in table_site.get(f"/qrs/{kind}/full").json()), kind


@pytest.mark.parametrize("kind", ["app", "task", "reloadtask", "user", "tag", "stream", "executionresult"])
@pytest.mark.parametrize("sort", ["name", "id", "taskType", "userId"])
def test_sorted_pages_of_every_collection_match_the_reference(table_site: httpx.Client, kind: str, sort: str) -> None:
    # Sort keys come from the cheap condensed shape where it holds them: they must agree with the
    # full shape the reference reads (a missing property sorts as null).
    columns = [{"name": sort, "columnType": "Property", "definition": sort},
               {"name": "id", "columnType": "Property", "definition": "id"},
               {"name": "modified", "columnType": "Property", "definition": "modifiedDate"}]
    columns = list({c["name"]: c for c in columns}.values())
    for query in ({"sortColumn": sort, "orderAscending": "false", "skip": "2", "take": "5"},
                  {"sortColumn": sort, "take": "3"}, {"skip": "4", "take": "2"}):
        answer = table_site.post(f"/qrs/{kind}/table", params=query, json={"columns": columns})
        assert answer.status_code == 201, answer.text
        assert answer.json()["rows"] == _reference(table_site, kind, columns, query), (kind, query)


@pytest.mark.parametrize(
    ("body", "params", "message"),
    [
        ({"columns": []}, {}, "columns must be a non-empty list"),
        ({"columns": [{"name": "a b", "columnType": "Property", "definition": "id"}]}, {}, "without spaces"),
        ({"columns": [{"name": "x", "columnType": "Column", "definition": "id"}]}, {}, "columnType must be"),
        ({"columns": [{"name": "x", "columnType": "Function", "definition": "sum(App)"}]}, {}, "count(Type"),
        ({"columns": [{"name": "x", "columnType": "List", "definition": "Tag"}]}, {}, "list column 'x'"),
        ({"columns": [{"name": "x", "columnType": "Function", "definition": "count(Nope)"}]}, {"take": "0"},
         "unknown entity type"),
        ({"columns": [{"name": "x", "columnType": "Property", "definition": "id"}]}, {"sortColumn": "y"},
         "sortColumn 'y'"),
        ({"columns": [{"name": "x", "columnType": "Property", "definition": "id"}]}, {"take": "-1"},
         "take must not be negative"),
        ({"columns": [{"name": "x", "columnType": "Property", "definition": "id"}]}, {"skip": "a"},
         "skip must be a whole number"),
        ([1], {}, "TableDefinition"),
    ],
)
def test_bad_definitions_are_400_with_reason(
    table_site: httpx.Client, body: Any, params: dict[str, str], message: str
) -> None:
    answer = table_site.post("/qrs/app/table", params=params, json=body)
    assert answer.status_code == 400
    assert message in answer.text


async def test_table_on_the_minimal_seed(qrs: Qrs) -> None:
    answer = await qrs.post(
        "/qrs/app/table",
        {"columns": [{"name": "name", "columnType": "Property", "definition": "name"}, TAGS_COLUMN]},
        filter=f"id eq {SALES_APP}",
    )
    assert answer.status_code == 201
    rows = answer.json()["rows"]
    assert len(rows) == 1 and sorted(t[0] for t in rows[0][1]) == ["Finance", "Nightly"]
