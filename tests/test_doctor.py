"""`qbutler doctor` against a simulated site: each broken setup gives its own failure line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from qbutler.cli import app
from qbutler.config import parse_config
from qbutler.doctor.checks import Result, run_checks
from support.net import free_port
from support.qbutler import merge
from support.sense import sense_connection

runner = CliRunner()


async def doctor(folder: Path, butler: dict[str, Any]) -> dict[str, Result]:
    config = parse_config({"Butler": butler}, folder)
    return {result.name: result for result in await run_checks(config, 3.0)}


def site_config(site: Any, **extra: Any) -> dict[str, Any]:
    return merge(sense_connection(site), extra)


async def test_a_good_setup_passes_every_check_it_can_make(sense_site, mosquitto, tmp_path):
    folder = tmp_path / "qvd"
    folder.mkdir()
    butler = site_config(sense_site, mqttConfig={"enable": True, "brokerHost": "127.0.0.1",
                                                 "brokerPort": mosquitto.port},
                         udpServerConfig={"enable": True, "serverHost": "127.0.0.1",
                                          "portTaskFailure": free_port()},
                         configDirectories={"qvdPath": str(folder)})
    results = await doctor(tmp_path, butler)
    for name in ("config", "certificate files", "certificate and key", "CA chain", "QRS", "Engine",
                 "MQTT broker", "UDP task events", "approved folders", "data directory", "key-value store"):
        assert results[name].status == "pass", results[name]
    assert results["CA chain"].detail.startswith("commonName=QlikClient chains to the CA; valid until ")
    assert "as UserDirectory=Internal;UserId=sa_repository" in results["QRS"].detail
    assert results["SMTP server"].status == "skip"


async def test_wrong_ca(sense_site, tmp_path):
    from sensesim.certs import ensure_certs

    other = ensure_certs(tmp_path / "other-site")
    butler = site_config(sense_site, cert={"clientCertCA": str(other.root)})
    results = await doctor(tmp_path, butler)
    chain = results["CA chain"]
    assert chain.status == "fail"
    assert chain.detail.startswith("the client certificate was not issued by the CA in Butler.cert.clientCertCA")
    assert chain.fix.startswith("root.pem must be the CA of the Sense site that issued client.pem")
    # QRS verifies its server certificate against the same wrong CA.
    assert results["QRS"].status == "fail"
    assert "the Sense server's certificate is not signed by Butler.cert.clientCertCA" in results["QRS"].fix


async def test_missing_key_file(sense_site, tmp_path):
    missing = tmp_path / "gone" / "client_key.pem"
    results = await doctor(tmp_path, site_config(sense_site, cert={"clientCertKey": str(missing)}))
    files = results["certificate files"]
    assert (files.status, files.detail) == ("fail", f"Butler.cert.clientCertKey: {missing} does not exist")
    assert "export client.pem, client_key.pem and root.pem in the QMC" in files.fix
    assert results["QRS"].status == results["Engine"].status == "skip"


async def test_qrs_down(sense_site, tmp_path):
    port = free_port()
    results = await doctor(tmp_path, site_config(sense_site, configQRS={"port": port}))
    qrs = results["QRS"]
    assert qrs.status == "fail"
    assert qrs.detail.startswith(
        f"https://127.0.0.1:{port}/qrs/: ConnectError: Cannot connect to host 127.0.0.1:{port}")
    assert qrs.fix.startswith(f"is the Qlik Sense Repository Service running on 127.0.0.1, and port {port} open")
    assert results["Engine"].status == "pass"


async def test_broker_down(sense_site, tmp_path):
    port = free_port()
    results = await doctor(tmp_path, site_config(
        sense_site, mqttConfig={"enable": True, "brokerHost": "127.0.0.1", "brokerPort": port}))
    broker = results["MQTT broker"]
    assert broker.status == "fail"
    assert broker.detail.startswith(f"127.0.0.1:{port}: ")
    assert "refused" in broker.detail.lower()
    assert broker.fix.startswith("is the broker running")


async def test_udp_port_in_use_and_folders_missing(tmp_path):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        results = await doctor(tmp_path, {"udpServerConfig": {"enable": True, "serverHost": "127.0.0.1",
                                                              "portTaskFailure": port},
                                          "fileDeleteApprovedDirectories": [str(tmp_path / "nope")]})
    assert results["UDP task events"].status == "fail"
    assert results["UDP task events"].detail.startswith(f"cannot listen on 127.0.0.1:{port}: ")
    assert results["approved folders"].detail == (
        f"Butler.fileDeleteApprovedDirectories[0]: {tmp_path / 'nope'} does not exist")
    assert results["certificate files"].detail.startswith("Butler.cert.clientCert is empty")


def test_the_command_prints_a_table_and_exits_1_on_failure(tmp_path):
    file = tmp_path / "qbutler.yaml"
    file.write_text(yaml.safe_dump({"Butler": {"qbutler": {"dataDirectory": "data"}}}), encoding="utf-8")
    result = runner.invoke(app, ["doctor", "-c", str(file), "--timeout", "1"])
    assert result.exit_code == 1
    assert "certificate files" in result.output and "FAIL" in result.output
    assert "Fix:" in result.output
    assert result.output.rstrip().splitlines()[-1].endswith("passed")


@pytest.mark.parametrize("text", ["Butler:\n  cert:\n    clientCert: <path/to/cert/client.pem>\n"])
def test_an_invalid_config_stops_before_any_check(tmp_path, text):
    file = tmp_path / "qbutler.yaml"
    file.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["doctor", "-c", str(file)])
    assert result.exit_code == 1
    assert "still the template's placeholder" in result.output


async def test_the_slack_message_endpoints_webhook_is_checked_without_slack_alerts(tmp_path):
    # /v4/slackpostmessage posts to restMessage.webhookURL whether or not Slack alerts are on.
    port = free_port()
    url = f"http://127.0.0.1:{port}/services/T0/B0/x"
    butler = {"restServerEndpointsEnable": {"slackPostMessage": True},
              "slackNotification": {"restMessage": {"webhookURL": url}}}
    results = await doctor(tmp_path, butler)
    check = results["alert URL slackNotification.restMessage"]
    assert check.status == "fail" and check.detail.startswith(f"http://127.0.0.1:{port}/…: cannot connect")
    off = await doctor(tmp_path, {"slackNotification": {"restMessage": {"webhookURL": url}}})
    assert off["alert URLs"].status == "skip"
