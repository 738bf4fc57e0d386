"""QRS endpoints and shapes (reference §1.4, §1.7, §1.8)."""

from __future__ import annotations

import re

import pytest

from support.sensesim_support import SALES_APP, SALES_TASK, XRFKEY, Qrs

NULL_DATE = "1753-01-01T00:00:00.000Z"
NULL_GUID = "00000000-0000-0000-0000-000000000000"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

CONDENSED_APP_KEYS = {
    "id",
    "name",
    "appId",
    "publishTime",
    "published",
    "stream",
    "savedInProductVersion",
    "migrationHash",
    "availabilityStatus",
    "privileges",
}


async def test_condensed_full_and_single_app(qrs: Qrs) -> None:
    condensed = await qrs.json("/qrs/app")
    assert len(condensed) == 4
    assert all(set(a) == CONDENSED_APP_KEYS for a in condensed)
    full = await qrs.json("/qrs/app/full")
    assert {a["id"] for a in full} == {a["id"] for a in condensed}
    sales = await qrs.json(f"/qrs/app/{SALES_APP}")
    assert isinstance(sales, dict)
    assert sales["schemaPath"] == "App"
    assert sales["owner"] == {
        "id": sales["owner"]["id"],
        "userId": "anna",
        "userDirectory": "ACME",
        "userDirectoryConnectorName": "ACME",
        "name": "Anna Svensson",
        "privileges": None,
    }
    assert sales["stream"]["name"] == "Finance" and sales["published"] is True
    assert ISO.match(sales["publishTime"]) and sales["publishTime"] != NULL_DATE
    assert sorted(t["name"] for t in sales["tags"]) == ["Finance", "Nightly"]
    assert sorted(cp["value"] for cp in sales["customProperties"]) == ["Finance", "Sales"]
    cp = sales["customProperties"][0]
    assert cp["schemaPath"] == "CustomPropertyValue"
    assert set(cp["definition"]) == {"id", "name", "valueType", "choiceValues", "privileges"}
    for key in (
        "createdDate",
        "modifiedDate",
        "modifiedByUserName",
        "fileSize",
        "lastReloadTime",
        "description",
    ):
        assert key in sales
    assert all(GUID.match(a["id"]) for a in full)


async def test_unpublished_app_has_null_stream_and_null_publish_time(qrs: Qrs) -> None:
    apps = await qrs.json("/qrs/app/full", filter="name eq 'HR Overview'")
    assert len(apps) == 1
    assert apps[0]["stream"] is None and apps[0]["published"] is False
    assert apps[0]["publishTime"] == NULL_DATE


async def test_app_full_filter_by_id_and_by_tag(qrs: Qrs) -> None:
    assert [a["id"] for a in await qrs.json("/qrs/app/full", filter=f"id eq {SALES_APP}")] == [SALES_APP]
    assert await qrs.json("/qrs/app/full", filter=f"id eq {NULL_GUID}") == []
    finance = await qrs.json("/qrs/app", filter="tags.name eq 'finance'")
    assert sorted(a["name"] for a in finance) == ["Finance Report", "Sales Dashboard"]


async def test_unknown_and_malformed_ids(qrs: Qrs) -> None:
    for kind in ("app", "task", "reloadtask", "user", "executionresult", "executionsession", "tag", "stream"):
        response = await qrs.get(f"/qrs/{kind}/{NULL_GUID}")
        assert response.status_code == 404, kind
        assert response.content == b""
    assert (await qrs.get("/qrs/app/not-a-guid")).status_code == 400
    assert (await qrs.get("/qrs/nosuchtype")).status_code == 404


async def test_paths_are_case_insensitive(qrs: Qrs) -> None:
    assert (await qrs.get(f"/qrs/ReloadTask/{SALES_TASK.upper()}")).status_code == 200
    assert (await qrs.get("/QRS/App/Full")).status_code == 200


async def test_task_condensed_list_by_id(qrs: Qrs) -> None:
    rows = await qrs.json("/qrs/task", filter=f"id eq {SALES_TASK}")
    assert rows == [
        {
            "id": SALES_TASK,
            "name": "Reload Sales Dashboard",
            "taskType": 0,
            "enabled": True,
            "taskSessionTimeout": 1440,
            "maxRetries": 0,
            "privileges": None,
        }
    ]


async def test_reload_task_full_before_any_run(qrs: Qrs) -> None:
    task = await qrs.json(f"/qrs/reloadtask/{SALES_TASK}")
    assert task["schemaPath"] == "ReloadTask"
    assert task["app"]["id"] == SALES_APP and set(task["app"]) == CONDENSED_APP_KEYS
    assert task["isManuallyTriggered"] is False and task["isPartialReload"] is False
    op = task["operational"]
    assert op["nextExecution"] == NULL_DATE
    last = op["lastExecutionResult"]
    assert last["status"] == 0
    assert last["startTime"] == NULL_DATE and last["stopTime"] == NULL_DATE
    assert last["fileReferenceID"] == NULL_GUID
    assert last["details"] == [] and last["duration"] == 0
    assert GUID.match(last["id"])
    for key in ("executingNodeName", "scriptLogAvailable", "scriptLogLocation", "scriptLogSize"):
        assert key in last
    assert sorted(t["name"] for t in task["tags"]) == ["Finance", "Nightly"]
    assert {(cp["definition"]["name"], cp["value"]) for cp in task["customProperties"]} == {
        ("Department", "Sales"),
        ("Butler_FailedAlertEnableEmail", "Yes"),
    }


async def test_task_full_is_polymorphic(qrs: Qrs) -> None:
    tasks = await qrs.json("/qrs/task/full")
    by_schema = {t["schemaPath"] for t in tasks}
    assert by_schema == {"ReloadTask", "ExternalProgramTask", "UserSyncTask", "DistributeTask", "PreloadTask"}
    external = next(t for t in tasks if t["schemaPath"] == "ExternalProgramTask")
    assert external["taskType"] == 1 and external["path"] == "C:\\Scripts\\etl.cmd" and "app" not in external
    usersync = next(t for t in tasks if t["schemaPath"] == "UserSyncTask")
    assert usersync["taskType"] == 2 and usersync["userDirectory"]["name"] == "ACME"
    assert (await qrs.json(f"/qrs/externalprogramtask/{external['id']}"))["id"] == external["id"]
    assert (await qrs.json(f"/qrs/usersynctask/{usersync['id']}"))["id"] == usersync["id"]
    # reloadtask/{id} is for reload tasks only.
    assert (await qrs.get(f"/qrs/reloadtask/{external['id']}")).status_code == 404
    reload_only = await qrs.json("/qrs/reloadtask/full")
    assert {t["taskType"] for t in reload_only} == {0}


async def test_butler_task_lookups(qrs: Qrs) -> None:
    """The filters Butler sends for tasks, §1.7 rows 2-7."""
    by_tag = await qrs.json("/qrs/task/full", filter="tags.name eq 'Nightly'")
    assert sorted(t["name"] for t in by_tag) == ["O'Brien's reload", "Reload Sales Dashboard"]
    by_cp = await qrs.json(
        "/qrs/task/full",
        filter="(customProperties.definition.name eq 'Department') and (customProperties.value eq 'Finance')",
    )
    assert [t["name"] for t in by_cp] == ["Reload Finance Report"]
    is_set = await qrs.json(
        "/qrs/task/full",
        filter=f"id eq {SALES_TASK} and customProperties.definition.name eq 'Butler_FailedAlertEnableEmail' "
        "and customProperties.value eq 'Yes'",
    )
    assert len(is_set) == 1
    values = await qrs.json(
        "/qrs/task/full", filter=f"id eq {SALES_TASK} and customProperties.definition.name eq 'Department'"
    )
    assert [
        cp["value"] for cp in values[0]["customProperties"] if cp["definition"]["name"] == "Department"
    ] == ["Sales"]
    quoted = await qrs.json("/qrs/task", filter="name eq 'O''Brien''s reload'")
    assert len(quoted) == 1


async def test_filter_with_plus_and_percent_encoding(qrs: Qrs) -> None:
    pct = await qrs.client.get(f"/qrs/task?filter=name%20eq%20%27Chain%20start%27&xrfkey={XRFKEY}")
    plus = await qrs.client.get(f"/qrs/task?filter=name+eq+'Chain+start'&xrfkey={XRFKEY}")
    assert pct.status_code == plus.status_code == 200
    assert [t["name"] for t in pct.json()] == [t["name"] for t in plus.json()] == ["Chain start"]


async def test_filter_parse_error_is_400(qrs: Qrs) -> None:
    response = await qrs.get("/qrs/task", filter="name eq 'unterminated")
    assert response.status_code == 400
    assert response.text.startswith("Cannot parse the expression:")
    assert (await qrs.get("/qrs/task/full", filter="nosuch eq 1")).status_code == 400
    assert (await qrs.get("/qrs/task", orderby="name sideways")).status_code == 400


async def test_count_and_orderby(qrs: Qrs) -> None:
    assert await qrs.json("/qrs/app/count") == {"value": 4}
    assert await qrs.json("/qrs/reloadtask/count", filter="tags.name eq 'Finance'") == {"value": 2}
    ordered = await qrs.json("/qrs/app", orderby="name desc")
    assert [a["name"] for a in ordered] == sorted((a["name"] for a in ordered), reverse=True)


async def test_custom_property_definitions(qrs: Qrs) -> None:
    for_tasks = await qrs.json("/qrs/custompropertydefinition/full", filter="objectTypes eq 'ReloadTask'")
    assert {d["name"] for d in for_tasks} == {
        "Department",
        "Butler_FailedAlertEnableEmail",
        "Butler_FailedAlertSendToEmail",
        "Butler_ReloadFailure_Teams",
    }
    by_name = await qrs.json("/qrs/custompropertydefinition/full", filter="name eq 'Department'")
    assert by_name[0]["choiceValues"] == ["Sales", "Finance", "HR"]
    assert by_name[0]["valueType"] == "Text" and by_name[0]["schemaPath"] == "CustomPropertyDefinition"
    assert set(by_name[0]["objectTypes"]) == {"App", "ReloadTask"}


async def test_user_entity_with_email_attribute(qrs: Qrs) -> None:
    app = await qrs.json(f"/qrs/app/{SALES_APP}")
    user = await qrs.json(f"/qrs/user/{app['owner']['id']}")
    assert user["schemaPath"] == "User"
    emails = [a["attributeValue"] for a in user["attributes"] if a["attributeType"].lower() == "email"]
    assert emails == ["anna@acme.example"]
    carl = (await qrs.json("/qrs/user/full", filter="userId eq 'carl'"))[0]
    assert carl["attributes"] == [] and [t["name"] for t in carl["tags"]] == ["License do not release"]
    users = await qrs.json("/qrs/user", filter="userDirectory eq 'INTERNAL'")
    assert {u["userId"] for u in users} == {"sa_repository", "sa_scheduler", "sa_api"}


async def test_tags_and_streams(qrs: Qrs) -> None:
    tags = await qrs.json("/qrs/tag/full")
    assert {t["name"] for t in tags} >= {"Nightly", "Finance", "Critical"}
    assert all(t["schemaPath"] == "Tag" for t in tags)
    assert {s["name"] for s in await qrs.json("/qrs/stream")} == {"Finance", "Everyone"}


async def test_about_and_ping(qrs: Qrs) -> None:
    about = await qrs.json("/qrs/about")
    assert about["schemaPath"] == "About" and about["nodeType"] == 1 and about["buildVersion"]
    ping = await qrs.get("/qrs/ssl/ping")
    assert ping.status_code == 200 and ping.text == "Ping successful"


async def test_license_endpoints(qrs: Qrs) -> None:
    lic = await qrs.json("/qrs/license")
    assert lic["schemaPath"] == "License"
    assert any(line.startswith("Valid To: ") for line in lic["keyDetails"].split("\n"))
    overview = await qrs.json("/qrs/license/accesstypeoverview")
    assert overview["professionalAccess"]["allocated"] == 2
    assert overview["analyzerAccess"]["quarantined"] == 1
    for block in ("analyzerTimeAccess", "loginAccess", "userAccess"):
        assert "enabled" in overview[block]
    stale = await qrs.json(
        "/qrs/license/professionalaccesstype/full", filter="lastUsed le '2023-12-31T23:59:59.999Z'"
    )
    assert [a["user"]["userId"] for a in stale] == ["bob"]
    assert (await qrs.delete(f"/qrs/license/professionalaccesstype/{stale[0]['id']}")).status_code == 204
    assert await qrs.json("/qrs/license/professionalaccesstype/count") == {"value": 1}
    assert (await qrs.delete(f"/qrs/license/professionalaccesstype/{stale[0]['id']}")).status_code == 404
    analyzer = await qrs.json("/qrs/license/analyzeraccesstype/full")
    assert analyzer[0]["quarantined"] is True


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_wrong_method_is_405(qrs: Qrs, method: str) -> None:
    response = await qrs.client.request(method, "/qrs/app", params={"xrfkey": XRFKEY})
    assert response.status_code == 405


async def test_every_call_is_recorded(qrs: Qrs, site: object) -> None:
    await qrs.get("/qrs/app", filter="name eq 'x'")
    await qrs.post(f"/qrs/task/{SALES_TASK}/start", {})
    calls = site.state.calls  # type: ignore[attr-defined]
    assert [(c.service, c.method, c.path) for c in calls[-2:]] == [
        ("qrs", "GET", "/qrs/app"),
        ("qrs", "POST", f"/qrs/task/{SALES_TASK}/start"),
    ]
    assert "filter=name eq 'x'" in calls[-2].query
    assert calls[-1].body == {}
