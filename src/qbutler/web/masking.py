"""The effective config with its secrets masked, for the config page.

Butler's `configVisualisation` rules come first, with Butler's output ("keep n characters, then ten
asterisks"), so a masked value looks the same in both tools. Butler leaves some secrets readable
(the Signl4 URL with its team secret, MQTT and Redis passwords, anything qbutler added); qbutler
also masks every value whose key names a secret, every URL outside the Qlik Sense links, and the
password in any URL (docs/compatibility.md lists the difference).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

STARS = "*" * 10

Rule = Callable[[Any], Any]


def keep(n: int) -> Rule:
    return lambda value: str(value)[:n] + STARS


def keep_if_text(n: int) -> Rule:
    return lambda value: str(value)[:n] + STARS if isinstance(value, str) and value else value


def stars_if_text(value: Any) -> Any:
    return STARS if isinstance(value, str) and value else value


def stars(value: Any) -> Any:
    return STARS


def _tls_file(value: Any) -> Any:
    # Butler: an empty path stays, null becomes asterisks.
    return STARS if value is None or (isinstance(value, str) and value) else value


_CLOUD = "qlikSenseCloud.event"
_FORWARD = "mqttConfig.qlikSenseCloud.event.mqttForward.broker"
_TENANT_ALERT = "qlikSenseCloud.event.mqtt.tenant.alert"
# Butler's table (butler-monitoring.md §5.4). `*` is any key, `[]` any list item.
BUTLER_RULES: list[tuple[str, Rule]] = [
    *[(path, keep(3)) for path in (
        "configVisualisation.host", "qlikSenseVersion.versionMonitor.host", "emailNotification.smtp.host",
        "emailNotification.smtp.auth.user", "mqttConfig.brokerHost", "mqttConfig.azureEventGrid.clientId",
        f"{_FORWARD}.host", f"{_FORWARD}.username", "udpServerConfig.serverHost",
        "restServerConfig.serverHost", "serviceMonitor.monitor.[].host", f"{_CLOUD}.mqtt.tenant.id",
        "configEngine.host", "configQRS.host")],
    *[(path, keep(10)) for path in (
        "heartbeat.remoteURL", "teamsNotification.*.webhookURL", "slackNotification.*.webhookURL",
        "webhookNotification.*.webhooks.[].webhookURL", f"{_CLOUD}.mqtt.tenant.tenantUrl",
        f"{_CLOUD}.mqtt.tenant.qlikSenseUrls.qmc", f"{_CLOUD}.mqtt.tenant.qlikSenseUrls.hub",
        f"{_TENANT_ALERT}.teamsNotification.reloadAppFailure.webhookURL",
        f"{_TENANT_ALERT}.slackNotification.reloadAppFailure.webhookURL")],
    *[(path, keep(5)) for path in (
        f"{_TENANT_ALERT}.emailNotification.reloadAppFailure.fromAddress",
        f"{_TENANT_ALERT}.emailNotification.reloadAppFailure.recipients.[]")],
    *[(f"{_TENANT_ALERT}.emailNotification.reloadAppFailure.appOwnerAlert.{which}.user.[].{field}", stars)
      for which in ("includeOwner", "excludeOwner") for field in ("directory", "userId")],
    ("thirdPartyToolsCredentials.newRelic.[].insertApiKey", keep(5)),
    ("thirdPartyToolsCredentials.newRelic.[].accountId", keep(3)),
    (f"{_CLOUD}.mqtt.tenant.auth.jwt.token", keep(5)),
    *[(path, keep_if_text(3)) for path in (
        "influxDb.hostIP", "influxDb.auth.username", "influxDb.v1Config.auth.username")],
    *[(path, stars_if_text) for path in (
        "influxDb.auth.password", "influxDb.v1Config.auth.password", "influxDb.v2Config.token",
        "influxDb.v3Config.token")],
    *[(f"restServerConfig.tls.{name}", _tls_file) for name in ("cert", "key", "ca")],
    ("emailNotification.smtp.auth.password", stars),
    (f"{_FORWARD}.password", stars),
]

# qbutler's additions, applied to every value no Butler rule covered.
SECRET_NAME = re.compile(r"(password|passwd|passphrase|secret|token|apikey|api_key|privatekey|hash|salt|"
                         r"credential|licen[cs]ekey|jwt)$", re.IGNORECASE)
URL_NAME = re.compile(r"url$", re.IGNORECASE)
# Links shown to alert readers, not credentials.
PUBLIC_URL_SECTIONS = ("qlikSenseUrls", "genericUrls")


def _matches(pattern: list[str], path: tuple[str, ...]) -> bool:
    return len(pattern) == len(path) and all(p in ("*", actual) for p, actual in zip(pattern, path, strict=True))


_COMPILED = [(rule_path.split("."), rule) for rule_path, rule in BUTLER_RULES]


def _without_password(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return STARS
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{STARS}@{host}{port}"))


def _extra_rule(path: tuple[str, ...], value: Any) -> Any:
    name = path[-1] if path[-1] != "[]" else (path[-2] if len(path) > 1 else "")
    if SECRET_NAME.search(name):
        return stars_if_text(value) if value is not None else value
    if isinstance(value, str) and value and URL_NAME.search(name):
        if path[0] in PUBLIC_URL_SECTIONS:
            return value
        masked = _without_password(value)
        # A URL is itself the secret for webhooks (Slack, Teams, Signl4 …); a server URL with a
        # password in it keeps everything else.
        return masked if masked != value else keep(10)(value)
    return value


def mask_config(butler: dict[str, Any]) -> dict[str, Any]:
    """A masked deep copy of the `Butler` section (the live config is never touched)."""
    copied = copy.deepcopy(butler)

    def walk(node: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            return {key: walk(value, (*path, str(key))) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, (*path, "[]")) for item in node]
        for pattern, rule in _COMPILED:
            if _matches(pattern, path):
                return rule(node)
        return _extra_rule(path, node) if path else node

    return walk(copied, ())
