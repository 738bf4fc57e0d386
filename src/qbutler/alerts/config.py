"""Config sections of the task-event and alert area, with Butler's key names.

Butler's production template loads unchanged: every key has a default, keys qbutler does not use
(service monitor, QS Cloud, InfluxDB metrics) are kept by `Section` and reported once. Keys that
are qbutler's own are marked `qbutler:` in a comment.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from qbutler.config_types import LowerCase, NullableList, Port, Section, Switch

MessageType = Annotated[Literal["basic", "formatted"], LowerCase]
HttpMethod = Annotated[Literal["GET", "POST", "PUT"], BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)]


# ----------------------------------------------------------------------------- links


class QlikSenseUrls(Section):
    qmc: str = ""
    hub: str = ""
    appBaseUrl: str = ""


class GenericUrl(Section):
    id: str = ""
    linkText: str = ""
    comment: str = ""
    url: str = ""


class ScriptLogToDisk(Section):
    enable: bool = False
    logDirectory: str = ""
    # qbutler: files older than this many days are removed (checked at start and hourly); 0 keeps them.
    retentionDays: float = Field(0, ge=0)
    # qbutler: a longer log keeps its last lines up to this size, below a line saying so; 0: no cap.
    maxFileSizeMB: float = Field(100, ge=0)

    @model_validator(mode="after")
    def _needs_a_folder(self) -> ScriptLogToDisk:
        if self.enable and not self.logDirectory.strip():
            raise PydanticCustomError("required", "logDirectory is required when enable is true")
        return self


class ScriptLogClientManaged(Section):
    reloadTaskFailure: ScriptLogToDisk = ScriptLogToDisk()


class ScriptLogStoreOnDisk(Section):
    clientManaged: ScriptLogClientManaged = ScriptLogClientManaged()


class ScriptLogConfig(Section):
    storeOnDisk: ScriptLogStoreOnDisk = ScriptLogStoreOnDisk()
    # qbutler: script-log download attempts and the pause between them (Butler: 3 x 2 s).
    retries: int = Field(3, ge=1)
    retryDelaySeconds: float = Field(2.0, ge=0)


# ----------------------------------------------------------------------------- UDP


class UdpMessageQueue(Section):
    maxConcurrent: int = Field(10, ge=1)
    maxSize: int = Field(200, ge=1)
    backpressureThreshold: int = Field(80, ge=1, le=100)


class UdpRateLimit(Section):
    enable: bool = False
    maxMessagesPerMinute: int = Field(600, ge=1)


class UdpDeduplication(Section):
    enable: bool = True
    ttlMinutes: float = Field(10, gt=0)


class EngineReloadFailure(Section):
    """qbutler: alert on `/engine-reload-failed/` datagrams (reloads outside the scheduler); Butler logs them."""

    enable: bool = False


class DistributeWait(Section):
    """qbutler names for Butler's distribution queue: status checks of a still-running distribution."""

    pollSeconds: float = Field(30, gt=0)
    maxWaitHours: float = Field(6, gt=0)


class UdpServerConfig(Section):
    enable: bool = False
    serverHost: str = "localhost"
    portTaskFailure: Port = 9998
    maxMessageSize: int = Field(65507, ge=1, le=65535)
    enableSourceValidation: bool = False
    allowedSources: Annotated[list[str], NullableList] = Field(default_factory=list)
    messageQueue: UdpMessageQueue = UdpMessageQueue()
    rateLimit: UdpRateLimit = UdpRateLimit()
    deduplication: UdpDeduplication = UdpDeduplication()
    engineReloadFailure: EngineReloadFailure = EngineReloadFailure()
    distributeWait: DistributeWait = DistributeWait()


# ----------------------------------------------------------------------------- routing shared by channels


class AlertEnableByCustomProperty(Section):
    enable: bool = False
    customPropertyName: str = ""
    enabledValue: str = ""


class AlertByEmailAddress(Section):
    customPropertyName: str = ""


class OwnerRef(Section):
    directory: str = ""
    userId: str = ""


class IncludeOwner(Section):
    includeAll: bool = True
    user: Annotated[list[OwnerRef], NullableList] = Field(default_factory=list)


class ExcludeOwner(Section):
    user: Annotated[list[OwnerRef], NullableList] = Field(default_factory=list)


class AppOwnerAlert(Section):
    enable: bool = False
    includeOwner: IncludeOwner = IncludeOwner()
    excludeOwner: ExcludeOwner = ExcludeOwner()


# ----------------------------------------------------------------------------- Slack and Teams


class ChatEvent(Section):
    """`reloadTaskFailure` / `reloadTaskAborted` of Slack and Teams."""

    enable: bool = False
    webhookURL: str = ""
    messageType: MessageType = "formatted"
    basicMsgTemplate: str = 'Qlik Sense reload failed: "{{taskName}}"'
    rateLimit: float = Field(300, ge=0)
    headScriptLogLines: int = Field(10, ge=0)
    tailScriptLogLines: int = Field(10, ge=0)
    # Empty: qbutler's own default template for the channel and event.
    templateFile: str = ""
    # qbutler: alert only for tasks with this custom property value (Butler alerts on every task).
    alertEnableByCustomProperty: AlertEnableByCustomProperty = AlertEnableByCustomProperty()


class SlackMention(Section):
    """qbutler: people an alert mentions: `@owner` (the app owner, found by email), email
    addresses, `@name`s or Slack member ids; the values of a task custom property add more."""

    users: Annotated[list[str], NullableList] = Field(default_factory=list)
    customPropertyName: str = ""


class SlackEvent(ChatEvent):
    channel: str = ""
    fromUser: str = "Qlik Sense"
    iconEmoji: str = ":ghost:"
    mention: SlackMention = SlackMention()


def _bot_token(value: str) -> str:
    # Pasted tokens often bring a line break along.
    value = value.strip()
    if value and not value.startswith("xox"):
        raise PydanticCustomError("slack_token", "expected a Slack token (xoxb-…), or empty for none")
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise PydanticCustomError("http_url", "expected an http:// or https:// URL")
    return value


class ServiceChatEvent(Section):
    """`serviceStopped` / `serviceStarted` of Slack and Teams (service monitor alerts)."""

    webhookURL: str = ""
    messageType: MessageType = "formatted"
    basicMsgTemplate: str = 'Windows service stopped: "{{serviceName}}" on host "{{host}}"'
    rateLimit: float = Field(300, ge=0)
    # Empty: qbutler's own default template for the channel and event.
    templateFile: str = ""


class SlackServiceEvent(ServiceChatEvent):
    channel: str = ""
    fromUser: str = "Qlik Sense"
    iconEmoji: str = ":ghost:"


# The "started" sections differ from the "stopped" ones only in their default wording, which must
# hold also when the section is present without that key.
_STARTED = 'Windows service started: "{{serviceName}}" on host "{{host}}"'


class ServiceStartedChatEvent(ServiceChatEvent):
    basicMsgTemplate: str = _STARTED


class SlackServiceStartedEvent(SlackServiceEvent):
    basicMsgTemplate: str = _STARTED


class SlackRestMessage(Section):
    webhookURL: str = ""
    # qbutler: `plain` (Butler's plain_text block) or `mrkdwn` (links, formatting, mentions); a
    # request's own `format` wins.
    format: Annotated[Literal["plain", "mrkdwn"], LowerCase] = "plain"
    # qbutler: with a bot token, messages go through Slack's Web API (chat.postMessage) to any
    # channel or person, and alerts can mention people; without one, the webhook as in Butler.
    botToken: Annotated[str, AfterValidator(_bot_token)] = ""
    apiUrl: Annotated[str, AfterValidator(_http_url)] = "https://slack.com/api"
    # qbutler: longest total Retry-After wait inside one request before answering 429.
    maxWaitSeconds: float = Field(10.0, ge=0)


class SlackNotification(Section):
    enable: bool = False
    restMessage: SlackRestMessage = SlackRestMessage()
    reloadTaskFailure: SlackEvent = SlackEvent()
    reloadTaskAborted: SlackEvent = SlackEvent(basicMsgTemplate='Qlik Sense reload aborted: "{{taskName}}"')
    serviceStopped: SlackServiceEvent = SlackServiceEvent()
    serviceStarted: SlackServiceStartedEvent = SlackServiceStartedEvent()


class TeamsNotification(Section):
    enable: bool = False
    reloadTaskFailure: ChatEvent = ChatEvent()
    reloadTaskAborted: ChatEvent = ChatEvent(basicMsgTemplate='Qlik Sense reload aborted: "{{taskName}}"')
    serviceStopped: ServiceChatEvent = ServiceChatEvent()
    serviceStarted: ServiceStartedChatEvent = ServiceStartedChatEvent()


# ----------------------------------------------------------------------------- email


Priority = Annotated[Literal["high", "normal", "low"], LowerCase]


class MailSettings(Section):
    """What every kind of alert mail has: its limit, priority, subject, body template, sender and
    recipients."""

    rateLimit: float = Field(300, ge=0)
    priority: Priority = "normal"
    # Empty: `Qlik Sense reload failed: "{{taskName}}"`, `Qlik Sense preload task success: ...`, by event.
    subject: str = ""
    # Empty directory or file name: qbutler's own default template for the event.
    bodyFileDirectory: str = ""
    htmlTemplateFile: str = ""
    fromAddress: str = "qbutler <noreply@localhost>"
    recipients: Annotated[list[str], NullableList] = Field(default_factory=list)


class EmailEvent(MailSettings):
    """`reloadTaskFailure` / `reloadTaskAborted` / `reloadTaskSuccess` mails."""

    enable: bool = False
    appOwnerAlert: AppOwnerAlert = AppOwnerAlert()
    alertEnableByCustomProperty: AlertEnableByCustomProperty = AlertEnableByCustomProperty()
    alertEnabledByEmailAddress: AlertByEmailAddress = AlertByEmailAddress()
    headScriptLogLines: int = Field(15, ge=0)
    tailScriptLogLines: int = Field(15, ge=0)


class EmailServiceEvent(MailSettings):
    """`serviceStopped` / `serviceStarted` mails (service monitor alerts)."""

    priority: Priority = "high"
    subject: str = 'Windows service stopped on host {{host}}: "{{serviceDisplayName}}"'


class EmailServiceStartedEvent(EmailServiceEvent):
    subject: str = 'Windows service started on host {{host}}: "{{serviceDisplayName}}"'


class SmtpTls(Section):
    serverName: str | None = None
    ignoreTLS: bool = False
    requireTLS: bool = False
    rejectUnauthorized: bool = True


class SmtpAuth(Section):
    enable: bool = False
    user: str = ""
    password: str = ""


class SmtpConfig(Section):
    host: str = "localhost"
    port: Port = 25
    # true: TLS from the first byte (port 465); false: STARTTLS when offered (or required).
    secure: bool = False
    tls: SmtpTls = SmtpTls()
    auth: SmtpAuth = SmtpAuth()


class EmailNotification(Section):
    enable: bool = False
    reloadTaskSuccess: EmailEvent = EmailEvent()
    reloadTaskAborted: EmailEvent = EmailEvent()
    reloadTaskFailure: EmailEvent = EmailEvent()
    serviceStopped: EmailServiceEvent = EmailServiceEvent()
    serviceStarted: EmailServiceStartedEvent = EmailServiceStartedEvent()
    distributeTaskSuccess: EmailEvent = EmailEvent()
    distributeTaskFailure: EmailEvent = EmailEvent()
    preloadTaskSuccess: EmailEvent = EmailEvent()
    preloadTaskFailure: EmailEvent = EmailEvent()
    # qbutler: Butler sends external program and user sync results to InfluxDB only.
    externalProgramTaskSuccess: EmailEvent = EmailEvent()
    externalProgramTaskFailure: EmailEvent = EmailEvent()
    userSyncTaskSuccess: EmailEvent = EmailEvent()
    userSyncTaskFailure: EmailEvent = EmailEvent()
    smtp: SmtpConfig = SmtpConfig()


# ----------------------------------------------------------------------------- webhooks


class WebhookCert(Section):
    enable: bool = False
    rejectUnauthorized: bool = True
    certCA: str = ""


class Webhook(Section):
    description: str = ""
    webhookURL: str
    httpMethod: HttpMethod = "POST"
    cert: WebhookCert = WebhookCert()
    # qbutler: when set, POST/PUT bodies are signed: header `X-Qbutler-Signature:
    # t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (GET requests are not signed).
    secret: str = ""
    signatureHeader: str = "X-Qbutler-Signature"


class WebhookEvent(Section):
    rateLimit: float = Field(300, ge=0)
    webhooks: Annotated[list[Webhook], NullableList] = Field(default_factory=list)
    # qbutler: alert only for tasks with this custom property value (Butler calls on every task).
    alertEnableByCustomProperty: AlertEnableByCustomProperty = AlertEnableByCustomProperty()


class WebhookNotification(Section):
    enable: bool = False
    reloadTaskFailure: WebhookEvent = WebhookEvent()
    reloadTaskAborted: WebhookEvent = WebhookEvent()
    serviceMonitor: WebhookEvent = WebhookEvent()
    qlikSenseServerLicenseMonitor: WebhookEvent = WebhookEvent()
    qlikSenseServerLicenseExpiryAlert: WebhookEvent = WebhookEvent()
    # qbutler: called with the report of each license release run.
    qlikSenseLicenseRelease: WebhookEvent = WebhookEvent()
    # qbutler: called when the Sense version changes.
    qlikSenseVersionChange: WebhookEvent = WebhookEvent()


# ----------------------------------------------------------------------------- New Relic and Signl4


def _text(value: object) -> object:
    # Account ids are often written as bare numbers in YAML.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Text = Annotated[str, BeforeValidator(_text)]


class NameValue(Section):
    name: Text = ""
    value: Text = ""


class StaticAttributes(Section):
    static: Annotated[list[NameValue], NullableList] = Field(default_factory=list)


class TagAttributes(Section):
    useAppTags: bool = True
    useTaskTags: bool = True


class NewRelicAttributes(StaticAttributes):
    dynamic: TagAttributes = TagAttributes()


class AccountsByCustomProperty(Section):
    # Butler checks only that this key exists: the custom property is always read.
    enable: bool = False
    customPropertyName: str = ""


class AlwaysAccounts(Section):
    enable: bool = False
    account: Annotated[list[Text], NullableList] = Field(default_factory=list)


class SendToAccount(Section):
    byCustomProperty: AccountsByCustomProperty = AccountsByCustomProperty()
    always: AlwaysAccounts = AlwaysAccounts()


class NewRelicDestination(Section):
    enable: bool = False
    sendToAccount: SendToAccount = SendToAccount()
    attribute: NewRelicAttributes = NewRelicAttributes()
    tailScriptLogLines: int = Field(20, ge=0)


class NewRelicDestinations(Section):
    event: NewRelicDestination = NewRelicDestination()
    log: NewRelicDestination = NewRelicDestination()


class NewRelicShared(Section):
    rateLimit: float = Field(300, ge=0)
    header: Annotated[list[NameValue], NullableList] = Field(default_factory=list)
    attribute: StaticAttributes = StaticAttributes()


class NewRelicEvent(Section):
    destination: NewRelicDestinations = NewRelicDestinations()
    sharedSettings: NewRelicShared = NewRelicShared()


class NewRelicUrls(Section):
    event: str = "https://insights-collector.eu01.nr-data.net"
    log: str = "https://log-api.eu.newrelic.com/log/v1"


class LegacyAccounts(Section):
    event: Annotated[list[Text], NullableList] = Field(default_factory=list)
    log: Annotated[list[Text], NullableList] = Field(default_factory=list)


class ServiceAttributes(Section):
    """Which facts of the service become `butler_*` attributes (`serviceState`: `butler_serviceStatus`)."""

    serviceHost: bool = True
    serviceName: bool = True
    serviceDisplayName: bool = True
    serviceState: bool = True


class NewRelicServiceAttributes(StaticAttributes):
    dynamic: ServiceAttributes = ServiceAttributes()


class NewRelicServiceDestination(Section):
    # Butler only checks that this key exists and always sends both; qbutler honours it
    # (docs/compatibility.md).
    enable: bool = False
    sendToAccount: Annotated[list[Text], NullableList] = Field(default_factory=list)
    attribute: NewRelicServiceAttributes = NewRelicServiceAttributes()


class NewRelicServiceDestinations(Section):
    event: NewRelicServiceDestination = NewRelicServiceDestination()
    log: NewRelicServiceDestination = NewRelicServiceDestination()


class ServiceStates(Section):
    running: Switch = Switch()
    stopped: Switch = Switch()


class NewRelicServiceMonitor(Section):
    """`incidentTool.newRelic.serviceMonitor`: service state changes as events and log entries."""

    destination: NewRelicServiceDestinations = NewRelicServiceDestinations()
    monitorServiceState: ServiceStates = ServiceStates()
    sharedSettings: NewRelicShared = NewRelicShared()


class NewRelicIncidents(Section):
    enable: bool = False
    destinationAccount: LegacyAccounts = LegacyAccounts()
    url: NewRelicUrls = NewRelicUrls()
    reloadTaskFailure: NewRelicEvent = NewRelicEvent()
    reloadTaskAborted: NewRelicEvent = NewRelicEvent()
    # Not gated by `enable` above (as in Butler): by serviceMonitor.alertDestination.newRelic.
    serviceMonitor: NewRelicServiceMonitor = NewRelicServiceMonitor()


class Signl4Event(Section):
    enable: bool = False
    rateLimit: float = Field(300, ge=0)
    serviceName: str = "Default service name"
    severity: int = 99
    # `includeApp` is accepted and, as in Butler, not used.


class Signl4Incidents(Section):
    enable: bool = False
    url: str = ""
    reloadTaskFailure: Signl4Event = Signl4Event()
    reloadTaskAborted: Signl4Event = Signl4Event()

    @model_validator(mode="after")
    def _needs_a_url(self) -> Signl4Incidents:
        events_on = self.reloadTaskFailure.enable or self.reloadTaskAborted.enable
        if self.enable and events_on and not self.url.startswith(("https://", "http://")):
            raise PydanticCustomError("url", "url must be the team's http(s) webhook when Signl4 is enabled")
        return self


class IncidentTool(Section):
    signl4: Signl4Incidents = Signl4Incidents()
    newRelic: NewRelicIncidents = NewRelicIncidents()


class NewRelicAccount(Section):
    accountName: Text = ""
    insertApiKey: Text = ""
    accountId: Text = ""


class ThirdPartyToolsCredentials(Section):
    newRelic: Annotated[list[NewRelicAccount], NullableList] = Field(default_factory=list)


class NewRelicPost(Section):
    """`restServerEndpointsConfig.newRelic.postNewRelicEvent` / `postNewRelicMetric`."""

    destinationAccount: Annotated[list[Text], NullableList] = Field(default_factory=list)
    url: str = ""
    header: Annotated[list[NameValue], NullableList] = Field(default_factory=list)
    attribute: StaticAttributes = StaticAttributes()


class NewRelicPosts(Section):
    postNewRelicEvent: NewRelicPost = NewRelicPost(url="https://insights-collector.eu01.nr-data.net")
    postNewRelicMetric: NewRelicPost = NewRelicPost(url="https://insights-collector.eu01.nr-data.net/metric/v1")


class UptimeMetricSwitches(Section):
    butlerMemoryUsage: Switch = Switch()
    butlerUptime: Switch = Switch()


class UptimeMetrics(Section):
    dynamic: UptimeMetricSwitches = UptimeMetricSwitches()


class UptimeDynamicAttributes(Section):
    butlerVersion: Switch = Switch()


class UptimeAttributes(StaticAttributes):
    dynamic: UptimeDynamicAttributes = UptimeDynamicAttributes()


class UptimeStoreNewRelic(Section):
    """`uptimeMonitor.storeNewRelic`: qbutler's memory and uptime as New Relic gauges at each tick."""

    enable: bool = False
    destinationAccount: Annotated[list[Text], NullableList] = Field(default_factory=list)
    url: str = "https://insights-collector.eu01.nr-data.net/metric/v1"
    header: Annotated[list[NameValue], NullableList] = Field(default_factory=list)
    metric: UptimeMetrics = UptimeMetrics()
    attribute: UptimeAttributes = UptimeAttributes()

    @model_validator(mode="after")
    def _needs_a_url(self) -> UptimeStoreNewRelic:
        if self.enable and not self.url.startswith(("https://", "http://")):
            raise PydanticCustomError("url", "url must be New Relic's http(s) Metric API address when enable is true")
        return self


class RestEndpointsConfig(Section):
    newRelic: NewRelicPosts = NewRelicPosts()


# ----------------------------------------------------------------------------- delivery


class AlertDelivery(Section):
    """qbutler: how alerts are delivered (`Butler.alertDelivery`; Butler sends once, no retry)."""

    # Attempts per message before it is given up (logged as an error).
    maxAttempts: int = Field(8, ge=1)
    # First retry delay; doubles per attempt up to the cap, each with +-50% jitter. A Retry-After
    # answer sets the delay instead (capped at maxRetryAfterSeconds).
    initialBackoffSeconds: float = Field(1.0, gt=0)
    maxBackoffSeconds: float = Field(60.0, gt=0)
    maxRetryAfterSeconds: float = Field(600.0, gt=0)
    # Per-request timeout for webhook-style channels and SMTP.
    timeoutSeconds: float = Field(10.0, gt=0)
    # Messages sent at the same time, over all channels.
    concurrency: int = Field(20, ge=1)
