"""`qbutler service`: Windows only. The pywin32 service code cannot run here (Linux); what can be
checked is the recovery command and that other platforms get a clear answer."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from qbutler.cli import app
from qbutler.winservice import recovery_command

runner = CliRunner()


def test_recovery_restarts_the_service_after_failures():
    assert recovery_command("qbutler-test") == [
        "sc.exe", "failure", "qbutler-test", "reset=", "86400", "actions=", "restart/5000/restart/10000/restart/60000"]


@pytest.mark.skipif(sys.platform == "win32", reason="the Windows answer is to install the service")
@pytest.mark.parametrize("args", [["install", "-c", "qbutler.yaml"], ["uninstall"]])
def test_other_platforms_are_told_to_use_systemd(args):
    result = runner.invoke(app, ["service", *args])
    assert result.exit_code == 2
    assert "Windows services exist only on Windows; on Linux run qbutler under systemd" in result.output
