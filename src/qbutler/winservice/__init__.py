"""qbutler as a Windows service (pywin32): `qbutler service install|uninstall`.

Only Windows runs this code; on Linux, docs/qbutler.service is the systemd unit.
"""

NAME = "qbutler"
DISPLAY_NAME = "qbutler (Qlik Sense companion service)"
DESCRIPTION = "Butler-compatible companion service for Qlik Sense: scheduling, alerts, key-value store, REST API."
# Restart after a crash: 5 s, then 10 s, then every 60 s; the failure count resets after a day.
RECOVERY_ACTIONS = "restart/5000/restart/10000/restart/60000"
RESET_SECONDS = 86400


def recovery_command(name: str = NAME) -> list[str]:
    """The `sc.exe failure` call that makes Windows restart the service when it stops unexpectedly."""
    return ["sc.exe", "failure", name, "reset=", str(RESET_SECONDS), "actions=", RECOVERY_ACTIONS]
