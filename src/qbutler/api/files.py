"""File endpoints: filecopy, filemove, filedelete, createdir, createdirqvd (REST reference §3).

Each handler turns the request into one sandbox call and the result, or the sandbox's refusal,
into Butler's wire shape.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from qbutler.api.http import HttpError, Request, Response, empty_response, json_response
from qbutler.api.routing import RouteTable, body_fields
from qbutler.api.schema import serialize
from qbutler.files import FileOperationError

routes = RouteTable("File operations")
T = TypeVar("T")

_STRING = {"type": "string"}
_BOOLEAN = {"type": "boolean", "default": False}

COPY_BODY = {"type": "object", "properties": {
    "fromFile": _STRING, "toFile": _STRING, "overwrite": _BOOLEAN, "preserveTimestamp": _BOOLEAN}}
COPY_RESPONSE = {"type": "object", "properties": {
    "fromFile": _STRING, "toFile": _STRING, "overwrite": {"type": "boolean"},
    "preserveTimestamp": {"type": "boolean"}}}
MOVE_BODY = {"type": "object", "properties": {"fromFile": _STRING, "toFile": _STRING, "overwrite": _BOOLEAN}}
MOVE_RESPONSE = {"type": "object", "properties": {
    "fromFile": _STRING, "toFile": _STRING, "overwrite": {"type": "boolean"}}}
DELETE_BODY = {"type": "object", "properties": {"deleteFile": _STRING}}
# null is refused rather than coerced to "" (which would name the QVD folder itself).
DIRECTORY_BODY = {"type": "object", "properties": {"directory": {"type": "string", "not": {"type": "null"}}}}
DIRECTORY_RESPONSE = {"type": "object", "properties": {"directory": _STRING}}

_REFUSALS = {400: "Bad request: a required field is missing, a path is not allowed, or the source "
                  "does not exist",
             403: "The path is not inside an approved directory",
             409: "The folder changed during the operation (try again), or a copied directory would "
                  "replace a file or link",
             500: "The operation failed"}


_PAIR = body_fields("fromFile", "toFile")
_DIRECTORY = body_fields("directory")


async def _sandboxed(call: Awaitable[T]) -> T:
    try:
        return await call
    except FileOperationError as exc:
        raise HttpError(exc.status, exc.message) from None


def _created(value: dict[str, Any], schema: dict[str, Any]) -> Response:
    return json_response(serialize(value, schema), 201)


@routes.put(
    "/v4/filecopy", switch="fileCopy", scope="files", changes=_PAIR, body=COPY_BODY, responses={201: COPY_RESPONSE},
    summary="Copy a file or directory between approved directories",
    description="Load scripts call it as POST with `X-HTTP-Method-Override: PUT`. An existing "
                "destination is kept unless `overwrite` is true; the copy lands atomically.",
    documented={201: "Copied (or skipped: the destination exists and overwrite is false)", **_REFUSALS},
)
async def file_copy(request: Request, ctx: Any) -> Response:
    body = request.json
    source, target = await _sandboxed(ctx.files.copy(
        body.get("fromFile") or "", body.get("toFile") or "", overwrite=body["overwrite"],
        preserve_timestamp=body["preserveTimestamp"], client=request.client))
    return _created({"fromFile": source, "toFile": target, "overwrite": body["overwrite"],
                     "preserveTimestamp": body["preserveTimestamp"]}, COPY_RESPONSE)


@routes.put(
    "/v4/filemove", switch="fileMove", scope="files", changes=_PAIR, body=MOVE_BODY, responses={201: MOVE_RESPONSE},
    summary="Move a file or directory between approved directories",
    description="Load scripts call it as POST with `X-HTTP-Method-Override: PUT`. An existing "
                "destination is an error (500) unless `overwrite` is true.",
    documented={201: "Moved", **_REFUSALS},
)
async def file_move(request: Request, ctx: Any) -> Response:
    body = request.json
    source, target = await _sandboxed(ctx.files.move(
        body.get("fromFile") or "", body.get("toFile") or "", overwrite=body["overwrite"], client=request.client))
    return _created({"fromFile": source, "toFile": target, "overwrite": body["overwrite"]}, MOVE_RESPONSE)


@routes.delete(
    "/v4/filedelete", switch="fileDelete", scope="files", changes=body_fields("deleteFile"), body=DELETE_BODY,
    summary="Delete a file, or a directory tree, in an approved directory",
    description="Load scripts call it as POST with `X-HTTP-Method-Override: DELETE`.",
    documented={204: "Deleted", **_REFUSALS},
)
async def file_delete(request: Request, ctx: Any) -> Response:
    await _sandboxed(ctx.files.delete(request.json.get("deleteFile") or "", client=request.client))
    return empty_response(204)


def _directory(request: Request) -> str:
    # Butler rejects only a missing field; "" is accepted (null is refused by the schema).
    if "directory" not in request.json:
        raise HttpError(400, "Required parameter missing")
    return request.json["directory"]


@routes.post(
    "/v4/createdir", switch="createDir", scope="files", changes=_DIRECTORY,
    body=DIRECTORY_BODY, responses={201: DIRECTORY_RESPONSE},
    summary="Create a directory (with missing parents) inside an approved directory",
    description="Limited to the approved directories unless `Butler.fileOperations.createDirAnywhere` is true.",
    documented={201: "Created, or already there", **_REFUSALS},
)
async def create_dir(request: Request, ctx: Any) -> Response:
    directory = _directory(request)
    await _sandboxed(ctx.files.create_dir(directory, client=request.client))
    return _created({"directory": directory}, DIRECTORY_RESPONSE)


@routes.post(
    "/v4/createdirqvd", switch="createDirQVD", scope="files", changes=_DIRECTORY,
    body=DIRECTORY_BODY, responses={201: DIRECTORY_RESPONSE},
    summary="Create a directory (with missing parents) below the QVD folder",
    description="`directory` is always taken relative to `Butler.configDirectories.qvdPath`.",
    documented={201: "Created, or already there", **_REFUSALS},
)
async def create_dir_qvd(request: Request, ctx: Any) -> Response:
    directory = _directory(request)
    await _sandboxed(ctx.files.create_dir_qvd(directory, client=request.client))
    return _created({"directory": directory}, DIRECTORY_RESPONSE)
