"""Serialising an app's metadata through the Engine API (Butler's app dump).

The app is opened without data on a virtual-app session of its own (`/app/engineData` with a
unique identity, so parallel dumps never share an engine session). The result has Butler's
top-level keys, always in this order whatever order the engine answers in:

    properties, loadScript, lineage, sheets, stories, masterobjects, appprops, dimensions,
    measures, bookmarks, embeddedmedia, snapshots, fields, dataconnections, variables, appId

Within each list, items keep the engine's order. `lineage` is the list of
`{qDiscriminator, qStatement}` entries (what enigma.js hands Butler), omitted when the engine
cannot give it. Every list is read through its own session object with its own id (Butler
reuses `BookmarkList` for bookmarks and snapshots at the same time, which a real engine may
refuse); the calls run concurrently, bounded by `configEngine.maxParallelRequests`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from qbutler.sense.engine import EngineClient, EngineError, EngineSession

DUMP_KEYS = ("properties", "loadScript", "lineage", "sheets", "stories", "masterobjects", "appprops",
             "dimensions", "measures", "bookmarks", "embeddedmedia", "snapshots", "fields",
             "dataconnections", "variables", "appId")

# Top-level key -> generic object type listed through qAppObjectListDef.
APP_OBJECT_TYPES = {"sheets": "sheet", "stories": "story", "masterobjects": "masterobject", "appprops": "appprops"}

# Variable flags Butler copies from the variable list onto the properties, when true.
VARIABLE_FLAGS = ("qIsScriptCreated", "qIsReserved", "qIsConfig")

Json = dict[str, Any]


async def dump_app(engine: EngineClient, app_id: str) -> Json:
    """Open `app_id` without data and serialise it. Raises the engine client's errors."""
    identity = f"qbutler-dump-{uuid.uuid4().hex[:12]}"
    async with engine.session(app_id, no_data=True, virtual=True, identity=identity) as session:
        assert session.doc is not None
        return await serialize_app(session, session.doc, app_id)


async def serialize_app(session: EngineSession, doc: int, app_id: str) -> Json:
    """The dump of the app open as `doc` on `session`."""
    reader = _AppReader(session, doc)
    parts: dict[str, Callable[[], Awaitable[Any]]] = {
        "properties": reader.properties,
        "loadScript": reader.load_script,
        "lineage": reader.lineage,
        **{key: _bind(reader.app_objects, qtype) for key, qtype in APP_OBJECT_TYPES.items()},
        "dimensions": reader.dimensions,
        "measures": reader.measures,
        "bookmarks": reader.bookmarks,
        "embeddedmedia": reader.embedded_media,
        "snapshots": reader.snapshots,
        "fields": reader.fields,
        "dataconnections": reader.data_connections,
        "variables": reader.variables,
    }
    values = await asyncio.gather(*(read() for read in parts.values()))
    dump: Json = {}
    for key, value in zip(parts, values, strict=True):
        if value is not _ABSENT:
            dump[key] = value
    dump["appId"] = app_id
    return dump


_ABSENT: Any = object()


def _bind(function: Callable[[str], Awaitable[Any]], argument: str) -> Callable[[], Awaitable[Any]]:
    return lambda: function(argument)


class _AppReader:
    """One method per dump key; each opens what it needs on the shared session."""

    def __init__(self, session: EngineSession, doc: int):
        self.session = session
        self.doc = doc

    async def _list_items(self, list_id: str, definition_key: str, definition: Json, layout_key: str,
                          **extra: Any) -> list[Json]:
        props = {"qInfo": {"qId": list_id, "qType": list_id}, definition_key: definition, **extra}
        handle = await self.session.create_session_object(self.doc, props)
        layout = await self.session.get_layout(handle)
        return list((layout.get(layout_key) or {}).get("qItems") or [])

    async def _each(self, items: list[Json], read: Callable[[Json], Awaitable[Any]]) -> list[Any]:
        return list(await asyncio.gather(*(read(item) for item in items)))

    async def _properties_of(self, method: str, qid: str) -> Json:
        return await self.session.get_properties(await self.session.call_for_handle(self.doc, method, [qid]))

    # ---------------------------------------------------------------- the keys

    async def properties(self) -> Json:
        return dict((await self.session.call(self.doc, "GetAppProperties")).get("qProp") or {})

    async def load_script(self) -> str:
        return await self.session.get_script(self.doc)

    async def lineage(self) -> Any:
        try:
            result = await self.session.call(self.doc, "GetLineage")
        except EngineError:
            # Older engines and some app states cannot give lineage; Butler leaves the key out.
            return _ABSENT
        return list(result.get("qLineage") or [])

    async def app_objects(self, qtype: str) -> list[Json]:
        items = await self._list_items(f"{qtype}List", "qAppObjectListDef",
                                       {"qType": qtype, "qData": {"id": "/qInfo/qId"}},
                                       "qAppObjectList", qMetaDef={}, qExtendsId="")

        async def tree(item: Json) -> Json:
            handle = await self.session.call_for_handle(self.doc, "GetObject", [item["qInfo"]["qId"]])
            return dict((await self.session.call(handle, "GetFullPropertyTree")).get("qPropEntry") or {})

        return await self._each(items, tree)

    async def dimensions(self) -> list[Json]:
        items = await self._list_items("DimensionList", "qDimensionListDef",
                                       {"qType": "dimension", "qData": {"info": "/qDimInfos"}, "qMeta": {}},
                                       "qDimensionList")
        return await self._each(items, lambda item: self._properties_of("GetDimension", item["qInfo"]["qId"]))

    async def measures(self) -> list[Json]:
        items = await self._list_items("MeasureList", "qMeasureListDef",
                                       {"qType": "measure", "qData": {}, "qMeta": {}}, "qMeasureList")
        return await self._each(items, lambda item: self._properties_of("GetMeasure", item["qInfo"]["qId"]))

    async def bookmarks(self) -> list[Json]:
        items = await self._list_items("BookmarkList", "qBookmarkListDef",
                                       {"qType": "bookmark", "qData": {}}, "qBookmarkList")

        async def read(item: Json) -> Json:
            handle = await self.session.call_for_handle(self.doc, "GetBookmark", [item["qInfo"]["qId"]])
            props, layout = await asyncio.gather(self.session.get_properties(handle),
                                                 self.session.get_layout(handle))
            data = props.get("qData")
            props["qData"] = {**(data if isinstance(data, dict) else {}), "qBookMark": layout.get("qBookmark")}
            return props

        return await self._each(items, read)

    async def snapshots(self) -> list[Json]:
        items = await self._list_items("SnapshotList", "qBookmarkListDef",
                                       {"qType": "snapshot", "qData": {}}, "qBookmarkList")
        return await self._each(items, lambda item: self._properties_of("GetBookmark", item["qInfo"]["qId"]))

    async def embedded_media(self) -> list[Json]:
        items = await self._list_items("MediaList", "qMediaListDef", {}, "qMediaList")
        # Only media uploaded to the site's media library; app content is part of the app file.
        return [item for item in items if str(item.get("qUrlDef", "")).startswith("/media/")]

    async def fields(self) -> list[Json]:
        return await self._list_items("FieldList", "qFieldListDef",
                                      {"qShowSystem": True, "qShowHidden": True, "qShowSrcTables": True,
                                       "qShowSemantic": True}, "qFieldList")

    async def data_connections(self) -> list[Json]:
        connections = (await self.session.call(self.doc, "GetConnections")).get("qConnections") or []

        async def read(connection: Json) -> Json:
            result = await self.session.call(self.doc, "GetConnection", [connection["qId"]])
            return dict(result.get("qConnection") or {})

        return await self._each(list(connections), read)

    async def variables(self) -> list[Json]:
        items = await self._list_items("VariableList", "qVariableListDef",
                                       {"qType": "variable", "qShowReserved": True, "qShowConfig": True,
                                        "qData": {"info": "/qDimInfos"}, "qMeta": {}}, "qVariableList")

        async def read(item: Json) -> Json:
            props = await self.session.get_properties(
                await self.session.call_for_handle(self.doc, "GetVariableById", [item["qInfo"]["qId"]]))
            for flag in VARIABLE_FLAGS:
                if item.get(flag):
                    props[flag] = item[flag]
            return props

        return await self._each(items, read)
