"""The live terminal view of the demo (rich)."""

from __future__ import annotations

import time

from rich.console import Group
from rich.layout import Layout
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from qbutler.demo.recorder import Recorder


def _table(recorder: Recorder, panel: str, empty: str) -> Panel:
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(style="dim", no_wrap=True)
    table.add_column(ratio=1, overflow="ellipsis", no_wrap=True)
    table.add_column(style="cyan", no_wrap=True)
    rows = recorder.rows(panel)
    for row in reversed(rows):
        clock = time.strftime("%H:%M:%S", time.localtime(row.time))
        table.add_row(clock, Text(row.text, style="" if row.ok else "red"), row.detail)
    if not rows:
        table.add_row("", Text(empty, style="dim italic"), "")
    title = f"{panel} ({recorder.counts.get(panel, 0)})"
    return Panel(table, title=title, title_align="left", border_style="blue")


def render(recorder: Recorder, header: str, try_this: list[tuple[str, str]]) -> Layout:
    layout = Layout()
    layout.split_column(
        Layout(Panel(Text(header), title="qbutler demo", border_style="green"), size=header.count("\n") + 3),
        Layout(name="top"),
        Layout(name="middle"),
        Layout(name="try", size=len(try_this) + 2),
    )
    layout["top"].split_row(
        Layout(_table(recorder, "Task starts", "none yet: try the commands below")),
        Layout(_table(recorder, "Task outcomes", "no run finished yet")),
        Layout(_table(recorder, "Alerts delivered", "no alert yet")),
    )
    layout["middle"].split_row(
        Layout(_table(recorder, "Schedules", "no firing yet")),
        Layout(_table(recorder, "Key-value store", "no write yet")),
        Layout(Group(_table(recorder, "Files", "no file operation yet"),
                     _table(recorder, "Apps", "no reload or dump yet"))),
    )
    commands = Table.grid(padding=(0, 1))
    commands.add_column(style="bold")
    commands.add_column(style="yellow")
    for label, command in try_this:
        commands.add_row(label, command)
    layout["try"].update(Panel(commands, title="Try this (in another terminal)", title_align="left",
                               border_style="magenta"))
    return layout
