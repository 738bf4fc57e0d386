"""`qbutler test-alert -c FILE`: send one alert through every enabled destination and report each."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from qbutler.cli_support import load_or_exit


def test_alert(
    configfile: Annotated[Path, typer.Option("--configfile", "-c", help="Butler-format YAML config file.")],
    channel: Annotated[list[str] | None, typer.Option(
        "--channel", help="Only this destination (repeatable): slack, teams, email, webhook, mqtt, newrelic, "
                          "signl4.")] = None,
    task: Annotated[str | None, typer.Option(
        "--task", help="Build the alert from this reload task's last execution (QRS) instead of a sample.")] = None,
    test_email_address: Annotated[str | None, typer.Option(
        "--test-email-address", help="Send the email part to this address only, with email alerts "
                                     "switched on for the test (Butler's flag).")] = None,
    test_email_from_address: Annotated[str | None, typer.Option(
        "--test-email-from-address", help="Sender of the test email.")] = None,
) -> None:
    """Send a test alert through the real channels now; exit 1 when a destination fails."""
    from rich.console import Console
    from rich.table import Table

    from qbutler.alerts.testalert import CHANNELS, sample_event, send_test_alert, task_event, with_test_email

    config = load_or_exit(configfile)
    unknown = [name for name in channel or [] if name not in CHANNELS]
    if unknown:
        typer.echo(f"--channel: unknown {', '.join(unknown)}; choose from {', '.join(CHANNELS)}", err=True)
        raise typer.Exit(2)
    chosen = tuple(channel) if channel else CHANNELS
    if test_email_address:
        config = with_test_email(config, test_email_address, test_email_from_address)
        if not channel:
            chosen = ("email",)

    async def run() -> list:
        enriched = await task_event(config, task) if task else sample_event()
        return await send_test_alert(config, enriched, chosen)

    try:
        outcomes = asyncio.run(run())
    except Exception as exc:
        where = f"cannot build the alert from task {task}" if task else "the test alert failed"
        typer.echo(f"qbutler test-alert: {where}: {exc}", err=True)
        raise typer.Exit(1) from None
    table = Table(title="qbutler test-alert" + (f": task {task}" if task else ": sample failed reload"))
    for column in ("Destination", "Target", "Result"):
        table.add_column(column)
    for outcome in outcomes:
        style = "green" if outcome.ok else ("dim" if outcome.target == "-" else "bold red")
        table.add_row(outcome.channel, outcome.target, f"[{style}]{outcome.detail}[/]")
    Console(width=120).print(table)
    failed = [o for o in outcomes if not o.ok and o.target != "-"]
    delivered = sum(o.ok for o in outcomes)
    typer.echo(f"{delivered} delivered, {len(failed)} failed")
    raise typer.Exit(1 if failed or not delivered else 0)
