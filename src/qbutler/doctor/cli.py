"""`qbutler doctor -c FILE`: a pass/warn/fail table of every check, exit 1 when one fails."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from qbutler.cli_support import load_or_exit

STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def doctor(
    configfile: Annotated[Path, typer.Option("--configfile", "-c", help="Butler-format YAML config file.")],
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds each network check may take.")] = 5.0,
) -> None:
    """Check the config, certificates, Sense, alert destinations, MQTT, UDP, folders and data store."""
    from rich.console import Console
    from rich.table import Table

    from qbutler.doctor.checks import run_checks

    config = load_or_exit(configfile)
    results = asyncio.run(run_checks(config, timeout))
    table = Table(title=f"qbutler doctor: {configfile}", show_lines=False)
    table.add_column("Check", no_wrap=True)
    table.add_column("Result", no_wrap=True)
    table.add_column("Details")
    for result in results:
        detail = result.detail + (f"\n[italic]Fix:[/italic] {result.fix}" if result.fix else "")
        table.add_row(result.name, f"[{STYLE[result.status]}]{result.status.upper()}[/]", detail)
    console = Console(width=max(Console().width, 120))
    console.print(table, markup=True)
    failures = [r for r in results if r.status == "fail"]
    warnings = [r for r in results if r.status == "warn"]
    console.print(f"{len(failures)} failed, {len(warnings)} warning(s), "
                  f"{sum(r.status == 'pass' for r in results)} passed")
    raise typer.Exit(1 if failures else 0)
