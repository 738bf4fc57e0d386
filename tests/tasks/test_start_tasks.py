"""PUT/POST /v4/reloadtask/{taskId}/start end to end: qbutler → QRS over mTLS → sensesim."""

from __future__ import annotations

import pytest

SALES = "Reload Sales Dashboard"
FINANCE = "Reload Finance Report"
HR = "Reload HR Overview"
OBRIEN = "O'Brien's reload"
UNKNOWN = "3c9e2f5a-6d1b-4c8e-9a0f-000000000000"
EMPTY = {"tasksId": {"started": [], "invalid": [], "denied": []}, "tasksTag": [], "tasksTagDenied": [],
         "tasksCP": [], "tasksCPDenied": []}


def report(**parts):
    result = {**EMPTY, "tasksId": {**EMPTY["tasksId"], **parts.pop("tasksId", {})}}
    result.update(parts)
    return result


def task(c, name: str) -> dict[str, str]:
    return {"taskId": c.task_ids[name], "taskName": name}


async def test_start_by_path_id_answers_butlers_text_json(connect):
    async with connect() as c:
        sales = c.task_ids[SALES]
        response = await c.api.put(f"/v4/reloadtask/{sales}/start", json=[])
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.text.startswith('{\n  "tasksId": {\n    "started": [\n      {\n        "taskId": ')
        assert response.json() == report(tasksId={"started": [task(c, SALES)]})
        assert list(response.json()) == ["tasksId", "tasksTag", "tasksTagDenied", "tasksCP", "tasksCPDenied"]
        assert await c.starts() == [sales]
        started = c.running.service.activity.recent("task.started")
        assert [(a.message, a.data["taskId"]) for a in started] == [(f"Started task {SALES}", sales)]


async def test_post_and_method_override_behave_like_put(connect):
    async with connect() as c:
        sales = c.task_ids[SALES]
        post = await c.api.post(f"/v4/reloadtask/{sales}/start", json=[])
        override = await c.api.post(f"/v4/reloadtask/{sales}/start", json=[],
                                    headers={"X-HTTP-Method-Override": "PUT"})
        assert post.json() == override.json() == report(tasksId={"started": [task(c, SALES)]})


async def test_invalid_ids_upper_case_unknown_and_missing(connect):
    async with connect() as c:
        sales = c.task_ids[SALES]
        body = [{"type": "starttaskid", "payload": {"taskId": "abc"}},
                {"type": "starttaskid", "payload": {"taskId": sales.upper()}},
                {"type": "starttaskid", "payload": {}},
                {"type": "starttaskid", "payload": {"taskId": sales}}]
        response = await c.api.put(f"/v4/reloadtask/{UNKNOWN}/start", json=body)
        assert response.json() == report(tasksId={
            "started": [task(c, SALES)],
            "invalid": [{"taskId": UNKNOWN}, {"taskId": "abc"}, {"taskId": sales.upper()}, {}]})
        assert await c.starts() == [sales]


async def test_dash_with_empty_body_does_nothing(connect):
    async with connect() as c:
        response = await c.api.put("/v4/reloadtask/-/start", json=[])
        assert response.json() == EMPTY
        assert await c.qrs_calls() == []


async def test_start_by_tag_and_custom_property(connect):
    async with connect() as c:
        body = [{"type": "starttasktag", "payload": {"tag": "Nightly"}},
                {"type": "starttaskcustomproperty",
                 "payload": {"customPropertyName": "Department", "customPropertyValue": "HR"}},
                {"type": "starttasktag", "payload": {"tag": "no such tag"}}]
        response = await c.api.put("/v4/reloadtask/-/start", json=body)
        result = response.json()
        assert sorted(t["taskName"] for t in result["tasksTag"]) == [OBRIEN, SALES]
        assert result["tasksCP"] == [task(c, HR)]
        assert sorted(await c.starts()) == sorted(c.task_ids[n] for n in (OBRIEN, SALES, HR))
        lookups = [call["query"] for call in await c.qrs_calls("GET", "/qrs/task/full")]
        assert any("filter=tags.name eq 'Nightly'" in q for q in lookups)
        assert any("filter=(customProperties.definition.name eq 'Department') and "
                   "(customProperties.value eq 'HR')" in q for q in lookups)


async def test_filter_on_allows_only_listed_ids_tags_and_custom_properties(connect):
    async with connect() as c:
        sales, finance, hr = (c.task_ids[n] for n in (SALES, FINANCE, HR))
    allow = {"enable": True, "allowTask": {"taskId": [sales], "tag": ["Critical"],
                                           "customProperty": [{"name": "Department", "value": "HR"}]}}
    async with connect(startTaskFilter=allow) as c:
        body = [{"type": "starttaskid", "payload": {"taskId": finance}},
                {"type": "starttaskid", "payload": {"taskId": "not-a-guid"}},
                {"type": "starttasktag", "payload": {"tag": "Critical"}},
                {"type": "starttasktag", "payload": {"tag": "Nightly"}},
                {"type": "starttaskcustomproperty",
                 "payload": {"customPropertyName": "Department", "customPropertyValue": "HR"}},
                {"type": "starttaskcustomproperty",
                 "payload": {"customPropertyName": "Department", "customPropertyValue": "Sales"}}]
        response = await c.api.put(f"/v4/reloadtask/{sales}/start", json=body)
        assert response.json() == report(
            tasksId={"started": [task(c, SALES)], "invalid": [{"taskId": "not-a-guid"}],
                     "denied": [{"taskId": finance}]},
            tasksTag=[task(c, FINANCE)], tasksTagDenied=[{"tag": "Nightly"}],
            tasksCP=[task(c, HR)], tasksCPDenied=[{"name": "Department", "value": "Sales"}])
        # A task allowed by tag is still denied when asked for by id (Butler's rule), and started by tag.
        assert sorted(await c.starts()) == sorted([sales, finance, hr])
        # A denied id is never looked up in QRS.
        assert not any(finance in call["query"] for call in await c.qrs_calls("GET", "/qrs/task"))


async def test_filter_off_starts_everything_requested(connect):
    async with connect(startTaskFilter={"enable": False, "allowTask": {"taskId": []}}) as c:
        finance = c.task_ids[FINANCE]
        response = await c.api.put(f"/v4/reloadtask/{finance}/start", json=[])
        assert response.json()["tasksId"]["started"] == [task(c, FINANCE)]


async def test_all_task_ids_must_exist_blocks_id_starts_only(connect):
    async with connect() as c:
        sales, hr = c.task_ids[SALES], c.task_ids[HR]
        body = [{"type": "starttaskid", "payload": {"taskId": UNKNOWN}},
                {"type": "starttaskid", "payload": {"taskId": hr}},
                {"type": "starttasktag", "payload": {"tag": "Critical"}}]
        response = await c.api.put(f"/v4/reloadtask/{sales}/start?allTaskIdsMustExist=true", json=body)
        assert response.json() == report(
            tasksId={"started": [], "invalid": [{"taskId": UNKNOWN}],
                     "denied": [{"taskId": sales}, {"taskId": hr}]},
            tasksTag=[task(c, FINANCE)])
        assert await c.starts() == [c.task_ids[FINANCE]]


async def test_all_task_ids_must_exist_when_all_exist(connect):
    async with connect() as c:
        sales = c.task_ids[SALES]
        response = await c.api.put(f"/v4/reloadtask/{sales}/start?allTaskIdsMustExist=true", json=[])
        assert response.json()["tasksId"]["started"] == [task(c, SALES)]


async def test_kv_items_are_written_even_when_nothing_starts(connect):
    async with connect() as c:
        body = [{"type": "keyvaluestore", "payload": {"namespace": "etl", "key": "lastRun", "value": "20240110"}},
                {"type": "keyvaluestore", "payload": {"namespace": "etl", "key": "count", "value": 42,
                                                      "ttl": "60000"}},
                {"type": "keyvaluestore", "payload": {"namespace": "etl", "key": "skipped", "value": ""}},
                {"type": "starttaskid", "payload": {"taskId": "abc"}}]
        response = await c.api.put("/v4/reloadtask/-/start", json=body)
        assert response.json() == report(tasksId={"invalid": [{"taskId": "abc"}]})
        assert (await c.api.get("/v4/keyvalues/etl", params={"key": "lastRun"})).json()["value"] == "20240110"
        assert (await c.api.get("/v4/keyvalues/etl", params={"key": "count"})).json()["value"] == "42"
        assert (await c.running.service.kv.get("etl", "count")).ttl_ms == 60000
        assert (await c.api.get("/v4/keyvalues/etl/keyexists", params={"key": "skipped"})).json()["keyExists"] is False


async def test_kv_items_honour_the_namespace_key_limit_all_or_nothing(connect):
    async with connect(keyValueStore={"maxKeysPerNamespace": 2}) as c:
        kv = c.running.service.kv
        await kv.set("etl", "a", "1")
        start = {"type": "starttaskid", "payload": {"taskId": c.task_ids[SALES]}}
        # Overwriting `a` needs no room, but two new keys do not fit beside it.
        body = [{"type": "keyvaluestore", "payload": {"namespace": "etl", "key": key, "value": "2"}}
                for key in ("a", "b", "c")] + [start]
        response = await c.api.put("/v4/reloadtask/-/start", json=body)
        assert response.status_code == 400
        message = response.json()["message"]
        assert "Namespace etl" in message and "maximum of 2 keys" in message
        assert "maxKeysPerNamespace" in message and "nothing was applied" in message
        assert await c.qrs_calls() == []
        assert [(e.key, e.value) for e in await kv.entries("etl")] == [("a", "1")]
        # One new key fits.
        response = await c.api.put("/v4/reloadtask/-/start", json=[*body[:2], start])
        assert response.status_code == 200
        assert [(e.key, e.value) for e in await kv.entries("etl")] == [("a", "2"), ("b", "2")]
        assert await c.starts() == [c.task_ids[SALES]]


async def test_kv_items_may_not_write_qbutlers_internal_namespaces(connect):
    async with connect() as c:
        body = [{"type": "keyvaluestore", "payload": {"namespace": "etl", "key": "k", "value": "v"}},
                {"type": "keyvaluestore", "payload": {"namespace": "qbutler.udp-dedup", "key": "k", "value": "v"}},
                {"type": "starttaskid", "payload": {"taskId": c.task_ids[SALES]}}]
        response = await c.api.put("/v4/reloadtask/-/start", json=body)
        assert response.status_code == 400
        assert response.json()["message"] == ("Namespace qbutler.udp-dedup is reserved for qbutler's internal "
                                              "records (namespaces starting with 'qbutler.')")
        assert await c.qrs_calls() == []
        assert await c.running.service.kv.namespaces() == []


async def test_kv_items_ignored_when_kv_endpoints_are_off(connect):
    from support.qbutler import ALL_SWITCHES

    async with connect(restServerEndpointsEnable={**ALL_SWITCHES, "keyValueStore": False}) as c:
        body = [{"type": "keyvaluestore", "payload": {"namespace": "etl", "key": "k", "value": "v"}}]
        assert (await c.api.put("/v4/reloadtask/-/start", json=body)).status_code == 200
        assert await c.running.service.kv.get("etl", "k") is None


async def test_task_matched_several_ways_is_started_once(connect):
    async with connect() as c:
        sales = c.task_ids[SALES]
        body = [{"type": "starttaskid", "payload": {"taskId": sales}},
                {"type": "starttasktag", "payload": {"tag": "Finance"}},
                {"type": "starttasktag", "payload": {"tag": "Nightly"}},
                {"type": "starttaskcustomproperty",
                 "payload": {"customPropertyName": "Department", "customPropertyValue": "Sales"}}]
        response = await c.api.put(f"/v4/reloadtask/{sales}/start", json=body)
        result = response.json()
        assert result["tasksId"]["started"] == [task(c, SALES)]
        assert sorted(t["taskName"] for t in result["tasksTag"]) == sorted([FINANCE, OBRIEN, SALES])
        assert result["tasksCP"] == [task(c, SALES)]
        starts = await c.starts()
        assert sorted(starts) == sorted({c.task_ids[n] for n in (SALES, FINANCE, OBRIEN)})


async def test_item_without_payload_is_400_and_nothing_is_applied(connect):
    async with connect() as c:
        body = [{"type": "keyvaluestore", "payload": {"namespace": "etl", "key": "k", "value": "v"}},
                {"type": "starttaskid", "payload": {"taskId": c.task_ids[SALES]}},
                {"type": "starttasktag"}]
        response = await c.api.put("/v4/reloadtask/-/start", json=body)
        assert response.status_code == 400
        assert response.json() == {"statusCode": 400, "code": "FST_ERR_VALIDATION", "error": "Bad Request",
                                   "message": "body/2 must have required property 'payload'"}
        assert await c.qrs_calls() == []
        assert await c.running.service.kv.get("etl", "k") is None


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/v4/reloadtask/-/start", None, "body/0 must be object"),
    ("/v4/reloadtask/-/start", {}, "body must be array"),
    ("/v4/reloadtask/-/start", [{"type": "startall", "payload": {}}],
     "body/0/type must be equal to one of the allowed values"),
    ("/v4/reloadtask/-/start", [{"type": "starttasktag", "payload": "Nightly"}], "body/0/payload must be object"),
    ("/v4/reloadtask/-/start", [{"type": "starttasktag", "payload": {}}],
     "body/0/payload must have a string property 'tag'"),
    ("/v4/reloadtask/-/start?allTaskIdsMustExist=maybe", [], "querystring/allTaskIdsMustExist must be boolean"),
])
async def test_validation_errors(connect, path, body, message):
    async with connect() as c:
        response = await c.api.put(path, json=body) if body is not None else await c.api.put(path)
        assert response.status_code == 400
        assert response.json()["message"] == message
        assert await c.qrs_calls() == []


async def test_empty_task_id_segment(connect):
    async with connect() as c:
        response = await c.api.put("/v4/reloadtask//start", json=[])
        assert response.status_code == 400
        assert response.json() == {"statusCode": 400, "error": "Bad Request", "message":
                                   'Required parameter (task ID) missing. Should be a task ID or "-" if task '
                                   "info is passed in body"}


async def test_qrs_failure_during_lookup_is_500_and_nothing_is_applied(connect):
    async with connect() as c:
        await c.sense.fault(service="qrs", match="/qrs/task/full", status=500, body="database offline")
        body = [{"type": "keyvaluestore", "payload": {"namespace": "etl", "key": "k", "value": "v"}},
                {"type": "starttasktag", "payload": {"tag": "Nightly"}}]
        response = await c.api.put(f"/v4/reloadtask/{c.task_ids[SALES]}/start", json=body)
        assert response.status_code == 500
        message = response.json()["message"]
        assert message.startswith("Failed starting task: Looking up tasks failed: QRS GET ")
        assert "answered 500" in message and "database offline" in message
        assert await c.starts() == []
        assert await c.running.service.kv.get("etl", "k") is None


async def test_refused_start_is_reported_on_the_task(connect):
    async with connect() as c:
        sales = c.task_ids[SALES]
        await c.sense.fault(service="qrs", match=f"/qrs/task/{sales}/start", status=409, body="busy")
        response = await c.api.put(f"/v4/reloadtask/{sales}/start", json=[])
        started = response.json()["tasksId"]["started"]
        assert started[0]["taskId"] == sales and "answered 409" in started[0]["error"]


async def test_wait_reports_final_status_of_succeeding_and_failing_tasks(connect):
    async with connect() as c:
        sales, finance = c.task_ids[SALES], c.task_ids[FINANCE]
        body = [{"type": "starttaskid", "payload": {"taskId": finance}}]
        response = await c.api.put(f"/v4/reloadtask/{sales}/start?wait=true", json=body)
        started = {t["taskName"]: t for t in response.json()["tasksId"]["started"]}
        assert started[SALES]["status"] == "FinishedSuccess" and started[SALES]["finished"] is True
        assert started[FINANCE]["status"] == "FinishedFail" and started[FINANCE]["finished"] is True
        for entry in started.values():
            assert entry["duration"] > 0 and len(entry["executionId"]) == 36
        results = await c.running.service.qrs.get(
            "executionresult", {"filter": f"ExecutionId eq {started[SALES]['executionId']}"})
        assert results[0]["taskID"] == sales and results[0]["status"] == 7


async def test_wait_is_bounded(connect):
    async with connect(startTaskWait={"maxWaitSeconds": 0.05}) as c:
        sales = c.task_ids[SALES]
        response = await c.api.put(f"/v4/reloadtask/{sales}/start?wait=true", json=[])
        entry = response.json()["tasksId"]["started"][0]
        assert entry["finished"] is False and entry["duration"] is None
        assert entry["status"] in ("Triggered", "Started")


async def test_wait_on_a_disabled_task_says_it_did_not_start(connect):
    async with connect() as c:
        disabled = c.task_ids["Reload Sales disabled"]
        response = await c.api.put(f"/v4/reloadtask/{disabled}/start?wait=true", json=[])
        entry = response.json()["tasksId"]["started"][0]
        assert entry["status"] == "NotStarted" and entry["executionId"] is None


async def test_start_task_for_other_areas_raises_clear_error(connect):
    from qbutler.actions.tasks import TaskStartError

    async with connect() as c:
        await c.running.service.tasks.start_task(c.task_ids[SALES])
        with pytest.raises(TaskStartError) as caught:
            await c.running.service.tasks.start_task(UNKNOWN)
        assert f"Starting task {UNKNOWN} failed" in str(caught.value) and "404" in str(caught.value)
        assert await c.starts() == [c.task_ids[SALES], UNKNOWN]


async def test_wait_follows_retries_to_the_final_attempt(connect):
    async with connect() as c:
        retrying = c.task_ids["Reload Broken App with retries"]
        response = await c.api.put(f"/v4/reloadtask/{retrying}/start?wait=true", json=[])
        entry = response.json()["tasksId"]["started"][0]
        assert entry["status"] == "FinishedFail" and entry["finished"] is True
        attempts = await c.running.service.qrs.get("executionresult",
                                                   {"filter": f"ExecutionId eq {entry['executionId']}"})
        assert sorted(a["status"] for a in attempts) == [8, 10, 10]  # two retries, then the final failure
