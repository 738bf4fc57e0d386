"""The config page of a qbutler started from Butler's full production template, with a distinct
secret in every place a secret can be: none of them reaches the browser."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from qbutler.config import parse_config
from qbutler.service import Service
from support.browser import LoopThread, screenshot

TEMPLATE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "butler-production-template.yaml"
pytestmark = pytest.mark.skipif(not TEMPLATE.exists(), reason=f"{TEMPLATE} (../shared) is not here")

# Every secret of a Butler config (butler-subsystems.md §8.3) and of qbutler's own keys.
# "[0]" is the first item of a list (created when the template has none).
SECRET_PATHS = [
    "emailNotification.smtp.auth.password", "emailNotification.smtp.auth.user",
    "influxDb.v1Config.auth.password", "influxDb.v2Config.token", "influxDb.v3Config.token",
    "mqttConfig.qlikSenseCloud.event.mqttForward.broker.password", "mqttConfig.password",
    "qlikSenseCloud.event.mqtt.tenant.auth.jwt.token", "heartbeat.remoteURL",
    "slackNotification.restMessage.webhookURL", "slackNotification.reloadTaskFailure.webhookURL",
    "slackNotification.reloadTaskAborted.webhookURL", "slackNotification.serviceStopped.webhookURL",
    "teamsNotification.reloadTaskFailure.webhookURL", "teamsNotification.serviceStarted.webhookURL",
    "qlikSenseCloud.event.mqtt.tenant.alert.teamsNotification.reloadAppFailure.webhookURL",
    "qlikSenseCloud.event.mqtt.tenant.alert.slackNotification.reloadAppFailure.webhookURL",
    "webhookNotification.reloadTaskFailure.webhooks.[0].webhookURL",
    "webhookNotification.reloadTaskFailure.webhooks.[0].secret",
    "incidentTool.signl4.url", "thirdPartyToolsCredentials.newRelic.[0].insertApiKey",
    "restServerConfig.tls.key", "restServerConfig.tls.cert", "keyValueStore.redis.url",
]


def put(node: dict[str, Any], dotted: str, value: str) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        if part == "[0]":
            continue
        following = parts[parts.index(part) + 1]
        default: Any = [{}] if following == "[0]" else {}
        if not isinstance(node.get(part), (dict, list)) or node.get(part) in ([], None):
            node[part] = default
        node = node[part][0] if isinstance(node[part], list) else node[part]
    node[parts[-1]] = value


def switch_off(node: Any) -> None:
    """Every `enable` false: nothing to connect to, the config stays complete."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "enable" and isinstance(value, bool):
                node[key] = False
            else:
                switch_off(value)
    elif isinstance(node, list):
        for value in node:
            switch_off(value)


@pytest.fixture(scope="module")
def full_config_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    config = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    switch_off(config)
    butler = config["Butler"]
    planted: dict[str, str] = {}
    for path in SECRET_PATHS:
        marker = f"s3cr3t{secrets.token_hex(12)}"
        value = f"redis://qbutler:{marker}@redis.local:6379/0" if path.endswith("redis.url") else (
            f"https://hooks.example/{marker}" if path.lower().endswith("url") else marker)
        put(butler, path, value)
        planted[path] = marker
    butler["restServerConfig"].update({"enable": True, "serverHost": "127.0.0.1", "serverPort": 0})
    # The template's placeholders are refused at start-up (`qbutler config check`).
    butler["cert"] = {"clientCert": "/certs/client.pem", "clientCertKey": "/certs/client_key.pem",
                      "clientCertCA": "/certs/root.pem"}
    butler["configDirectories"]["qvdPath"] = "/data/qvd"
    thread = LoopThread()
    service = Service(parse_config(copy.deepcopy(config), tmp_path_factory.mktemp("full-config")))
    thread.run(service.start())
    try:
        assert service.http is not None
        yield f"http://127.0.0.1:{service.http.port}", planted
    finally:
        thread.run(service.stop())
        thread.close()


def test_no_secret_of_a_full_butler_config_reaches_the_page(page, full_config_site):
    url, planted = full_config_site
    page.goto(f"{url}/ui/config")
    html = page.content()
    shown = page.locator("pre.config").inner_text()
    assert "emailNotification:" in shown and "influxDb:" in shown and "qlikSenseCloud:" in shown
    leaked = [path for path, marker in planted.items() if marker in html]
    assert leaked == []
    # Butler's own rules keep their visible shape: the first 10 characters of a Slack URL.
    assert "https://ho**********" in shown
    assert "password: '**********'" in shown
    screenshot(page, "config-full-butler")
