"""`qbutler appender`: write the log4net XML that sends the Sense scheduler's task events to qbutler."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _words(values: list[str] | None) -> tuple[str, ...] | None:
    """Repeatable options that also take comma-separated lists."""
    if not values:
        return None
    return tuple(word.strip() for value in values for word in value.split(",") if word.strip())


def appender(
    host: Annotated[str, typer.Option("--host", help="Address the Sense nodes send to: this qbutler server's IP "
                                                     "address (or a host name every node resolves).")],
    port: Annotated[int, typer.Option("--port", help="UDP port: Butler.udpServerConfig.portTaskFailure.")] = 9998,
    task_types: Annotated[list[str] | None, typer.Option(
        "--task-types", help="Task types to report (repeatable or comma-separated): reload, external-program, "
                             "preload, user-sync, distribute. Default: all.")] = None,
    events: Annotated[list[str] | None, typer.Option(
        "--events", help="Outcomes to report: failed, aborted, success. Default: all.")] = None,
    success_marker: Annotated[str, typer.Option(
        "--success-marker", help="single: /scheduler-task-success/ (default); double: /scheduler-task-success// "
                                 "as in Butler's shipped file. qbutler reads both.")] = "single",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of "
                                                                        "standard output.")] = None,
) -> None:
    """Print (or write) LocalLogConfig.xml for C:\\ProgramData\\Qlik\\Sense\\Scheduler on every scheduler node."""
    from qbutler.events.appender import EVENTS, TASK_TYPES, AppenderError, plan, render

    if success_marker not in ("single", "double"):
        typer.echo(f"--success-marker: expected single or double, got {success_marker!r}", err=True)
        raise typer.Exit(2)
    try:
        xml = render(host, port, plan(_words(task_types) or TASK_TYPES, _words(events) or EVENTS,
                                      success_marker))  # type: ignore[arg-type]
    except AppenderError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if output is None:
        typer.echo(xml, nl=False)
        return
    output.write_text(xml, encoding="utf-8")
    typer.echo(f"Wrote {output}: copy it to C:\\ProgramData\\Qlik\\Sense\\Scheduler\\LocalLogConfig.xml on every "
               "scheduler node (docs/sense-setup.md).", err=True)
