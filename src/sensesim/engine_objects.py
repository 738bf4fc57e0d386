"""Engine sessions, open documents and the handle objects with their method tables.

Real-engine model reproduced here (qlik-sense-apis.md §2):

* A *session* belongs to one user and at most one open document.  It owns the handle
  table: Global is -1, every other object gets the next free positive number.
* A document is loaded once per engine (`DocRuntime`) and shared by every session that
  opened it.  Unsaved edits (SetScript, a reload) live there until DoSave writes them to
  the repository state; they are dropped when the last session closes the document.
* Methods are looked up per handle type; the parameter lists are the schema's.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sensesim import engine_select
from sensesim.engine_cube import CubeError
from sensesim.engine_eval import EvalError, Evaluator, evaluate_text
from sensesim.engine_eval import check as check_expression
from sensesim.engine_eval import expand as expand_expression
from sensesim.engine_model import AppModel, Edit, Entity, build_layout, resolve_pointer
from sensesim.engine_rpc import (
    APP_ALREADY_OPEN,
    APP_ALREADY_OPEN_IN_DIFFERENT_MODE,
    APP_INVALID,
    APP_NOT_FOUND,
    GENERIC_ACCESS_DENIED,
    GENERIC_ALREADY_EXISTS,
    GENERIC_NOT_FOUND,
    INVALID_PARAMETERS,
    METHOD_NOT_FOUND,
    EngineError,
    Param,
    Reply,
    bind_params,
)
from sensesim.state import App, SiteInfo, State, iso, utcnow

# Where the engine writes the script log of an engine-API reload on a Windows node.
SCRIPT_LOG_DIR = "C:\\ProgramData\\Qlik\\Sense\\Log\\Script\\"

DUPLICATE_ALLOW = "allow"
DUPLICATE_REJECT = "reject"


@dataclass
class EngineOptions:
    """Simulator choices for points the reference marks as unconfirmed ([?])."""

    # §2.2 delta protocol: False answers plain values (option a), True answers root
    # JSON-Patch ops with `"delta": true` when the request asked for delta (option b).
    delta_patches: bool = False
    # Session objects whose qId is already used on the session: "allow" gives each its
    # own handle (Butler's dump needs this for `BookmarkList`), "reject" answers error 3.
    duplicate_session_ids: str = DUPLICATE_ALLOW
    # Two websockets of one user to the same /app/<id> share a session: the second gets
    # SESSION_ATTACHED and OpenDoc answers 1002 (the documented real behaviour).  Off by
    # default so concurrent clients of the simulator stay independent.
    share_sessions: bool = False
    # Seconds a DoReload/DoReloadEx takes.
    reload_seconds: float = 0.0
    # DoReload mode 2 ("ignore errors") lets a failing script finish successfully.
    ignore_errors_succeeds: bool = True
    # A qNoData session has no data model: empty field list, no tables, no cardinals.
    no_data_hides_data_model: bool = True
    # OpenDoc by a user unknown to the repository answers error 5 (access denied).
    deny_unknown_users: bool = False


@dataclass(frozen=True)
class UserIdentity:
    directory: str
    user_id: str

    @property
    def domain_user(self) -> str:
        return f"{self.directory}\\{self.user_id}"

    @property
    def header(self) -> str:
        return f"UserDirectory={self.directory}; UserId={self.user_id}"


@dataclass
class DocRuntime:
    """One app loaded in the engine: the in-memory document all sessions share.

    Unsaved edits are kept as "pending" values on top of the repository's App, so a
    task reload that the runner records meanwhile is not overwritten by a later DoSave.
    """

    app: App
    pending_script: str | None = None
    pending_reload: tuple[str, str] | None = None  # (reload time, script it ran)
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    sessions: set[Session] = field(default_factory=set)
    # Create*/Destroy*/SetProperties/ApplyPatches on persistent entities, by qId, until DoSave
    # writes them to App.engine["savedEdits"] (None: destroyed).
    pending_edits: dict[str, Edit | None] = field(default_factory=dict)

    @property
    def saved_script(self) -> str:
        return str(self.app.engine.get("script", ""))

    @property
    def script(self) -> str:
        return self.pending_script if self.pending_script is not None else self.saved_script

    @property
    def last_reload_time(self) -> str:
        return self.pending_reload[0] if self.pending_reload else self.app.lastReloadTime

    @property
    def reloaded_script(self) -> str:
        return self.pending_reload[1] if self.pending_reload else self.saved_script

    @property
    def modified(self) -> bool:
        return self.pending_script is not None or self.pending_reload is not None or bool(self.pending_edits)

    @property
    def edits(self) -> dict[str, Edit | None]:
        """Saved edits with the unsaved ones over them."""
        return {**self.app.engine.get("savedEdits", {}), **self.pending_edits}

    def model(
        self, site: SiteInfo, *, has_data: bool, selections: dict[str, set[str]] | None = None
    ) -> AppModel:
        return AppModel(
            self.app,
            site,
            script=self.script,
            reloaded_script=self.reloaded_script,
            last_reload_time=self.last_reload_time,
            has_data=has_data,
            selections=selections,
            edits=self.edits,
        )


class EngineCore:
    """Everything the engine holds across connections: open documents and sessions."""

    def __init__(self, state: State, options: EngineOptions) -> None:
        self.state = state
        self.options = options
        self.docs: dict[str, DocRuntime] = {}
        self.shared_sessions: dict[tuple[str, str], Session] = {}

    def find_app(self, doc_name: str) -> App | None:
        app = self.state.apps.get(doc_name) or self.state.apps.get(doc_name.lower())
        return app

    def open_runtime(self, app: App, session: Session) -> DocRuntime:
        runtime = self.docs.get(app.id)
        if runtime is None:
            runtime = DocRuntime(app=app)
            self.docs[app.id] = runtime
        runtime.sessions.add(session)
        return runtime

    def release_runtime(self, runtime: DocRuntime, session: Session) -> None:
        runtime.sessions.discard(session)
        if not runtime.sessions and self.docs.get(runtime.app.id) is runtime:
            del self.docs[runtime.app.id]

    def connected_users(self, app_id: str) -> int:
        runtime = self.docs.get(app_id)
        if runtime is None:
            return 0
        return len({s.user.domain_user.lower() for s in runtime.sessions})

    # ---- sessions

    def attach(self, user: UserIdentity, url_app_id: str | None) -> tuple[Session, bool]:
        """A session for a new websocket; True when it joins an existing one."""
        key = (user.domain_user.lower(), url_app_id.lower()) if url_app_id else None
        if self.options.share_sessions and key is not None and key in self.shared_sessions:
            session = self.shared_sessions[key]
            session.connections += 1
            return session, True
        session = Session(self, user, key)
        if self.options.share_sessions and key is not None:
            self.shared_sessions[key] = session
        return session, False

    def detach(self, session: Session) -> None:
        session.connections -= 1
        if session.connections > 0:
            return
        if session.share_key is not None and self.shared_sessions.get(session.share_key) is session:
            del self.shared_sessions[session.share_key]
        session.close()


# --------------------------------------------------------------------------- method tables

Handler = Callable[..., Any]


def rpc(name: str, *spec: Param) -> Callable[[Handler], Handler]:
    """Declare a handler as the JSON-RPC method `name` with the schema's in-params."""

    def mark(fn: Handler) -> Handler:
        fn.__rpc__ = (name, spec)  # type: ignore[attr-defined]
        return fn

    return mark


class EngineObject:
    """Base of every object a handle can point at."""

    q_type: ClassVar[str] = ""
    methods: ClassVar[dict[str, tuple[str, tuple[Param, ...]]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = dict(cls.methods)
        # Walk the bases too, so mixins (DataMethods) contribute their methods.
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                marker = getattr(value, "__rpc__", None)
                if marker is not None:
                    table[marker[0]] = (attr, marker[1])
        cls.methods = table

    def __init__(self, session: Session) -> None:
        self.session = session
        self.handle = 0

    @property
    def generic_type(self) -> str | None:
        return None

    @property
    def generic_id(self) -> str | None:
        return None

    def q_return(self) -> dict[str, Any]:
        ret: dict[str, Any] = {"qType": self.q_type, "qHandle": self.handle}
        if self.generic_type is not None:
            ret["qGenericType"] = self.generic_type
        if self.generic_id is not None:
            ret["qGenericId"] = self.generic_id
        return ret

    async def call(self, method: str, params: Any) -> Reply:
        entry = self.methods.get(method)
        if entry is None:
            raise EngineError(METHOD_NOT_FOUND, method)
        attr, spec = entry
        bound = bind_params(spec, params)
        outcome = getattr(self, attr)(**bound)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if isinstance(outcome, Reply):
            return outcome
        return Reply(result=outcome if outcome is not None else {})


NULL_RETURN: dict[str, Any] = {"qType": None, "qHandle": None}


class Session:
    """One engine session: a user, a handle table and at most one open document."""

    def __init__(self, core: EngineCore, user: UserIdentity, share_key: tuple[str, str] | None) -> None:
        self.core = core
        self.user = user
        self.share_key = share_key
        self.connections = 1
        self.handles: dict[int, EngineObject] = {}
        self._next_handle = 1
        self.doc: DocObject | None = None
        self.global_object = GlobalObject(self)
        self.global_object.handle = -1
        self.handles[-1] = self.global_object

    def register(self, obj: EngineObject) -> EngineObject:
        obj.handle = self._next_handle
        self._next_handle += 1
        self.handles[obj.handle] = obj
        return obj

    def forget(self, obj: EngineObject) -> None:
        self.handles.pop(obj.handle, None)

    def object(self, handle: int) -> EngineObject:
        obj = self.handles.get(handle)
        if obj is None:
            raise EngineError(INVALID_PARAMETERS, "Invalid handle")
        return obj

    def close(self) -> None:
        if self.doc is not None:
            self.core.release_runtime(self.doc.runtime, self)
        self.handles.clear()
        self.doc = None


# --------------------------------------------------------------------------- Global


class GlobalObject(EngineObject):
    q_type = "Global"

    @rpc("EngineVersion")
    def engine_version(self) -> dict[str, Any]:
        return {"qVersion": {"qComponentVersion": self.session.core.state.site.engine_version}}

    @rpc("ProductVersion")
    def product_version(self) -> dict[str, Any]:
        return {"qReturn": self.session.core.state.site.engine_version}

    @rpc("IsDesktopMode")
    def is_desktop_mode(self) -> dict[str, Any]:
        return {"qReturn": False}

    @rpc("GetAuthenticatedUser")
    def get_authenticated_user(self) -> dict[str, Any]:
        return {"qReturn": self.session.user.header}

    @rpc("GetStreamList")
    def get_stream_list(self) -> dict[str, Any]:
        streams = self.session.core.state.streams.values()
        return {"qStreamList": [{"qName": st.name, "qId": st.id} for st in streams]}

    @rpc("GetDocList")
    def get_doc_list(self) -> dict[str, Any]:
        core = self.session.core
        entries = []
        for app in core.state.apps.values():
            # An app nobody has open is listed as saved; an open one with its pending edits.
            runtime = core.docs.get(app.id) or DocRuntime(app=app)
            model = runtime.model(core.state.site, has_data=True)
            entries.append(model.doc_list_entry(core.connected_users(app.id)))
        return {"qDocList": entries}

    @rpc(
        "OpenDoc",
        Param("qDocName", str),
        Param("qUserName", str, True, ""),
        Param("qPassword", str, True, ""),
        Param("qSerial", str, True, ""),
        Param("qNoData", bool, True, False),
    )
    def open_doc(self, qDocName: str, qUserName: str, qPassword: str, qSerial: str, qNoData: bool) -> Reply:
        session = self.session
        core = session.core
        app = core.find_app(qDocName)
        if app is None:
            raise EngineError(APP_NOT_FOUND, qDocName)
        if core.options.deny_unknown_users and core.state.user_by_name(session.user.domain_user) is None:
            raise EngineError(GENERIC_ACCESS_DENIED, qDocName)
        if session.doc is not None:
            # A session holds one document; opening it again in the other data mode has
            # its own code, anything else is "already open" (parameter: the open app).
            if session.doc.runtime.app.id == app.id and session.doc.no_data != qNoData:
                raise EngineError(APP_ALREADY_OPEN_IN_DIFFERENT_MODE, qDocName)
            raise EngineError(APP_ALREADY_OPEN, session.doc.runtime.app.name)
        runtime = core.open_runtime(app, session)
        doc = DocObject(session, runtime, no_data=qNoData)
        session.register(doc)
        session.doc = doc
        return Reply(result={"qReturn": doc.q_return()}, change=[doc.handle])

    @rpc("GetActiveDoc")
    def get_active_doc(self) -> dict[str, Any]:
        if self.session.doc is None:
            raise EngineError(APP_INVALID, "No active document")
        return {"qReturn": self.session.doc.q_return()}


# --------------------------------------------------------------------------- Doc


class DocObject(EngineObject):
    q_type = "Doc"

    def __init__(self, session: Session, runtime: DocRuntime, *, no_data: bool) -> None:
        super().__init__(session)
        self.runtime = runtime
        self.no_data = no_data
        # Reloading loads data even into a session that opened the app without it.
        self.reloaded_here = False
        # (handle type, qId) -> handle, so a second GetObject for the same entity answers
        # the handle already open, as enigma.js's handle cache expects.
        self.opened: dict[tuple[str, str], GenericEntityObject] = {}
        # This session's selections: field -> selected value texts.
        self.selections: dict[str, set[str]] = {}

    @property
    def generic_id(self) -> str | None:
        return self.runtime.app.id

    @property
    def has_data(self) -> bool:
        if not self.no_data or self.reloaded_here:
            return True
        return not self.session.core.options.no_data_hides_data_model

    def model(self) -> AppModel:
        return self.runtime.model(self.session.core.state.site, has_data=self.has_data, selections=self.selections)

    def _object_handles(self) -> list[int]:
        return [h for h, obj in self.session.handles.items() if h > 0 and obj is not self]

    # ---- reload and save

    async def _reload(self, mode: int) -> bool:
        core = self.session.core
        rt = self.runtime
        async with rt.reload_lock:
            if core.options.reload_seconds > 0:
                await asyncio.sleep(core.options.reload_seconds)
            fails = rt.app.engine.get("reload", "success") == "fail"
            if fails and mode == 2 and core.options.ignore_errors_succeeds:
                fails = False
            if fails:
                # The engine rolls a failed reload back: data and reload time stay.
                return False
            rt.pending_reload = (iso(utcnow()), rt.script)
            self.reloaded_here = True
            return True

    @rpc(
        "DoReload",
        Param("qMode", int, True, 0),
        Param("qPartial", bool, True, False),
        Param("qDebug", bool, True, False),
    )
    async def do_reload(self, qMode: int, qPartial: bool, qDebug: bool) -> Reply:
        ok = await self._reload(qMode)
        change = [self.handle, *self._object_handles()] if ok else []
        return Reply(result={"qReturn": ok}, change=change)

    @rpc("DoReloadEx", Param("qParams", dict, True, {"qMode": 0, "qPartial": False, "qDebug": False}))
    async def do_reload_ex(self, qParams: dict[str, Any]) -> Reply:
        mode = qParams.get("qMode", 0)
        if isinstance(mode, bool) or not isinstance(mode, int):
            raise EngineError(INVALID_PARAMETERS, "qMode")
        ok = await self._reload(mode)
        result = {
            "qSuccess": ok,
            "qScriptLogFile": f"{SCRIPT_LOG_DIR}{self.runtime.app.id}.log",
            "qEndedWithMemoryConstraint": False,
        }
        change = [self.handle, *self._object_handles()] if ok else []
        return Reply(result={"qResult": result}, change=change)

    @rpc("DoSave", Param("qFileName", str, True, ""))
    def do_save(self, qFileName: str) -> dict[str, Any]:
        rt = self.runtime
        if rt.pending_script is not None:
            rt.app.engine["script"] = rt.pending_script
            rt.pending_script = None
        if rt.pending_reload is not None:
            # Only a save makes the reload visible to the repository (QRS app/full).
            self.session.core.state.app_reloaded(rt.app.id, rt.pending_reload[0])
            rt.pending_reload = None
        if rt.pending_edits:
            rt.app.engine["savedEdits"] = rt.edits
            rt.pending_edits = {}
        return {}

    # ---- data: fields, expressions, selections, search

    def selection_changed(self) -> Reply:
        return Reply(result={"qReturn": True}, change=[self.handle, *self._object_handles()])

    @rpc("GetField", Param("qFieldName", str), Param("qStateName", str, True, ""))
    def get_field(self, qFieldName: str, qStateName: str) -> dict[str, Any]:
        if not self.model().data.has_field(qFieldName):
            raise EngineError(GENERIC_NOT_FOUND, qFieldName)
        obj = FieldObject(self.session, self, qFieldName)
        self.session.register(obj)
        return {"qReturn": obj.q_return()}

    @rpc("GetFieldDescription", Param("qFieldName", str))
    def get_field_description(self, qFieldName: str) -> dict[str, Any]:
        model = self.model()
        if not model.data.has_field(qFieldName):
            raise EngineError(GENERIC_NOT_FOUND, qFieldName)
        seeded = next((f for f in model.engine.get("fields") or [] if isinstance(f, dict)
                       and f.get("name") == qFieldName), None)
        return {"qReturn": engine_select.field_description(model.data, qFieldName, seeded)}

    @rpc("Evaluate", Param("qExpression", str))
    def evaluate(self, qExpression: str) -> dict[str, Any]:
        try:
            value = evaluate_text(qExpression, self.model().scope())
        except EvalError as exc:
            return {"qReturn": f"Error: {exc.message}"}
        return {"qReturn": value.text if value is not None else "-"}

    @rpc("EvaluateEx", Param("qExpression", str))
    def evaluate_ex(self, qExpression: str) -> dict[str, Any]:
        try:
            value = evaluate_text(qExpression, self.model().scope())
        except EvalError as exc:
            return {"qValue": {"qText": f"Error: {exc.message}", "qIsNumeric": False, "qNumber": 0}}
        if value is None:
            return {"qValue": {"qText": "-", "qIsNumeric": False, "qNumber": 0}}
        return {"qValue": {"qText": value.text, "qIsNumeric": value.num is not None,
                           "qNumber": value.num if value.num is not None else 0}}

    @rpc("CheckExpression", Param("qExpr", str), Param("qLabels", list, True, []))
    def check_expression(self, qExpr: str, qLabels: list[Any]) -> dict[str, Any]:
        message, bad = check_expression(qExpr, self.model().scope())
        return {"qErrorMsg": message, "qBadFieldNames": [{"qFrom": f, "qCount": n} for f, n in bad],
                "qDangerousFieldNames": []}

    @rpc("CheckNumberOrExpression", Param("qExpr", str))
    def check_number_or_expression(self, qExpr: str) -> dict[str, Any]:
        message, bad = check_expression(qExpr, self.model().scope())
        return {"qErrorMsg": message, "qBadFieldNames": [{"qFrom": f, "qCount": n} for f, n in bad]}

    @rpc("ExpandExpression", Param("qExpression", str))
    def expand_expression(self, qExpression: str) -> dict[str, Any]:
        try:
            expanded = expand_expression(qExpression, Evaluator(self.model().scope()))
        except EvalError as exc:
            raise EngineError(INVALID_PARAMETERS, "qExpression", exc.message) from exc
        return {"qExpandedExpression": expanded}

    @rpc("ClearAll", Param("qLockedAlso", bool, True, False), Param("qStateName", str, True, ""))
    def clear_all(self, qLockedAlso: bool, qStateName: str) -> Reply:
        self.selections.clear()
        return Reply(result={}, change=[self.handle, *self._object_handles()])

    @rpc("GetMediaList")
    def get_media_list(self) -> dict[str, Any]:
        return {"qList": self.model().media_list({}), "qReturn": True}

    @rpc("SearchResults", Param("qOptions", dict), Param("qTerms", list), Param("qPage", dict))
    def search_results(self, qOptions: dict[str, Any], qTerms: list[Any], qPage: dict[str, Any]) -> dict[str, Any]:
        return {"qResult": self._search(engine_select.search_results, qOptions, qTerms, qPage)}

    @rpc("SearchSuggest", Param("qOptions", dict), Param("qTerms", list))
    def search_suggest(self, qOptions: dict[str, Any], qTerms: list[Any]) -> dict[str, Any]:
        return {"qResult": self._search(lambda data, terms: engine_select.search_suggest(data, terms), qTerms)}

    @rpc("SearchObjects", Param("qOptions", dict), Param("qTerm", str), Param("qPage", dict))
    def search_objects(self, qOptions: dict[str, Any], qTerm: str, qPage: dict[str, Any]) -> dict[str, Any]:
        model = self.model()
        titles = [(e.qid, e.qtype, str(e.meta.get("title", ""))) for e in model.objects.values()]
        titles += [(e.qid, e.qtype, str(e.meta.get("title", ""))) for e in model.dimensions.values()]
        titles += [(e.qid, e.qtype, str(e.meta.get("title", ""))) for e in model.measures.values()]
        try:
            return {"qResult": engine_select.search_objects(titles, qTerm, qPage)}
        except engine_select.SelectError as exc:
            raise EngineError(INVALID_PARAMETERS, str(exc)) from exc

    def _search(self, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        try:
            return fn(self.model().data, *args)
        except engine_select.SelectError as exc:
            raise EngineError(INVALID_PARAMETERS, str(exc)) from exc

    # ---- script

    @rpc("GetScript")
    def get_script(self) -> dict[str, Any]:
        return {"qScript": self.runtime.script}

    @rpc("SetScript", Param("qScript", str))
    def set_script(self, qScript: str) -> Reply:
        self.runtime.pending_script = qScript
        return Reply(result={}, change=[self.handle])

    # ---- app-level information

    @rpc("GetAppProperties")
    def get_app_properties(self) -> dict[str, Any]:
        return {"qProp": self.model().app_properties()}

    @rpc("GetAppLayout")
    def get_app_layout(self) -> dict[str, Any]:
        layout = self.model().app_layout(opened_without_data=self.no_data, modified=self.runtime.modified)
        return {"qLayout": layout}

    @rpc("GetAllInfos")
    def get_all_infos(self) -> dict[str, Any]:
        return {"qInfos": self.model().all_infos()}

    @rpc("GetLineage")
    def get_lineage(self) -> dict[str, Any]:
        return {"qLineage": self.model().lineage()}

    @rpc("GetConnections")
    def get_connections(self) -> dict[str, Any]:
        return {"qConnections": self.model().connections()}

    @rpc("GetConnection", Param("qConnectionId", str))
    def get_connection(self, qConnectionId: str) -> dict[str, Any]:
        for conn in self.model().connections():
            if conn["qId"].lower() == qConnectionId.lower():
                return {"qConnection": conn}
        raise EngineError(GENERIC_NOT_FOUND, qConnectionId)

    @rpc(
        "GetTablesAndKeys",
        Param("qWindowSize", dict),
        Param("qNullSize", dict),
        Param("qCellHeight", int),
        Param("qSyntheticMode", bool),
        Param("qIncludeSysVars", bool),
    )
    def get_tables_and_keys(
        self,
        qWindowSize: dict[str, Any],
        qNullSize: dict[str, Any],
        qCellHeight: int,
        qSyntheticMode: bool,
        qIncludeSysVars: bool,
    ) -> dict[str, Any]:
        tables, keys = self.model().tables_and_keys(qIncludeSysVars)
        return {"qtr": tables, "qk": keys}

    @rpc(
        "GetVariables",
        Param(
            "qListDef", dict, True, {"qType": "", "qShowReserved": False, "qShowConfig": False, "qData": {}}
        ),
    )
    def get_variables(self, qListDef: dict[str, Any]) -> dict[str, Any]:
        return {"qList": self.model().variable_list(qListDef)["qItems"]}

    # ---- persistent entities

    def _open_entity(self, handle_type: str, entity: Entity | None) -> dict[str, Any]:
        """qReturn for an entity; the null pair for a missing one (enigma turns it into -2)."""
        if entity is None:
            return {"qReturn": dict(NULL_RETURN)}
        key = (handle_type, entity.qid)
        obj = self.opened.get(key)
        if obj is None or obj.handle not in self.session.handles:
            obj = GENERIC_CLASSES[handle_type](self.session, self, entity.qid, entity.qtype)
            self.session.register(obj)
            self.opened[key] = obj
        return {"qReturn": obj.q_return()}

    @rpc("GetObject", Param("qId", str))
    def get_object(self, qId: str) -> dict[str, Any]:
        session_obj = next(
            (o for o in self.session.handles.values() if isinstance(o, SessionObject) and o.qid == qId), None
        )
        if session_obj is not None:
            return {"qReturn": session_obj.q_return()}
        return self._open_entity("GenericObject", self.model().objects.get(qId))

    @rpc("GetDimension", Param("qId", str))
    def get_dimension(self, qId: str) -> dict[str, Any]:
        return self._open_entity("GenericDimension", self.model().dimensions.get(qId))

    @rpc("GetMeasure", Param("qId", str))
    def get_measure(self, qId: str) -> dict[str, Any]:
        return self._open_entity("GenericMeasure", self.model().measures.get(qId))

    @rpc("GetBookmark", Param("qId", str))
    def get_bookmark(self, qId: str) -> dict[str, Any]:
        return self._open_entity("GenericBookmark", self.model().bookmarks.get(qId))

    @rpc("GetVariableById", Param("qId", str))
    def get_variable_by_id(self, qId: str) -> dict[str, Any]:
        entity = self.model().variables.get(qId)
        if entity is None:
            raise EngineError(GENERIC_NOT_FOUND, qId)
        return self._open_entity("GenericVariable", entity)

    @rpc("GetVariableByName", Param("qName", str))
    def get_variable_by_name(self, qName: str) -> dict[str, Any]:
        entity = self.model().variable_by_name(qName)
        if entity is None:
            raise EngineError(GENERIC_NOT_FOUND, qName)
        return self._open_entity("GenericVariable", entity)

    # ---- session objects

    @rpc("CreateSessionObject", Param("qProp", dict))
    def create_session_object(self, qProp: dict[str, Any]) -> dict[str, Any]:
        info = qProp.get("qInfo")
        if not isinstance(info, dict) or not isinstance(info.get("qType"), str) or not info["qType"]:
            raise EngineError(INVALID_PARAMETERS, "qInfo.qType")
        qid = info.get("qId")
        if qid is not None and not isinstance(qid, str):
            raise EngineError(INVALID_PARAMETERS, "qInfo.qId")
        props = copy.deepcopy(qProp)
        if not qid:
            qid = _new_object_id()
            props["qInfo"]["qId"] = qid
        clash = any(isinstance(o, SessionObject) and o.qid == qid for o in self.session.handles.values())
        if clash and self.session.core.options.duplicate_session_ids == DUPLICATE_REJECT:
            raise EngineError(GENERIC_ALREADY_EXISTS, qid)
        obj = SessionObject(self.session, self, props)
        self.session.register(obj)
        return {"qReturn": obj.q_return()}

    @rpc("DestroySessionObject", Param("qId", str))
    def destroy_session_object(self, qId: str) -> Reply:
        doomed = [o for o in self.session.handles.values() if isinstance(o, SessionObject) and o.qid == qId]
        for obj in doomed:
            self.session.forget(obj)
        return Reply(result={"qSuccess": bool(doomed)}, close=[o.handle for o in doomed])


    # ---- persistent entities: create and destroy (kept on the document until DoSave)

    def _create(self, handle_type: str, qProp: dict[str, Any], default_type: str | None) -> Reply:
        info = qProp.get("qInfo", {})
        if not isinstance(info, dict):
            raise EngineError(INVALID_PARAMETERS, "qInfo")
        qtype = info.get("qType") or default_type
        if not isinstance(qtype, str) or not qtype:
            raise EngineError(INVALID_PARAMETERS, "qInfo.qType")
        qid = info.get("qId")
        if qid is not None and not isinstance(qid, str):
            raise EngineError(INVALID_PARAMETERS, "qInfo.qId")
        qid = qid or _new_object_id()
        model = self.model()
        if any(model.entity(kind, qid) is not None for kind in GENERIC_CLASSES):
            # One id names one entity of the document, whatever its kind.
            raise EngineError(GENERIC_ALREADY_EXISTS, qid)
        props = copy.deepcopy(qProp)
        props["qInfo"] = {"qId": qid, "qType": qtype}
        self.runtime.pending_edits[qid] = Edit(handleType=handle_type, props=props, createdDate=iso(utcnow()))
        opened = self._open_entity(handle_type, self.model().entity(handle_type, qid))
        # Lists of app objects on this session may now hold one more item.
        return Reply(result={"qInfo": {"qId": qid, "qType": qtype}, **opened},
                     change=[self.handle, *self._object_handles()])

    def _destroy(self, handle_type: str, qId: str) -> Reply:
        entity = self.model().entity(handle_type, qId)
        if entity is None:
            # The Engine API documents a false qSuccess for an object it could not remove.
            return Reply(result={"qSuccess": False})
        doomed = {qId}
        pending = list(entity.children)
        while pending:
            child = pending.pop()
            doomed.add(child.qid)
            pending.extend(child.children)
        for qid in doomed:
            self.runtime.pending_edits[qid] = None
        closed = [o for o in self.session.handles.values()
                  if isinstance(o, GenericEntityObject) and o.qid in doomed]
        for obj in closed:
            self.session.forget(obj)
            self.opened.pop((obj.q_type, obj.qid), None)
        return Reply(result={"qSuccess": True}, close=[o.handle for o in closed],
                     change=[self.handle, *self._object_handles()])

    @rpc("CreateObject", Param("qProp", dict))
    def create_object(self, qProp: dict[str, Any]) -> Reply:
        return self._create("GenericObject", qProp, None)

    @rpc("CreateDimension", Param("qProp", dict))
    def create_dimension(self, qProp: dict[str, Any]) -> Reply:
        return self._create("GenericDimension", qProp, "dimension")

    @rpc("CreateMeasure", Param("qProp", dict))
    def create_measure(self, qProp: dict[str, Any]) -> Reply:
        return self._create("GenericMeasure", qProp, "measure")

    @rpc("CreateBookmark", Param("qProp", dict))
    def create_bookmark(self, qProp: dict[str, Any]) -> Reply:
        return self._create("GenericBookmark", qProp, "bookmark")

    @rpc("DestroyObject", Param("qId", str))
    def destroy_object(self, qId: str) -> Reply:
        return self._destroy("GenericObject", qId)

    @rpc("DestroyDimension", Param("qId", str))
    def destroy_dimension(self, qId: str) -> Reply:
        return self._destroy("GenericDimension", qId)

    @rpc("DestroyMeasure", Param("qId", str))
    def destroy_measure(self, qId: str) -> Reply:
        return self._destroy("GenericMeasure", qId)

    @rpc("DestroyBookmark", Param("qId", str))
    def destroy_bookmark(self, qId: str) -> Reply:
        return self._destroy("GenericBookmark", qId)


def _new_object_id() -> str:
    """The id the engine gives an object created without one."""
    return uuid.uuid4().hex[:12]


# --------------------------------------------------------------------------- fields


class FieldObject(EngineObject):
    """A Field handle (Doc.GetField): selects values of one field in the session's selections."""

    q_type = "Field"

    def __init__(self, session: Session, doc: DocObject, name: str) -> None:
        super().__init__(session)
        self.doc = doc
        self.name = name

    def _select(self, wanted: set[str], toggle: bool) -> Reply:
        engine_select.apply_selection(self.doc.selections, self.name, wanted, toggle)
        reply = self.doc.selection_changed()
        reply.result = {"qReturn": bool(wanted)}
        return reply

    @rpc("Select", Param("qMatch", str), Param("qSoftLock", bool, True, False),
         Param("qExcludedValuesMode", int, True, 0))
    def select(self, qMatch: str, qSoftLock: bool, qExcludedValuesMode: int) -> Reply:
        return self._select(engine_select.match_values(self.doc.model().data, self.name, qMatch), False)

    @rpc("ToggleSelect", Param("qMatch", str), Param("qSoftLock", bool, True, False),
         Param("qExcludedValuesMode", int, True, 0))
    def toggle_select(self, qMatch: str, qSoftLock: bool, qExcludedValuesMode: int) -> Reply:
        return self._select(engine_select.match_values(self.doc.model().data, self.name, qMatch), True)

    @rpc("SelectValues", Param("qFieldValues", list), Param("qToggleMode", bool, True, False),
         Param("qSoftLock", bool, True, False))
    def select_values(self, qFieldValues: list[Any], qToggleMode: bool, qSoftLock: bool) -> Reply:
        try:
            wanted = engine_select.values_from_field_values(self.doc.model().data, self.name, qFieldValues)
        except engine_select.SelectError as exc:
            raise EngineError(INVALID_PARAMETERS, str(exc)) from exc
        return self._select(wanted, qToggleMode)

    @rpc("SelectAll", Param("qSoftLock", bool, True, False))
    def select_all(self, qSoftLock: bool) -> Reply:
        return self._select({v.text for v in self.doc.model().data.values.get(self.name, [])}, False)

    @rpc("Clear")
    def clear(self) -> Reply:
        self.doc.selections.pop(self.name, None)
        return self.doc.selection_changed()

    @rpc("GetCardinal")
    def get_cardinal(self) -> dict[str, Any]:
        return {"qReturn": len(self.doc.model().data.values.get(self.name, []))}


# --------------------------------------------------------------------------- generic objects


class DataMethods:
    """Hypercube and list object calls shared by saved and session generic objects."""

    doc: DocObject
    current_props: Callable[[], dict[str, Any]]  # provided by the object class

    def _definition(self, qPath: str, suffix: str) -> Any:
        path = qPath if qPath.endswith(suffix) else qPath.rstrip("/") + "/" + suffix
        found, definition = resolve_pointer(self.current_props(), path)
        if not found or not isinstance(definition, dict):
            raise EngineError(INVALID_PARAMETERS, qPath, "Invalid path")
        return definition

    def _cube(self, qPath: str) -> Any:
        try:
            return self.doc.model().cube(self._definition(qPath, "qHyperCubeDef"))
        except (CubeError, EvalError) as exc:
            raise EngineError(INVALID_PARAMETERS, qPath, str(exc)) from exc

    def _list(self, qPath: str) -> Any:
        try:
            return self.doc.model().list_object(self._definition(qPath, "qListObjectDef"))
        except (CubeError, EvalError) as exc:
            raise EngineError(INVALID_PARAMETERS, qPath, str(exc)) from exc

    @rpc("GetHyperCubeData", Param("qPath", str), Param("qPages", list))
    def get_hypercube_data(self, qPath: str, qPages: list[Any]) -> dict[str, Any]:
        try:
            return {"qDataPages": self._cube(qPath).data_pages(qPages)}
        except CubeError as exc:
            raise EngineError(INVALID_PARAMETERS, "qPages", str(exc)) from exc

    @rpc("GetListObjectData", Param("qPath", str), Param("qPages", list))
    def get_list_object_data(self, qPath: str, qPages: list[Any]) -> dict[str, Any]:
        try:
            return {"qDataPages": self._list(qPath).data_pages(qPages)}
        except CubeError as exc:
            raise EngineError(INVALID_PARAMETERS, "qPages", str(exc)) from exc

    def _select_elements(self, fname: str, elements: Any, toggle: bool) -> Reply:
        data = self.doc.model().data
        try:
            wanted = engine_select.values_from_elements(data, fname, elements)
        except engine_select.SelectError as exc:
            raise EngineError(INVALID_PARAMETERS, "qValues", str(exc)) from exc
        engine_select.apply_selection(self.doc.selections, fname, wanted, toggle)
        return self.doc.selection_changed()

    @rpc("SelectHyperCubeValues", Param("qPath", str), Param("qDimNo", int), Param("qValues", list),
         Param("qToggleMode", bool))
    def select_hypercube_values(self, qPath: str, qDimNo: int, qValues: list[Any], qToggleMode: bool) -> Reply:
        cube = self._cube(qPath)
        if not 0 <= qDimNo < len(cube.dims):
            raise EngineError(INVALID_PARAMETERS, "qDimNo")
        return self._select_elements(cube.dims[qDimNo][0], qValues, qToggleMode)

    @rpc("SelectListObjectValues", Param("qPath", str), Param("qValues", list), Param("qToggleMode", bool),
         Param("qSoftLock", bool, True, False))
    def select_list_object_values(self, qPath: str, qValues: list[Any], qToggleMode: bool,
                                  qSoftLock: bool) -> Reply:
        return self._select_elements(self._list(qPath).field, qValues, qToggleMode)

    @rpc("ClearSelections", Param("qPath", str), Param("qColIndices", list, True, []))
    def clear_selections(self, qPath: str, qColIndices: list[Any]) -> Reply:
        if qPath.rstrip("/").endswith("qListObjectDef"):
            fields = [self._list(qPath).field]
        else:
            dims = self._cube(qPath).dims
            fields = [dims[i][0] for i in (qColIndices or range(len(dims))) if 0 <= i < len(dims)]
        for fname in fields:
            self.doc.selections.pop(fname, None)
        return self.doc.selection_changed()


class GenericEntityObject(EngineObject):
    """A handle on a persistent entity; the entity is looked up afresh on every call."""

    def __init__(self, session: Session, doc: DocObject, qid: str, qtype: str) -> None:
        super().__init__(session)
        self.doc = doc
        self.qid = qid
        self.qtype = qtype

    @property
    def generic_type(self) -> str | None:
        return self.qtype

    @property
    def generic_id(self) -> str | None:
        return self.qid

    def resolve(self) -> tuple[AppModel, Entity]:
        model = self.doc.model()
        entity = model.entity(self.q_type, self.qid)
        if entity is None:
            # The seed was edited underneath the open handle.
            raise EngineError(GENERIC_NOT_FOUND, self.qid)
        return model, entity

    @rpc("GetLayout")
    def get_layout(self) -> dict[str, Any]:
        model, entity = self.resolve()
        return {"qLayout": model.layout(entity)}

    @rpc("GetProperties")
    def get_properties(self) -> dict[str, Any]:
        _model, entity = self.resolve()
        return {"qProp": copy.deepcopy(entity.props)}

    @rpc("GetInfo")
    def get_info(self) -> dict[str, Any]:
        _model, entity = self.resolve()
        return {"qInfo": entity.info}

    def current_props(self) -> dict[str, Any]:
        return self.resolve()[1].props

    def _store(self, props: dict[str, Any]) -> Reply:
        info = props.get("qInfo")
        if not isinstance(info, dict) or info.get("qId") != self.qid:
            # The engine does not let SetProperties rename or retype an object.
            raise EngineError(INVALID_PARAMETERS, "qInfo")
        # Kept on the open document until DoSave (DocRuntime.pending_edits).
        runtime = self.doc.runtime
        earlier = runtime.edits.get(self.qid)
        edit = Edit(handleType=self.q_type, props=copy.deepcopy(props))
        if earlier and "createdDate" in earlier:
            edit["createdDate"] = earlier["createdDate"]
        runtime.pending_edits[self.qid] = edit
        handles = [h for h, o in self.session.handles.items() if getattr(o, "qid", None) == self.qid]
        return Reply(result={}, change=handles)

    @rpc("SetProperties", Param("qProp", dict))
    def set_properties(self, qProp: dict[str, Any]) -> Reply:
        return self._store(qProp)

    @rpc("ApplyPatches", Param("qPatches", list), Param("qSoftPatch", bool, True, False))
    def apply_patches(self, qPatches: list[Any], qSoftPatch: bool) -> Reply:
        try:
            return self._store(engine_select.apply_patches(self.current_props(), qPatches))
        except engine_select.SelectError as exc:
            raise EngineError(INVALID_PARAMETERS, "qPatches", str(exc)) from exc


class GenericObject(DataMethods, GenericEntityObject):
    q_type = "GenericObject"

    @rpc("GetFullPropertyTree")
    def get_full_property_tree(self) -> dict[str, Any]:
        model, entity = self.resolve()
        return {"qPropEntry": model.property_tree(entity)}

    @rpc("GetEffectiveProperties")
    def get_effective_properties(self) -> dict[str, Any]:
        _model, entity = self.resolve()
        return {"qProp": copy.deepcopy(entity.props)}

    @rpc("GetChildInfos")
    def get_child_infos(self) -> dict[str, Any]:
        _model, entity = self.resolve()
        return {"qInfos": [child.info for child in entity.children]}

    @rpc("GetChild", Param("qId", str))
    def get_child(self, qId: str) -> dict[str, Any]:
        _model, entity = self.resolve()
        child = next((c for c in entity.children if c.qid == qId), None)
        return self.doc._open_entity("GenericObject", child)

    @rpc("GetParent")
    def get_parent(self) -> dict[str, Any]:
        model, _entity = self.resolve()
        parent = next((e for e in model.objects.values() if any(c.qid == self.qid for c in e.children)), None)
        return self.doc._open_entity("GenericObject", parent)


class GenericDimension(GenericEntityObject):
    q_type = "GenericDimension"

    @rpc("GetDimension")
    def get_dimension(self) -> dict[str, Any]:
        _model, entity = self.resolve()
        return {"qDim": copy.deepcopy(entity.props["qDim"])}


class GenericMeasure(GenericEntityObject):
    q_type = "GenericMeasure"

    @rpc("GetMeasure")
    def get_measure(self) -> dict[str, Any]:
        _model, entity = self.resolve()
        return {"qMeasure": copy.deepcopy(entity.props["qMeasure"])}


class GenericBookmark(GenericEntityObject):
    q_type = "GenericBookmark"


class GenericVariable(GenericEntityObject):
    q_type = "GenericVariable"


GENERIC_CLASSES: dict[str, type[GenericEntityObject]] = {
    cls.q_type: cls
    for cls in (GenericObject, GenericDimension, GenericMeasure, GenericBookmark, GenericVariable)
}


class SessionObject(DataMethods, EngineObject):
    """A GenericObject created with CreateSessionObject: lives and dies with the session."""

    q_type = "GenericObject"

    def __init__(self, session: Session, doc: DocObject, props: dict[str, Any]) -> None:
        super().__init__(session)
        self.doc = doc
        self.props = props

    @property
    def qid(self) -> str:
        return str(self.props["qInfo"]["qId"])

    @property
    def generic_type(self) -> str | None:
        return str(self.props["qInfo"]["qType"])

    @property
    def generic_id(self) -> str | None:
        return self.qid

    @rpc("GetLayout")
    def get_layout(self) -> dict[str, Any]:
        layout = build_layout(self.props, self.doc.model())
        layout["qSelectionInfo"] = {}
        return {"qLayout": layout}

    @rpc("GetProperties")
    def get_properties(self) -> dict[str, Any]:
        return {"qProp": copy.deepcopy(self.props)}

    @rpc("GetEffectiveProperties")
    def get_effective_properties(self) -> dict[str, Any]:
        return {"qProp": copy.deepcopy(self.props)}

    @rpc("GetFullPropertyTree")
    def get_full_property_tree(self) -> dict[str, Any]:
        return {
            "qPropEntry": {
                "qProperty": copy.deepcopy(self.props),
                "qChildren": [],
                "qEmbeddedSnapshotRef": None,
            }
        }

    @rpc("GetInfo")
    def get_info(self) -> dict[str, Any]:
        return {"qInfo": copy.deepcopy(self.props["qInfo"])}

    @rpc("GetChildInfos")
    def get_child_infos(self) -> dict[str, Any]:
        return {"qInfos": []}

    @rpc("SetProperties", Param("qProp", dict))
    def set_properties(self, qProp: dict[str, Any]) -> Reply:
        info = qProp.get("qInfo")
        if not isinstance(info, dict) or info.get("qId") != self.qid:
            # The engine does not let SetProperties rename or retype an object.
            raise EngineError(INVALID_PARAMETERS, "qInfo")
        self.props = copy.deepcopy(qProp)
        return Reply(result={}, change=[self.handle])

    def current_props(self) -> dict[str, Any]:
        return self.props

    @rpc("ApplyPatches", Param("qPatches", list), Param("qSoftPatch", bool, True, False))
    def apply_patches(self, qPatches: list[Any], qSoftPatch: bool) -> Reply:
        try:
            self.props = engine_select.apply_patches(self.props, qPatches)
        except engine_select.SelectError as exc:
            raise EngineError(INVALID_PARAMETERS, "qPatches", str(exc)) from exc
        return Reply(result={}, change=[self.handle])
