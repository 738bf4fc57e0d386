"""What site monitors read: ServiceStatus per node, licenses with last-used dates, user flags,
the server license's expiry and the product version, all changeable through the control API."""

from __future__ import annotations

import httpx

from support.sensesim_support import Qrs


async def test_every_node_reports_its_services_running(qrs: Qrs) -> None:
    rows = await qrs.json("/qrs/servicestatus/full")
    assert {(r["serverNodeConfiguration"]["hostName"], r["serviceType"]) for r in rows} == {
        ("sensesim-node1", t) for t in (0, 1, 2, 3, 5)}
    assert all(r["serviceState"] == 2 and r["schemaPath"] == "ServiceStatus" for r in rows)
    assert (await qrs.json("/qrs/servicestatus/count"))["value"] == 5


async def test_stopping_a_service_on_one_node(qrs: Qrs, control: httpx.AsyncClient) -> None:
    nodes = await control.put("/nodes", json={"nodes": ["central", "rim1"]})
    assert nodes.status_code == 200 and len(nodes.json()) == 10
    changed = await control.put("/services/rim1/Scheduler", json={"state": "NoCommunication"})
    assert changed.json()["serviceState"] == 3
    rows = await qrs.json("/qrs/servicestatus/full", filter="serviceState ne 2")
    assert [(r["serverNodeConfiguration"]["hostName"], r["serviceType"]) for r in rows] == [("rim1", 2)]
    assert (await control.put("/services/rim9/Scheduler", json={"state": 2})).status_code == 404
    assert (await control.put("/services/rim1/Scheduler", json={"state": "Sleepy"})).status_code == 400
    assert (await control.put("/nodes", json={"nodes": []})).status_code == 400
    await control.post("/reset")
    assert len(await qrs.json("/qrs/servicestatus")) == 5


async def test_qrs_can_be_made_unreachable_and_back(qrs: Qrs, control: httpx.AsyncClient) -> None:
    assert (await control.put("/qrs/reachable", json={"reachable": False})).json() == {"reachable": False}
    try:
        await qrs.get("/qrs/about")
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("QRS still answered")
    assert (await control.put("/qrs/reachable", json={"reachable": "no"})).status_code == 400
    await control.put("/qrs/reachable", json={"reachable": True})
    assert (await qrs.get("/qrs/about")).status_code == 200


async def test_licenses_and_user_flags_and_version(qrs: Qrs, control: httpx.AsyncClient, site) -> None:
    added = await control.post("/licenses", json={"kind": "analyzer", "user": "ACME\\anna",
                                                  "lastUsed": "2020-01-01T00:00:00.000Z"})
    assert added.status_code == 201
    old = await qrs.json("/qrs/license/analyzeraccesstype/full", filter="lastUsed le '2021-01-01T00:00:00.000Z'")
    assert [a["user"]["userId"] for a in old] == ["anna"]
    moved = await control.put(f"/licenses/{added.json()['id']}", json={"lastUsed": "2022-06-01T00:00:00Z"})
    assert moved.json()["lastUsed"] == "2022-06-01T00:00:00.000Z"
    assert (await qrs.delete(f"/qrs/license/analyzeraccesstype/{added.json()['id']}")).status_code == 204
    assert added.json()["id"] not in {a["id"] for a in (await control.get("/licenses")).json()}

    flags = await control.put("/users/ACME/bob", json={"blocked": True, "removedExternally": True})
    assert flags.json() == {"inactive": False, "blocked": True, "removedExternally": True}
    bob = next(u for u in await qrs.json("/qrs/user/full") if u["userId"] == "bob")
    assert bob["blacklisted"] is True and bob["removedExternally"] is True
    assert (await control.put("/users/ACME/bob", json={"sleepy": True})).status_code == 400

    await control.put("/license", json={"validTo": "2001-01-01"})
    server = await qrs.json("/qrs/license")
    assert "Valid To: 2001-01-01" in server["keyDetails"] and server["isExpired"] is True

    version = await control.put("/version", json={"version": "14.200.1", "releaseLabel": "November 2024"})
    assert version.json()["version"] == "14.200.1" and site.state.site.release_label == "November 2024"
    assert (await control.put("/version", json={"colour": "red"})).status_code == 400
    await control.post("/reset")
    assert (await qrs.json("/qrs/license"))["isExpired"] is False
    assert site.state.site.version == "14.187.4"
    assert not any(u.blacklisted for u in site.state.users.values())
