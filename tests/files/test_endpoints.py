"""Every status of the five file endpoints (REST reference §3), over HTTP as load scripts call them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import httpx
import pytest

from support.qbutler import merge

LOAD_SCRIPT = {"Content-Type": "application/json"}


async def call(api: httpx.AsyncClient, method: str, path: str, body: object) -> httpx.Response:
    """As Butler's load-script subs do: POST with X-HTTP-Method-Override for PUT and DELETE."""
    headers = dict(LOAD_SCRIPT)
    if method != "POST":
        headers["X-HTTP-Method-Override"] = method
    return await api.post(path, json=body, headers=headers)


@pytest.fixture
async def running(site, tmp_path, qbutler_service):
    async with qbutler_service(site.config(), tmp_path / "conf") as service:
        yield service


@pytest.fixture
async def api(running):
    async with running.client() as client:
        yield client


def error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {"statusCode": status, "error": response.reason_phrase, "message": message}


# ----------------------------------------------------------------------------- filecopy


async def test_copy_echoes_normalised_paths_with_booleans_sent_as_strings(api, site):
    response = await call(api, "PUT", "/v4/filecopy", {
        "fromFile": site.p("data/from//sub/../a.txt"), "toFile": site.p("data/to/new/a.txt"),
        "overwrite": "true"})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.text == (f'{{"fromFile":"{site.p("data/from/a.txt")}","toFile":"{site.p("data/to/new/a.txt")}",'
                             '"overwrite":true,"preserveTimestamp":false}')
    assert (site.target / "new" / "a.txt").read_bytes() == b"alpha"


async def test_copy_takes_backslashes_as_separators(api, site):
    response = await call(api, "PUT", "/v4/filecopy", {
        "fromFile": site.p("data/from/sub/b.txt").replace("/", "\\"),
        "toFile": site.p("data/to/b.txt").replace("/", "\\")})
    assert response.status_code == 201
    assert response.json()["fromFile"] == site.p("data/from/sub/b.txt")
    assert (site.target / "b.txt").read_bytes() == b"bravo"


async def test_plain_put_works_too(api, site):
    response = await api.put("/v4/filecopy", json={"fromFile": site.p("data/from/a.txt"),
                                                  "toFile": site.p("data/to/a.txt")})
    assert response.status_code == 201


async def test_copy_keeps_an_existing_file_unless_overwrite(api, site):
    (site.target / "a.txt").write_bytes(b"old")
    body = {"fromFile": site.p("data/from/a.txt"), "toFile": site.p("data/to/a.txt"), "overwrite": "false"}
    response = await call(api, "PUT", "/v4/filecopy", body)
    assert response.status_code == 201
    assert (site.target / "a.txt").read_bytes() == b"old"
    response = await call(api, "PUT", "/v4/filecopy", {**body, "overwrite": True})
    assert response.status_code == 201
    assert (site.target / "a.txt").read_bytes() == b"alpha"
    assert [p.name for p in site.target.iterdir() if p.name.startswith(".")] == []


async def test_copy_preserves_timestamps_and_mode_when_asked(api, site):
    source = site.source / "a.txt"
    os.utime(source, ns=(1_500_000_000_000_000_000, 1_600_000_000_000_000_000))
    source.chmod(0o640)
    await call(api, "PUT", "/v4/filecopy", {"fromFile": str(source), "toFile": site.p("data/to/kept.txt"),
                                            "preserveTimestamp": "true"})
    await call(api, "PUT", "/v4/filecopy", {"fromFile": str(source), "toFile": site.p("data/to/fresh.txt")})
    kept, fresh = (site.target / "kept.txt").stat(), (site.target / "fresh.txt").stat()
    assert kept.st_mtime_ns == 1_600_000_000_000_000_000
    assert fresh.st_mtime_ns != 1_600_000_000_000_000_000
    assert kept.st_mode & 0o777 == 0o640


async def test_copy_of_a_directory_is_recursive_and_merges_into_an_existing_one(api, site):
    response = await call(api, "PUT", "/v4/filecopy", {"fromFile": site.p("data/from/sub"),
                                                      "toFile": site.p("data/to/copy")})
    assert response.status_code == 201
    assert (site.target / "copy" / "b.txt").read_bytes() == b"bravo"
    # Links inside the tree are copied as links, never read through.
    assert os.readlink(site.target / "copy" / "chain3") == "../../../outside"
    (site.source / "sub" / "new.txt").write_bytes(b"new")
    (site.target / "copy" / "b.txt").write_bytes(b"changed")
    response = await call(api, "PUT", "/v4/filecopy", {"fromFile": site.p("data/from/sub"),
                                                      "toFile": site.p("data/to/copy")})
    assert response.status_code == 201
    assert (site.target / "copy" / "new.txt").read_bytes() == b"new"
    assert (site.target / "copy" / "b.txt").read_bytes() == b"changed"


@pytest.mark.parametrize("body", [
    {"toFile": "/x"}, {"fromFile": "/x"}, {"fromFile": "", "toFile": "/x"}, {"fromFile": "/x", "toFile": None}])
async def test_copy_required_parameter_missing(api, body):
    error(await call(api, "PUT", "/v4/filecopy", body), 400, "Required parameter missing")


async def test_copy_validation_errors_are_fastify_shaped(api, site):
    response = await call(api, "PUT", "/v4/filecopy", {"fromFile": "/a", "toFile": "/b", "overwrite": "yes"})
    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "code": "FST_ERR_VALIDATION", "error": "Bad Request",
                               "message": "body/overwrite must be boolean"}
    response = await api.put("/v4/filecopy")
    assert response.json()["message"] == "body must be object"


async def test_copy_refuses_unc_paths_on_linux_and_stops(api, site):
    response = await call(api, "PUT", "/v4/filecopy", {"fromFile": "\\\\server\\share\\a.txt",
                                                      "toFile": site.p("data/to/unc.txt")})
    error(response, 400, "UNC paths not supported for file copy operations when running Butler on non-Windows OS. "
                         "Path: \\\\server\\share\\a.txt")
    assert not (site.target / "unc.txt").exists()


async def test_copy_missing_source_is_400_not_butlers_200(api, site):
    response = await call(api, "PUT", "/v4/filecopy", {"fromFile": site.p("data/from/nope.txt"),
                                                      "toFile": site.p("data/to/new/nope.txt")})
    error(response, 400, "fromFile does not exist")
    assert not (site.target / "new").exists()


@pytest.mark.parametrize(("source", "target"), [
    ("outside/secret.txt", "data/to/s.txt"),
    ("data/from/a.txt", "outside/a.txt"),
    ("data/to/x.txt", "data/from/x.txt"),   # a pair is one-way
    ("data/from/../../outside/secret.txt", "data/to/s.txt"),
    ("data/fromage/a.txt", "data/to/a.txt"),  # names, not string prefixes
])
async def test_copy_outside_the_approved_pair_is_403(api, site, source, target):
    before = site.snapshot_outside()
    response = await call(api, "PUT", "/v4/filecopy", {"fromFile": site.p(source), "toFile": site.p(target)})
    error(response, 403, "No approved fromDir/toDir for file copy")
    assert site.snapshot_outside() == before


async def test_copy_failure_is_500(api, site):
    (site.target / "taken").mkdir()
    response = await call(api, "PUT", "/v4/filecopy", {"fromFile": site.p("data/from/a.txt"),
                                                      "toFile": site.p("data/to/taken"), "overwrite": True})
    error(response, 500, "Failed copying file")


@pytest.mark.parametrize("overwrite", [False, True])
async def test_copying_a_directory_onto_a_linked_folder_is_409_and_changes_nothing(api, site, overwrite):
    before = sorted(p.name for p in (site.target / "in_dir").iterdir())
    response = await call(api, "PUT", "/v4/filecopy", {"fromFile": site.p("data/from/sub"),
                                                      "toFile": site.p("data/to/in_link"), "overwrite": overwrite})
    error(response, 409, "toFile (or a folder inside it) is a file or a link, which a copied directory "
                         "does not replace")
    assert (site.target / "in_link").is_symlink()
    assert sorted(p.name for p in (site.target / "in_dir").iterdir()) == before
    assert [p.name for p in site.target.iterdir() if p.name.startswith(".qbutler-")] == []


async def test_copy_of_a_directory_into_itself_is_500(tmp_path, qbutler_service, site):
    config = site.config(fileCopyApprovedDirectories=[{"fromDirectory": str(site.data),
                                                        "toDirectory": str(site.data)}])
    async with qbutler_service(config, tmp_path / "conf") as running, running.client() as api:
        response = await call(api, "PUT", "/v4/filecopy", {"fromFile": site.p("data/from"),
                                                          "toFile": site.p("data/from/sub/again")})
    error(response, 500, "Failed copying file")
    assert not (site.source / "sub" / "again").exists()


# ----------------------------------------------------------------------------- filemove


async def test_move_echoes_and_moves(api, site):
    response = await call(api, "PUT", "/v4/filemove", {"fromFile": site.p("data/from/./a.txt"),
                                                      "toFile": site.p("data/to/deep/er/a.txt")})
    assert response.status_code == 201
    assert response.text == (f'{{"fromFile":"{site.p("data/from/a.txt")}",'
                             f'"toFile":"{site.p("data/to/deep/er/a.txt")}","overwrite":false}}')
    assert not (site.source / "a.txt").exists()
    assert (site.target / "deep" / "er" / "a.txt").read_bytes() == b"alpha"


async def test_move_of_a_directory(api, site):
    response = await call(api, "PUT", "/v4/filemove", {"fromFile": site.p("data/from/sub"),
                                                      "toFile": site.p("data/to/sub")})
    assert response.status_code == 201
    assert (site.target / "sub" / "b.txt").read_bytes() == b"bravo"
    assert not (site.source / "sub").exists()


async def test_move_onto_an_existing_file_is_500_unless_overwrite(api, site):
    (site.target / "a.txt").write_bytes(b"old")
    body = {"fromFile": site.p("data/from/a.txt"), "toFile": site.p("data/to/a.txt")}
    error(await call(api, "PUT", "/v4/filemove", body), 500, "Failed moving file")
    assert (site.source / "a.txt").read_bytes() == b"alpha"
    assert (site.target / "a.txt").read_bytes() == b"old"
    response = await call(api, "PUT", "/v4/filemove", {**body, "overwrite": "true"})
    assert response.status_code == 201
    assert response.json()["overwrite"] is True
    assert (site.target / "a.txt").read_bytes() == b"alpha"
    assert not (site.source / "a.txt").exists()


@pytest.mark.parametrize("body", [{"toFile": "/x"}, {"fromFile": "/x", "toFile": ""}])
async def test_move_required_parameter_missing(api, body):
    error(await call(api, "PUT", "/v4/filemove", body), 400, "Required parameter missing")


async def test_move_unc_missing_source_and_unapproved(api, site):
    error(await call(api, "PUT", "/v4/filemove", {"fromFile": site.p("data/from/a.txt"), "toFile": "//srv/s/a"}),
          400, "UNC paths not supported for file move operations when running Butler on non-Windows OS. "
               "Path: //srv/s/a")
    error(await call(api, "PUT", "/v4/filemove", {"fromFile": site.p("data/from/gone"),
                                                 "toFile": site.p("data/to/gone")}), 400, "fromFile does not exist")
    error(await call(api, "PUT", "/v4/filemove", {"fromFile": site.p("data/from/a.txt"),
                                                 "toFile": site.p("data/del/a.txt")}),
          403, "No approved fromDir/toDir for file move")
    assert (site.source / "a.txt").exists()


# ----------------------------------------------------------------------------- filedelete


async def test_delete_a_file_and_a_whole_tree_answers_204_without_body(api, site):
    response = await call(api, "DELETE", "/v4/filedelete", {"deleteFile": site.p("data/del/c.txt")})
    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers
    assert not (site.trash / "c.txt").exists()
    before = site.snapshot_outside()
    response = await call(api, "DELETE", "/v4/filedelete", {"deleteFile": site.p("data/del/tree")})
    assert response.status_code == 204
    assert not (site.trash / "tree").exists()
    # The tree held a link to the outside folder: removed, not followed.
    assert site.snapshot_outside() == before


async def test_delete_checks_approval_before_existence(api, site):
    error(await call(api, "DELETE", "/v4/filedelete", {"deleteFile": site.p("outside/nothing.txt")}),
          403, "No approved directory for file delete")
    error(await call(api, "DELETE", "/v4/filedelete", {"deleteFile": site.p("outside/secret.txt")}),
          403, "No approved directory for file delete")
    error(await call(api, "DELETE", "/v4/filedelete", {"deleteFile": site.p("data/del/nothing.txt")}),
          400, "Delete failed, file does not exist")
    # The approved folder itself is not deletable: its parent is not approved.
    error(await call(api, "DELETE", "/v4/filedelete", {"deleteFile": site.p("data/del")}),
          403, "No approved directory for file delete")
    assert (site.outside / "secret.txt").exists()


async def test_delete_required_parameter_and_unc(api):
    error(await call(api, "DELETE", "/v4/filedelete", {}), 400, "Required parameter missing")
    error(await call(api, "DELETE", "/v4/filedelete", {"deleteFile": "\\\\srv\\s\\a"}), 400,
          "UNC paths not supported for file delete operations when running Butler on non-Windows OS. "
          "Path: \\\\srv\\s\\a")


async def test_delete_failure_is_500(tmp_path, qbutler_service, site):
    not_a_folder = site.root / "afile"
    not_a_folder.write_bytes(b"")
    config = site.config(fileDeleteApprovedDirectories=[str(not_a_folder)])
    async with qbutler_service(config, tmp_path / "conf") as running, running.client() as api:
        response = await call(api, "DELETE", "/v4/filedelete", {"deleteFile": f"{not_a_folder}/x"})
    error(response, 500, "Failed deleting file")


# ----------------------------------------------------------------------------- createdir


async def test_createdir_echoes_the_directory_as_sent(api, site):
    raw = site.p("data/to//new/../made/deeper")
    response = await api.post("/v4/createdir", json={"directory": raw})
    assert response.status_code == 201
    assert response.text == f'{{"directory":"{raw}"}}'
    assert (site.target / "made" / "deeper").is_dir()
    again = await api.post("/v4/createdir", json={"directory": raw})
    assert again.status_code == 201


async def test_createdir_is_limited_to_the_approved_folders(api, site):
    before = site.snapshot_outside()
    for directory in (site.p("outside/new"), site.p("data/elsewhere"), "relative/dir", "", 5,
                      site.p("data/to/../../outside/x")):
        error(await api.post("/v4/createdir", json={"directory": directory}), 403,
              "Directory must be within an approved directory")
    assert site.snapshot_outside() == before
    for folder in (site.source, site.trash, site.qvd):
        response = await api.post("/v4/createdir", json={"directory": f"{folder}/made"})
        assert response.status_code == 201
        assert (folder / "made").is_dir()


async def test_createdir_anywhere_is_butlers_behaviour_behind_a_switch(tmp_path, qbutler_service, site):
    config = merge(site.config(), {"Butler": {"fileOperations": {"createDirAnywhere": True}}})
    async with qbutler_service(config, tmp_path / "conf") as running, running.client() as api:
        response = await api.post("/v4/createdir", json={"directory": site.p("outside/new/er")})
        assert response.status_code == 201
        number = await api.post("/v4/createdir", json={"directory": 5})
        assert number.text == '{"directory":"5"}'
        (site.outside / "file").write_bytes(b"")
        error(await api.post("/v4/createdir", json={"directory": site.p("outside/file/x")}), 500,
              "Failed to create directory")
    assert (site.outside / "new" / "er").is_dir()
    assert (tmp_path / "conf" / "5").is_dir()  # relative to the config file's folder


async def test_createdir_missing_field_unc_and_file_in_the_way(api, site):
    error(await api.post("/v4/createdir", json={}), 400, "Required parameter missing")
    error(await api.post("/v4/createdir", json={"directory": "//srv/share/x"}), 400,
          "UNC paths not supported for directory creation operations when running Butler on non-Windows OS. "
          "Path: //srv/share/x")
    (site.target / "file").write_bytes(b"")
    error(await api.post("/v4/createdir", json={"directory": site.p("data/to/file")}), 500,
          "Failed to create directory")
    error(await api.post("/v4/createdir", json={"directory": site.p("data/to/file/sub")}), 500,
          "Failed to create directory")


# ----------------------------------------------------------------------------- createdirqvd


async def test_createdirqvd_joins_to_the_qvd_folder(api, site):
    for directory, made in (("a/b", "a/b"), ("/abs/path", "abs/path"), ("x/../y", "y"), ("", "")):
        response = await api.post("/v4/createdirqvd", json={"directory": directory})
        assert response.status_code == 201
        assert response.json() == {"directory": directory}
        assert (site.qvd / made).is_dir()
    number = await api.post("/v4/createdirqvd", json={"directory": 2024})
    assert number.text == '{"directory":"2024"}'
    assert (site.qvd / "2024").is_dir()


async def test_createdirqvd_refusals_and_failures(api, site):
    before = site.snapshot_outside()
    for directory in ("../x", "a/../../x", "../qvdx"):
        error(await api.post("/v4/createdirqvd", json={"directory": directory}), 403,
              "Directory must be within the QVD folder")
    error(await api.post("/v4/createdirqvd", json={"directory": "esc/new"}), 403,
          "Directory must be within the QVD folder: directory leads outside the approved directory")
    assert site.snapshot_outside() == before
    error(await api.post("/v4/createdirqvd", json={}), 400, "Required parameter missing")
    (site.qvd / "file").write_bytes(b"")
    error(await api.post("/v4/createdirqvd", json={"directory": "file/x"}), 500, "Failed to create directory")


async def test_createdirqvd_without_a_qvd_folder_is_500(tmp_path, qbutler_service, site):
    config = site.config(configDirectories={"qvdPath": ""})
    async with qbutler_service(config, tmp_path / "conf") as running, running.client() as api:
        error(await api.post("/v4/createdirqvd", json={"directory": "a"}), 500, "Failed creating directory")


# ----------------------------------------------------------------------------- switches, logging


async def test_disabled_endpoints_are_404(tmp_path, qbutler_service, site):
    switches = {name: False for name in ("fileCopy", "fileMove", "fileDelete", "createDir", "createDirQVD")}
    config = merge(site.config(), {"Butler": {"restServerEndpointsEnable": switches}})
    async with qbutler_service(config, tmp_path / "conf") as running, running.client() as api:
        assert running.service.files is None
        for method, path in (("PUT", "/v4/filecopy"), ("PUT", "/v4/filemove"), ("DELETE", "/v4/filedelete"),
                             ("POST", "/v4/createdir"), ("POST", "/v4/createdirqvd")):
            response = await call(api, method, path, {})
            assert response.status_code == 404
            assert response.json()["message"] == f"Route {method}:{path} not found"


async def test_unapproved_config_denies_everything(tmp_path, qbutler_service, site):
    config = site.config(fileCopyApprovedDirectories=None, fileDeleteApprovedDirectories=None)
    async with qbutler_service(config, tmp_path / "conf") as running, running.client() as api:
        error(await call(api, "PUT", "/v4/filecopy", {"fromFile": site.p("data/from/a.txt"),
                                                     "toFile": site.p("data/to/a.txt")}),
              403, "No approved fromDir/toDir for file copy")
        error(await call(api, "DELETE", "/v4/filedelete", {"deleteFile": site.p("data/del/c.txt")}),
              403, "No approved directory for file delete")


async def test_every_operation_is_logged_with_client_request_and_outcome(api, running, site, caplog):
    caplog.set_level(logging.INFO, logger="qbutler.files")
    await call(api, "PUT", "/v4/filecopy", {"fromFile": site.p("data/from/a.txt"), "toFile": site.p("data/to/a")})
    await call(api, "PUT", "/v4/filecopy", {"fromFile": site.p("data/from/esc_file"),
                                           "toFile": site.p("data/to/s")})
    done, refused = [r for r in caplog.records if r.name == "qbutler.files"]
    assert "127.0.0.1" in done.getMessage() and "a.txt" in done.getMessage() and "done" in done.getMessage()
    assert refused.levelno == logging.WARNING
    assert "127.0.0.1" in refused.getMessage() and "refused with 403" in refused.getMessage()
    assert [a.data["status"] for a in running.service.activity.recent("files.")] == [200, 403]


def test_load_script_paths_are_not_url_decoded(tmp_path: Path):
    # '%23' (how load scripts send '#') stays literal, as in Butler: bodies are not URL-decoded.
    from qbutler.files.paths import normalize
    assert normalize("/d/a%23b.qvd") == "/d/a%23b.qvd"
