"""The simulated repository: everything QRS and the engine know about the site.

One `State` lives inside one event loop; QRS, the runner, the control API and the
engine all read and mutate it from that loop, so no locking is needed.  A seed YAML
(see docs/sensesim.md) describes the site; ids the seed leaves out are derived with
uuid5 from names so two runs of the same seed expose the same GUIDs.
"""

from __future__ import annotations

import functools
import importlib.resources
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from .faults import Faults
from .schedules import wall_date, zone
from .services import Services

NULL_DATE = "1753-01-01T00:00:00.000Z"
NULL_GUID = "00000000-0000-0000-0000-000000000000"

# Namespace for every derived id; changing it changes every GUID of every seed.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "sensesim.qbutler")

# Dates in a seeded site are fixed so shapes are reproducible; runs use real time.
_SEED_EPOCH = datetime(2023, 5, 2, 8, 11, 42, 390000, tzinfo=UTC)

PACKAGED_SEEDS = ("demo", "minimal")

ENGINE_KEYS_LIST = (
    "sheets",
    "stories",
    "masterobjects",
    "dimensions",
    "measures",
    "bookmarks",
    "variables",
    "fields",
    "media",
    "snapshots",
    "dataconnections",
    "lineage",
)

DEFAULT_SCRIPT = (
    "///$tab Main\r\n"
    "SET ThousandSep=',';\r\n"
    "SET DecimalSep='.';\r\n"
    "SET DateFormat='YYYY-MM-DD';\r\n"
    "\r\n"
    "Data:\r\n"
    "LOAD RecNo() as Id, 'Row ' & RecNo() as Label\r\n"
    "AutoGenerate 10;\r\n"
)


class SeedError(ValueError):
    """The seed is inconsistent (unknown reference, bad value); the message names the spot."""


def derive_id(kind: str, name: str) -> str:
    """A stable lower-case GUID for an entity that the seed gave no id."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=65536)
def iso(dt: datetime | None) -> str:
    """QRS date format: ISO-8601 UTC with milliseconds and Z; None is the QRS null date.

    Cached: full listings of large sites format the same seeded dates tens of thousands of times.
    """
    if dt is None:
        return NULL_DATE
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}."
            f"{dt.microsecond // 1000:03d}Z")


def parse_iso(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _seed_date(index: int, hours: int = 0) -> datetime:
    return _SEED_EPOCH + timedelta(days=index, hours=hours)


# --------------------------------------------------------------------------- entities


@dataclass
class Meta:
    """The audit columns every QRS entity carries."""

    created: datetime
    modified: datetime
    modified_by: str = "INTERNAL\\sa_repository"


@dataclass
class Tag:
    id: str
    name: str
    meta: Meta


@dataclass
class Stream:
    id: str
    name: str
    meta: Meta


@dataclass
class CustomPropertyDefinition:
    id: str
    name: str
    value_type: str
    choice_values: list[str]
    object_types: list[str]
    description: str
    meta: Meta


@dataclass
class CustomPropertyValue:
    id: str
    definition: CustomPropertyDefinition
    value: str
    meta: Meta


@dataclass
class User:
    id: str
    user_directory: str
    user_id: str
    name: str
    email: str
    roles: list[str]
    tags: list[Tag]
    custom_properties: list[CustomPropertyValue]
    inactive: bool
    meta: Meta
    # QMC's "Blocked" (QRS `blacklisted`) and "Removed externally".
    blacklisted: bool = False
    removed_externally: bool = False

    @property
    def domain_user(self) -> str:
        """`DIR\\user`, the form log4net datagrams and modifiedByUserName use."""
        return f"{self.user_directory}\\{self.user_id}"


@dataclass
class App:
    id: str
    name: str
    owner: User
    stream: Stream | None
    published: bool
    publish_time: datetime | None
    description: str
    tags: list[Tag]
    custom_properties: list[CustomPropertyValue]
    file_size: int
    lastReloadTime: str  # ISO string, written by runner and engine (app_reloaded)
    meta: Meta
    # The engine's view of the document, verbatim from the seed (see docs/sensesim.md).
    engine: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExecutionDetail:
    id: str
    details_type: int  # 0 Error, 1 Warning, 2 Information
    message: str
    created: datetime


@dataclass
class ExecutionResult:
    id: str
    task_id: str
    execution_id: str  # the execution session id; also the UDP ExecutionId
    app_id: str | None
    executing_node_id: str
    executing_node_name: str
    status: int = 0
    start_time: datetime | None = None
    stop_time: datetime | None = None
    duration: int = 0
    file_reference_id: str = NULL_GUID
    script_log_available: bool = False
    script_log_location: str = ""
    script_log_size: int = 0
    details: list[ExecutionDetail] = field(default_factory=list)
    meta: Meta | None = None


@dataclass
class ScriptLog:
    """An archived script log; downloadable from `available_at` on (fault: delayed logs)."""

    file_reference_id: str
    execution_result_id: str
    task_id: str
    text: str  # CRLF line endings, as the scheduler archives it
    available_at: datetime


@dataclass
class TempContent:
    """A one-off download handle created by the two-step script-log API."""

    id: str
    text: str


TASK_RELOAD = 0
TASK_EXTERNAL = 1
TASK_USERSYNC = 2
TASK_DISTRIBUTE = 3
TASK_PRELOAD = 4

# Qlik documents no schemaPath for distribute and preload tasks; these names are sensesim's.
SCHEMA_BY_TASK_TYPE = {
    TASK_RELOAD: "ReloadTask",
    TASK_EXTERNAL: "ExternalProgramTask",
    TASK_USERSYNC: "UserSyncTask",
    TASK_DISTRIBUTE: "DistributeTask",
    TASK_PRELOAD: "PreloadTask",
}
# Task types that act on an app (and need one in the seed).
APP_TASK_TYPES = (TASK_RELOAD, TASK_DISTRIBUTE, TASK_PRELOAD)
# Seed list key per task type.
SEED_KEYS = {
    "reloadTasks": TASK_RELOAD,
    "externalProgramTasks": TASK_EXTERNAL,
    "userSyncTasks": TASK_USERSYNC,
    "distributeTasks": TASK_DISTRIBUTE,
    "preloadTasks": TASK_PRELOAD,
}


@dataclass
class Task:
    id: str
    name: str
    task_type: int
    app: App | None
    enabled: bool
    tags: list[Tag]
    custom_properties: list[CustomPropertyValue]
    scenario: Any  # str or dict, see runner.Scenario
    duration_ms: int | None
    on_success: list[str]  # task ids, resolved from names at load time
    on_failure: list[str]
    max_retries: int
    task_session_timeout: int
    is_manually_triggered: bool
    operational_id: str
    last_result: ExecutionResult
    meta: Meta
    path: str = ""  # ExternalProgramTask
    parameters: str = ""  # ExternalProgramTask
    user_directory: dict[str, Any] | None = None  # UserSyncTask
    run_count: int = 0  # how many runs were started; drives failEvery scenarios
    attempt_count: int = 0  # how many attempts were made; drives sequence scenarios

    @property
    def schema_path(self) -> str:
        return SCHEMA_BY_TASK_TYPE[self.task_type]


@dataclass
class ExecutionSession:
    id: str
    task: Task
    result: ExecutionResult
    user: User
    retries: int = 0
    abort_reason: int = 0
    abort_at: datetime | None = None


RULE_TASK_SUCCESSFUL = 1
RULE_TASK_FAIL = 2
EVENT_SCHEMA = 0
EVENT_COMPOSITE = 1


@dataclass
class SchemaEvent:
    """A time trigger of one task (QRS SchemaEvent); triggers.py computes and fires it."""

    id: str
    name: str
    task_id: str
    enabled: bool
    start_date: datetime
    expiration_date: datetime | None
    increment_option: int  # 0 once, 1 hourly, 2 daily, 3 weekly, 4 monthly, 5 custom
    increment_description: str  # "minutes hours days weeks"
    schema_filter_description: list[str]
    time_zone: str
    daylight_saving_time: int
    operational_id: str
    meta: Meta
    next_execution: datetime | None = None
    last_trigger: datetime | None = None
    times_triggered: int = 0


@dataclass
class CompositeRule:
    id: str
    task_id: str  # the task whose outcome the rule waits for
    rule_state: int  # RULE_TASK_SUCCESSFUL | RULE_TASK_FAIL
    meta: Meta
    met_at: datetime | None = None


@dataclass
class CompositeEvent:
    """A task-chain trigger (QRS CompositeEvent): starts `task_id` once every rule is met."""

    id: str
    name: str
    task_id: str
    enabled: bool
    rules: list[CompositeRule]
    time_constraint: dict[str, int]  # seconds, minutes, hours, days
    operational_id: str
    meta: Meta
    last_trigger: datetime | None = None
    times_triggered: int = 0


@dataclass
class LicenseAccess:
    """A professional or analyzer access allocation (license/<kind>accesstype)."""

    id: str
    kind: str  # "professional" | "analyzer"
    user: User
    last_used: datetime
    quarantined: bool
    quarantine_end: datetime | None
    meta: Meta


# Token licensing and analyzer capacity (seed `licenses.tokens`, `licenses.analyzerCapacity`): the
# accesstypeoverview blocks of those names, with Qlik's default token costs.
TOKEN_BLOCKS: dict[str, dict[str, float]] = {
    "userAccess": {"allocatedTokens": 0, "usedTokens": 0, "quarantinedTokens": 0, "tokenCost": 1.0},
    "loginAccess": {"allocatedTokens": 0, "usedTokens": 0, "unavailableTokens": 0, "tokenCost": 0.1},
}
CAPACITY_COUNTS: dict[str, float] = {"allocatedMinutes": 0, "usedMinutes": 0, "unavailableMinutes": 0}


@dataclass
class TokenLicense:
    """A token license: the tokens the key holds and what user access and login access use."""

    total: float
    user_access: dict[str, float]
    login_access: dict[str, float]

    @property
    def available(self) -> float:
        """Tokens allocated to neither access type (QRS `availableTokens`)."""
        return self.total - self.user_access["allocatedTokens"] - self.login_access["allocatedTokens"]


@dataclass
class SiteInfo:
    hostname: str = "sensesim-node1"
    node_id: str = derive_id("node", "sensesim-node1")
    product_name: str = "Qlik Sense"
    version: str = "14.187.4"
    release_label: str = "May 2024 Patch 3"
    build_version: str = "31.31.1.0"
    build_date: str = "5/16/2024 12:00:00 AM"
    database_provider: str = "Devart.Data.PostgreSql"
    engine_version: str = "12.612.0"
    saved_in_product_version: str = "12.612.0"
    license_serial: str = "9999000000001234"
    license_name: str = "Sensesim Demo"
    license_organization: str = "ACME"
    license_valid_to: str = "2030-12-31"
    professional_total: int = 50
    analyzer_total: int = 100


@dataclass
class Call:
    seq: int
    service: str
    method: str
    path: str
    query: str
    body: Any
    time: str


# --------------------------------------------------------------------------- the repository


class State:
    """All repository data plus the mutable runtime parts (runs, logs, call log)."""

    def __init__(self) -> None:
        self.site = SiteInfo()
        self.streams: dict[str, Stream] = {}
        self.users: dict[str, User] = {}
        self.tags: dict[str, Tag] = {}
        self.custom_property_definitions: dict[str, CustomPropertyDefinition] = {}
        self.apps: dict[str, App] = {}
        self.tasks: dict[str, Task] = {}
        self.execution_results: dict[str, ExecutionResult] = {}
        self.execution_sessions: dict[str, ExecutionSession] = {}
        self.script_logs: dict[str, ScriptLog] = {}  # by fileReferenceID
        self.temp_contents: dict[str, TempContent] = {}
        self.licenses: dict[str, LicenseAccess] = {}
        # Off unless the seed has them; read only (shapes.access_type_overview).
        self.tokens: TokenLicense | None = None
        self.analyzer_capacity: dict[str, float] | None = None
        self.schema_events: dict[str, SchemaEvent] = {}
        self.composite_events: dict[str, CompositeEvent] = {}
        # Nodes and the state of their services (QRS ServiceStatus), see services.py.
        self.services = Services(derive_id)
        self.calls: list[Call] = []
        # Fault rules set through the control API; QRS (and the engine, if it wishes) consult them.
        self.faults = Faults()
        # Initial execution results per task, kept so /reset can restore a never-run site.
        self._pristine_results: dict[str, ExecutionResult] = {}
        self._pristine_reload_times: dict[str, str] = {}
        self._pristine_licenses: dict[str, LicenseAccess] = {}
        self._pristine_site = SiteInfo()
        self._pristine_user_flags: dict[str, tuple[bool, bool, bool]] = {}

    # ---- lookups used by QRS, runner and engine

    def user_by_name(self, domain_user: str) -> User | None:
        """Find `DIR\\user` (case-insensitive, as Sense compares directories and ids)."""
        directory, _, user_id = domain_user.partition("\\")
        for user in self.users.values():
            if user.user_directory.lower() == directory.lower() and user.user_id.lower() == user_id.lower():
                return user
        return None

    def service_user(self, user_id: str) -> User:
        user = self.user_by_name(f"INTERNAL\\{user_id}")
        assert user is not None, "service users are created by every seed"
        return user

    def task_by_name(self, name: str) -> Task | None:
        for task in self.tasks.values():
            if task.name == name:
                return task
        return None

    def tasks_of_type(self, task_type: int | None) -> list[Task]:
        return [t for t in self.tasks.values() if task_type is None or t.task_type == task_type]

    # ---- hooks for the engine helper and the control API

    def record_call(self, service: str, method: str, path: str, query: str, body: Any) -> Call:
        """Append to the call log that `GET /calls` on the control API returns."""
        call = Call(
            seq=len(self.calls),
            service=service,
            method=method,
            path=path,
            query=query,
            body=body,
            time=iso(utcnow()),
        )
        self.calls.append(call)
        return call

    def app_reloaded(self, app_id: str, when: datetime | str | None = None) -> None:
        """A reload (engine DoSave/DoReload or a successful task) updated the app."""
        app = self.apps.get(app_id)
        if app is None:
            return
        if when is None:
            when = utcnow()
        if isinstance(when, str):
            when = parse_iso(when)
        app.lastReloadTime = iso(when)
        app.meta.modified = when
        app.meta.modified_by = "INTERNAL\\sa_scheduler"

    # ---- runtime bookkeeping

    def add_result(self, result: ExecutionResult) -> None:
        self.execution_results[result.id] = result

    def reset_runtime(self) -> None:
        """Forget every run, log, call and fault: the site looks freshly seeded again."""
        self.calls.clear()
        self.faults.clear()
        self.execution_results.clear()
        self.execution_sessions.clear()
        self.script_logs.clear()
        self.temp_contents.clear()
        # Tasks created at run time (QMC-style "Manually triggered reload of ...") go away again.
        for task_id in [t for t in self.tasks if t not in self._pristine_results]:
            del self.tasks[task_id]
        for task in self.tasks.values():
            pristine = self._pristine_results[task.id]
            task.last_result = ExecutionResult(**{**pristine.__dict__, "details": []})
            task.run_count = 0
            task.attempt_count = 0
            self.execution_results[task.last_result.id] = task.last_result
        for app_id, when in self._pristine_reload_times.items():
            if app_id in self.apps:  # an app deleted through QRS stays deleted
                self.apps[app_id].lastReloadTime = when
        self.licenses = {k: replace(v) for k, v in self._pristine_licenses.items()}
        for event in [*self.schema_events.values(), *self.composite_events.values()]:
            event.last_trigger = None
            event.times_triggered = 0
        # Triggers of the run-time tasks removed above go with them.
        self.schema_events = {k: e for k, e in self.schema_events.items() if e.task_id in self.tasks}
        self.composite_events = {k: e for k, e in self.composite_events.items() if e.task_id in self.tasks}
        for composite in self.composite_events.values():
            composite.rules = [r for r in composite.rules if r.task_id in self.tasks]
            for rule in composite.rules:
                rule.met_at = None
        # In place: QRS handlers hold the SiteInfo object.
        for name in SiteInfo.__dataclass_fields__:
            setattr(self.site, name, getattr(self._pristine_site, name))
        for user_id, (inactive, blocked, removed) in self._pristine_user_flags.items():
            user = self.users[user_id]
            user.inactive, user.blacklisted, user.removed_externally = inactive, blocked, removed
        self.services.reset()


# --------------------------------------------------------------------------- seed loading


def load_seed(name_or_path: str | Path) -> State:
    """Load `demo`, `minimal` (packaged) or a YAML file path into a fresh State."""
    text = _read_seed_text(name_or_path)
    # libyaml's loader when present: the pure-Python one takes minutes on a 30,000-entity seed.
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    if not isinstance(data, dict):
        raise SeedError("seed must be a mapping at the top level")
    return build_state(data)


def _read_seed_text(name_or_path: str | Path) -> str:
    if isinstance(name_or_path, str) and name_or_path in PACKAGED_SEEDS:
        return (importlib.resources.files("sensesim") / "seeds" / f"{name_or_path}.yaml").read_text("utf-8")
    path = Path(name_or_path)
    if not path.is_file():
        raise SeedError(f"seed {name_or_path!r} is neither a packaged seed {PACKAGED_SEEDS} nor a file")
    return path.read_text("utf-8")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _guid(value: Any, where: str) -> str:
    try:
        return str(uuid.UUID(str(value))).lower()
    except ValueError as exc:
        raise SeedError(f"{where}: {value!r} is not a GUID") from exc


class _Builder:
    """Turns the seed mapping into entities; one instance per load."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.state = State()
        self.counter = 0
        # Name indexes, so large seeds (10,000s of apps and tasks) load in linear time.
        self.app_names: dict[str, App] = {}
        self.task_names: dict[str, Task] = {}

    def meta(self, modified_by: str = "INTERNAL\\sa_repository") -> Meta:
        # Every entity gets its own fixed date so listings look like a site that grew over time.
        self.counter += 1
        created = _seed_date(self.counter // 4, hours=self.counter % 24)
        return Meta(created=created, modified=created + timedelta(hours=1), modified_by=modified_by)

    def build(self) -> State:
        self.site()
        self.service_users()
        for entry in _as_list(self.data.get("streams")):
            self.stream(entry)
        for entry in _as_list(self.data.get("tags")):
            self.tag(entry["name"] if isinstance(entry, dict) else str(entry))
        for entry in _as_list(self.data.get("customProperties")):
            self.cp_definition(entry)
        for entry in _as_list(self.data.get("users")):
            self.user(entry)
        for index, entry in enumerate(_as_list(self.data.get("apps"))):
            self.app(entry, index)
        tasks: list[tuple[Task, dict[str, Any]]] = []
        for key, task_type in SEED_KEYS.items():
            for entry in _as_list(self.data.get(key)):
                tasks.append((self.task(entry, task_type), entry))
        for task, entry in tasks:
            where = f"task {task.name!r}"
            task.on_success = [
                self.task_ref(n, f"{where} onSuccess") for n in _as_list(entry.get("onSuccess"))
            ]
            task.on_failure = [
                self.task_ref(n, f"{where} onFailure") for n in _as_list(entry.get("onFailure"))
            ]
            # onSuccess/onFailure are seed shorthand for the composite events a QMC chain creates.
            for follower in task.on_success:
                self.chain_event(task, follower, RULE_TASK_SUCCESSFUL)
            for follower in task.on_failure:
                self.chain_event(task, follower, RULE_TASK_FAIL)
        for entry in _as_list(self.data.get("schemaEvents")):
            self.schema_event(entry)
        for entry in _as_list(self.data.get("compositeEvents")):
            self.composite_event(entry)
        self.licenses(self.data.get("licenses") or {})
        state = self.state
        state._pristine_results = {
            t.id: ExecutionResult(**{**t.last_result.__dict__, "details": []}) for t in state.tasks.values()
        }
        state._pristine_reload_times = {a.id: a.lastReloadTime for a in state.apps.values()}
        state._pristine_licenses = {k: replace(v) for k, v in state.licenses.items()}
        state._pristine_site = replace(state.site)
        state._pristine_user_flags = {u.id: (u.inactive, u.blacklisted, u.removed_externally)
                                      for u in state.users.values()}
        nodes = [str(n) for n in _as_list(self.data.get("nodes"))] or [state.site.hostname]
        try:
            state.services.seed(nodes)
        except ValueError as exc:
            raise SeedError(f"nodes: {exc}") from None
        return state

    def site(self) -> None:
        raw = self.data.get("site") or {}
        known = SiteInfo.__dataclass_fields__
        unknown = set(raw) - set(known)
        if unknown:
            raise SeedError(f"site: unknown keys {sorted(unknown)}")
        info = SiteInfo(**raw)
        if "node_id" not in raw:
            info.node_id = derive_id("node", info.hostname)
        self.state.site = info

    def service_users(self) -> None:
        # Every real site has these; they own nothing but appear in datagrams and audit columns.
        for user_id, name in (
            ("sa_repository", "sa_repository"),
            ("sa_scheduler", "sa_scheduler"),
            ("sa_api", "sa_api"),
        ):
            self.user({"userDirectory": "INTERNAL", "userId": user_id, "name": name, "roles": ["RootAdmin"]})

    def stream(self, entry: dict[str, Any]) -> None:
        name = str(entry["name"])
        sid = _guid(entry["id"], f"stream {name}") if entry.get("id") else derive_id("stream", name)
        self.state.streams[sid] = Stream(id=sid, name=name, meta=self.meta())

    def stream_ref(self, ref: str, where: str) -> Stream:
        for stream in self.state.streams.values():
            if stream.name == ref or stream.id == str(ref).lower():
                return stream
        raise SeedError(f"{where}: unknown stream {ref!r}")

    def tag(self, name: str) -> Tag:
        for tag in self.state.tags.values():
            if tag.name == name:
                return tag
        tag = Tag(id=derive_id("tag", name), name=name, meta=self.meta())
        self.state.tags[tag.id] = tag
        return tag

    def cp_definition(self, entry: dict[str, Any]) -> None:
        name = str(entry["name"])
        cid = _guid(entry["id"], f"custom property {name}") if entry.get("id") else derive_id("cp", name)
        self.state.custom_property_definitions[cid] = CustomPropertyDefinition(
            id=cid,
            name=name,
            value_type=str(entry.get("valueType", "Text")),
            choice_values=[str(v) for v in _as_list(entry.get("values", entry.get("choiceValues")))],
            object_types=[str(v) for v in _as_list(entry.get("objectTypes", ["App", "ReloadTask"]))],
            description=str(entry.get("description", "")),
            meta=self.meta(),
        )

    def cp_values(self, mapping: Any, owner_kind: str, owner_name: str) -> list[CustomPropertyValue]:
        if not mapping:
            return []
        if not isinstance(mapping, dict):
            raise SeedError(f"{owner_kind} {owner_name!r}: customProperties must be a mapping")
        values: list[CustomPropertyValue] = []
        for cp_name, raw in mapping.items():
            definition = next(
                (d for d in self.state.custom_property_definitions.values() if d.name == cp_name), None
            )
            if definition is None:
                raise SeedError(f"{owner_kind} {owner_name!r}: unknown custom property {cp_name!r}")
            if owner_kind not in definition.object_types:
                raise SeedError(
                    f"{owner_kind} {owner_name!r}: custom property {cp_name!r} "
                    f"is not defined for {owner_kind}"
                )
            for value in _as_list(raw):
                value = str(value)
                if definition.choice_values and value not in definition.choice_values:
                    raise SeedError(
                        f"{owner_kind} {owner_name!r}: {value!r} is not a choice of {cp_name!r} "
                        f"{definition.choice_values}"
                    )
                values.append(
                    CustomPropertyValue(
                        id=derive_id("cpvalue", f"{owner_kind}:{owner_name}:{cp_name}:{value}"),
                        definition=definition,
                        value=value,
                        meta=self.meta(),
                    )
                )
        return values

    def user(self, entry: dict[str, Any]) -> None:
        directory = str(entry["userDirectory"])
        user_id = str(entry["userId"])
        key = f"{directory}\\{user_id}"
        if self.state.user_by_name(key) is not None:
            raise SeedError(f"user {key!r} is defined twice")
        uid = _guid(entry["id"], f"user {key}") if entry.get("id") else derive_id("user", key.lower())
        self.state.users[uid] = User(
            id=uid,
            user_directory=directory,
            user_id=user_id,
            name=str(entry.get("name", user_id)),
            email=str(entry.get("email", "")),
            roles=[str(r) for r in _as_list(entry.get("roles"))],
            tags=[self.tag(str(t)) for t in _as_list(entry.get("tags"))],
            custom_properties=self.cp_values(entry.get("customProperties"), "User", key),
            inactive=bool(entry.get("inactive", False)),
            meta=self.meta(),
            blacklisted=bool(entry.get("blocked", False)),
            removed_externally=bool(entry.get("removedExternally", False)),
        )

    def user_ref(self, ref: str, where: str) -> User:
        user = self.state.user_by_name(ref)
        if user is None:
            raise SeedError(f"{where}: unknown user {ref!r} (write it as DIRECTORY\\userId)")
        return user

    def app(self, entry: dict[str, Any], index: int) -> None:
        name = str(entry["name"])
        aid = _guid(entry["id"], f"app {name}") if entry.get("id") else derive_id("app", name)
        if aid in self.state.apps:
            raise SeedError(f"app {name!r}: duplicate id {aid}")
        owner = self.user_ref(str(entry.get("owner", "INTERNAL\\sa_repository")), f"app {name!r}")
        stream = self.stream_ref(str(entry["stream"]), f"app {name!r}") if entry.get("stream") else None
        meta = self.meta(modified_by=owner.domain_user)
        if entry.get("lastReloadTime"):
            last_reload = iso(parse_iso(str(entry["lastReloadTime"])))
        else:
            last_reload = iso(_seed_date(200 + index, hours=5))
        engine: dict[str, Any] = {key: _as_list(entry.get(key)) for key in ENGINE_KEYS_LIST}
        engine["script"] = str(entry["script"]) if entry.get("script") is not None else DEFAULT_SCRIPT
        reload_outcome = str(entry.get("reload", "success"))
        if reload_outcome not in ("success", "fail"):
            raise SeedError(f"app {name!r}: reload must be success or fail, not {reload_outcome!r}")
        engine["reload"] = reload_outcome
        data = entry.get("data")
        if data is not None and (
            not isinstance(data, dict)
            or not all(isinstance(rows, list) and all(isinstance(r, dict) for r in rows) for rows in data.values())
        ):
            raise SeedError(f"app {name!r}: data must map table names to lists of rows (mappings)")
        engine["data"] = data or {}
        app = App(
            id=aid,
            name=name,
            owner=owner,
            stream=stream,
            published=stream is not None,
            publish_time=meta.modified if stream is not None else None,
            description=str(entry.get("description", "")),
            tags=[self.tag(str(t)) for t in _as_list(entry.get("tags"))],
            custom_properties=self.cp_values(entry.get("customProperties"), "App", name),
            file_size=int(entry.get("fileSize", 150_000 + 37_123 * index)),
            lastReloadTime=last_reload,
            meta=meta,
            engine=engine,
        )
        self.state.apps[aid] = app
        self.app_names.setdefault(name, app)

    def app_ref(self, ref: str, where: str) -> App:
        app = self.app_names.get(ref) or self.state.apps.get(str(ref).lower())
        if app is None:
            raise SeedError(f"{where}: unknown app {ref!r}")
        return app

    def task(self, entry: dict[str, Any], task_type: int) -> Task:
        name = str(entry["name"])
        kind = SCHEMA_BY_TASK_TYPE[task_type]
        tid = _guid(entry["id"], f"task {name}") if entry.get("id") else derive_id(kind, name)
        if tid in self.state.tasks:
            raise SeedError(f"task {name!r}: duplicate id {tid}")
        if name in self.task_names:
            raise SeedError(f"task {name!r} is defined twice (chains refer to tasks by name)")
        if task_type in APP_TASK_TYPES and not entry.get("app"):
            raise SeedError(f"{kind} {name!r} needs an app")
        app = self.app_ref(str(entry["app"]), f"task {name!r}") if task_type in APP_TASK_TYPES else None
        scenario = entry.get("scenario", "success")
        validate_scenario(scenario, f"task {name!r}")
        duration = entry.get("durationMs")
        initial = ExecutionResult(
            id=derive_id("initialresult", tid),
            task_id=tid,
            execution_id=NULL_GUID,
            app_id=app.id if app else None,
            executing_node_id=NULL_GUID,
            executing_node_name="",
            meta=self.meta(),
        )
        task = Task(
            id=tid,
            name=name,
            task_type=task_type,
            app=app,
            enabled=bool(entry.get("enabled", True)),
            tags=[self.tag(str(t)) for t in _as_list(entry.get("tags"))],
            custom_properties=self.cp_values(entry.get("customProperties"), kind, name),
            scenario=scenario,
            duration_ms=int(duration) if duration is not None else None,
            on_success=[],
            on_failure=[],
            max_retries=int(entry.get("maxRetries", 0)),
            task_session_timeout=int(entry.get("taskSessionTimeout", 1440)),
            is_manually_triggered=bool(entry.get("isManuallyTriggered", False)),
            operational_id=derive_id("operational", tid),
            last_result=initial,
            meta=self.meta(),
            path=str(entry.get("path", "")),
            parameters=str(entry.get("parameters", "")),
            user_directory=(
                {
                    "id": derive_id("userdirectory", str(entry.get("userDirectory", "ACME"))),
                    "name": str(entry.get("userDirectory", "ACME")),
                    "type": "Repository.UserDirectoryConnectors.ODBC.Sql",
                }
                if task_type == TASK_USERSYNC
                else None
            ),
        )
        self.state.tasks[tid] = task
        self.task_names[name] = task
        self.state.execution_results[initial.id] = initial
        return task

    def task_ref(self, ref: Any, where: str) -> str:
        ref = str(ref)
        task = self.task_names.get(ref) or self.state.tasks.get(ref.lower())
        if task is None:
            raise SeedError(f"{where}: unknown task {ref!r}")
        return task.id

    def chain_event(self, upstream: Task, follower_id: str, rule_state: int) -> None:
        follower = self.state.tasks[follower_id]
        word = "success" if rule_state == RULE_TASK_SUCCESSFUL else "failure"
        self.composite_event(
            {
                "name": f"{follower.name} on {word} of {upstream.name}",
                "task": follower.id,
                "rules": [{"task": upstream.id, "state": word}],
            }
        )

    def schema_event(self, entry: dict[str, Any]) -> None:
        name = str(entry["name"])
        where = f"schema event {name!r}"
        eid = _guid(entry["id"], where) if entry.get("id") else derive_id("SchemaEvent", name)
        option = int(entry.get("incrementOption", 2))
        if option not in range(6):
            raise SeedError(f"{where}: incrementOption must be 0-5")
        default_increment = {0: "0 0 0 0", 1: "0 1 0 0", 2: "0 0 1 0", 3: "0 0 0 1", 4: "0 0 0 0"}
        increment = str(entry.get("incrementDescription", default_increment.get(option, "0 0 1 0")))
        if len(increment.split()) != 4 or not all(p.isdigit() for p in increment.split()):
            raise SeedError(f"{where}: incrementDescription must be four numbers 'minutes hours days weeks'")
        expiration = entry.get("expirationDate")
        time_zone = str(entry.get("timeZone", "UTC"))
        dst_mode = entry.get("daylightSavingTime", 0)
        if dst_mode not in (0, 1, 2) or isinstance(dst_mode, bool):
            raise SeedError(f"{where}: daylightSavingTime must be 0, 1 or 2")
        try:
            zone(time_zone)
        except ValueError as exc:
            raise SeedError(f"{where}: {exc}") from None
        self.state.schema_events[eid] = SchemaEvent(
            id=eid,
            name=name,
            task_id=self.task_ref(entry["task"], where),
            enabled=bool(entry.get("enabled", True)),
            # Clock readings in the event's time zone (schedules.py).
            start_date=wall_date(parse_iso(str(entry.get("startDate", iso(_seed_date(0)))))),
            expiration_date=wall_date(parse_iso(str(expiration))) if expiration else None,
            increment_option=option,
            increment_description=increment,
            schema_filter_description=[str(v) for v in _as_list(entry.get("schemaFilterDescription",
                                                                            ["* * - * * * * *"]))],
            time_zone=time_zone,
            daylight_saving_time=int(dst_mode),
            operational_id=derive_id("operational", eid),
            meta=self.meta(),
        )

    def composite_event(self, entry: dict[str, Any]) -> None:
        name = str(entry["name"])
        where = f"composite event {name!r}"
        eid = _guid(entry["id"], where) if entry.get("id") else derive_id("CompositeEvent", name)
        rules = []
        for index, rule in enumerate(_as_list(entry.get("rules"))):
            state_word = str(rule.get("state", "success"))
            if state_word not in ("success", "fail", "failure"):
                raise SeedError(f"{where}: rule {index} state must be success or fail")
            rules.append(
                CompositeRule(
                    id=derive_id("CompositeEventRule", f"{eid}:{index}"),
                    task_id=self.task_ref(rule["task"], f"{where} rule {index}"),
                    rule_state=RULE_TASK_SUCCESSFUL if state_word == "success" else RULE_TASK_FAIL,
                    meta=self.meta(),
                )
            )
        if not rules:
            raise SeedError(f"{where}: needs at least one rule")
        constraint = {k: int((entry.get("timeConstraint") or {}).get(k, 0)) for k in ("seconds", "minutes",
                                                                                     "hours", "days")}
        if not any(constraint.values()):
            constraint["minutes"] = 360  # the QMC default window
        self.state.composite_events[eid] = CompositeEvent(
            id=eid,
            name=name,
            task_id=self.task_ref(entry["task"], where),
            enabled=bool(entry.get("enabled", True)),
            rules=rules,
            time_constraint=constraint,
            operational_id=derive_id("operational", eid),
            meta=self.meta(),
        )

    def licenses(self, raw: dict[str, Any]) -> None:
        unknown = set(raw) - {"professional", "analyzer", "tokens", "analyzerCapacity"}
        if unknown:
            raise SeedError(f"licenses: unknown keys {sorted(unknown)}; known: professional, analyzer, tokens, "
                            "analyzerCapacity")
        if raw.get("tokens") is not None:
            self.state.tokens = _token_license(raw["tokens"])
        if raw.get("analyzerCapacity") is not None:
            self.state.analyzer_capacity = _counts(raw["analyzerCapacity"], CAPACITY_COUNTS,
                                                   "licenses.analyzerCapacity")
        for kind in ("professional", "analyzer"):
            for index, entry in enumerate(_as_list(raw.get(kind))):
                user = self.user_ref(str(entry["user"]), f"licenses.{kind}[{index}]")
                last_used = (
                    parse_iso(str(entry["lastUsed"])) if entry.get("lastUsed") else _seed_date(300 + index)
                )
                end = entry.get("quarantineEnd")
                access = LicenseAccess(
                    id=derive_id(f"license-{kind}", user.domain_user.lower()),
                    kind=kind,
                    user=user,
                    last_used=last_used,
                    quarantined=bool(entry.get("quarantined", False)),
                    quarantine_end=parse_iso(str(end)) if end else None,
                    meta=self.meta(),
                )
                self.state.licenses[access.id] = access


def _amount(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SeedError(f"{where} must be a number >= 0, got {value!r}")
    return value


def _counts(raw: Any, defaults: dict[str, float], where: str) -> dict[str, float]:
    """An overview block from the seed: numbers >= 0 over `defaults`, no other keys."""
    if not isinstance(raw, dict):
        raise SeedError(f"{where} must be a mapping of {', '.join(defaults)}")
    unknown = set(raw) - set(defaults)
    if unknown:
        raise SeedError(f"{where}: unknown keys {sorted(unknown)}; known: {', '.join(defaults)}")
    return {key: _amount(raw.get(key, default), f"{where}.{key}") for key, default in defaults.items()}


def _token_license(raw: Any) -> TokenLicense:
    where = "licenses.tokens"
    if not isinstance(raw, dict) or "total" not in raw:
        raise SeedError(f"{where} must be a mapping with total and optionally {', '.join(TOKEN_BLOCKS)}")
    unknown = set(raw) - {"total", *TOKEN_BLOCKS}
    if unknown:
        raise SeedError(f"{where}: unknown keys {sorted(unknown)}; known: total, {', '.join(TOKEN_BLOCKS)}")
    blocks = {name: _counts(raw.get(name) or {}, defaults, f"{where}.{name}")
              for name, defaults in TOKEN_BLOCKS.items()}
    tokens = TokenLicense(_amount(raw["total"], f"{where}.total"), blocks["userAccess"], blocks["loginAccess"])
    if tokens.available < 0:
        raise SeedError(f"{where}: userAccess and loginAccess allocate "
                        f"{tokens.total - tokens.available:g} tokens, more than total {tokens.total:g}")
    return tokens


SCENARIO_WORDS = ("success", "fail", "abort")


def validate_scenario(scenario: Any, where: str) -> None:
    """Reject scenarios the runner could not interpret, at load time rather than mid-run."""
    if isinstance(scenario, str):
        if scenario not in SCENARIO_WORDS:
            raise SeedError(
                f"{where}: scenario must be one of {SCENARIO_WORDS} or a mapping, not {scenario!r}"
            )
        return
    if not isinstance(scenario, dict) or len(scenario) != 1:
        raise SeedError(f"{where}: scenario mapping must have exactly one key")
    ((kind, arg),) = scenario.items()
    if kind == "failEvery":
        if not isinstance(arg, int) or arg < 1:
            raise SeedError(f"{where}: failEvery needs a positive integer")
    elif kind == "random":
        if not isinstance(arg, dict):
            raise SeedError(f"{where}: random needs a mapping {{seed, failRate, abortRate}}")
        rates = float(arg.get("failRate", 0)) + float(arg.get("abortRate", 0))
        if rates > 1:
            raise SeedError(f"{where}: failRate + abortRate must be at most 1")
    elif kind == "sequence":
        items = _as_list(arg)
        if not items or any(i not in SCENARIO_WORDS for i in items):
            raise SeedError(f"{where}: sequence needs a list of {SCENARIO_WORDS}")
    else:
        raise SeedError(f"{where}: unknown scenario {kind!r}")


def build_state(data: dict[str, Any]) -> State:
    """Build a State from an already-parsed seed mapping (tests build seeds inline)."""
    try:
        return _Builder(data).build()
    except KeyError as exc:
        raise SeedError(f"seed entry lacks required key {exc}") from exc
