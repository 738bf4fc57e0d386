"""`Butler.influxDb` and `Butler.uptimeMonitor` (its New Relic part is with the other New Relic
settings in alerts.config), with Butler's key names and defaults."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from qbutler.alerts.config import UptimeStoreNewRelic
from qbutler.config_types import Port, Section, StaticNameValues
from qbutler.watch.config import Frequency


class InfluxAuth(Section):
    enable: bool = False
    username: str = ""
    password: str = ""


class InfluxRetentionPolicy(Section):
    name: str = "10d"
    duration: str = "10d"


class InfluxV1(Section):
    auth: InfluxAuth = InfluxAuth()
    dbName: str = "butler"
    retentionPolicy: InfluxRetentionPolicy = InfluxRetentionPolicy()


class InfluxV2(Section):
    org: str = ""
    bucket: str = ""
    token: str = ""


class InfluxV3(Section):
    database: str = ""
    token: str = ""
    # Milliseconds per write request.
    writeTimeout: float = Field(10000, gt=0)


class DynamicTags(Section):
    """`tag.dynamic`: Sense tags of the app / task as `appTag_<name>` / `taskTag_<name>` = "true".
    Off unless set to true, as in Butler."""

    useAppTags: bool = False
    useTaskTags: bool = False


class EventTags(StaticNameValues):
    dynamic: DynamicTags = DynamicTags()


class InfluxEvent(Section):
    enable: bool = False
    tag: EventTags = EventTags()


class InfluxReloadFailure(InfluxEvent):
    tailScriptLogLines: int = Field(20, ge=0)


class InfluxSuccessByCustomProperty(Section):
    enable: bool = False
    customPropertyName: str = "Butler_SuccessReloadTask_InfluxDB"
    enabledValue: str = "Yes"


class InfluxAllReloadTasks(Section):
    enable: bool = False


class InfluxReloadSuccess(InfluxEvent):
    allReloadTasks: InfluxAllReloadTasks = InfluxAllReloadTasks()
    byCustomProperty: InfluxSuccessByCustomProperty = InfluxSuccessByCustomProperty()
    headScriptLogLines: int = Field(15, ge=0)
    tailScriptLogLines: int = Field(25, ge=0)


def _version(value: Any) -> Any:
    # Butler reads the version as a number and falls back to 1 when it is missing or not one.
    if value is None or (isinstance(value, str) and not value.strip().isdigit()):
        return 1
    return int(value) if isinstance(value, str) else value


class InfluxDbConfig(Section):
    enable: bool = False
    hostIP: str = "localhost"
    hostPort: Port = 8086
    version: Annotated[Literal[1, 2, 3], BeforeValidator(_version)] = 1
    v1Config: InfluxV1 | None = None
    v2Config: InfluxV2 = InfluxV2()
    v3Config: InfluxV3 = InfluxV3()
    # Butler's flat v1 keys, read when v1Config is absent.
    auth: InfluxAuth = InfluxAuth()
    dbName: str = "butler"
    retentionPolicy: InfluxRetentionPolicy = InfluxRetentionPolicy()
    tag: StaticNameValues = StaticNameValues()
    reloadTaskFailure: InfluxReloadFailure = InfluxReloadFailure()
    reloadTaskSuccess: InfluxReloadSuccess = InfluxReloadSuccess()
    externalProgramTaskFailure: InfluxEvent = InfluxEvent()
    externalProgramTaskSuccess: InfluxEvent = InfluxEvent()
    userSyncTaskFailure: InfluxEvent = InfluxEvent()
    userSyncTaskSuccess: InfluxEvent = InfluxEvent()
    distributeTaskFailure: InfluxEvent = InfluxEvent()
    distributeTaskSuccess: InfluxEvent = InfluxEvent()
    preloadTaskFailure: InfluxEvent = InfluxEvent()
    preloadTaskSuccess: InfluxEvent = InfluxEvent()
    # qbutler: points waiting to be written; beyond this, new points are dropped (counted, logged).
    queueSize: int = Field(10_000, ge=10)
    # qbutler: points per write request at most.
    batchSize: int = Field(500, ge=1)
    # qbutler: attempts per batch (connection errors, 5xx, 429) before it is dropped and logged.
    maxAttempts: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _version_needs_its_keys(self) -> InfluxDbConfig:
        # Butler refuses to start in these cases, with these messages.
        v2 = self.v2Config
        if self.enable and self.version == 2 and not (v2.org and v2.bucket and v2.token):
            raise PydanticCustomError("influx", "Invalid InfluxDB v2 config: org, bucket, and token are required.")
        if self.enable and self.version == 3 and not (self.v3Config.database and self.v3Config.token):
            raise PydanticCustomError("influx", "Invalid InfluxDB v3 config: database and token are required.")
        return self

    @property
    def v1(self) -> InfluxV1:
        if self.v1Config is not None:
            return self.v1Config
        return InfluxV1(auth=self.auth, dbName=self.dbName, retentionPolicy=self.retentionPolicy)


class UptimeStoreInInfluxdb(Section):
    enable: bool = False


class UptimeMonitorConfig(Section):
    enable: bool = False
    # later.js text or cron, checked when the config loads (docs/monitoring.md).
    frequency: Frequency = "every 15 minutes"
    logLevel: str = "verbose"
    storeInInfluxdb: UptimeStoreInInfluxdb = UptimeStoreInInfluxdb()
    storeNewRelic: UptimeStoreNewRelic = UptimeStoreNewRelic()
