"""The alert sections of Butler's production template load unchanged, and bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qbutler.config import ConfigError, parse_config


def test_butlers_production_template_loads_unchanged(butler_template: str, tmp_path: Path):
    # Only the template's placeholders are filled in (qbutler refuses them); nothing else changes.
    data = yaml.safe_load(butler_template)
    butler = parse_config(data, tmp_path).Butler
    assert butler.udpServerConfig.portTaskFailure == 9998 and butler.udpServerConfig.messageQueue.maxSize == 200
    assert butler.slackNotification.reloadTaskFailure.iconEmoji == ":ghost:"
    assert butler.emailNotification.reloadTaskFailure.appOwnerAlert.includeOwner.includeAll is True
    assert butler.emailNotification.smtp.tls.requireTLS is True
    assert butler.webhookNotification.reloadTaskFailure.webhooks == []  # all entries commented out
    assert [url.id for url in butler.genericUrls] == ["ptarmiganlabs_com", "butler_docs"]


@pytest.mark.parametrize(("section", "message"), [
    ({"slackNotification": {"reloadTaskFailure": {"messageType": "fancy"}}},
     "Butler.slackNotification.reloadTaskFailure.messageType: expected one of 'basic' or 'formatted'"),
    ({"webhookNotification": {"reloadTaskFailure": {"webhooks": [{"httpMethod": "POST"}]}}},
     "Butler.webhookNotification.reloadTaskFailure.webhooks.0.webhookURL: a value is required"),
    ({"udpServerConfig": {"portTaskFailure": 70000}}, "Butler.udpServerConfig.portTaskFailure: expected an integer"),
])
def test_invalid_alert_settings_name_the_key(section: dict, message: str, tmp_path: Path):
    with pytest.raises(ConfigError) as refused:
        parse_config({"Butler": section}, tmp_path)
    assert any(line.startswith(message) for line in refused.value.errors), refused.value.errors
