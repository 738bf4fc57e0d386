"""The `qbutler` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from qbutler import __version__
from qbutler.actions.cli import app as app_cli
from qbutler.alerts.cli import test_alert
from qbutler.auth.cli import apikey_app
from qbutler.cli_support import LazyConsole, load_or_exit
from qbutler.config import ConfigError
from qbutler.doctor.cli import doctor
from qbutler.events.cli import appender
from qbutler.history.cli import history_app
from qbutler.kv.cli import kv_app
from qbutler.logs import LEVELS, setup_logging
from qbutler.scheduler.cli import schedule_app
from qbutler.winservice.cli import service_app

app = typer.Typer(help="qbutler: a companion service for Qlik Sense Enterprise on Windows.",
                  no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
config_app = typer.Typer(help="Check or generate config files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(kv_app, name="kv")
app.add_typer(app_cli, name="app")
app.add_typer(schedule_app, name="schedule")
app.add_typer(history_app, name="history")
app.add_typer(service_app, name="service")
app.command("doctor")(doctor)
app.command("test-alert")(test_alert)
app.command("appender")(appender)
app.add_typer(apikey_app, name="apikey")

err = LazyConsole(stderr=True)

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
    import importlib.util

    missing = [name for name in ("cryptography", "starlette", "httpx") if importlib.util.find_spec(name) is None]
    if missing:
        err.print(f"qbutler demo needs the simulator's packages ({', '.join(missing)} missing): "
                  "pip install 'qbutler[sim]'", markup=False)
        raise typer.Exit(2)
    from qbutler.demo import run as demo_run
    from qbutler.runtime import run

    if check:
        raise typer.Exit(0 if run(demo_run.check(folder, port)) else 1)
    run(demo_run.live(folder, port))


@config_app.command("check")
def config_check(
    configfile: Annotated[Path, typer.Argument(help="Config file to validate.")],
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings (misspelt keys, sections "
                                                          "without 'enable') as errors.")] = False,
) -> None:
    """Validate a config file: exit 0 when valid, 1 with every error otherwise."""
    from qbutler.config_check import review

    config = load_or_exit(configfile)
    findings = review(config)
    warnings = [f for f in findings if f.level == "warning"]
    notes = [f for f in findings if f.level == "note"]
    if strict and warnings:
        typer.echo(f"Config file {configfile} is not valid (--strict):", err=True)
        for finding in warnings:
            typer.echo(f"  - {finding}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{configfile}: valid" + (f", {len(warnings)} warning(s):" if warnings else ""))
    for finding in warnings:
        typer.echo(f"  - {finding}")
    if notes:
        typer.echo(f"{len(notes)} keys are not used by qbutler (accepted and ignored):")
        for finding in notes:
            typer.echo(f"  {finding.path}")


@config_app.command("example")
def config_example(
    section: Annotated[list[str] | None, typer.Option(
        "--section", help="Only these parts (repeatable): a feature (alerts, sense, rest, kv, scheduler, tasks, "
                          "mqtt, files, snapshots) or a key under Butler.")] = None,
) -> None:
    """Print a complete, commented example config (or some sections of it)."""
    from qbutler.config_sections import example_text
    from qbutler.config_sections import section as pick

    if not section:
        sys.stdout.write(example_text())
        return
    try:
        sys.stdout.write(pick(section))
    except ValueError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
