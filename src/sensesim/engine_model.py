"""The Engine's view of one app: seed data turned into real Engine shapes.

An `AppModel` is a read-only snapshot built from the seeded `App.engine` mapping plus
the in-memory state of the open document (working script, last reload).  It is cheap,
so the object handles build a fresh one on every call: whatever the control API or a
reload changed is visible at once, and nothing here caches stale layouts.

Shapes follow the enigma.js schema 12.612.0 models and the examples in
qlik-sense-apis.md §2.3/§2.5.  Seed keys beyond the documented ones (`description`,
`srcTables`, `cardinal`, `tags`, `isSystem`, ...) are optional refinements; see the
`## Engine` section of docs/sensesim.md.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar, TypedDict

from sensesim.engine_cube import Cube, CubeError, ListObject
from sensesim.engine_data import DataModel, model_of
from sensesim.engine_eval import EvalError, Scope, evaluate_text
from sensesim.state import NULL_DATE, App, SiteInfo, derive_id, iso, parse_iso, utcnow

# Sheet grid of a Sense client: 24 columns, 12 rows; cells without a position from the
# seed are laid out two per row so the property tree looks like a real sheet.
_SHEET_COLUMNS = 24
_SHEET_ROWS = 12

# Qlik serial dates count days from 1899-12-30 (qFileTime, qUtcModifyTime).
_QLIK_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)

# Number-interpretation variables: the script sets them, the engine derives qLocaleInfo
# from them and lists them as configuration variables.
_CONFIG_VARIABLES = {
    "ThousandSep",
    "DecimalSep",
    "MoneyThousandSep",
    "MoneyDecimalSep",
    "MoneyFormat",
    "TimeFormat",
    "DateFormat",
    "TimestampFormat",
    "FirstWeekDay",
    "BrokenWeeks",
    "ReferenceDay",
    "FirstMonthOfYear",
    "CollationLocale",
    "CreateSearchIndexOnReload",
    "MonthNames",
    "LongMonthNames",
    "DayNames",
    "LongDayNames",
    "NumericalAbbreviation",
}
# Other names the script language reserves (error, value-handling and system variables).
_RESERVED_VARIABLES = _CONFIG_VARIABLES | {
    "ErrorMode",
    "ScriptError",
    "ScriptErrorCount",
    "ScriptErrorList",
    "NullDisplay",
    "NullInterpret",
    "NullValue",
    "OtherSymbol",
    "HidePrefix",
    "HideSuffix",
    "SearchIndexOnReload",
    "StripComments",
    "Verbatim",
    "OpenUrlTimeout",
    "Include",
    "Floppy",
    "CD",
    "QvPath",
    "QvRoot",
    "QvWorkPath",
    "QvWorkRoot",
    "WinPath",
    "WinRoot",
}

# en-US defaults, i.e. what a new Sense app's generated script sets.
_DEFAULT_LOCALE = {
    "ThousandSep": ",",
    "DecimalSep": ".",
    "MoneyThousandSep": ",",
    "MoneyDecimalSep": ".",
    "MoneyFormat": "$#,##0.00;-$#,##0.00",
    "TimeFormat": "h:mm:ss TT",
    "DateFormat": "M/D/YYYY",
    "TimestampFormat": "M/D/YYYY h:mm:ss[.fff] TT",
    "FirstWeekDay": "6",
    "BrokenWeeks": "1",
    "ReferenceDay": "0",
    "FirstMonthOfYear": "1",
    "CollationLocale": "en-US",
    "MonthNames": "Jan;Feb;Mar;Apr;May;Jun;Jul;Aug;Sep;Oct;Nov;Dec",
    "LongMonthNames": "January;February;March;April;May;June;July;August;September;October;November;December",
    "DayNames": "Mon;Tue;Wed;Thu;Fri;Sat;Sun",
    "LongDayNames": "Monday;Tuesday;Wednesday;Thursday;Friday;Saturday;Sunday",
    "NumericalAbbreviation": (
        "3:k;6:M;9:G;12:T;15:P;18:E;21:Z;24:Y;-3:m;-6:μ;-9:n;-12:p;-15:f;-18:a;-21:z;-24:y"
    ),
}

_ASSIGNMENT = re.compile(r"^\s*(SET|LET)\s+([A-Za-z_$][\w.$]*)\s*=\s*(.*?)\s*;?\s*$", re.IGNORECASE)
_SECTION_ACCESS = re.compile(r"^\s*section\s+access\s*;", re.IGNORECASE | re.MULTILINE)


def qlik_serial(when: datetime) -> float:
    """Days since 1899-12-30 as a float, the engine's timestamp number format."""
    return (when.astimezone(UTC) - _QLIK_EPOCH).total_seconds() / 86400.0


def script_assignments(script: str) -> dict[str, tuple[str, str]]:
    """`SET`/`LET` statements of a script: name -> (keyword, value); later ones win.

    `SET x='a';` stores the text without its quotes, as the script engine does; `LET`
    would evaluate its expression, which the simulator cannot, so the text is kept.
    """
    found: dict[str, tuple[str, str]] = {}
    for line in script.splitlines():
        match = _ASSIGNMENT.match(line)
        if not match:
            continue
        keyword, name, value = match.group(1).upper(), match.group(2), match.group(3)
        if keyword == "SET" and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[name] = (keyword, value)
    return found


def resolve_pointer(document: Any, pointer: str) -> tuple[bool, Any]:
    """RFC 6901 lookup; returns (found, value)."""
    if pointer in ("", "/"):
        return True, document
    current = document
    for raw in pointer.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return False, None
    return True, current


def resolve_qdata(definition: Any, *documents: dict[str, Any]) -> dict[str, Any]:
    """Evaluate a `qData` mapping of JSON pointers against an object.

    The pointers are tried on the layout first and the properties second: clients use
    both kinds (`/qDimInfos` is layout-only, `/qMetaDef/title` properties-only).
    Pointers that resolve nowhere are left out of the result.
    """
    result: dict[str, Any] = {}
    if not isinstance(definition, dict):
        return result
    for key, spec in definition.items():
        if isinstance(spec, dict):
            result[key] = resolve_qdata(spec, *documents)
        elif isinstance(spec, str) and spec.startswith("/"):
            for document in documents:
                found, value = resolve_pointer(document, spec)
                if found:
                    result[key] = copy.deepcopy(value)
                    break
    return result


class Edit(TypedDict, total=False):
    """A document's change to one entity: its new properties (SetProperties, ApplyPatches, or
    a Create* call, which also sets createdDate). None in place of an Edit removes the entity."""

    handleType: str  # the Entity.handle_type the props belong to
    props: dict[str, Any]
    createdDate: str


@dataclass
class Entity:
    """One persistent app entity (generic object, dimension, measure, bookmark, variable)."""

    handle_type: str  # GenericObject, GenericDimension, GenericMeasure, GenericBookmark, GenericVariable
    qid: str
    qtype: str
    props: dict[str, Any]
    meta: dict[str, Any]
    # Layout members the engine computes rather than copies from the properties.
    computed: dict[str, Any] = field(default_factory=dict)
    children: list[Entity] = field(default_factory=list)
    # Extra members of a list item (VariableListItem flags and the like).
    item_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def info(self) -> dict[str, str]:
        return {"qId": self.qid, "qType": self.qtype}


def _text(item: dict[str, Any], key: str, default: str = "") -> str:
    value = item.get(key, default)
    return default if value is None else str(value)


class AppModel:
    """Engine shapes for one app as seen by one session (data loaded or not)."""

    def __init__(
        self,
        app: App,
        site: SiteInfo,
        *,
        script: str,
        reloaded_script: str,
        last_reload_time: str,
        has_data: bool,
        selections: dict[str, set[str]] | None = None,
        edits: dict[str, Edit | None] | None = None,
    ) -> None:
        self.app = app
        self.selections = selections if selections is not None else {}
        # Saved and unsaved entity edits of the document, by qId (see Edit).
        self.edits = edits or {}
        self.site = site
        self.engine: dict[str, Any] = app.engine
        self.script = script
        self.reloaded_script = reloaded_script
        self.last_reload_time = last_reload_time
        self.has_data = has_data

    # ------------------------------------------------------------------ helpers

    def _seq(self, key: str) -> list[dict[str, Any]]:
        return [item for item in self.engine.get(key) or [] if isinstance(item, dict)]

    def _id(self, item: dict[str, Any], kind: str, fallback: str) -> str:
        # Seeds should give ids; a missing one is derived so repeated runs agree.
        if item.get("id"):
            return str(item["id"])
        return derive_id(f"engine-{kind}", f"{self.app.id}:{fallback}")

    def _meta(self, meta_def: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        meta = copy.deepcopy(meta_def)
        meta["createdDate"] = _text(item, "createdDate", iso(self.app.meta.created))
        meta["modifiedDate"] = _text(item, "modifiedDate", iso(self.app.meta.modified))
        meta["published"] = bool(item.get("published", self.app.published))
        return meta

    def _apply_edits(self, found: dict[str, Entity], handle_type: str) -> dict[str, Entity]:
        """The seed's entities of one handle type with the document's edits laid over them."""
        for qid, edit in self.edits.items():
            if edit is None:
                doomed = found.pop(qid, None)
                # A removed object takes its children along (DestroyObject).
                pending = list(doomed.children) if doomed else []
                while pending:
                    child = pending.pop()
                    found.pop(child.qid, None)
                    pending.extend(child.children)
                continue
            if edit["handleType"] != handle_type:
                continue
            props = copy.deepcopy(edit["props"])
            entity = found.get(qid)
            if entity is None:
                found[qid] = self._created(handle_type, qid, props, str(edit.get("createdDate") or ""))
                continue
            entity.props = props
            meta_def = props.get("qMetaDef")
            if isinstance(meta_def, dict):
                entity.meta = {**entity.meta, **copy.deepcopy(meta_def)}
        for entity in found.values():
            entity.children = [c for c in entity.children if c.qid in found]
        return found

    def _created(self, handle_type: str, qid: str, props: dict[str, Any], created: str) -> Entity:
        """An entity a client made with CreateObject/CreateDimension/CreateMeasure/CreateBookmark."""
        meta_def = props.get("qMetaDef") if isinstance(props.get("qMetaDef"), dict) else {}
        # A new object is its creator's until published, whatever the app's state.
        meta = self._meta(meta_def, {"createdDate": created, "modifiedDate": created, "published": False})
        computed: dict[str, Any] = {}
        if handle_type == "GenericDimension":
            fields = props.get("qDim", {}).get("qFieldDefs") or []
            computed["qDimInfos"] = self._dim_infos([str(f) for f in fields])
        elif handle_type == "GenericBookmark":
            computed["qBookmark"] = self._bookmark_state()
        return Entity(handle_type, qid, str(props["qInfo"]["qType"]), props, meta, computed=computed)

    @cached_property
    def locale_variables(self) -> dict[str, str]:
        values = dict(_DEFAULT_LOCALE)
        for name, (_keyword, value) in script_assignments(self.reloaded_script).items():
            if name in _DEFAULT_LOCALE:
                values[name] = value
        return values

    # ------------------------------------------------------------------ generic objects

    def _cell_children(self, sheet: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Entity]]:
        cells: list[dict[str, Any]] = []
        children: list[Entity] = []
        for index, cell in enumerate(item for item in sheet.get("cells") or [] if isinstance(item, dict)):
            name = _text(cell, "name") or derive_id("engine-cell", f"{self.app.id}:{sheet.get('id')}:{index}")
            vis_type = _text(cell, "type", "text")
            cells.append(
                {
                    "name": name,
                    "type": vis_type,
                    "col": int(cell.get("col", (index % 2) * (_SHEET_COLUMNS // 2))),
                    "row": int(cell.get("row", (index // 2) * (_SHEET_ROWS // 2))),
                    "colspan": int(cell.get("colspan", _SHEET_COLUMNS // 2)),
                    "rowspan": int(cell.get("rowspan", _SHEET_ROWS // 2)),
                }
            )
            props = {
                "qInfo": {"qId": name, "qType": vis_type},
                "qMetaDef": {},
                "visualization": vis_type,
                "title": _text(cell, "title"),
                "showTitles": True,
            }
            children.append(Entity("GenericObject", name, vis_type, props, self._meta({}, cell)))
        return cells, children

    @cached_property
    def objects(self) -> dict[str, Entity]:
        """Every GenericObject of the app, children included, by qId."""
        found: dict[str, Entity] = {}

        def add(entity: Entity) -> None:
            found[entity.qid] = entity
            for child in entity.children:
                add(child)

        for rank, sheet in enumerate(self._seq("sheets")):
            qid = self._id(sheet, "sheet", _text(sheet, "title"))
            cells, children = self._cell_children(sheet)
            meta_def = {"title": _text(sheet, "title"), "description": _text(sheet, "description")}
            props = {
                "qInfo": {"qId": qid, "qType": "sheet"},
                "qMetaDef": meta_def,
                "rank": rank,
                "thumbnail": {"qStaticContentUrlDef": {}},
                "columns": _SHEET_COLUMNS,
                "rows": _SHEET_ROWS,
                "cells": cells,
                "qChildListDef": {"qData": {"title": "/title"}},
            }
            add(Entity("GenericObject", qid, "sheet", props, self._meta(meta_def, sheet), children=children))
        for rank, story in enumerate(self._seq("stories")):
            qid = self._id(story, "story", _text(story, "title"))
            meta_def = {"title": _text(story, "title"), "description": _text(story, "description")}
            props = {
                "qInfo": {"qId": qid, "qType": "story"},
                "qMetaDef": meta_def,
                "rank": rank,
                "thumbnail": {"qStaticContentUrlDef": {}},
                "qChildListDef": {"qData": {"title": "/title", "rank": "/rank"}},
            }
            add(Entity("GenericObject", qid, "story", props, self._meta(meta_def, story)))
        for master in self._seq("masterobjects"):
            qid = self._id(master, "masterobject", _text(master, "title"))
            meta_def = {
                "title": _text(master, "title"),
                "description": _text(master, "description"),
                "tags": [],
            }
            props = {
                "qInfo": {"qId": qid, "qType": "masterobject"},
                "qMetaDef": meta_def,
                "visualization": _text(master, "type", "table"),
                "title": "",
                "showTitles": True,
            }
            add(Entity("GenericObject", qid, "masterobject", props, self._meta(meta_def, master)))
        # Not a documented seed key yet; read it when present so `appprops` lists work.
        for extra in self._seq("appprops"):
            qid = self._id(extra, "appprops", "AppProps")
            props = {k: copy.deepcopy(v) for k, v in extra.items() if k != "id"}
            props.update({"qInfo": {"qId": qid, "qType": "appprops"}, "qMetaDef": {}})
            add(Entity("GenericObject", qid, "appprops", props, self._meta({}, extra)))
        return self._apply_edits(found, "GenericObject")

    # ------------------------------------------------------------------ master items

    def _field(self, name: str) -> dict[str, Any] | None:
        for item in self._seq("fields"):
            if _text(item, "name") == name:
                return item
        return None

    @cached_property
    def dimensions(self) -> dict[str, Entity]:
        found: dict[str, Entity] = {}
        for dim in self._seq("dimensions"):
            qid = self._id(dim, "dimension", _text(dim, "title"))
            fields = [str(f) for f in dim.get("fields") or []]
            meta_def = {"title": _text(dim, "title"), "description": _text(dim, "description"), "tags": []}
            props = {
                "qInfo": {"qId": qid, "qType": "dimension"},
                "qDim": {
                    # More than one field makes a drill-down group.
                    "qGrouping": "H" if len(fields) > 1 else "N",
                    "qFieldDefs": fields,
                    "qFieldLabels": ["" for _ in fields],
                    "title": _text(dim, "title"),
                },
                "qMetaDef": meta_def,
            }
            found[qid] = Entity(
                "GenericDimension",
                qid,
                "dimension",
                props,
                self._meta(meta_def, dim),
                computed={"qDimInfos": self._dim_infos(fields)},
            )
        return self._apply_edits(found, "GenericDimension")

    def _dim_infos(self, fields: list[str]) -> list[dict[str, Any]]:
        infos = []
        for name in fields:
            seeded = self._field(name) or {}
            info: dict[str, Any] = {
                "qApprMaxGlyphCount": len(name),
                "qCardinal": int(seeded.get("cardinal", 0)) if self.has_data else 0,
                "qTags": [str(t) for t in seeded.get("tags") or []] if self.has_data else [],
            }
            if seeded.get("isSemantic"):
                info["qIsSemantic"] = True
            infos.append(info)
        return infos

    @cached_property
    def measures(self) -> dict[str, Entity]:
        found: dict[str, Entity] = {}
        for measure in self._seq("measures"):
            qid = self._id(measure, "measure", _text(measure, "title"))
            meta_def = {
                "title": _text(measure, "title"),
                "description": _text(measure, "description"),
                "tags": [],
            }
            props = {
                "qInfo": {"qId": qid, "qType": "measure"},
                "qMeasure": {
                    "qLabel": _text(measure, "title"),
                    "qDef": _text(measure, "expression"),
                    "qGrouping": "N",
                    "qExpressions": [],
                    "qActiveExpression": 0,
                },
                "qMetaDef": meta_def,
            }
            found[qid] = Entity("GenericMeasure", qid, "measure", props, self._meta(meta_def, measure))
        return self._apply_edits(found, "GenericMeasure")

    @cached_property
    def bookmarks(self) -> dict[str, Entity]:
        """Bookmarks and snapshots: both are GenericBookmarks, told apart by qType."""
        found: dict[str, Entity] = {}
        for key, qtype in (("bookmarks", "bookmark"), ("snapshots", "snapshot")):
            for item in self._seq(key):
                qid = self._id(item, qtype, _text(item, "title"))
                meta_def = {"title": _text(item, "title"), "description": _text(item, "description")}
                props: dict[str, Any] = {
                    "qInfo": {"qId": qid, "qType": qtype},
                    "qMetaDef": meta_def,
                    "creationDate": _text(item, "createdDate", iso(self.app.meta.created)),
                }
                if item.get("sheetId"):
                    props["sheetId"] = str(item["sheetId"])
                found[qid] = Entity(
                    "GenericBookmark",
                    qid,
                    qtype,
                    props,
                    self._meta(meta_def, item),
                    computed={"qBookmark": self._bookmark_state()},
                )
        return self._apply_edits(found, "GenericBookmark")

    def _bookmark_state(self) -> dict[str, Any]:
        # Bookmarks do not capture selections in sensesim: every state is empty.
        return {
            "qStateData": [{"qStateName": "$", "qFieldItems": []}],
            "qUtcModifyTime": qlik_serial(self.app.meta.modified),
            "qVariableItems": [],
            "qPatches": [],
        }

    @cached_property
    def variables(self) -> dict[str, Entity]:
        """Seeded variables plus those the last reloaded script created with SET/LET."""
        found: dict[str, Entity] = {}
        seeded_names: set[str] = set()
        for var in self._seq("variables"):
            name = _text(var, "name")
            seeded_names.add(name)
            qid = self._id(var, "variable", name)
            flags = {
                "qIsScriptCreated": bool(var.get("isScriptCreated")),
                "qIsReserved": bool(var.get("isReserved")),
                "qIsConfig": bool(var.get("isConfig")),
            }
            found[qid] = self._variable(
                qid, name, _text(var, "definition"), _text(var, "comment"), flags, var
            )
        if self.last_reload_time != NULL_DATE:
            for name, (_keyword, value) in script_assignments(self.reloaded_script).items():
                if name in seeded_names:
                    continue
                qid = derive_id("engine-scriptvar", f"{self.app.id}:{name}")
                flags = {
                    "qIsScriptCreated": True,
                    "qIsReserved": name in _RESERVED_VARIABLES,
                    "qIsConfig": name in _CONFIG_VARIABLES,
                }
                found[qid] = self._variable(qid, name, value, "", flags, {})
        return self._apply_edits(found, "GenericVariable")

    def _variable(
        self, qid: str, name: str, definition: str, comment: str, flags: dict[str, bool], item: dict[str, Any]
    ) -> Entity:
        props = {
            "qInfo": {"qId": qid, "qType": "variable"},
            "qName": name,
            "qDefinition": definition,
            "qComment": comment,
            "qIncludeInBookmark": False,
        }
        # The engine evaluates `=` definitions (engine_eval.py); literal values are their text.
        computed: dict[str, Any] = {}
        if not definition.startswith("="):
            computed["qText"] = definition
            try:
                computed["qNum"] = float(definition)
            except ValueError:
                computed["qNum"] = "NaN"
        else:
            try:
                value = evaluate_text(definition, self.scope())
            except EvalError:
                value = None
            if value is not None:
                computed["qText"] = value.text
                computed["qNum"] = value.num if value.num is not None else "NaN"
        computed["qIsScriptCreated"] = flags["qIsScriptCreated"]
        # VariableListItem leaves false flags out, which is what Butler's dump relies on.
        extra = {key: True for key, value in flags.items() if value}
        if comment:
            extra["qDescription"] = comment
        return Entity(
            "GenericVariable",
            qid,
            "variable",
            props,
            self._meta({}, item),
            computed=computed,
            item_extra=extra,
        )

    def variable_by_name(self, name: str) -> Entity | None:
        for entity in self.variables.values():
            if entity.props["qName"] == name:
                return entity
        return None

    def entity(self, handle_type: str, qid: str) -> Entity | None:
        table = {
            "GenericObject": self.objects,
            "GenericDimension": self.dimensions,
            "GenericMeasure": self.measures,
            "GenericBookmark": self.bookmarks,
            "GenericVariable": self.variables,
        }[handle_type]
        return table.get(qid)

    def all_infos(self) -> list[dict[str, str]]:
        infos: list[dict[str, str]] = []
        for table in (self.objects, self.dimensions, self.measures, self.bookmarks):
            infos.extend(entity.info for entity in table.values())
        infos.extend(e.info for e in self.variables.values() if not e.item_extra.get("qIsScriptCreated"))
        return infos

    # ------------------------------------------------------------------ layouts

    def layout(self, entity: Entity) -> dict[str, Any]:
        layout = build_layout(entity.props, self)
        layout["qMeta"] = copy.deepcopy(entity.meta)
        layout.update(copy.deepcopy(entity.computed))
        if entity.handle_type == "GenericObject":
            if "qChildListDef" in entity.props:
                qdata = entity.props["qChildListDef"].get("qData", {})
                layout["qChildList"] = {
                    "qItems": [
                        {"qInfo": child.info, "qData": resolve_qdata(qdata, self.layout(child), child.props)}
                        for child in entity.children
                    ]
                }
            layout["qSelectionInfo"] = {}
        if entity.handle_type == "GenericVariable":
            # A variable layout carries its value, not its definition.
            for key in ("qName", "qDefinition", "qComment", "qIncludeInBookmark"):
                layout.pop(key, None)
        return layout

    def property_tree(self, entity: Entity) -> dict[str, Any]:
        return {
            "qProperty": copy.deepcopy(entity.props),
            "qChildren": [self.property_tree(child) for child in entity.children],
            "qEmbeddedSnapshotRef": None,
        }

    def container_entry(self, entity: Entity, qdata: Any) -> dict[str, Any]:
        """NxContainerEntry: the list item shape of app-object, dimension, measure and bookmark lists."""
        layout = self.layout(entity)
        return {
            "qInfo": entity.info,
            "qMeta": layout["qMeta"],
            "qData": resolve_qdata(qdata, layout, entity.props),
        }

    # ------------------------------------------------------------------ list definitions

    def app_object_list(self, definition: dict[str, Any]) -> dict[str, Any]:
        wanted = definition.get("qType")
        items = [
            self.container_entry(e, definition.get("qData"))
            for e in self.objects.values()
            if e.qtype == wanted
        ]
        return {"qItems": items}

    def dimension_list(self, definition: dict[str, Any]) -> dict[str, Any]:
        return {
            "qItems": [self.container_entry(e, definition.get("qData")) for e in self.dimensions.values()]
        }

    def measure_list(self, definition: dict[str, Any]) -> dict[str, Any]:
        return {"qItems": [self.container_entry(e, definition.get("qData")) for e in self.measures.values()]}

    def bookmark_list(self, definition: dict[str, Any]) -> dict[str, Any]:
        wanted = definition.get("qType") or "bookmark"
        items = [
            self.container_entry(e, definition.get("qData"))
            for e in self.bookmarks.values()
            if e.qtype == wanted
        ]
        return {"qItems": items}

    def variable_list(self, definition: dict[str, Any]) -> dict[str, Any]:
        items = []
        for entity in self.variables.values():
            extra = entity.item_extra
            if extra.get("qIsReserved") and not definition.get("qShowReserved"):
                continue
            if extra.get("qIsConfig") and not definition.get("qShowConfig"):
                continue
            layout = self.layout(entity)
            item: dict[str, Any] = {
                "qName": entity.props["qName"],
                "qDefinition": entity.props["qDefinition"],
                "qInfo": entity.info,
                "qData": resolve_qdata(definition.get("qData"), layout, entity.props),
            }
            if not extra.get("qIsScriptCreated"):
                item["qMeta"] = layout["qMeta"]
            item.update(extra)
            items.append(item)
        return {"qItems": items}

    def field_list(self, definition: dict[str, Any]) -> dict[str, Any]:
        items = []
        for field_item in self.fields():
            if field_item.get("qIsSystem") and not definition.get("qShowSystem"):
                continue
            if field_item.get("qIsHidden") and not definition.get("qShowHidden"):
                continue
            if field_item.get("qIsSemantic") and not definition.get("qShowSemantic"):
                continue
            item = dict(field_item)
            if not definition.get("qShowSrcTables"):
                item.pop("qSrcTables", None)
            items.append(item)
        return {"qItems": items}

    def media_list(self, _definition: dict[str, Any]) -> dict[str, Any]:
        return {"qItems": [{"qUrlDef": _text(m, "url"), "qUrl": _text(m, "url")} for m in self._seq("media")]}

    LIST_DEFS: ClassVar[dict[str, tuple[str, str]]] = {
        "qAppObjectListDef": ("qAppObjectList", "app_object_list"),
        "qDimensionListDef": ("qDimensionList", "dimension_list"),
        "qMeasureListDef": ("qMeasureList", "measure_list"),
        "qBookmarkListDef": ("qBookmarkList", "bookmark_list"),
        "qVariableListDef": ("qVariableList", "variable_list"),
        "qFieldListDef": ("qFieldList", "field_list"),
        "qMediaListDef": ("qMediaList", "media_list"),
    }

    def list_layout(self, def_key: str, definition: Any) -> tuple[str, dict[str, Any]]:
        layout_key, builder = self.LIST_DEFS[def_key]
        return layout_key, getattr(self, builder)(definition if isinstance(definition, dict) else {})

    # ------------------------------------------------------------------ data model

    @cached_property
    def data(self) -> DataModel:
        """The seeded data model; empty while the session has no data loaded."""
        return model_of(self.engine.get("data") if self.has_data else None)

    def scope(self, rows: list[dict[str, Any]] | None = None) -> Scope:
        """What expressions see: possible rows (or `rows`), variables, clock and formats."""
        variables = {
            _text(v, "name"): _text(v, "definition") for v in self._seq("variables")
        }
        for name, (_keyword, value) in script_assignments(self.reloaded_script).items():
            variables.setdefault(name, value)
        scope = self.data.scope(self.selections, variables, utcnow(), self.locale_variables["DateFormat"],
                                self.locale_variables["TimestampFormat"])
        if rows is not None:
            scope.rows = rows
        return scope

    def library(self, kind: str, qid: str) -> dict[str, Any] | None:
        entity = (self.measures if kind == "measure" else self.dimensions).get(qid)
        return entity.props if entity is not None else None

    def cube(self, definition: Any) -> Cube:
        if not isinstance(definition, dict):
            raise CubeError("qHyperCubeDef must be an object")
        return Cube(definition, self.data, self.selections, self.scope, self.library)

    def list_object(self, definition: Any) -> ListObject:
        if not isinstance(definition, dict):
            raise CubeError("qListObjectDef must be an object")
        return ListObject(definition, self.data, self.selections, self.library)

    def fields(self) -> list[dict[str, Any]]:
        """NxFieldDescription items; empty while the session has no data loaded."""
        if not self.has_data:
            return []
        data = self.data
        items = []
        seeded_fields = self._seq("fields")
        seeded_names = {_text(f, "name") for f in seeded_fields}
        # Fields of the data model come first; the seed's `fields` refine or add to them.
        for name in data.field_tables:
            if name not in seeded_names:
                seeded_fields.append({"name": name})
        for seeded in seeded_fields:
            name = _text(seeded, "name")
            in_data = data.has_field(name)
            tags = [str(t) for t in seeded.get("tags") or []]
            if in_data and not tags:
                tags = (["$key"] if name in data.key_fields() else []) + (
                    ["$numeric", "$integer"] if data.is_numeric(name) else ["$ascii", "$text"]
                )
            item: dict[str, Any] = {
                "qName": name,
                "qSrcTables": list(data.field_tables[name]) if in_data
                else [str(t) for t in seeded.get("srcTables") or []],
                "qCardinal": len(data.values[name]) if in_data else int(seeded.get("cardinal", 0)),
                "qTags": tags,
            }
            for seed_key, key in (
                ("isSystem", "qIsSystem"),
                ("isHidden", "qIsHidden"),
                ("isSemantic", "qIsSemantic"),
            ):
                if seeded.get(seed_key):
                    item[key] = True
            items.append(item)
        return items

    def tables_and_keys(self, include_system: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """`qtr` and `qk` of GetTablesAndKeys, derived from the fields' source tables."""
        tables: dict[str, list[dict[str, Any]]] = {}
        for item in self.fields():
            if item.get("qIsSystem") and not include_system:
                continue
            for table in item["qSrcTables"]:
                tables.setdefault(table, []).append(item)
        owners: dict[str, list[str]] = {}
        for table, members in tables.items():
            for item in members:
                owners.setdefault(item["qName"], []).append(table)
        records = []
        data = self.data
        for index, (table, members) in enumerate(tables.items()):
            records.append(
                {
                    "qName": table,
                    "qLoose": False,
                    "qNoOfRows": data.table_rows(table),
                    "qFields": [
                        {
                            "qName": item["qName"],
                            "qOriginalFields": [],
                            "qPresent": True,
                            "qHasNull": False,
                            "qHasWild": False,
                            "qHasDuplicates": False,
                            "qIsSynthetic": False,
                            "qInformationDensity": 1,
                            "qnNonNulls": data.non_nulls(table, item["qName"]),
                            "qnRows": data.table_rows(table),
                            "qSubsetRatio": 1,
                            "qnTotalDistinctValues": item["qCardinal"],
                            "qnPresentDistinctValues": data.distinct_in(table, item["qName"])
                            if data.has_field(item["qName"]) else item["qCardinal"],
                            "qKeyType": "ANY_KEY" if len(owners[item["qName"]]) > 1 else "NOT_KEY",
                            "qComment": "",
                            "qTags": list(item["qTags"]),
                            "qDerivedFields": [],
                        }
                        for item in members
                    ],
                    "qPos": {"qx": index * 200, "qy": 0},
                    "qComment": "",
                    "qIsDirectDiscovery": False,
                    "qIsSynthetic": False,
                }
            )
        keys = [
            {"qKeyFields": [name], "qTables": list(tabs)} for name, tabs in owners.items() if len(tabs) > 1
        ]
        return records, keys

    # ------------------------------------------------------------------ doc-level shapes

    def connections(self) -> list[dict[str, Any]]:
        result = []
        for conn in self._seq("dataconnections"):
            modified = _text(conn, "modifiedDate") or iso(self.app.meta.modified)
            result.append(
                {
                    "qId": self._id(conn, "connection", _text(conn, "name")),
                    "qName": _text(conn, "name"),
                    "qConnectionString": _text(conn, "connectionString"),
                    "qType": _text(conn, "type"),
                    "qModifiedDate": _compact_date(modified),
                    "qMeta": {"qName": _text(conn, "name")},
                    "qLogOn": _text(conn, "logOn", "LOG_ON_SERVICE_USER"),
                }
            )
        return result

    def lineage(self) -> list[dict[str, str]]:
        return [
            {"qDiscriminator": _text(item, "discriminator"), "qStatement": _text(item, "statement")}
            for item in self._seq("lineage")
        ]

    def app_meta(self) -> dict[str, Any]:
        app = self.app
        meta: dict[str, Any] = {
            "createdDate": iso(app.meta.created),
            "modifiedDate": iso(app.meta.modified),
            "published": app.published,
            "description": app.description,
            "qFileSize": app.file_size,
            "dynamicColor": "",
        }
        if app.published:
            meta["publishTime"] = iso(app.publish_time)
        if app.stream is not None:
            meta["stream"] = {"id": app.stream.id, "name": app.stream.name}
        return meta

    def app_properties(self) -> dict[str, Any]:
        return {
            "qTitle": self.app.name,
            "qLastReloadTime": self.last_reload_time,
            # The engine stamps the hash of the product version that saved the app.
            "qMigrationHash": hashlib.sha1(self.site.saved_in_product_version.encode()).hexdigest(),
            "qSavedInProductVersion": self.site.saved_in_product_version,
            "description": self.app.description,
            "qThumbnail": {"qUrl": ""},
            "qHasSectionAccess": bool(_SECTION_ACCESS.search(self.script)),
        }

    def locale_info(self) -> dict[str, Any]:
        v = self.locale_variables
        return {
            "qDecimalSep": v["DecimalSep"],
            "qThousandSep": v["ThousandSep"],
            "qListSep": ",",
            "qMoneyDecimalSep": v["MoneyDecimalSep"],
            "qMoneyThousandSep": v["MoneyThousandSep"],
            "qCurrentYear": datetime.now(UTC).year,
            "qMoneyFmt": v["MoneyFormat"],
            "qTimeFmt": v["TimeFormat"],
            "qDateFmt": v["DateFormat"],
            "qTimestampFmt": v["TimestampFormat"],
            "qCalendarStrings": {
                "qDayNames": v["DayNames"].split(";"),
                "qMonthNames": v["MonthNames"].split(";"),
                "qLongDayNames": v["LongDayNames"].split(";"),
                "qLongMonthNames": v["LongMonthNames"].split(";"),
            },
            "qFirstWeekDay": _int(v["FirstWeekDay"], 6),
            "qBrokenWeeks": _int(v["BrokenWeeks"], 1) != 0,
            "qReferenceDay": _int(v["ReferenceDay"], 0),
            "qFirstMonthOfYear": _int(v["FirstMonthOfYear"], 1),
            "qCollation": v["CollationLocale"],
            "qNumericalAbbreviation": v["NumericalAbbreviation"],
        }

    def app_layout(self, *, opened_without_data: bool, modified: bool) -> dict[str, Any]:
        return {
            "qTitle": self.app.name,
            # On QSEoW the document file is named after the app GUID.
            "qFileName": self.app.id,
            "qLastReloadTime": self.last_reload_time,
            "qModified": modified,
            "qHasScript": bool(self.script.strip()),
            "qStateNames": [],
            "qMeta": self.app_meta(),
            "qLocaleInfo": self.locale_info(),
            "qHasData": self.has_data and self.last_reload_time != NULL_DATE,
            "qReadOnly": False,
            "qIsOpenedWithoutData": opened_without_data,
            "qThumbnail": {"qUrl": ""},
        }

    def doc_list_entry(self, connected_users: int) -> dict[str, Any]:
        app = self.app
        return {
            "qDocName": app.name,
            "qConnectedUsers": connected_users,
            "qFileTime": qlik_serial(app.meta.modified),
            "qFileSize": app.file_size,
            "qDocId": app.id,
            "qMeta": self.app_meta(),
            "qLastReloadTime": self.last_reload_time,
            "qReadOnly": False,
            "qTitle": app.name,
            "qThumbnail": {"qUrl": ""},
        }


def build_layout(props: dict[str, Any], model: AppModel) -> dict[str, Any]:
    """The engine's layout rule: copy properties, evaluate `…ListDef`s, drop other defs.

    `qMetaDef` becomes `qMeta` (added by the caller for persistent objects); hypercubes and
    list objects are calculated over the data model (engine_cube.py); other definitions are dropped rather than
    answered with invented data.
    """
    layout: dict[str, Any] = {}
    for key, value in props.items():
        if key in AppModel.LIST_DEFS:
            layout_key, content = model.list_layout(key, value)
            layout[layout_key] = content
        elif key in ("qHyperCubeDef", "qListObjectDef"):
            layout_key = key[:-3]
            try:
                built = model.cube(value) if key == "qHyperCubeDef" else model.list_object(value)
                layout[layout_key] = built.layout()
            except (CubeError, EvalError) as exc:
                # The engine reports a definition it cannot calculate inside the layout.
                layout[layout_key] = {"qError": {"qErrorCode": 7005, "qContext": str(exc)}}
        elif key in ("qExtendsId", "qStateName") or (key.startswith("q") and key.endswith("Def")):
            continue
        else:
            layout[key] = copy.deepcopy(value)
    return layout


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _compact_date(text: str) -> str:
    """`2024-01-15T10:30:00.000Z` -> `20240115T103000.000Z`, the engine's connection date form."""
    try:
        when = parse_iso(text).astimezone(UTC)
    except ValueError:
        return text
    return when.strftime("%Y%m%dT%H%M%S.") + f"{when.microsecond // 1000:03d}Z"
