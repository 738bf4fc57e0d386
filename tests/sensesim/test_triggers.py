"""Schema events and composite events as QRS entities that drive the task runner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from support.sensesim_support import SALES_APP, XRFKEY, Qrs, UdpListener

NULL_GUID = "00000000-0000-0000-0000-000000000000"
FINANCE_APP_NAME = "Finance Report"


def fields(datagram: bytes) -> list[str]:
    return datagram.decode("utf-8").split(";")


async def put(qrs: Qrs, path: str, body: Any) -> httpx.Response:
    return await qrs.client.put(path, params={"xrfkey": XRFKEY}, json=body)


async def create_task(qrs: Qrs, name: str, **bundle: Any) -> dict[str, Any]:
    answer = await qrs.post("/qrs/reloadtask/create", {"task": {"app": {"id": SALES_APP}, "name": name}, **bundle})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def test_seeded_chains_are_composite_events_with_count_full_and_filters(qrs: Qrs) -> None:
    events = await qrs.json("/qrs/compositeevent/full")
    assert (await qrs.json("/qrs/compositeevent/count")) == {"value": len(events)} and len(events) == 2
    chain = next(e for e in events if e["reloadTask"]["name"] == "Chain next")
    assert chain["schemaPath"] == "CompositeEvent" and chain["eventType"] == 1
    assert chain["timeConstraint"]["minutes"] == 360
    (rule,) = chain["compositeRules"]
    assert rule["ruleState"] == 1 and rule["reloadTask"]["name"] == "Chain start"
    failing = await qrs.json("/qrs/compositeevent", filter="compositeRules.ruleState eq 2")
    assert [e["name"] for e in failing] == ["Chain recovery on failure of Chain fails"]
    assert set(failing[0]) == {"id", "name", "enabled", "eventType", "operational", "privileges"}
    ordered = await qrs.json("/qrs/compositeevent/full", orderby="name desc")
    assert [e["name"] for e in ordered] == sorted((e["name"] for e in events), reverse=True)
    assert await qrs.json("/qrs/schemaevent") == []


async def test_composite_event_created_through_qrs_chains_two_tasks(qrs: Qrs, udp: UdpListener) -> None:
    first = await create_task(qrs, "Chain head (QRS)")
    second = await create_task(
        qrs,
        "Chain tail (QRS)",
        compositeEvents=[{
            "name": "After head",
            "enabled": True,
            "eventType": 1,
            "timeConstraint": {"days": 0, "hours": 0, "minutes": 30, "seconds": 0},
            "compositeRules": [{"reloadTask": {"id": first["id"]}, "ruleState": 1}],
        }],
    )
    events = await qrs.json("/qrs/compositeevent/full", filter=f"reloadTask.id eq {second['id']}")
    assert len(events) == 1 and events[0]["compositeRules"][0]["reloadTask"]["id"] == first["id"]
    assert (await qrs.post(f"/qrs/task/{first['id']}/start")).status_code == 204
    head, tail = fields(await udp.receive()), fields(await udp.receive())
    assert (head[0], head[5]) == ("/scheduler-task-success/", first["id"])
    assert (tail[0], tail[5], tail[2]) == ("/scheduler-task-success/", second["id"], "Chain tail (QRS)")
    assert tail[4] == "INTERNAL\\sa_scheduler"
    done = await qrs.wait_status(second["id"], {7})
    assert done["operational"]["lastExecutionResult"]["status"] == 7
    fired = await qrs.json(f"/qrs/compositeevent/{events[0]['id']}")
    assert fired["operational"]["timesTriggered"] == 1


async def test_two_rules_wait_for_both_tasks(qrs: Qrs, udp: UdpListener) -> None:
    a = await create_task(qrs, "Rule A")
    b = await create_task(qrs, "Rule B")
    c = await create_task(qrs, "Needs A and B", compositeEvents=[{
        "name": "A and B", "compositeRules": [{"reloadTask": {"id": a["id"]}, "ruleState": 1},
                                              {"reloadTask": {"id": b["id"]}, "ruleState": 1}]}])
    await qrs.post(f"/qrs/task/{a['id']}/start")
    assert fields(await udp.receive())[5] == a["id"]
    await qrs.post(f"/qrs/task/{b['id']}/start")
    assert fields(await udp.receive())[5] == b["id"]
    assert fields(await udp.receive())[5] == c["id"]


async def test_schema_event_fires_when_the_clock_reaches_it(
    qrs: Qrs, udp: UdpListener, control: httpx.AsyncClient
) -> None:
    start = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000")
    task = await create_task(qrs, "Hourly at a later start", schemaEvents=[{
        "timeZone": "UTC", "daylightSavingTime": 0, "startDate": start,
        "expirationDate": "9999-01-01T00:00:00.000", "schemaFilterDescription": ["* * - * * * * *"],
        "incrementDescription": "0 1 0 0", "incrementOption": 1, "name": "Hourly", "enabled": True,
    }])
    (event,) = await qrs.json("/qrs/schemaevent/full", filter=f"reloadTask.id eq {task['id']}")
    assert event["operational"]["nextExecution"] == start + "Z"
    assert (await qrs.json("/qrs/schemaevent/count", filter="incrementOption eq 1")) == {"value": 1}
    assert udp.pending() == []
    answer = await control.post("/clock", json={"advanceSeconds": 3601})
    assert answer.status_code == 200 and answer.json()["fired"] == 1
    f = fields(await udp.receive())
    assert (f[0], f[5]) == ("/scheduler-task-success/", task["id"])
    after = await qrs.json(f"/qrs/schemaevent/{event['id']}")
    assert after["operational"]["timesTriggered"] == 1
    expected_next = datetime.fromisoformat(start + "+00:00") + timedelta(hours=1)
    assert after["operational"]["nextExecution"] == expected_next.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (await control.post("/clock", json={"advanceSeconds": -1})).status_code == 400


async def test_update_and_delete_reload_task_with_triggers(qrs: Qrs) -> None:
    task = await create_task(qrs, "Editable", schemaEvents=[{"name": "Daily", "incrementOption": 2,
                                                             "incrementDescription": "0 0 1 0"}])
    renamed = await put(qrs, f"/qrs/reloadtask/{task['id']}", {**task, "name": "Edited", "maxRetries": 2})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Edited" and renamed.json()["maxRetries"] == 2
    stale = await put(qrs, f"/qrs/reloadtask/{task['id']}", {"modifiedDate": "2001-01-01T00:00:00.000Z"})
    assert stale.status_code == 409
    (event,) = await qrs.json("/qrs/schemaevent/full", filter=f"reloadTask.id eq {task['id']}")
    bundle = {"task": renamed.json(), "schemaEventsToDelete": [event["id"]],
              "compositeEvents": [{"name": "After Sales", "compositeRules": [
                  {"reloadTask": {"id": "3c9e2f5a-6d1b-4c8e-9a0f-2b7d4e6f8a1c"}, "ruleState": 2}]}]}
    updated = await qrs.post("/qrs/reloadtask/update", bundle)
    assert updated.status_code == 201, updated.text
    assert await qrs.json("/qrs/schemaevent/full", filter=f"reloadTask.id eq {task['id']}") == []
    assert len(await qrs.json("/qrs/compositeevent", filter=f"reloadTask.id eq {task['id']}")) == 1
    assert (await qrs.delete(f"/qrs/reloadtask/{task['id']}")).status_code == 204
    assert (await qrs.get(f"/qrs/reloadtask/{task['id']}")).status_code == 404
    assert await qrs.json("/qrs/compositeevent", filter=f"reloadTask.id eq {task['id']}") == []
    assert (await qrs.delete(f"/qrs/reloadtask/{task['id']}")).status_code == 404


async def test_event_endpoints_create_update_delete(qrs: Qrs) -> None:
    task = await create_task(qrs, "Owner of events")
    created = await qrs.post("/qrs/schemaevent", {"name": "Weekly", "incrementOption": 3,
                                                  "incrementDescription": "0 0 0 1",
                                                  "reloadTask": {"id": task["id"]}})
    assert created.status_code == 201 and created.json()["reloadTask"]["id"] == task["id"]
    eid = created.json()["id"]
    changed = await put(qrs, f"/qrs/schemaevent/{eid}", {"enabled": False})
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert changed.json()["incrementOption"] == 3
    assert (await qrs.delete(f"/qrs/schemaevent/{eid}")).status_code == 204
    assert (await qrs.get(f"/qrs/schemaevent/{eid}")).status_code == 404


async def test_bad_bodies_are_refused_whole(qrs: Qrs) -> None:
    before = (await qrs.json("/qrs/reloadtask/count"))["value"]
    cases = [
        ({"task": {"name": "x"}}, 400, "task.app is required"),
        ({"task": {"app": {"id": NULL_GUID}, "name": "x"}}, 404, "not found"),
        ({"task": {"app": {"id": SALES_APP}}}, 400, "task.name is required"),
        ({"task": {"app": {"id": SALES_APP}, "name": "x"}, "schemaEvents": [{"name": "s", "incrementOption": 9}]},
         400, "incrementOption"),
        ({"task": {"app": {"id": SALES_APP}, "name": "x"},
          "compositeEvents": [{"name": "c", "compositeRules": [{"reloadTask": {"id": SALES_APP}, "ruleState": 1}]}]},
         404, "not found"),
        ({"task": {"app": {"id": SALES_APP}, "name": "x"},
          "compositeEvents": [{"name": "c", "compositeRules": [{"ruleState": 3}]}]}, 400, "ruleState"),
        ([], 400, "JSON object"),
    ]
    for body, status, message in cases:
        answer = await qrs.post("/qrs/reloadtask/create", body)
        assert answer.status_code == status and message in answer.text, (body, answer.text)
    assert (await qrs.json("/qrs/reloadtask/count"))["value"] == before


async def test_reset_after_qrs_writes_leaves_a_consistent_site(qrs: Qrs, control: httpx.AsyncClient) -> None:
    created = await create_task(qrs, "Made at run time", compositeEvents=[{
        "name": "After Sales", "compositeRules": [
            {"reloadTask": {"id": "3c9e2f5a-6d1b-4c8e-9a0f-2b7d4e6f8a1c"}, "ruleState": 1}]}])
    finance = (await qrs.json("/qrs/app", filter="name eq 'Finance Report'"))[0]
    assert (await qrs.delete(f"/qrs/app/{finance['id']}")).status_code == 204
    events_before = len(await qrs.json("/qrs/compositeevent/full"))
    assert (await control.post("/reset")).status_code == 200
    assert (await qrs.get(f"/qrs/reloadtask/{created['id']}")).status_code == 404
    assert await qrs.json("/qrs/compositeevent", filter=f"reloadTask.id eq {created['id']}") == []
    assert len(await qrs.json("/qrs/compositeevent/full")) == events_before - 1
    assert (await qrs.get(f"/qrs/app/{finance['id']}")).status_code == 404
