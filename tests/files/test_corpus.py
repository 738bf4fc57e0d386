"""The adversarial corpus, modelled on Linux's openat2 resolve tests.

Every case runs three ways: over HTTP against a running qbutler, and against the sandbox directly
with directory descriptors (Linux) and with checked paths (the Windows code path). Every escape
must be refused, every legitimate path inside (through in-tree links too) allowed, and after each
case nothing outside the approved folders may have changed or been read into them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from qbutler.files import FileOperationError, Sandbox
from qbutler.files.handles import DIR_FDS_SUPPORTED

ROUTES = {"copy": ("PUT", "/v4/filecopy"), "move": ("PUT", "/v4/filemove"),
          "delete": ("DELETE", "/v4/filedelete"), "createdir": ("POST", "/v4/createdir"),
          "createdirqvd": ("POST", "/v4/createdirqvd")}
REFUSED = {"copy": "No approved fromDir/toDir for file copy", "move": "No approved fromDir/toDir for file move",
           "delete": "No approved directory for file delete",
           "createdir": "Directory must be within an approved directory",
           "createdirqvd": "Directory must be within the QVD folder"}
SUCCESS = {"copy": 201, "move": 201, "delete": 204, "createdir": 201, "createdirqvd": 201}


@dataclass
class Case:
    id: str
    op: str
    paths: tuple[str, ...]
    status: int
    message: str = ""
    overwrite: bool = False
    # Checks on the site after the call (names below the site root).
    exists: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    content: dict[str, bytes] = field(default_factory=dict)


def refused(id: str, op: str, *paths: str, **checks) -> Case:
    return Case(id, op, paths, 403, REFUSED[op], **checks)


def allowed(id: str, op: str, *paths: str, **checks) -> Case:
    return Case(id, op, paths, SUCCESS[op], **checks)


CORPUS = [
    # Links inside an approved folder that lead out.
    refused("relative link out", "copy", "data/from/esc_rel/secret.txt", "data/to/s.txt", absent=("data/to/s.txt",)),
    refused("absolute link out", "copy", "data/from/esc_abs/secret.txt", "data/to/s.txt"),
    refused("link to an outside file", "copy", "data/from/esc_file", "data/to/s.txt"),
    refused("chained links out", "copy", "data/from/chain1/secret.txt", "data/to/s.txt"),
    refused("'..' through a link", "copy", "data/from/sub/deep_up/outside/secret.txt", "data/to/s.txt"),
    refused("absolute link with '..' after the folder", "copy", "data/from/abs_dotdot/secret.txt", "data/to/s.txt"),
    refused("link into another approved folder", "copy", "data/from/sibling/in_dir", "data/to/s"),
    refused("link out as a copied directory", "copy", "data/from/esc_abs", "data/to/copied",
            absent=("data/to/copied",)),
    refused("destination through a link out", "copy", "data/from/a.txt", "data/to/esc/new.txt",
            absent=("outside/new.txt",)),
    refused("destination parents through a link out", "copy", "data/from/a.txt", "data/to/esc/deeper/new.txt",
            absent=("outside/deeper",)),
    refused("move out through a link", "move", "data/from/esc_rel/secret.txt", "data/to/s.txt",
            exists=("outside/secret.txt",)),
    refused("move into a link out", "move", "data/from/a.txt", "data/to/esc/moved.txt",
            exists=("data/from/a.txt",), absent=("outside/moved.txt",)),
    refused("delete through a link", "delete", "data/del/esc/secret.txt", exists=("outside/secret.txt",)),
    refused("delete a directory through a link", "delete", "data/del/esc/dir", exists=("outside/dir/inner.txt",)),
    refused("createdir through a link", "createdir", "data/to/esc/new", absent=("outside/new",)),
    refused("createdirqvd through a link", "createdirqvd", "esc/new", absent=("outside/new",)),
    # '..' runs: refused by Butler's lexical rule already.
    refused("'..' run", "copy", "data/from/../../outside/secret.txt", "data/to/s.txt"),
    refused("'..' run below a subfolder", "copy", "data/from/sub/../../../outside/secret.txt", "data/to/s.txt"),
    refused("'..' run on the destination", "copy", "data/from/a.txt", "data/to/../../outside/a.txt"),
    refused("'..' run on delete", "delete", "data/del/../../outside/secret.txt"),
    refused("'..' run on createdir", "createdir", "data/to/../../outside/new"),
    refused("approved folder itself", "delete", "data/del"),
    # The last name is not followed: the link is the target, never what it points to.
    allowed("overwrite a link to an outside file", "copy", "data/from/a.txt", "data/to/esc_file", overwrite=True,
            content={"data/to/esc_file": b"alpha"}),
    allowed("delete a link to an outside file", "delete", "data/del/esc_file", absent=("data/del/esc_file",),
            exists=("outside/secret.txt",)),
    allowed("delete a link to an outside folder", "delete", "data/del/esc", absent=("data/del/esc",),
            exists=("outside/dir/inner.txt",)),
    allowed("delete a link with a trailing slash", "delete", "data/del/esc/", absent=("data/del/esc",)),
    allowed("delete a tree holding a link out", "delete", "data/del/tree", absent=("data/del/tree",)),
    allowed("copy a tree holding links out", "copy", "data/from/sub", "data/to/sub",
            content={"data/to/sub/b.txt": b"bravo"}),
    # Legitimate paths inside, including through in-tree links.
    allowed("relative link inside", "copy", "data/from/inlink/b.txt", "data/to/b.txt",
            content={"data/to/b.txt": b"bravo"}),
    allowed("absolute link inside", "copy", "data/from/abs_in/b.txt", "data/to/b.txt"),
    allowed("'..' inside a link that stays inside", "copy", "data/from/sub/up_in/b.txt", "data/to/b.txt"),
    allowed("link to a file inside", "copy", "data/from/file_link", "data/to/f.txt",
            content={"data/to/f.txt": b"alpha"}),
    allowed("destination through a link inside", "copy", "data/from/a.txt", "data/to/in_link/a.txt",
            content={"data/to/in_dir/a.txt": b"alpha"}),
    allowed("doubled slashes", "copy", "data//from///sub//b.txt", "data/to//b.txt"),
    allowed("'.' segments", "copy", "data/from/./././a.txt", "data/to/./a.txt"),
    allowed("'..' that stays inside", "copy", "data/from/sub/../../from/a.txt", "data/to/x/../a.txt",
            content={"data/to/a.txt": b"alpha"}),
    allowed("move through a link inside", "move", "data/from/inlink/b.txt", "data/to/in_link/b.txt",
            absent=("data/from/sub/b.txt",), content={"data/to/in_dir/b.txt": b"bravo"}),
    allowed("delete through a link inside", "delete", "data/from/inlink/b.txt", absent=("data/from/sub/b.txt",)),
    allowed("createdir through a link inside", "createdir", "data/to/in_link/new", exists=("data/to/in_dir/new",)),
    # Encoded separators and look-alikes are names, never separators.
    Case("encoded separators", "copy", ("data/from/..%2F..%2Foutside%2Fsecret.txt", "data/to/s.txt"), 400,
         "fromFile does not exist"),
    Case("encoded dots", "copy", ("data/from/%2e%2e/%2e%2e/outside/secret.txt", "data/to/s.txt"), 400,
         "fromFile does not exist"),
    Case("fullwidth dots and solidus", "copy",
         ("data/from/\uff0e\uff0e\uff0f\uff0e\uff0e\uff0foutside\uff0fsecret.txt", "data/to/s.txt"), 400,
         "fromFile does not exist"),
    Case("two-dot leader", "copy", ("data/from/\u2025/\u2025/outside/secret.txt", "data/to/s.txt"), 400,
         "fromFile does not exist"),
    Case("division slash", "delete", ("data/del/..\u2215..\u2215outside\u2215secret.txt",), 400,
         "Delete failed, file does not exist"),
    # Loops, long and odd paths: clear 400s, never a crash or hang.
    Case("link loop", "copy", ("data/from/loop1", "data/to/l"), 400,
         "fromFile cannot be resolved: too many levels of symbolic links"),
    Case("very long name", "copy", ("data/from/" + "a" * 300, "data/to/s.txt"), 400, "fromFile is too long"),
    Case("very long path", "copy", ("data/from/" + "a/" * 2100 + "x", "data/to/s.txt"), 400,
         "fromFile is too long"),
    Case("very deep path", "copy", ("data/from/" + "a/" * 1000 + "x", "data/to/s.txt"), 400,
         "fromFile does not exist"),
    Case("very long destination name", "copy", ("data/from/a.txt", "data/to/" + "b" * 300), 400,
         "toFile is too long"),
    Case("NUL byte", "copy", ("data/from/a.txt\x00.qvd", "data/to/s.txt"), 400,
         "fromFile contains a NUL character"),
    Case("delete a missing file inside", "delete", ("data/del/nothing",), 400, "Delete failed, file does not exist"),
]


def body_for(case: Case, site) -> dict:
    paths = [path if case.op == "createdirqvd" else site.p(path) for path in case.paths]
    if case.op in ("copy", "move"):
        return {"fromFile": paths[0], "toFile": paths[1], "overwrite": "true" if case.overwrite else "false"}
    if case.op == "delete":
        return {"deleteFile": paths[0]}
    return {"directory": paths[0]}


def via_http(client: httpx.Client, case: Case, site) -> tuple[int, str]:
    method, path = ROUTES[case.op]
    headers = {} if method == "POST" else {"X-HTTP-Method-Override": method}
    response = client.post(path, json=body_for(case, site), headers=headers)
    message = response.json()["message"] if response.status_code >= 400 else ""
    return response.status_code, message


def via_sandbox(sandbox: Sandbox, case: Case, site) -> tuple[int, str]:
    body = body_for(case, site)
    calls: dict[str, Callable] = {
        "copy": lambda: sandbox.copy(body.get("fromFile", ""), body.get("toFile", ""), overwrite=case.overwrite,
                                     preserve_timestamp=False, client="test"),
        "move": lambda: sandbox.move(body.get("fromFile", ""), body.get("toFile", ""), overwrite=case.overwrite,
                                     client="test"),
        "delete": lambda: sandbox.delete(body.get("deleteFile", ""), client="test"),
        "createdir": lambda: sandbox.create_dir(body.get("directory", ""), client="test"),
        "createdirqvd": lambda: sandbox.create_dir_qvd(body.get("directory", ""), client="test"),
    }
    try:
        asyncio.run(calls[case.op]())
    except FileOperationError as exc:
        return exc.status, exc.message
    return SUCCESS[case.op], ""


def site_sandbox(site, use_fds: bool) -> Sandbox:
    pair = [(str(site.source), str(site.target))]
    return Sandbox(copy_pairs=pair, move_pairs=pair, delete_folders=[str(site.trash), str(site.source)],
                   qvd_folder=str(site.qvd), base_dir=site.root, use_fds=use_fds)


MODES = ["http", "sandbox-paths"] + (["sandbox-fds"] if DIR_FDS_SUPPORTED else [])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_corpus(case: Case, mode: str, shared_site, request):
    site = shared_site
    site.build()
    before = site.snapshot_outside()
    if mode == "http":
        status, message = via_http(request.getfixturevalue("shared_http"), case, site)
    else:
        status, message = via_sandbox(site_sandbox(site, mode == "sandbox-fds"), case, site)
    assert status == case.status, message
    if case.status == 403:
        assert message.startswith(case.message)
    elif case.message:
        assert message == case.message
    for name in case.exists:
        assert (site.root / name).exists(), name
    for name in case.absent:
        assert not (site.root / name).is_symlink() and not (site.root / name).exists(), name
    for name, data in case.content.items():
        assert not (site.root / name).is_symlink() and (site.root / name).read_bytes() == data
    assert site.snapshot_outside() == before
    assert site.secrets_inside() == []
