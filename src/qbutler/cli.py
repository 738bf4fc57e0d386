"""The `qbutler` command."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from qbutler import __version__
from qbutler.actions.cli import app as app_cli
from qbutler.auth.cli import apikey_app
from qbutler.cli_support import load_or_exit
from qbutler.config import ConfigError
from qbutler.kv.cli import kv_app
from qbutler.logs import LEVELS, setup_logging
from qbutler.scheduler.cli import schedule_app

app = typer.Typer(help="qbutler: a companion service for Qlik Sense Enterprise on Windows.",
                  no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
config_app = typer.Typer(help="Check or generate config files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(kv_app, name="kv")
app.add_typer(app_cli, name="app")
app.add_typer(schedule_app, name="schedule")
app.add_typer(apikey_app, name="apikey")

err = Console(stderr=True)

ConfigOption = Annotated[Path, typer.Option("--configfile", "-c", help="Butler-format YAML config file.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """qbutler: scheduling, KV store, task starts, MQTT, alerts, file operations and app export."""


@app.command()
def serve(
    configfile: ConfigOption,
    loglevel: Annotated[str | None, typer.Option("--loglevel", "-l",
                                                 help=f"Override Butler.logLevel: {', '.join(LEVELS)}.")] = None,
) -> None:
    """Run qbutler until SIGINT or SIGTERM."""
    from qbutler.runtime import run
    from qbutler.service import Service

    config = load_or_exit(configfile)
    if loglevel is not None:
        if loglevel not in LEVELS:
            err.print(f"--loglevel: expected one of {', '.join(LEVELS)}, got {loglevel!r}")
            raise typer.Exit(2)
        config.Butler.logLevel = loglevel  # type: ignore[assignment]
    butler = config.Butler
    setup_logging(butler.logLevel, butler.fileLogging, config.resolve_path(butler.logDirectory))
    try:
        run(Service(config).run_until_signalled())
    except (OSError, ConfigError) as exc:
        err.print(f"[red]qbutler could not start:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command()
def demo(
    check: Annotated[bool, typer.Option("--check", help="Run headless, exercise every capability once, "
                                                      "print a pass/fail table; exit 1 on any failure.")] = False,
    folder: Annotated[Path | None, typer.Option("--dir", help="Keep the demo's files (config, certificates, "
                                                             "logs, data) in this folder.")] = None,
    port: Annotated[int, typer.Option("--port", help="REST API port (0: a free port).")] = 0,
) -> None:
    """Run qbutler against a simulated Sense site, with a live view of what happens."""
    from qbutler.demo import run as demo_run
    from qbutler.runtime import run

    if check:
        raise typer.Exit(0 if run(demo_run.check(folder, port)) else 1)
    run(demo_run.live(folder, port))


@config_app.command("check")
def config_check(configfile: Annotated[Path, typer.Argument(help="Config file to validate.")]) -> None:
    """Validate a config file: exit 0 when valid, 1 with every error otherwise."""
    config = load_or_exit(configfile)
    unused = config.unused_keys()
    typer.echo(f"{configfile}: valid")
    if unused:
        typer.echo(f"{len(unused)} keys are not used by qbutler (accepted and ignored):")
        for key in unused:
            typer.echo(f"  {key}")


@config_app.command("example")
def config_example() -> None:
    """Print a complete, commented example config."""
    sys.stdout.write(resources.files("qbutler").joinpath("config_example.yaml").read_text("utf-8"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
