"""`qbutler history ...`: recent failures, one task's runs, one run, per-task statistics, from the
history the config file points at (read beside a running qbutler)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import orjson
import typer

from qbutler.cli_support import LazyConsole, load_or_exit
from qbutler.history import queries
from qbutler.history.factory import open_history
from qbutler.history.model import Execution, ExecutionFilter, iso, parse_time
from qbutler.history.store import HistoryStore, HistoryUnavailable

history_app = typer.Typer(help="Look at the reload history (Butler.qbutler.history).", no_args_is_help=True)
console = LazyConsole()

ConfigOption = Annotated[Path, typer.Option("--configfile", "-c", help="Butler-format YAML config file.")]
SinceOption = Annotated[str | None, typer.Option("--since", help="ISO 8601 time or an age such as 24h or 7d.")]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, max=queries.MAX_PAGE, help="Rows at most.")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]
T = TypeVar("T")


def _fail(message: str) -> NoReturn:
    typer.echo(f"qbutler history: {message}", err=True)
    raise typer.Exit(1)


def _since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        _fail(f"--since: {exc}")


def _query(configfile: Path, action: Callable[[HistoryStore], Awaitable[T]]) -> T:
    config = load_or_exit(configfile)
    if not config.Butler.qbutler.history.enable:
        _fail("the history is switched off (Butler.qbutler.history.enable)")
    store = open_history(config)

    async def run() -> T:
        await store.start()
        try:
            return await action(store)
        finally:
            await store.stop()

    try:
        return asyncio.run(run())
    except HistoryUnavailable as exc:
        _fail(str(exc))


def _seconds(ms: int | float | None) -> str:
    return "" if ms is None else f"{ms / 1000:.1f}s"


def _print_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _runs_table(title: str, rows: list[Execution]) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for column in ("ended (UTC)", "task", "outcome", "duration", "trigger", "node", "execution id"):
        table.add_column(column, no_wrap=column in ("ended (UTC)", "execution id"))
    colours = {"failed": "red", "aborted": "yellow", "success": "green"}
    for row in rows:
        table.add_row((iso(row.ended_at) or "")[:19].replace("T", " "), row.task_name,
                      f"[{colours.get(row.outcome, 'white')}]{row.outcome}[/]", _seconds(row.duration_ms),
                      row.trigger + (f" ({row.trigger_detail})" if row.trigger_detail else ""), row.node,
                      row.execution_id)
    return table


def _show_runs(title: str, rows: list[Execution], as_json: bool) -> None:
    if as_json:
        _print_json([row.to_dict() for row in rows])
    elif not rows:
        typer.echo("No runs recorded.")
    else:
        console.print(_runs_table(title, rows))


@history_app.command("failures")
def failures(configfile: ConfigOption, since: SinceOption = None, limit: LimitOption = 20,
             as_json: JsonOption = False) -> None:
    """The most recent failed runs, newest first."""
    start = _since(since)
    page = _query(configfile, lambda store: queries.recent_failures(store, limit, since=start))
    _show_runs("Recent failures", page.items, as_json)


@history_app.command("runs")
def runs(task_id: Annotated[str, typer.Argument(help="Task id.")], configfile: ConfigOption,
         since: SinceOption = None, limit: LimitOption = 20, as_json: JsonOption = False) -> None:
    """One task's runs, newest first."""
    where = ExecutionFilter(task_id=task_id.lower(), since=_since(since))
    page = _query(configfile, lambda store: queries.list_executions(store, where, limit=limit))
    _show_runs(f"Runs of task {task_id}", page.items, as_json)


@history_app.command("show")
def show(execution_id: Annotated[str, typer.Argument(help="Execution id.")], configfile: ConfigOption,
         as_json: JsonOption = False) -> None:
    """One run: what happened, its script-log tail and the alerts it caused."""
    found = _query(configfile, lambda store: queries.get_execution(store, execution_id))
    if found is None:
        _fail(f"no execution {execution_id} in the history")
    if as_json:
        _print_json(found.to_dict())
        return
    console.print(_runs_table(f"Execution {execution_id}", [found]))
    for line in found.details:
        console.print(f"  {line}", markup=False)
    if found.script_log_tail:
        console.print("[bold]Script log (tail)[/]")
        for line in found.script_log_tail:
            console.print(f"  {line}", markup=False)
    from rich.table import Table

    table = Table(title="Alert deliveries")
    for column in ("channel", "target", "outcome", "attempts", "error"):
        table.add_column(column)
    for delivery in found.deliveries:
        table.add_row(delivery.channel, delivery.target, delivery.outcome, str(delivery.attempts), delivery.error)
    console.print(table if found.deliveries else "No alert deliveries recorded.")


@history_app.command("stats")
def stats(configfile: ConfigOption,
          task: Annotated[str | None, typer.Option("--task", help="Only this task id.")] = None,
          since: SinceOption = None, as_json: JsonOption = False) -> None:
    """Per task: runs, failures, aborts, median and 95th-percentile duration of successful runs, last success
    (every task: the last 7 days unless --since says otherwise)."""
    start = _since(since)
    rows = _query(configfile, lambda store: queries.task_stats(store, task_id=task.lower() if task else None,
                                                               since=start))
    if as_json:
        _print_json([row.to_dict() for row in rows])
        return
    if not rows:
        typer.echo("No runs recorded.")
        return
    from rich.table import Table

    table = Table(title="Task statistics")
    for column in ("task", "runs", "failures", "aborts", "p50", "p95", "last success (UTC)"):
        table.add_column(column, justify="right" if column in ("runs", "failures", "aborts", "p50", "p95") else "left")
    for row in rows:
        table.add_row(row.task_name or row.task_id, str(row.runs), str(row.failures), str(row.aborts),
                      _seconds(row.p50_duration_ms), _seconds(row.p95_duration_ms),
                      (iso(row.last_success_at) or "never")[:19].replace("T", " "))
    console.print(table)
