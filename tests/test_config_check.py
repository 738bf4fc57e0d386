"""`qbutler config check` on the mistakes a new administrator makes, with the exact first line of
each message; YAML's boolean words; the log line for a switched-off endpoint."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qbutler.cli import app
from qbutler.config import ButlerConfig, load_config
from qbutler.config_check import BUTLER_KEYS_NOT_USED
from support.qbutler import running_service

runner = CliRunner()


def check(tmp_path: Path, text: str, *options: str):
    file = tmp_path / "qbutler.yaml"
    file.write_text(text, encoding="utf-8")
    return file, runner.invoke(app, ["config", "check", str(file), *options])


def problem_lines(output: str) -> list[str]:
    """The first line of each listed problem (continuation lines are indented deeper)."""
    return [line[4:] for line in output.splitlines() if line.startswith("  - ")]


EMPTY = ("{file}: the file is empty (or holds only comments); a config file starts with the root key 'Butler:' "
         "(see `qbutler config example`)")


def placeholder(key: str, value: str) -> str:
    return f"{key}: still the template's placeholder '{value}'; replace it with the real value"


def unknown_key(key: str, meant: str) -> str:
    return (f"{key}: unknown key; did you mean '{meant}'? As written it is ignored, and the setting it was meant "
            "for keeps its default")


BROKEN = [
    pytest.param("", 1, EMPTY, id="empty"),
    pytest.param("# only a comment\n", 1, EMPTY, id="comments-only"),
    pytest.param("butler:\n  logLevel: info\n", 1,
                 "{file}: the root key is written 'butler'; it must be 'Butler' (capital B, the rest lower case)",
                 id="wrong-case-root"),
    pytest.param("Sense:\n  logLevel: info\n", 1,
                 "{file}: no root key 'Butler' (found: 'Sense'); a config file starts with 'Butler:'",
                 id="other-root"),
    pytest.param("- Butler\n", 1,
                 "{file}: the file holds a list, not a mapping; a config file starts with the root key 'Butler:'",
                 id="list"),
    pytest.param("Butler:\n  logLevel: info\n   fileLogging: true\n", 1,
                 "{file}:3:15: not valid YAML: mapping values are not allowed here; check the indentation "
                 "of this line against the lines above it", id="indentation"),
    pytest.param("Butler:\n\tlogLevel: info\n", 1,
                 "{file}:2:1: not valid YAML: found character '\\t' that cannot start any token (while "
                 "scanning for the next token); YAML indents with spaces, never tabs", id="tab"),
    pytest.param("Butler:\n  cert:\n    clientCert: <path/to/cert/client.pem>\n", 1,
                 placeholder("Butler.cert.clientCert", "<path/to/cert/client.pem>"), id="placeholder"),
    pytest.param("Butler:\n  configDirectories:\n    qvdPath: <Path to folder under which QVDs are stored>\n", 1,
                 placeholder("Butler.configDirectories.qvdPath", "<Path to folder under which QVDs are stored>"),
                 id="placeholder-qvd"),
    pytest.param("Butler:\n  emailNotification:\n    enable: true\n    reloadTaskFailure:\n      enable: true\n"
                 "      recipients:\n        - <Email address 1>\n", 1,
                 placeholder("Butler.emailNotification.reloadTaskFailure.recipients[0]", "<Email address 1>"),
                 id="placeholder-in-list"),
    pytest.param("Butler:\n  emailNotifcation:\n    enable: true\n", 0,
                 unknown_key("Butler.emailNotifcation", "emailNotification"), id="typo-section"),
    pytest.param("Butler:\n  restServerConfig:\n    enable: true\n    serverPrt: 8081\n", 0,
                 unknown_key("Butler.restServerConfig.serverPrt", "serverPort"), id="typo-key"),
    pytest.param("Butler:\n  restServerConfig:\n    enable: true\n    serverport: 8081\n", 0,
                 unknown_key("Butler.restServerConfig.serverport", "serverPort"), id="typo-case"),
    pytest.param("Butler:\n  mqttConfig:\n    brokerHost: broker.example.com\n", 0,
                 "Butler.mqttConfig: this section has no 'enable' key, so it is off (add 'enable: true' to "
                 "use it)", id="enable-missing"),
    pytest.param("Butler:\n  restServerConfig:\n    serverPort: x\n", 1,
                 "Butler.restServerConfig.serverPort: expected an integer 1-65535, got 'x'", id="bad-value"),
]


def test_a_slack_section_holding_only_rest_message_is_not_called_off(tmp_path):
    # PUT /v4/slackpostmessage posts through restMessage whether or not Slack alerts are on.
    _, only = check(tmp_path, "Butler:\n  slackNotification:\n    restMessage:\n      webhookURL: https://x/y\n")
    assert only.exit_code == 0 and "warning" not in only.output, only.output
    _, more = check(tmp_path, "Butler:\n  slackNotification:\n    restMessage:\n      webhookURL: https://x/y\n"
                              "    reloadTaskFailure:\n      enable: true\n")
    assert problem_lines(more.output)[0] == ("Butler.slackNotification: this section has no 'enable' key, so all "
                                             "but restMessage is off (add 'enable: true' to use it)")


@pytest.mark.parametrize(("text", "code", "first"), BROKEN)
def test_broken_configs_get_a_message_that_names_the_mistake(tmp_path, text, code, first):
    file, result = check(tmp_path, text)
    assert result.exit_code == code, result.output
    assert problem_lines(result.output)[0] == first.format(file=file)


def test_yaml_error_shows_the_offending_line_and_column(tmp_path):
    _, result = check(tmp_path, "Butler:\n  logLevel: info\n   fileLogging: true\n")
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  - "))
    assert lines[at + 1] == "       fileLogging: true"
    assert lines[at + 2] == "    " + " " * 14 + "^"


def test_strict_turns_warnings_into_errors(tmp_path):
    text = "Butler:\n  emailNotifcation:\n    enable: true\n"
    _, relaxed = check(tmp_path, text)
    assert relaxed.exit_code == 0
    assert relaxed.output.splitlines()[0].endswith(": valid, 1 warning(s):")
    _, strict = check(tmp_path, text, "--strict")
    assert strict.exit_code == 1
    assert problem_lines(strict.output)[0].startswith("Butler.emailNotifcation: unknown key; did you mean")


def test_placeholders_in_a_switched_off_section_are_not_errors(tmp_path):
    text = ("Butler:\n  emailNotification:\n    enable: false\n    reloadTaskFailure:\n      recipients:\n"
            "        - <Email address 1>\n  mqttConfig:\n    enable: true\n    azureEventGrid:\n"
            "      clientId: <client ID>\n")
    _, result = check(tmp_path, text)
    assert result.exit_code == 0, result.output
    assert "  Butler.mqttConfig.azureEventGrid" in result.output.splitlines()


def test_butler_keys_qbutler_lacks_are_named_as_such(tmp_path):
    _, result = check(tmp_path, "Butler:\n  qlikSenseCloud:\n    enable: false\n"
                                "  mqttConfig:\n    enable: false\n    qlikSenseCloud: {}\n")
    assert result.exit_code == 0
    assert "did you mean" not in result.output
    lines = result.output.splitlines()
    assert "  Butler.qlikSenseCloud" in lines and "  Butler.mqttConfig.qlikSenseCloud" in lines


def test_butlers_production_template_gets_no_did_you_mean(tmp_path, butler_template):
    # Every key of Butler's own template is either used or known to be unused: none is a typo.
    _, result = check(tmp_path, butler_template)
    assert "did you mean" not in result.output
    lines = result.output.splitlines()
    assert "  Butler.configVisualisation" in lines
    # Both New Relic parts of the site watch are qbutler's now.
    assert "  Butler.uptimeMonitor.storeNewRelic" not in lines
    assert "  Butler.incidentTool.newRelic.serviceMonitor" not in lines


def test_butlers_influxdb_switches_are_used(tmp_path, butler_template):
    # The site watch's InfluxDB destinations and the task measurements' dynamic tags.
    _, result = check(tmp_path, butler_template)
    unused = [line.strip() for line in result.output.splitlines() if line.startswith("  Butler.")]
    assert "Butler.anonTelemetry" in unused
    assert [key for key in unused if "influxDb" in key and not key.startswith(("Butler.influxDb.v2Config",
                                                                                "Butler.influxDb.v3Config"))] == []
    assert "Butler.qlikSenseLicense.licenseMonitor.destination" not in unused


def test_the_list_of_unused_butler_keys_names_no_key_qbutler_uses():
    for key in BUTLER_KEYS_NOT_USED:
        model: Any = ButlerConfig
        for part in key.split("."):
            fields = getattr(model, "model_fields", {})
            if part not in fields:
                break
            model = fields[part].annotation
        else:
            pytest.fail(f"Butler.{key} is listed as unused but qbutler's config has it")


def test_serve_refuses_placeholders_and_names_the_key(tmp_path):
    file, _ = check(tmp_path, "Butler:\n  cert:\n    clientCertKey: <path/to/cert/client_key.pem>\n")
    result = runner.invoke(app, ["serve", "-c", str(file)])
    assert result.exit_code == 1
    assert "Butler.cert.clientCertKey: still the template's placeholder" in result.output


@pytest.mark.parametrize(("written", "expected"), [("off", "off"), ("'off'", "off"), ("kv", "kv")])
def test_unquoted_off_is_the_word_where_a_key_expects_it(tmp_path, written, expected):
    file = tmp_path / "qbutler.yaml"
    file.write_text(f"Butler:\n  scheduler:\n    enable: false\n    coordination: {written}\n", encoding="utf-8")
    assert load_config(file, environ={}).Butler.scheduler.coordination == expected


def test_a_boolean_where_no_word_fits_is_still_an_error(tmp_path):
    _, result = check(tmp_path, "Butler:\n  scheduler:\n    cronDialect: yes\n")
    assert result.exit_code == 1
    assert problem_lines(result.output)[0] == (
        "Butler.scheduler.cronDialect: expected one of 'butler' or 'standard', got True")


async def test_a_switched_off_endpoint_answers_404_and_logs_its_switch_once(tmp_path, caplog):
    config = {"Butler": {"restServerConfig": {"enable": True, "serverHost": "127.0.0.1", "serverPort": 0},
                         "restServerEndpointsEnable": {"butlerping": True}}}
    caplog.set_level(logging.WARNING, logger="qbutler.api")
    async with running_service(config, tmp_path) as running, running.client() as client:
        for _ in range(2):
            response = await client.get("/v4/keyvaluesnamespaces")
            assert response.status_code == 404
            assert response.json() == {"message": "Route GET:/v4/keyvaluesnamespaces not found",
                                       "error": "Not Found", "statusCode": 404}
        await client.get("/v4/keylist/ns")
        assert (await client.get("/v4/nothing-here")).status_code == 404
        assert (await client.get("/v4/butlerping")).status_code == 200
    lines = [record.getMessage() for record in caplog.records if "switched off" in record.getMessage()]
    assert lines == ["GET /v4/keyvaluesnamespaces answered 404: the endpoint is switched off; set "
                     "Butler.restServerEndpointsEnable.keyValueStore: true to enable it (logged once)"]


def test_config_example_sections_are_valid_config_on_their_own(tmp_path):
    import yaml

    result = runner.invoke(app, ["config", "example", "--section", "alerts"])
    assert result.exit_code == 0
    part = yaml.safe_load(result.output)["Butler"]
    assert list(part) == ["udpServerConfig", "qlikSenseUrls", "genericUrls", "scriptLog", "alertDelivery",
                          "slackNotification", "teamsNotification", "emailNotification", "webhookNotification"]
    _, checked = check(tmp_path, result.output)
    assert checked.exit_code == 0, checked.output
    single = runner.invoke(app, ["config", "example", "--section", "keyValueStore"])
    assert list(yaml.safe_load(single.output)["Butler"]) == ["keyValueStore"]
    unknown = runner.invoke(app, ["config", "example", "--section", "alert"])
    assert unknown.exit_code == 2
    assert "--section: no section 'alert'; choose from alerts, sense" in unknown.output
