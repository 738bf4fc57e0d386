"""`qbutler service install|uninstall`: register qbutler as a Windows service (pywin32)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from qbutler.cli_support import load_or_exit
from qbutler.winservice import NAME, recovery_command

service_app = typer.Typer(help="Run qbutler as a Windows service (Linux: the systemd unit in docs/installation.md).",
                          no_args_is_help=True)


def _windows_only() -> None:
    if sys.platform != "win32":
        typer.echo("qbutler service: Windows services exist only on Windows; on Linux run qbutler under systemd "
                   "(the unit is in docs/installation.md, 'Linux (systemd)')", err=True)
        raise typer.Exit(2)


@service_app.command("install")
def install(
    configfile: Annotated[Path, typer.Option("--configfile", "-c", help="Config file the service runs with.")],
    name: Annotated[str, typer.Option("--name", help="Service name (several instances need several names).")] = NAME,
) -> None:
    """Register and configure the service (automatic start, restart on failure); run as Administrator."""
    _windows_only()
    load_or_exit(configfile)  # a service that cannot start is worse than no service
    import win32service
    import win32serviceutil

    from qbutler.winservice.host import CONFIG_OPTION, QbutlerService

    win32serviceutil.InstallService(
        f"{QbutlerService.__module__}.{QbutlerService.__name__}", name, QbutlerService._svc_display_name_,
        startType=win32service.SERVICE_AUTO_START, description=QbutlerService._svc_description_)
    win32serviceutil.SetServiceCustomOption(name, CONFIG_OPTION, str(configfile.resolve()))
    subprocess.run(recovery_command(name), check=True, capture_output=True)
    typer.echo(f"Service {name} installed with {configfile.resolve()}; start it with: sc.exe start {name}")


@service_app.command("uninstall")
def uninstall(
    name: Annotated[str, typer.Option("--name", help="Service name.")] = NAME,
) -> None:
    """Stop the service if it runs, and remove it."""
    _windows_only()
    import win32serviceutil

    try:
        win32serviceutil.StopService(name)
    except Exception as exc:  # pywintypes.error when it is not running
        typer.echo(f"(not running: {exc})", err=True)
    win32serviceutil.RemoveService(name)
    typer.echo(f"Service {name} removed")
