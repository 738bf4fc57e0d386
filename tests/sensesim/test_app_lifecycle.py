"""App life cycle and QRS self-description over plain HTTP (Qlik's QRS App and About API pages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson

from sensesim.qrs import QrsOptions
from sensesim.server import Site
from support.sensesim_support import FAST, SALES_APP, SALES_TASK, XRFKEY, Qrs, admin_qrs

NULL_GUID = "00000000-0000-0000-0000-000000000000"
EXPORT_TOKEN = "0f0e0d0c-0b0a-4908-8706-050403020100"


async def put(qrs: Qrs, path: str, **params: Any) -> httpx.Response:
    return await qrs.client.put(path, params={**params, "xrfkey": XRFKEY})


async def test_copy_publish_unpublish_replace_delete(qrs: Qrs) -> None:
    copied = await qrs.post(f"/qrs/app/{SALES_APP}/copy", name="Sales copy")
    assert copied.status_code == 201
    copy = copied.json()
    assert copy["name"] == "Sales copy" and copy["id"] != SALES_APP
    assert copy["published"] is False and copy["stream"] is None
    assert copy["owner"]["userId"] == "sa_repository"  # the caller owns the copy
    stream = (await qrs.json("/qrs/stream", filter="name eq 'Everyone'"))[0]
    published = await put(qrs, f"/qrs/app/{copy['id']}/publish", stream=stream["id"], name="Sales for all")
    assert published.status_code == 200
    assert published.json()["stream"]["name"] == "Everyone" and published.json()["name"] == "Sales for all"
    assert published.json()["publishTime"] != "1753-01-01T00:00:00.000Z"
    again = await put(qrs, f"/qrs/app/{copy['id']}/publish", stream=stream["id"])
    assert again.status_code == 400 and "already published" in again.text
    assert (await put(qrs, f"/qrs/app/{SALES_APP}/publish", stream=NULL_GUID)).status_code == 400
    unpublished = await qrs.post(f"/qrs/app/{copy['id']}/unpublish")
    assert unpublished.status_code == 200 and unpublished.json()["published"] is False
    assert (await qrs.post(f"/qrs/app/{copy['id']}/unpublish")).status_code == 400
    finance = (await qrs.json("/qrs/app", filter="name eq 'Finance Report'"))[0]
    replaced = await put(qrs, f"/qrs/app/{SALES_APP}/replace", app=finance["id"])
    assert replaced.status_code == 200
    assert replaced.json()["id"] == finance["id"] and replaced.json()["name"] == "Finance Report"
    assert replaced.json()["description"] == "Sales KPIs per region"
    assert (await qrs.client.delete(f"/qrs/app/{SALES_APP}", params={"xrfkey": XRFKEY})).status_code == 204
    assert (await qrs.get(f"/qrs/app/{SALES_APP}")).status_code == 404
    assert (await qrs.get(f"/qrs/reloadtask/{SALES_TASK}")).status_code == 404  # its tasks go too
    assert (await qrs.post(f"/qrs/app/{SALES_APP}/copy")).status_code == 404


async def test_export_download_and_upload_round_trip(qrs: Qrs) -> None:
    ticket = await qrs.json(f"/qrs/app/{SALES_APP}/export")
    assert len(ticket["value"]) == 36
    exported = await qrs.post(f"/qrs/app/{SALES_APP}/export/{EXPORT_TOKEN}", skipData="true")
    assert exported.status_code == 201
    body = exported.json()
    assert body["exportToken"] == EXPORT_TOKEN and body["appId"] == SALES_APP
    assert body["schemaPath"] == "AppExport" and body["downloadPath"].startswith(f"/tempcontent/{EXPORT_TOKEN}/")
    assert (await qrs.post(f"/qrs/app/{SALES_APP}/export/{EXPORT_TOKEN}")).status_code == 409
    download = await qrs.get(f"/qrs/download/app/{SALES_APP}/{EXPORT_TOKEN}/Sales%20Dashboard.qvf")
    assert download.status_code == 200 and download.headers["content-type"] == "application/vnd.qlik.sense.app"
    uploaded = await qrs.client.post("/qrs/app/upload", params={"name": "Restored", "xrfkey": XRFKEY},
                                     content=download.content,
                                     headers={"Content-Type": "application/vnd.qlik.sense.app"})
    assert uploaded.status_code == 201
    restored = uploaded.json()
    assert restored["name"] == "Restored" and restored["description"] == "Sales KPIs per region"
    assert restored["fileSize"] == len(download.content)
    assert (await qrs.client.delete(f"/qrs/app/{SALES_APP}/export/{EXPORT_TOKEN}",
                                    params={"xrfkey": XRFKEY})).status_code == 204
    gone = await qrs.get(f"/qrs/download/app/{SALES_APP}/{EXPORT_TOKEN}/Sales%20Dashboard.qvf")
    assert gone.status_code == 404
    empty = await qrs.client.post("/qrs/app/upload", params={"name": "x", "xrfkey": XRFKEY}, content=b"")
    assert empty.status_code == 400


async def export_file(qrs: Qrs, app_id: str, token: str) -> bytes:
    assert (await qrs.post(f"/qrs/app/{app_id}/export/{token}")).status_code == 201
    download = await qrs.get(f"/qrs/download/app/{app_id}/{token}/app.qvf")
    assert download.status_code == 200
    return download.content


async def import_app(qrs: Qrs, file_name: Any, **params: str) -> httpx.Response:
    return await qrs.client.post("/qrs/app/import", params={**params, "xrfkey": XRFKEY},
                                 content=orjson.dumps(file_name), headers={"Content-Type": "application/json"})


async def test_import_from_the_apps_folder(certs_dir: Path, tmp_path: Path) -> None:
    apps = tmp_path / "Apps"
    apps.mkdir()
    async with Site(seed="minimal", certs_dir=certs_dir, qrs=QrsOptions(import_folder=apps), **FAST) as site, \
            admin_qrs(site, certs_dir) as qrs:
        assert await qrs.json("/qrs/app/importfolder") == str(apps)
        (apps / "Sales backup.qvf").write_bytes(await export_file(qrs, SALES_APP, EXPORT_TOKEN))
        (apps / "plain.qvf").write_bytes(b"not a sensesim export")
        imported = await import_app(qrs, "Sales backup.qvf", name="Imported Sales", excludeConnections="true")
        assert imported.status_code == 201, imported.text
        app = imported.json()
        assert app["name"] == "Imported Sales" and app["id"] != SALES_APP
        assert app["description"] == "Sales KPIs per region" and app["published"] is False
        assert app["fileSize"] == (apps / "Sales backup.qvf").stat().st_size
        assert (await qrs.json("/qrs/app/count", filter="name eq 'Imported Sales'")) == {"value": 1}
        # The import kept the script and objects but, asked to, left the data connections out.
        content = orjson.loads((await export_file(qrs, app["id"], NULL_GUID.replace("0", "1"))).split(b"\n", 1)[1])
        assert content["engine"]["sheets"] and content["engine"]["dataconnections"] == []
        plain = await import_app(qrs, "plain.qvf")
        assert plain.status_code == 201 and plain.json()["name"] == "plain.qvf"
        for body, status, message in [("missing.qvf", 404, "missing.qvf is not in the import folder"),
                                      ("../Sales backup.qvf", 400, "not a path"),
                                      ("..\\x.qvf", 400, "not a path"),
                                      ({"file": "plain.qvf"}, 400, "JSON string"),
                                      ("", 400, "JSON string")]:
            answer = await import_app(qrs, body)
            assert answer.status_code == status and message in answer.text, (body, answer.text)


async def test_import_without_an_import_folder_says_so(qrs: Qrs) -> None:
    for answer in (await qrs.get("/qrs/app/importfolder"), await import_app(qrs, "Sales.qvf")):
        assert answer.status_code == 404 and "--apps-dir" in answer.text


async def test_about_api_enums_defaults_and_description(qrs: Qrs) -> None:
    enums = await qrs.json("/qrs/about/api/enums")
    assert enums["TaskExecutionStatus"]["Values"][7] == "7: FinishedSuccess"
    assert "SchemaEvent.IncrementOption" in enums["IncrementOption"]["Usages"]
    template = await qrs.json("/qrs/about/api/default/reloadtask")
    full = await qrs.json(f"/qrs/reloadtask/{SALES_TASK}")
    assert set(template) == set(full)
    assert template["id"] == NULL_GUID and template["name"] == "" and template["enabled"] is False
    assert template["app"] is None and template["tags"] == [] and template["schemaPath"] == "ReloadTask"
    assert template["createdDate"] == "1753-01-01T00:00:00.000Z"
    assert (await qrs.get("/qrs/about/api/default/nosuchtype")).status_code == 400
    description = await qrs.json("/qrs/about/api/description")
    for line in ("POST /qrs/reloadtask/create", "GET /qrs/app/{id}", "POST /qrs/app/table",
                 "GET /qrs/compositeevent/count", "PUT /qrs/app/{id}/publish"):
        assert line in description, line
    assert all(line.startswith("PUT ") for line in await qrs.json("/qrs/about/api/description", method="PUT"))


async def test_virtual_proxy_prefix_reaches_qrs(qrs: Qrs) -> None:
    about = await qrs.get("/sales/qrs/about")
    assert about.status_code == 200 and about.json()["schemaPath"] == "About"
    assert (await qrs.get("/sales/other/qrs/about")).status_code == 404
