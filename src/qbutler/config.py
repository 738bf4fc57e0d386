"""Butler's YAML config file, typed.

A real Butler config must load unchanged: every section is optional with safe defaults (features
off), keys qbutler does not use are kept and reported once, and an invalid value stops start-up
with a message that names the key path, the value and what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from qbutler.alerts.config import (
    AlertDelivery,
    AlertEnableByCustomProperty,
    EmailNotification,
    GenericUrl,
    IncidentTool,
    QlikSenseUrls,
    RestEndpointsConfig,
    ScriptLogConfig,
    SlackNotification,
    TeamsNotification,
    ThirdPartyToolsCredentials,
    UdpServerConfig,
    WebhookNotification,
)
from qbutler.auth.config import ApiAccessConfig
from qbutler.config_check import errors as check_errors
from qbutler.config_check import review
from qbutler.config_messages import root_problem, yaml_error
from qbutler.config_types import (
    LowerCase,
    NameValue,
    NullableList,
    Port,
    Section,
    StaticNameValues,
    restore_boolean_words,
)
from qbutler.history.config import HistoryConfig, MetricsConfig
from qbutler.influx.config import InfluxDbConfig, UptimeMonitorConfig
from qbutler.scheduler.cron import CronError, CronExpression
from qbutler.watch.config import (
    DockerHealthCheck,
    Heartbeat,
    QlikSenseLicense,
    QlikSenseVersion,
    Readiness,
    ServiceMonitor,
)

ENV_PREFIX = "QBUTLER__"
# libyaml's loader reads a production-size file five times faster than the Python one.
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(Exception):
    """The config file cannot be used; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


class CertConfig(Section):
    clientCert: str = ""
    clientCertKey: str = ""
    clientCertCA: str = ""


class ConfigQRS(Section):
    authentication: str = "certificates"
    host: str = "localhost"
    useSSL: bool = True
    port: Port = 4242
    headers: StaticNameValues = StaticNameValues(
        static=[NameValue(name="X-Qlik-User", value="UserDirectory=Internal;UserId=sa_repository")]
    )
    rejectUnauthorized: bool = False
    # qbutler: seconds per QRS call, and retries on connection errors and 5xx.
    timeout: float = Field(30.0, gt=0)
    retries: int = Field(3, ge=0)
    # qbutler: first retry delay in seconds; doubles per retry, with jitter (x0.5-1.5).
    retryBackoff: float = Field(0.5, ge=0)


class ConfigEngine(Section):
    engineVersion: str = "12.612.0"
    host: str = "localhost"
    port: Port = 4747
    useSSL: bool = True
    headers: StaticNameValues = StaticNameValues(
        static=[NameValue(name="X-Qlik-User", value="UserDirectory=Internal;UserId=sa_repository")]
    )
    rejectUnauthorized: bool = False
    # qbutler: seconds to connect and per Engine call (except reloads).
    timeout: float = Field(30.0, gt=0)
    # qbutler: seconds a DoReload may run; 0 waits without limit.
    reloadTimeout: float = Field(86400.0, ge=0)
    # qbutler: requests one session keeps in flight at once (the app dump runs its calls in parallel).
    maxParallelRequests: int = Field(8, ge=1)


class TlsConfig(Section):
    enable: bool = False
    cert: str = ""
    key: str = ""
    ca: str | None = None
    # qbutler: with `ca`, refuse clients without a certificate signed by it (false: a certificate
    # is asked for and checked when sent, and its subject can identify the client).
    requireClientCert: bool = False


class RateLimitConfig(Section):
    """qbutler: requests per minute per client address; off unless enabled."""

    enable: bool = False
    maxPerMinute: int = Field(100, ge=1)


class RestServerConfig(Section):
    enable: bool = False
    serverHost: str = "localhost"
    serverPort: Port = 8080
    # Accepted for compatibility; qbutler serves everything on serverPort.
    backgroundServerPort: Port = 8081
    tls: TlsConfig = TlsConfig()
    rateLimit: RateLimitConfig = RateLimitConfig()
    # qbutler: largest accepted request body, in bytes (Fastify's default is 1 MiB).
    bodyLimit: int = Field(1024 * 1024, ge=1024)


class NewRelicEndpointSwitches(Section):
    postNewRelicMetric: bool = False
    postNewRelicEvent: bool = False


class SchedulerEndpointSwitches(Section):
    createNewSchedule: bool = False
    getSchedule: bool = False
    getScheduleStatusAll: bool = False
    updateSchedule: bool = False
    deleteSchedule: bool = False
    startSchedule: bool = False
    stopSchedule: bool = False


class EndpointSwitches(Section):
    apiListEnabledEndpoints: bool = False
    base62ToBase16: bool = False
    base16ToBase62: bool = False
    butlerping: bool = False
    createDir: bool = False
    createDirQVD: bool = False
    fileDelete: bool = False
    fileMove: bool = False
    fileCopy: bool = False
    keyValueStore: bool = False
    mqttPublishMessage: bool = False
    newRelic: NewRelicEndpointSwitches = NewRelicEndpointSwitches()
    scheduler: SchedulerEndpointSwitches = SchedulerEndpointSwitches()
    senseAppReload: bool = False
    senseAppDump: bool = False
    senseListApps: bool = False
    senseStartTask: bool = False
    slackPostMessage: bool = False

    def is_enabled(self, switch: str) -> bool:
        """`switch` is a dotted path below restServerEndpointsEnable, e.g. `scheduler.getSchedule`."""
        node: Any = self
        for part in switch.split("."):
            node = getattr(node, part, None)
        return node is True

    def enabled_leaf_names(self, raw: Mapping[str, Any] | None) -> list[str]:
        """Leaf names of every switch that is exactly true, depth-first in file order (Butler's list)."""
        source = raw if raw is not None else self.model_dump()
        names: list[str] = []

        def walk(node: Mapping[str, Any]) -> None:
            for key, value in node.items():
                if isinstance(value, Mapping):
                    walk(value)
                elif value is True:
                    names.append(key)

        walk(source)
        return names


class ApprovedDirectoryPair(Section):
    fromDirectory: str
    toDirectory: str


class ConfigDirectories(Section):
    qvdPath: str = ""


class FileOperations(Section):
    """qbutler: how the file endpoints (filecopy, filemove, filedelete, createdir…) behave."""

    # false: `createdir` only creates directories inside the approved folders (copy and move
    # pairs, delete folders, qvdPath). true: Butler's behaviour, anywhere the service may write.
    createDirAnywhere: bool = False


class CustomPropertyFilter(Section):
    name: str
    value: str


class AllowTask(Section):
    taskId: Annotated[list[str], NullableList] = []
    tag: Annotated[list[str], NullableList] = []
    customProperty: Annotated[list[CustomPropertyFilter], NullableList] = []


class StartTaskFilter(Section):
    enable: bool = False
    allowTask: AllowTask = AllowTask()


class StartTaskWait(Section):
    """qbutler: bounds for `?wait=true` on the task start endpoint."""

    # Longest a start call waits for its tasks' executions to finish before answering.
    maxWaitSeconds: float = Field(600.0, gt=0)
    # Longest pause between two polls of an execution's result (polling starts at 50 ms).
    pollIntervalSeconds: float = Field(2.0, gt=0)


class MqttTls(Section):
    """qbutler: TLS to the broker (Butler's main MQTT connection has none)."""

    enable: bool = False
    # CA file that signed the broker's certificate; empty uses the system's trust store.
    ca: str = ""
    # Client certificate and key, for brokers that require one.
    cert: str = ""
    key: str = ""
    # false accepts any broker certificate (like restServerConfig's Sense connections).
    rejectUnauthorized: bool = True


class MqttConfig(Section):
    enable: bool = False
    brokerHost: str = "localhost"
    brokerPort: Port = 1883
    taskFailureSendFull: bool = True
    taskAbortedSendFull: bool = True
    subscriptionRootTopic: str = "qliksense/#"
    taskStartTopic: str = "qliksense/start_task"
    taskFailureTopic: str = "qliksense/task_failure"
    taskFailureFullTopic: str = "qliksense/task_failure_full"
    taskFailureServerStatusTopic: str = "qliksense/butler/task_failure_server"
    taskAbortedTopic: str = "qliksense/task_aborted"
    taskAbortedFullTopic: str = "qliksense/task_aborted_full"
    serviceRunningTopic: str = "qliksense/service_running"
    serviceStoppedTopic: str = "qliksense/service_stopped"
    serviceStatusTopic: str = "qliksense/service_status"
    qlikSenseServerLicenseTopic: str = "qliksense/qliksense_server_license"
    qlikSenseServerLicenseExpireTopic: str = "qliksense/qliksense_server_license_expire"
    # qbutler: the report of each license release run (JSON).
    qlikSenseLicenseReleaseTopic: str = "qliksense/qliksense_license_release"
    # qbutler: a change of the Sense version (JSON).
    qlikSenseVersionTopic: str = "qliksense/qliksense_version"
    # qbutler: credentials and TLS for the broker connection.
    username: str = ""
    password: str = ""
    tls: MqttTls = MqttTls()
    # qbutler: client id; empty gives a random `qbutler_<8 hex>` per connection, as Butler does.
    clientId: str = ""
    # qbutler: QoS of qbutler's publications and of the subscription (Butler: 0).
    qos: int = Field(1, ge=0, le=2)
    keepaliveSeconds: int = Field(60, ge=5)
    # qbutler: retained "online"/"offline" (the last will) on this topic; empty turns it off.
    statusTopic: str = "qliksense/qbutler/status"
    # qbutler: messages kept while the broker is unreachable, sent in order after reconnecting.
    outboxSize: int = Field(1000, ge=0)
    # qbutler: reconnect delay doubles from the first to the longest, with +-50% jitter.
    reconnectMinDelaySeconds: float = Field(0.5, gt=0)
    reconnectMaxDelaySeconds: float = Field(30.0, gt=0)
    # qbutler: how long one publish waits for the broker's acknowledgement before it is queued.
    publishTimeoutSeconds: float = Field(5.0, gt=0)
    # qbutler: "Sense is done": every task type's success, the task name on taskSuccessTopic and
    # the full JSON (shaped like the failure payload) on taskSuccessFullTopic; empty = off.
    taskSuccessTopic: str = ""
    taskSuccessFullTopic: str = ""
    # qbutler: also keep each task's last success, retained, on `<taskSuccessFullTopic>/<task id>`.
    taskSuccessRetainPerTask: bool = False
    # qbutler: only tasks with this custom property value announce their success.
    taskSuccessAlertEnableByCustomProperty: AlertEnableByCustomProperty = AlertEnableByCustomProperty()
def _time_zone(value: Any) -> Any:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError("timezone", "expected an IANA time zone such as Europe/Stockholm") from None
    return value


class AppSnapshotsGit(Section):
    """qbutler: commit every snapshot run that changed something into a git repository in `directory`."""

    enable: bool = False
    authorName: str = "qbutler"
    authorEmail: str = "qbutler@localhost"


class AppSnapshots(Section):
    """qbutler: periodic JSON snapshots of apps' metadata (the app dump), kept only when they change."""

    # Run on `schedule` while qbutler serves; `qbutler app snapshot` works either way.
    enable: bool = False
    # How `schedule` is read (see qbutler.scheduler.cron): `standard` crontab (months 1-12, weekday
    # 0-7) or `butler`, the dialect of Butler's schedule file (months 0-11, weekday 0-6).
    cronDialect: Literal["butler", "standard"] = "standard"
    # Cron: 5 fields, or 6 with seconds first (as in Butler's schedules).
    schedule: str = "0 2 * * *"
    timezone: Annotated[str, BeforeValidator(_time_zone)] = "UTC"
    # QRS filter on apps (e.g. "stream.name eq 'Finance'"); empty snapshots every app.
    filter: str = ""
    # Where the files go; relative paths resolve against the config file's folder.
    directory: str = "app-snapshots"
    # Versions kept per app in versions/<appId>/ (the newest ones); 0 keeps every version.
    keepVersions: int = Field(20, ge=0)
    # Apps dumped at the same time.
    parallelApps: int = Field(2, ge=1)
    # Dotted paths left out of the files, so that a reload alone is no new version.
    omitKeys: Annotated[list[str], NullableList] = ["properties.qLastReloadTime"]
    git: AppSnapshotsGit = AppSnapshotsGit()

    @field_validator("schedule")
    @classmethod
    def _schedule_parses(cls, value: str, info: ValidationInfo) -> str:
        # cronDialect is declared first, so it is validated (or failed) by now.
        dialect = info.data.get("cronDialect")
        if dialect is not None:
            try:
                CronExpression.parse(value, dialect)
            except CronError as exc:
                raise PydanticCustomError("cron", "{problem}", {"problem": str(exc)}) from None
        return value


class UiConfig(Section):
    """qbutler: the admin dashboard at /ui/ on the REST port (docs/dashboard.md)."""

    # Served only while restServerConfig.enable is true as well.
    enable: bool = True
    # How long a dashboard login lasts before the API key must be entered again.
    sessionHours: float = Field(8.0, gt=0, le=24 * 30)


class QbutlerSettings(Section):
    """qbutler's own global settings (`Butler.qbutler`), beyond Butler's keys."""

    # Folder for state that must survive restarts (KV store, outboxes, dedup); relative paths
    # resolve against the config file's folder.
    dataDirectory: str = "qbutler-data"
    ui: UiConfig = UiConfig()
    readiness: Readiness = Readiness()
    # This instance's name in the history (and logs); empty means scheduler.instanceId, else
    # host name and process id.
    instanceId: str = ""
    history: HistoryConfig = HistoryConfig()
    metrics: MetricsConfig = MetricsConfig()
    # Who may call the REST API, and the audit trail (docs/security.md).
    api: ApiAccessConfig = ApiAccessConfig()


class KvSqliteConfig(Section):
    """qbutler: the sqlite backend's file."""

    # Database file; empty means `kv.sqlite` in qbutler.dataDirectory. Relative paths resolve
    # against the config file's folder.
    path: str = ""


class KvRedisConfig(Section):
    """qbutler: the redis backend, shared by every qbutler instance that points at it."""

    url: str = "redis://localhost:6379/0"
    # Every Redis key qbutler writes starts with this; give each site its own prefix.
    keyPrefix: str = "qbutler:kv"


class KeyValueStoreConfig(Section):
    # Butler's switch; it has no effect (as in Butler, where the REST switch
    # restServerEndpointsEnable.keyValueStore alone exposes the store).
    enable: bool = False
    # A new key beyond this many live keys in one namespace is refused with 400 (Butler ignores
    # the setting); 0 means no limit.
    maxKeysPerNamespace: int = Field(1000, ge=0)
    # qbutler: where keys live. sqlite (durable, one instance), memory (lost at exit, Butler's
    # behaviour) or redis (shared by several instances).
    backend: Literal["sqlite", "memory", "redis"] = "sqlite"
    # qbutler: how often expired keys are removed from listings and storage (reads never see
    # them in any case).
    sweepIntervalSeconds: float = Field(60.0, gt=0)
    sqlite: KvSqliteConfig = KvSqliteConfig()
    redis: KvRedisConfig = KvRedisConfig()


class SchedulerConfig(Section):
    enable: bool = False
    # Butler's schedule file. A relative path resolves against the config file's folder (Butler:
    # against its working directory).
    configfile: str = "config/schedule.yaml"
    # qbutler: how cron expressions are read. `butler`: Butler's dialect (months 0-11, weekday
    # 0-6), so an existing schedule file fires exactly as in Butler; `standard`: crontab's
    # (months 1-12, weekday 0-7).
    cronDialect: Literal["butler", "standard"] = "butler"
    # qbutler: `schedule` runs each schedule in its own `timezone` (IANA name); `server` ignores
    # that field and uses the server's zone, as Butler does.
    timezoneMode: Literal["schedule", "server"] = "schedule"
    # qbutler: a run missed while qbutler was down (or stalled) still runs, once, if it is at
    # most this many seconds late; older missed runs are skipped and logged.
    missedRunGraceSeconds: float = Field(300.0, ge=0)
    # qbutler: several instances sharing one schedule file fire each occurrence once by reserving
    # it in the key-value store. `auto`: when the store's backend is redis; `kv`: always;
    # `off`: never.
    coordination: Literal["auto", "kv", "off"] = "auto"
    # qbutler: this instance's name in reservations and logs; empty means host name and pid.
    instanceId: str = ""
    # qbutler: how often to look for changes another instance (or an editor) made to the file.
    reloadIntervalSeconds: float = Field(2.0, gt=0)
    # qbutler: task starts in flight at once; firings beyond wait their turn (keep it at or
    # below the QRS client's 20 kept-alive connections).
    maxConcurrentStarts: int = Field(20, ge=1)


LogLevel = Annotated[Literal["silly", "debug", "verbose", "info", "warn", "error"], LowerCase]


class ButlerConfig(Section):
    logLevel: LogLevel = "info"
    fileLogging: bool = False
    logDirectory: str = "log"
    restServerConfig: RestServerConfig = RestServerConfig()
    restServerEndpointsEnable: EndpointSwitches = EndpointSwitches()
    restServerEndpointsConfig: RestEndpointsConfig = RestEndpointsConfig()
    startTaskFilter: StartTaskFilter = StartTaskFilter()
    startTaskWait: StartTaskWait = StartTaskWait()
    mqttConfig: MqttConfig = MqttConfig()
    fileCopyApprovedDirectories: Annotated[list[ApprovedDirectoryPair], NullableList] = []
    fileMoveApprovedDirectories: Annotated[list[ApprovedDirectoryPair], NullableList] = []
    fileDeleteApprovedDirectories: Annotated[list[str], NullableList] = []
    configDirectories: ConfigDirectories = ConfigDirectories()
    fileOperations: FileOperations = FileOperations()
    cert: CertConfig = CertConfig()
    configQRS: ConfigQRS = ConfigQRS()
    configEngine: ConfigEngine = ConfigEngine()
    keyValueStore: KeyValueStoreConfig = KeyValueStoreConfig()
    appSnapshots: AppSnapshots = AppSnapshots()
    scheduler: SchedulerConfig = SchedulerConfig()
    qbutler: QbutlerSettings = QbutlerSettings()
    udpServerConfig: UdpServerConfig = UdpServerConfig()
    slackNotification: SlackNotification = SlackNotification()
    teamsNotification: TeamsNotification = TeamsNotification()
    emailNotification: EmailNotification = EmailNotification()
    webhookNotification: WebhookNotification = WebhookNotification()
    incidentTool: IncidentTool = IncidentTool()
    thirdPartyToolsCredentials: ThirdPartyToolsCredentials = ThirdPartyToolsCredentials()
    qlikSenseUrls: QlikSenseUrls = QlikSenseUrls()
    genericUrls: Annotated[list[GenericUrl], NullableList] = []
    scriptLog: ScriptLogConfig = ScriptLogConfig()
    alertDelivery: AlertDelivery = AlertDelivery()
    serviceMonitor: ServiceMonitor = ServiceMonitor()
    qlikSenseLicense: QlikSenseLicense = QlikSenseLicense()
    qlikSenseVersion: QlikSenseVersion = QlikSenseVersion()
    heartbeat: Heartbeat = Heartbeat()
    dockerHealthCheck: DockerHealthCheck = DockerHealthCheck()
    influxDb: InfluxDbConfig = InfluxDbConfig()
    uptimeMonitor: UptimeMonitorConfig = UptimeMonitorConfig()


class Config(BaseModel):
    """The whole file: one root key, `Butler`."""

    model_config = ConfigDict(extra="forbid")

    Butler: ButlerConfig = ButlerConfig()
    # Where the file lives: relative paths in it resolve against this folder.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    # The file as parsed (after environment overrides), for rules that need key order.
    raw: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)

    def resolve_path(self, value: str | os.PathLike[str]) -> Path:
        """A path from the config, relative ones taken against the config file's folder."""
        path = Path(os.path.expanduser(str(value)))
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def data_dir(self) -> Path:
        return self.resolve_path(self.Butler.qbutler.dataDirectory)

    def raw_section(self, *path: str) -> Any:
        node: Any = self.raw.get("Butler", {})
        for key in path:
            if not isinstance(node, Mapping):
                return None
            node = node.get(key)
        return node


# ----------------------------------------------------------------------------- loading


def apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Apply `QBUTLER__<Key>__<Key>...=<yaml value>` variables to the parsed file.

    Path parts match existing keys case-insensitively (environment variables are often upper
    case); a part that matches nothing is created as written. The root `Butler` is implied.
    """
    for name, text in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or len(name) == len(ENV_PREFIX):
            continue
        parts = [p for p in name[len(ENV_PREFIX):].split("__") if p]
        if parts and parts[0].lower() == "butler":
            parts = parts[1:]
        if not parts:
            continue
        node = data.setdefault("Butler", {})
        if not isinstance(node, dict):
            continue
        for index, part in enumerate(parts):
            key = next((k for k in node if str(k).lower() == part.lower()), part)
            if index == len(parts) - 1:
                node[key] = yaml.safe_load(text) if text != "" else ""
            else:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = {}
                    node[key] = child
                node = child
    return data


def _describe_expectation(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    messages = {
        "int_parsing": "expected an integer",
        "int_type": "expected an integer",
        "int_from_float": "expected an integer",
        "float_parsing": "expected a number",
        "float_type": "expected a number",
        "bool_parsing": "expected a boolean (true or false)",
        "bool_type": "expected a boolean (true or false)",
        "string_type": "expected a string",
        "list_type": "expected a list",
        "dict_type": "expected a mapping of keys to values",
        "model_type": "expected a mapping of keys to values",
        "model_attributes_type": "expected a mapping of keys to values",
        "missing": "a value is required",
        "extra_forbidden": "unknown key (the only root key is 'Butler')",
    }
    if kind in messages:
        return messages[kind]
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected', '')}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
        return f"expected a number {bound[kind]} {next(iter(ctx.values()), '')}"
    return str(error.get("msg", kind))


def _format_errors(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"])
        message = _describe_expectation(error)
        # A section-level rule (the input is the whole section) names the key in its message.
        if error["type"] == "missing" or isinstance(error.get("input"), dict):
            lines.append(f"{path}: {message}")
        else:
            lines.append(f"{path}: {message}, got {error.get('input')!r}")
    return lines


def parse_config(data: Any, base_dir: Path, source: Path | None = None) -> Config:
    """Validate parsed YAML; `source` names the file in messages. Placeholders left from Butler's
    template in keys qbutler uses are errors (config_check)."""
    problem = root_problem(source or Path("the config"), data)
    if problem is not None:
        raise ConfigError([problem])
    if data["Butler"] is None:
        data["Butler"] = {}
    restore_boolean_words(ButlerConfig, data["Butler"])
    try:
        config = Config.model_validate({**data, "base_dir": base_dir, "raw": data})
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None
    placeholders = check_errors(review(config))
    if placeholders:
        raise ConfigError([str(finding) for finding in placeholders])
    return config


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment, and validate a Butler-format config file."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError([f"{file}: config file not found"])
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}: cannot be read: {exc}"]) from None
    try:
        data = yaml.load(text, Loader=FAST_LOADER)
    except yaml.YAMLError:
        # Parsed again by the Python loader, whose messages are the clearer ones.
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(yaml_error(file, text, exc)) from None
        raise
    if isinstance(data, dict):
        data = apply_env_overrides(data, os.environ if environ is None else environ)
    return parse_config(data, file.resolve().parent, file)
