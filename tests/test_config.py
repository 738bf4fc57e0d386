"""Loading Butler-format config files: compatibility, defaults, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qbutler.config import ConfigError, apply_env_overrides, load_config, parse_config
from qbutler.config_check import review

FIXTURES = Path(__file__).parent / "fixtures"


def write(tmp_path: Path, data: object, name: str = "butler.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_realistic_production_config_loads_and_reports_unused_sections():
    config = load_config(FIXTURES / "butler-production.yaml", environ={})
    assert config.Butler.restServerConfig.serverPort == 8080
    assert config.Butler.logLevel == "verbose"
    assert config.Butler.startTaskFilter.allowTask.customProperty[0].value == "tasks1"
    unused = [finding.path for finding in review(config) if finding.level == "note"]
    assert "Butler.anonTelemetry" in unused
    # Read since the observability issue; only its keys qbutler has no use for are reported.
    assert "Butler.restServerConfig" not in unused and "Butler.influxDb" not in unused
    assert "Butler.influxDb.instanceTag" in unused
    # Read since the site watch.
    for section in ("Butler.heartbeat", "Butler.serviceMonitor", "Butler.uptimeMonitor"):
        assert section not in unused
    assert config.Butler.heartbeat.frequency == "every 15 minutes"


def test_butlers_own_template_loads_once_its_placeholders_are_filled(shared_reference: Path, butler_template,
                                                                     tmp_path):
    template = (shared_reference / "butler-production-template.yaml").read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, template), environ={})
    assert [line.split(":")[0] for line in caught.value.errors] == [
        "Butler.cert.clientCert", "Butler.cert.clientCertKey", "Butler.cert.clientCertCA",
        "Butler.configDirectories.qvdPath"]
    config = load_config(write(tmp_path, butler_template), environ={})
    assert config.Butler.restServerConfig.enable is False
    assert config.Butler.fileCopyApprovedDirectories == []


def test_every_section_is_optional_and_features_default_off(tmp_path):
    config = load_config(write(tmp_path, {"Butler": None}), environ={})
    butler = config.Butler
    assert butler.restServerConfig.enable is False
    assert not any(butler.restServerEndpointsEnable.enabled_leaf_names(None))
    assert butler.startTaskFilter.enable is False
    assert review(config) == []


def test_paths_resolve_against_the_config_folder(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir()
    config = load_config(write(folder, {"Butler": {"cert": {"clientCert": "certs/client.pem"}}}), environ={})
    assert config.resolve_path(config.Butler.cert.clientCert) == folder / "certs" / "client.pem"
    assert config.resolve_path("/abs/x.pem") == Path("/abs/x.pem")
    assert config.data_dir == folder / "qbutler-data"


@pytest.mark.parametrize(("butler", "expected"), [
    ({"restServerConfig": {"serverPort": "notaport"}},
     "Butler.restServerConfig.serverPort: expected an integer 1-65535, got 'notaport'"),
    ({"restServerConfig": {"serverPort": 70000}},
     "Butler.restServerConfig.serverPort: expected an integer 1-65535, got 70000"),
    ({"restServerConfig": {"enable": "perhaps"}},
     "Butler.restServerConfig.enable: expected a boolean (true or false), got 'perhaps'"),
    ({"logLevel": "loud"},
     "Butler.logLevel: expected one of 'silly', 'debug', 'verbose', 'info', 'warn' or 'error', got 'loud'"),
    ({"fileDeleteApprovedDirectories": "/tmp"},
     "Butler.fileDeleteApprovedDirectories: expected a list, got '/tmp'"),
    ({"restServerEndpointsEnable": {"scheduler": {"getSchedule": "sometimes"}}},
     "Butler.restServerEndpointsEnable.scheduler.getSchedule: expected a boolean (true or false), got 'sometimes'"),
    ({"startTaskFilter": {"allowTask": {"customProperty": [{"name": "x"}]}}},
     "Butler.startTaskFilter.allowTask.customProperty.0.value: a value is required"),
    ({"scriptLog": {"storeOnDisk": {"clientManaged": {"reloadTaskFailure": {"enable": True}}}}},
     "Butler.scriptLog.storeOnDisk.clientManaged.reloadTaskFailure: logDirectory is required when enable is true"),
    ({"incidentTool": {"signl4": {"enable": True, "reloadTaskFailure": {"enable": True}}}},
     "Butler.incidentTool.signl4: url must be the team's http(s) webhook when Signl4 is enabled"),
    ({"incidentTool": {"signl4": {"reloadTaskAborted": {"severity": "high"}}}},
     "Butler.incidentTool.signl4.reloadTaskAborted.severity: expected an integer, got 'high'"),
    ({"udpServerConfig": {"distributeWait": {"pollSeconds": 0}}},
     "Butler.udpServerConfig.distributeWait.pollSeconds: expected a number > 0.0, got 0"),
])
def test_invalid_values_name_key_value_and_expectation(tmp_path, butler, expected):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, {"Butler": butler}), environ={})
    assert expected in caught.value.errors


def test_every_error_is_reported_not_just_the_first(tmp_path):
    data = {"Butler": {"logLevel": "x", "restServerConfig": {"serverPort": "y", "enable": "z"}}}
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, data), environ={})
    assert len(caught.value.errors) == 3


@pytest.mark.parametrize("text", ["Other: {}\n", "- a\n- b\n", "", "Butler: [1, 2]\n"])
def test_root_must_be_butler(tmp_path, text):
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, text), environ={})


def test_yaml_syntax_error_is_reported(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "Butler:\n  logLevel: [unclosed\n"), environ={})
    assert "not valid YAML" in caught.value.errors[0]


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.yaml", environ={})
    assert "not found" in caught.value.errors[0]


def test_environment_overrides_any_key_case_insensitively(tmp_path):
    path = write(tmp_path, {"Butler": {"restServerConfig": {"serverPort": 8080, "enable": False}}})
    config = load_config(path, environ={
        "QBUTLER__RESTSERVERCONFIG__SERVERPORT": "9001",
        "QBUTLER__Butler__restServerConfig__enable": "true",
        "QBUTLER__logLevel": "debug",
        "QBUTLER__fileDeleteApprovedDirectories": "[/a, /b]",
        "UNRELATED": "x",
    })
    assert config.Butler.restServerConfig.serverPort == 9001
    assert config.Butler.restServerConfig.enable is True
    assert config.Butler.logLevel == "debug"
    assert config.Butler.fileDeleteApprovedDirectories == ["/a", "/b"]


def test_environment_override_is_validated_like_the_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, {"Butler": {}}), environ={"QBUTLER__restServerConfig__serverPort": "abc"})
    assert caught.value.errors == ["Butler.restServerConfig.serverPort: expected an integer 1-65535, got 'abc'"]


def test_env_override_creates_missing_sections():
    data = apply_env_overrides({"Butler": {}}, {"QBUTLER__keyValueStore__maxKeysPerNamespace": "5"})
    assert data == {"Butler": {"keyValueStore": {"maxKeysPerNamespace": 5}}}


def test_endpoint_list_keeps_file_order_and_strict_true(tmp_path):
    raw = {"Butler": {"restServerEndpointsEnable": {"slackPostMessage": True, "butlerping": 1,
                                                    "newRelic": {"postNewRelicEvent": True}}}}
    config = parse_config(raw, tmp_path)
    names = config.Butler.restServerEndpointsEnable.enabled_leaf_names(config.raw_section("restServerEndpointsEnable"))
    # 1 is coerced to true for the switch itself, but only a literal true is listed, as in Butler.
    assert names == ["slackPostMessage", "postNewRelicEvent"]
