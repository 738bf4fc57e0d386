"""App life cycle through QRS: copy, publish, unpublish, replace, delete, export, upload, import.

Follows Qlik's QRS pages "App: Copy" (`POST app/{id}/copy?name=`), "App: Publish"
(`PUT app/{id}/publish?stream=&name=`), "App: Unpublish" (`POST app/{id}/unpublish`),
"App: Replace" (`PUT app/{id}/replace?app={target}`), "App: Export" (`POST
app/{id}/export/{token}?skipData=`, the older `GET app/{id}/export` ticket) with the download
`GET download/app/{id}/{token}/{file}`, "App: Upload" (`POST app/upload?name=`) and "App: Import
app" (`POST app/import?name=` with the file name as a JSON string; the file must be in the import
folder, which `GET app/importfolder` names).

The exported file is not a real QVF: it is sensesim's own container (a magic line and the app's
engine view as JSON), so an export uploaded again restores sheets, script and data.  Any other
upload creates an app with the default script and no objects.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from .state import (
    DEFAULT_SCRIPT,
    ENGINE_KEYS_LIST,
    App,
    Meta,
    State,
    User,
    iso,
    new_id,
    utcnow,
)

MAGIC = b"SENSESIM-QVF 1\n"


class LifecycleError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Export:
    token: str
    app_id: str
    file_name: str
    content: bytes


def _name(raw: str | None, default: str) -> str:
    name = (raw if raw is not None else default).strip()
    if not name:
        raise LifecycleError(400, "name must not be empty")
    return name


def _blank_engine() -> dict[str, object]:
    engine: dict[str, object] = {key: [] for key in ENGINE_KEYS_LIST}
    engine.update({"script": DEFAULT_SCRIPT, "reload": "success", "data": {}})
    return engine


def _new_app(state: State, name: str, owner: User, engine: dict[str, object], source: App | None) -> App:
    now = utcnow()
    app = App(
        id=new_id(),
        name=name,
        owner=owner,
        stream=None,
        published=False,
        publish_time=None,
        description=source.description if source else "",
        tags=list(source.tags) if source else [],
        custom_properties=list(source.custom_properties) if source else [],
        file_size=source.file_size if source else 0,
        lastReloadTime=source.lastReloadTime if source else iso(None),
        meta=Meta(created=now, modified=now, modified_by=owner.domain_user),
        engine=engine,
    )
    state.apps[app.id] = app
    return app


class AppLifecycle:
    def __init__(self, state: State) -> None:
        self.state = state
        self.exports: dict[str, Export] = {}

    def app(self, app_id: str) -> App:
        app = self.state.apps.get(app_id)
        if app is None:
            raise LifecycleError(404, f"App with ID {app_id} not found")
        return app

    def copy(self, app_id: str, name: str | None, caller: User) -> App:
        source = self.app(app_id)
        # A copy is unpublished and owned by whoever made it, as in the QMC's Duplicate.
        return _new_app(self.state, _name(name, source.name), caller, copy.deepcopy(source.engine), source)

    def publish(self, app_id: str, stream_id: str | None, name: str | None, caller: User) -> App:
        app = self.app(app_id)
        if app.published:
            raise LifecycleError(400, f"App {app.id} is already published")
        if not stream_id:
            raise LifecycleError(400, "stream is required")
        stream = self.state.streams.get(stream_id.lower())
        if stream is None:
            raise LifecycleError(404, f"Stream with ID {stream_id} not found")
        now = utcnow()
        app.name = _name(name, app.name)
        app.stream, app.published, app.publish_time = stream, True, now
        app.meta.modified, app.meta.modified_by = now, caller.domain_user
        return app

    def unpublish(self, app_id: str, caller: User) -> App:
        app = self.app(app_id)
        if not app.published:
            raise LifecycleError(400, f"App {app.id} is not published")
        now = utcnow()
        app.stream, app.published, app.publish_time = None, False, None
        app.meta.modified, app.meta.modified_by = now, caller.domain_user
        return app

    def replace(self, source_id: str, target_id: str | None, caller: User) -> App:
        source = self.app(source_id)
        if not target_id:
            raise LifecycleError(400, "app (the target to replace) is required")
        target = self.app(target_id.lower())
        if target.id == source.id:
            raise LifecycleError(400, "an app cannot replace itself")
        # The target keeps its id, name, owner and stream; its content becomes the source's.
        target.engine = copy.deepcopy(source.engine)
        target.description = source.description
        target.file_size = source.file_size
        target.lastReloadTime = source.lastReloadTime
        target.meta.modified, target.meta.modified_by = utcnow(), caller.domain_user
        return target

    def delete(self, app_id: str) -> list[str]:
        """Remove the app and its reload tasks; the removed task ids."""
        app = self.app(app_id)
        doomed = [t.id for t in self.state.tasks.values() if t.app is not None and t.app.id == app.id]
        del self.state.apps[app.id]
        return doomed

    def export(self, app_id: str, token: str | None, skip_data: bool) -> Export:
        app = self.app(app_id)
        if token is not None:
            try:
                token = str(uuid.UUID(token))
            except ValueError:
                raise LifecycleError(400, f"export token {token!r} is not a GUID") from None
            if token in self.exports:
                raise LifecycleError(409, f"export token {token} is already in use")
        token = token or new_id()
        engine = copy.deepcopy(app.engine)
        if skip_data:
            engine["data"] = {}
        payload = {"name": app.name, "description": app.description, "engine": engine}
        content = MAGIC + orjson.dumps(payload, default=str)
        export = Export(token=token, app_id=app.id, file_name=f"{app.name}.qvf", content=content)
        self.exports[token] = export
        return export

    def download(self, app_id: str, token: str) -> Export:
        export = self.exports.get(token.lower())
        if export is None or export.app_id != app_id:
            raise LifecycleError(404, "no such export")
        return export

    def drop_export(self, app_id: str, token: str) -> None:
        self.download(app_id, token)
        del self.exports[token.lower()]

    def upload(self, name: str | None, content: bytes, caller: User) -> App:
        if not content:
            raise LifecycleError(400, "the body must be the app file")
        return self._from_file(name, content, caller)

    def import_file(self, folder: Path | None, body: bytes, name: str | None, exclude_connections: bool,
                    caller: User) -> App:
        """A new app from a file of the import folder; `body` is its name as a JSON string."""
        if folder is None:
            raise LifecycleError(404, "this site has no import folder (sensesim serve --apps-dir)")
        try:
            file_name = orjson.loads(body)
        except orjson.JSONDecodeError:
            file_name = None
        if not isinstance(file_name, str) or not file_name.strip():
            raise LifecycleError(400, 'the body must be the file name as a JSON string, e.g. "Sales.qvf"')
        if Path(file_name).name != file_name or "\\" in file_name or file_name in (".", ".."):
            raise LifecycleError(400, f"{file_name!r} must be a file name in the import folder, not a path")
        path = folder / file_name
        if not path.is_file():
            raise LifecycleError(404, f"{file_name} is not in the import folder")
        content = path.read_bytes()
        if not content:
            raise LifecycleError(400, f"{file_name} is empty")
        # Without ?name= the app is called after its file, as the repository does.
        app = self._from_file(name if name is not None else file_name, content, caller)
        if exclude_connections:
            app.engine["dataconnections"] = []
        return app

    def _from_file(self, name: str | None, content: bytes, caller: User) -> App:
        engine = _blank_engine()
        description = ""
        if content.startswith(MAGIC):
            try:
                payload = orjson.loads(content[len(MAGIC):])
                engine = {**engine, **payload["engine"]}
                description = str(payload.get("description", ""))
                default_name = str(payload["name"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise LifecycleError(400, "the sensesim export is damaged") from None
        else:
            default_name = ""
        app = _new_app(self.state, _name(name, default_name), caller, engine, None)
        app.description = description
        app.file_size = len(content)
        return app
