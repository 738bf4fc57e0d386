"""`qbutler appender`: the log4net XML for the Sense scheduler, parsed and checked per marker."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qbutler.cli import app
from qbutler.events.log4net import parse

runner = CliRunner()


def generate(*args: str) -> ET.Element:
    result = runner.invoke(app, ["appender", *args])
    assert result.exit_code == 0, result.output
    assert result.output.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<configuration>')
    return ET.fromstring(result.output.split("\n", 1)[1])


def appenders(root: ET.Element) -> dict[str, dict]:
    """marker -> what the appender does, as Sense's log4net reads it."""
    found = {}
    for element in root.iter("appender"):
        params = {p.get("name"): p.get("value") for p in element.findall("param")}
        pattern = element.find("layout/param[@name='conversionpattern']").get("value")
        filters = element.findall("filter")
        found[pattern.split(";", 1)[0]] = {
            "name": element.get("name"), "type": element.get("type"), "params": params, "pattern": pattern,
            "texts": [f.find("param").get("value") for f in filters[:-1]],
            "last_filter": filters[-1].get("type"),
            "converter": element.find("layout/converter/param[@name='type']").get("value"),
            "loggers": [logger.get("name") for logger in root.iter("logger")
                        if any(ref.get("ref") == element.get("name") for ref in logger)],
        }
    return found


def datagram(pattern: str, message: str) -> bytes:
    """What log4net sends for `pattern` when the scheduler logs `message`."""
    values = {"%hostname": "SENSE-NODE-1", "%property{TaskName}": "Reload Sales", "%property{AppName}": "Sales",
              "%property{User}": "INTERNAL\\sa_scheduler", "%property{TaskId}": str(uuid.uuid4()),
              "%property{AppId}": str(uuid.uuid4()), "%date": "2026-12-03 10:15:00,123", "%level": "INFO",
              "%property{ExecutionId}": str(uuid.uuid4()), "%message": message}
    for placeholder, value in values.items():
        pattern = pattern.replace(placeholder, value)
    return pattern.encode()


MASTER = "System.Scheduler.Scheduler.Master.Task.TaskSession"


@pytest.mark.parametrize(("form", "success"), [("single", "/scheduler-task-success/"),
                                                ("double", "/scheduler-task-success//")])
def test_every_marker_reaches_qbutler_as_its_outcome(form, success):
    found = appenders(generate("--host", "10.20.30.40", "--port", "9999", "--success-marker", form))
    assert set(found) == {"/scheduler-task-failed/", "/scheduler-task-aborted/", success, "/scheduler-distribute/"}
    for marker, appender in found.items():
        assert appender["type"] == "log4net.Appender.UdpAppender"
        assert appender["params"] == {"remoteAddress": "10.20.30.40", "remotePort": "9999", "encoding": "utf-8"}
        assert appender["last_filter"] == "log4net.Filter.DenyAllFilter"
        assert appender["converter"] == "Qlik.Sense.Logging.log4net.Layout.Pattern.HostNamePatternConverter"
        assert appender["pattern"].count(";") == 10
        event = parse(datagram(appender["pattern"], appender["texts"][0]))
        expected = {"/scheduler-task-failed/": "failed", "/scheduler-task-aborted/": "aborted",
                    "/scheduler-distribute/": "distribute"}.get(marker, "success")
        assert (event.outcome, event.taskName, event.hostName) == (expected, "Reload Sales", "SENSE-NODE-1")
    assert found["/scheduler-task-failed/"]["texts"] == [
        "Max retries reached", "Failed to start session", "Could not reserve an executor for task"]
    assert found["/scheduler-task-aborted/"]["texts"] == ["Execution State Change to Aborting"]
    assert found[success]["texts"] == ["Execution State Change to FinishedSuccess"]
    assert found["/scheduler-distribute/"]["loggers"] == ["System.Scheduler.Scheduler.Slave.Tasks.ReloadTask"]
    for marker in ("/scheduler-task-failed/", "/scheduler-task-aborted/", success):
        assert found[marker]["loggers"] == [MASTER]


def test_task_types_and_events_choose_the_appenders():
    found = appenders(generate("--host", "qbutler.acme.local", "--task-types", "reload", "--events", "failed"))
    assert list(found) == ["/scheduler-task-failed/"]
    assert found["/scheduler-task-failed/"]["texts"] == ["Max retries reached"]
    preload = appenders(generate("--host", "10.0.0.1", "--task-types", "preload,user-sync", "--events", "failed",
                                 "--events", "success"))
    assert preload["/scheduler-task-failed/"]["texts"] == ["Failed to start session",
                                                           "Could not reserve an executor for task"]
    assert "/scheduler-task-success/" in preload


def test_same_filters_and_loggers_as_butlers_shipped_file(shared_reference: Path):
    text = (shared_reference / "butler-log-appender-xml" / "scheduler" / "LocalLogConfig.xml").read_text("utf-8")
    # The shipped file is a template: its address placeholder is not well-formed XML until filled in.
    theirs = appenders(ET.fromstring(re.sub(r'value="<[^"]*>"', 'value="10.0.0.1"', text).split("\n", 1)[1]))
    ours = appenders(generate("--host", "10.0.0.1", "--success-marker", "double"))
    assert set(ours) == set(theirs)
    for marker, appender in theirs.items():
        assert (ours[marker]["texts"], ours[marker]["loggers"], ours[marker]["pattern"]) == (
            appender["texts"], appender["loggers"], appender["pattern"])


def test_output_file_and_bad_input(tmp_path):
    target = tmp_path / "LocalLogConfig.xml"
    result = runner.invoke(app, ["appender", "--host", "10.0.0.1", "-o", str(target)])
    assert result.exit_code == 0
    assert ET.parse(target).getroot().tag == "configuration"
    for args, message in [(["--host", "not a host"], "--host: 'not a host' is neither an IP address nor a host name"),
                          (["--host", "10.0.0.1", "--port", "70000"], "--port: 70000 is not a port (1-65535)"),
                          (["--host", "10.0.0.1", "--task-types", "reload,cloud"], "unknown task type or event: cloud"),
                          (["--host", "10.0.0.1", "--success-marker", "triple"], "--success-marker: expected single")]:
        bad = runner.invoke(app, ["appender", *args])
        assert bad.exit_code == 2
        assert message in bad.output
