"""App reload (with chained tasks) and the app list through the Engine, end to end against sensesim."""

from __future__ import annotations

import asyncio

from support.waiting import until

SALES_APP = "5e1f8a2c-3b4d-4c6e-8f0a-1b2c3d4e5f60"
UNKNOWN_APP = "5e1f8a2c-3b4d-4c6e-8f0a-000000000000"


async def app_ids(c) -> dict[str, str]:
    return {app["name"]: app["id"] for app in await c.running.service.qrs.get("app")}


async def engine_calls(c, method: str) -> list[dict]:
    return [call for call in await c.sense.calls() if call["service"] == "engine" and call["method"] == method]


async def wait_for_starts(c, count: int) -> list[str]:
    async def enough() -> bool:
        return len(await c.starts()) >= count

    await until(enough)
    return await c.starts()


async def test_successful_reload_saves_and_starts_the_success_chain(connect):
    async with connect() as c:
        after, otherwise = c.task_ids["Chain next"], c.task_ids["Chain recovery"]
        body = {"reloadMode": "1", "partialReload": "true",
                "startQSEoWTaskOnSuccess": [after], "startQSEoWTaskOnFailure": [otherwise]}
        response = await c.api.put(f"/v4/app/{SALES_APP}/reload", json=body)
        assert response.status_code == 201
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert response.json() == {"appId": SALES_APP}
        assert await wait_for_starts(c, 1) == [after]
        assert [call["body"] for call in await engine_calls(c, "DoReload")] == [[1, True]]
        assert len(await engine_calls(c, "DoSave")) == 1
        open_doc = (await engine_calls(c, "OpenDoc"))[0]
        assert open_doc["body"] == [SALES_APP, "", "", "", False]  # opened with data
        await asyncio.sleep(0.1)
        assert await c.starts() == [after]


async def test_failed_reload_starts_the_failure_chain_without_saving(connect):
    async with connect() as c:
        broken = (await app_ids(c))["Broken App"]
        after, otherwise = c.task_ids["Chain next"], c.task_ids["Chain recovery"]
        body = {"startQSEoWTaskOnSuccess": [after], "startQSEoWTaskOnFailure": [otherwise]}
        response = await c.api.put(f"/v4/app/{broken}/reload", json=body)
        assert response.status_code == 201
        assert await wait_for_starts(c, 1) == [otherwise]
        assert [call["body"] for call in await engine_calls(c, "DoReload")] == [[0, False]]
        assert await engine_calls(c, "DoSave") == []


async def test_out_of_range_reload_mode_means_zero_and_empty_body_is_fine(connect):
    async with connect() as c:
        assert (await c.api.put(f"/v4/app/{SALES_APP}/reload", json={"reloadMode": 7})).status_code == 201
        assert (await c.api.put(f"/v4/app/{SALES_APP}/reload", json={})).status_code == 201
        async def both_saved() -> bool:
            return len(await engine_calls(c, "DoSave")) == 2

        await until(both_saved)
        assert [call["body"] for call in await engine_calls(c, "DoReload")] == [[0, False], [0, False]]


async def test_reload_of_unknown_app_is_404_naming_the_app(connect):
    # Butler (and qbutler before issue #16) answered 500 here, while the dump of the same app is 404.
    async with connect() as c:
        response = await c.api.put(f"/v4/app/{UNKNOWN_APP}/reload", json={})
        assert response.status_code == 404
        assert response.json()["message"] == (
            f"Failed reloading app {UNKNOWN_APP}: app {UNKNOWN_APP} not found on the Qlik Sense engine")


async def test_reload_needs_a_body(connect):
    async with connect() as c:
        response = await c.api.put(f"/v4/app/{SALES_APP}/reload")
        assert response.status_code == 400
        assert response.json()["message"] == "body must be object"


async def test_list_apps_on_both_paths(connect):
    async with connect() as c:
        expected = sorted((app_id, name) for name, app_id in (await app_ids(c)).items())
        for path in ("/v4/senselistapps", "/v4/apps/list"):
            response = await c.api.get(path)
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json; charset=utf-8"
            apps = response.json()
            assert all(list(app) == ["id", "name"] for app in apps)
            assert sorted((a["id"], a["name"]) for a in apps) == expected


async def test_engine_unreachable_gives_500(connect):
    from support.net import free_port

    async with connect(configEngine={"port": free_port(), "timeout": 2}) as c:
        listing = await c.api.get("/v4/apps/list")
        assert listing.status_code == 500
        assert listing.json()["message"].startswith("Failed getting list of Sense apps: Qlik Sense engine at wss://")
        reload = await c.api.put(f"/v4/app/{SALES_APP}/reload", json={})
        assert reload.status_code == 500 and "unreachable" in reload.json()["message"]
