"""Config sections of the site watch, with Butler's key names (`Butler.serviceMonitor`,
`qlikSenseLicense`, `qlikSenseVersion`, `heartbeat`, `uptimeMonitor`, `dockerHealthCheck`).

Every `frequency` is checked when the config loads (`Frequency`): a text later.js cannot parse
stops start-up with a message naming the key, where Butler would silently never fire.
Keys that are qbutler's own are marked `qbutler:` in a comment.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from qbutler.config_types import LowerCase, NullableList, Port, Section, StaticNameValues, Switch
from qbutler.scheduler.later import ScheduleTextError, parse_frequency


def _frequency(value: Any) -> Any:
    try:
        parse_frequency(value)
    except ScheduleTextError as exc:
        raise PydanticCustomError("frequency", "{problem}", {"problem": str(exc)}) from None
    return value


Frequency = Annotated[str, BeforeValidator(_frequency)]
YesNoIgnore = Annotated[Literal["ignore", "yes", "no"], LowerCase]
# Qlik's ServiceStatus service types, by the names QRS documents.
ServiceType = Literal["Repository", "Proxy", "Scheduler", "Engine", "AppMigration", "Printing"]


class OffSwitch(Section):
    enable: bool = False


class InfluxDestination(Section):
    """`destination.influxDb` of the version and license monitors: a switch and static tags
    (written after the global `Butler.influxDb.tag.static`)."""

    enable: bool = False
    tag: StaticNameValues = StaticNameValues()


# ----------------------------------------------------------------------------- services


class WindowsService(Section):
    name: str
    friendlyName: str = ""


class ServiceHost(Section):
    host: str
    services: Annotated[list[WindowsService], NullableList] = Field(default_factory=list)


class QrsServiceWatch(Section):
    """qbutler: the services Sense's repository reports for every node (QRS ServiceStatus)."""

    enable: bool = True
    services: Annotated[list[ServiceType], NullableList] = Field(
        default_factory=lambda: ["Repository", "Proxy", "Scheduler", "Engine", "Printing"])


class ServiceAlertDestinations(Section):
    influxDb: Switch = Switch()
    newRelic: Switch = Switch()
    email: Switch = Switch()
    mqtt: Switch = Switch()
    teams: Switch = Switch()
    slack: Switch = Switch()
    webhook: Switch = Switch()


class ServiceMonitor(Section):
    enable: bool = False
    frequency: Frequency = "every 30 seconds"
    # Windows services by host (Butler's monitor; polled with sc.exe, on Windows only).
    monitor: Annotated[list[ServiceHost], NullableList] = Field(default_factory=list)
    qrs: QrsServiceWatch = QrsServiceWatch()
    alertDestination: ServiceAlertDestinations = ServiceAlertDestinations()
    # qbutler: publish every service's state on serviceStatusTopic at every poll (Butler does);
    # false publishes it on changes only.
    mqttStatusEveryPoll: bool = True


# ----------------------------------------------------------------------------- version


class ReportDestination(Section):
    """Where a version change or a release run goes: InfluxDB as in Butler; MQTT and webhooks are
    qbutler's (Butler only logs them)."""

    influxDb: InfluxDestination = InfluxDestination()
    mqtt: OffSwitch = OffSwitch()
    webhook: OffSwitch = OffSwitch()


class VersionMonitor(Section):
    enable: bool = False
    frequency: Frequency = "every 24 hours"
    # The Sense node whose https://<host>:<port>/v1/systeminfo is read (with the QRS client
    # certificate); empty means configQRS.host.
    host: str = ""
    rejectUnauthorized: bool = False
    # qbutler: Butler always uses 9032.
    port: Port = 9032
    destination: ReportDestination = ReportDestination()


class QlikSenseVersion(Section):
    versionMonitor: VersionMonitor = VersionMonitor()


# ----------------------------------------------------------------------------- licenses


class LicenseThreshold(Section):
    thresholdDays: int = Field(60, ge=0)


class SendWhat(Section):
    enable: bool = False
    sendRecurring: Switch = Switch()
    sendAlert: Switch = Switch()


class ServerLicenseDestination(Section):
    influxDb: InfluxDestination = InfluxDestination()
    mqtt: SendWhat = SendWhat()
    webhook: SendWhat = SendWhat()


class ServerLicenseMonitor(Section):
    enable: bool = False
    frequency: Frequency = "every 24 hours"
    alert: LicenseThreshold = LicenseThreshold()
    destination: ServerLicenseDestination = ServerLicenseDestination()


class LicenseMonitorDestination(Section):
    influxDb: InfluxDestination = InfluxDestination()


class LicenseMonitor(Section):
    enable: bool = False
    frequency: Frequency = "every 6 hours"
    destination: LicenseMonitorDestination = LicenseMonitorDestination()


class NeverReleaseUser(Section):
    userDir: str
    userId: str


class NeverReleaseProperty(Section):
    name: str
    value: str = ""


class NeverRelease(Section):
    user: Annotated[list[NeverReleaseUser], NullableList] = Field(default_factory=list)
    tag: Annotated[list[str], NullableList] = Field(default_factory=list)
    customProperty: Annotated[list[NeverReleaseProperty], NullableList] = Field(default_factory=list)
    userDirectory: Annotated[list[str], NullableList] = Field(default_factory=list)
    inactive: YesNoIgnore = "ignore"
    blocked: YesNoIgnore = "ignore"
    removedExternally: YesNoIgnore = "ignore"


class LicenseTypeRelease(Section):
    enable: bool = False
    releaseThresholdDays: int = Field(30, ge=0)


class LicenseTypes(Section):
    analyzer: LicenseTypeRelease = LicenseTypeRelease()
    professional: LicenseTypeRelease = LicenseTypeRelease()


class LicenseRelease(Section):
    enable: bool = False
    # Safe by default: evaluate and report only.
    dryRun: bool = True
    frequency: Frequency = "every 24 hours"
    neverRelease: NeverRelease = NeverRelease()
    licenseType: LicenseTypes = LicenseTypes()
    destination: ReportDestination = ReportDestination()


class QlikSenseLicense(Section):
    serverLicenseMonitor: ServerLicenseMonitor = ServerLicenseMonitor()
    licenseMonitor: LicenseMonitor = LicenseMonitor()
    licenseRelease: LicenseRelease = LicenseRelease()


# ----------------------------------------------------------------------------- qbutler itself


class Heartbeat(Section):
    enable: bool = False
    remoteURL: str = ""
    frequency: Frequency = "every 30 seconds"
    # qbutler: per-call timeout (Butler has none, so a hanging receiver stalls its heartbeat).
    timeoutSeconds: float = Field(10.0, gt=0)


class DockerHealthCheck(Section):
    enable: bool = False
    port: Port = 12398
    # qbutler: Butler binds to localhost, as here; 0.0.0.0 lets a probe outside the container in.
    host: str = "localhost"


class Readiness(Section):
    """qbutler: when GET /health/ready answers 503 (`Butler.qbutler.readiness`)."""

    # The alert outbox is unhealthy when its oldest message has waited longer than this.
    maxOutboxAgeSeconds: float = Field(300.0, gt=0)
    # A monitor is unhealthy when its last success is older than this many of its own intervals.
    monitorStaleIntervals: float = Field(3.0, gt=1)
