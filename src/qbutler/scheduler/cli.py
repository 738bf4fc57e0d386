"""`qbutler schedule ...`: list schedules with their next fire times, validate a schedule file,
and print the fire times of a cron expression."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from qbutler.cli_support import LazyConsole, load_or_exit
from qbutler.scheduler.cron import CronError, CronExpression, Dialect, parse_iso
from qbutler.scheduler.later import ScheduleTextError, fire_times, looks_like_cron, parse_frequency
from qbutler.scheduler.model import ScheduleError, check_schedule, schedule_label, zone_for
from qbutler.scheduler.store import ScheduleFileError, ScheduleStore

schedule_app = typer.Typer(help="Inspect schedules and cron expressions.", no_args_is_help=True)
out = LazyConsole()
err = LazyConsole(stderr=True)

DialectOption = Annotated[Dialect | None, typer.Option(
    "--dialect", help="Cron dialect: butler (months 0-11) or standard (months 1-12). "
                      "Default: Butler.scheduler.cronDialect, or butler without a config.")]
ConfigOption = Annotated[Path | None, typer.Option("--configfile", "-c", help="Butler-format YAML config file.")]


def _settings(configfile: Path | None, dialect: Dialect | None) -> tuple[Dialect, bool, Path | None]:
    """Dialect, whether schedule zones are honoured, and the schedule file, from the config if given."""
    if configfile is None:
        return dialect or Dialect.BUTLER, True, None
    config = load_or_exit(configfile)
    scheduler = config.Butler.scheduler
    return (dialect or Dialect(scheduler.cronDialect), scheduler.timezoneMode == "schedule",
            config.resolve_path(scheduler.configfile))


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        return ScheduleStore(path).read()
    except ScheduleFileError as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(1) from None


def _when(instant: float, zone: Any) -> str:
    return datetime.fromtimestamp(instant, zone).strftime("%Y-%m-%d %H:%M:%S %Z")


@schedule_app.command("list")
def list_schedules(
    configfile: Annotated[Path, typer.Option("--configfile", "-c", help="Butler-format YAML config file.")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=20, help="Fire times per schedule.")] = 3,
    dialect: DialectOption = None,
) -> None:
    """Every schedule in the config's schedule file, with its next fire times."""
    chosen, honour, path = _settings(configfile, dialect)
    assert path is not None
    from rich.table import Table

    table = Table(title=str(path))
    for column in ("ID", "Name", "Cron", "Zone", "Startup", "Next fire times"):
        table.add_column(column)
    now = time.time()
    for fields in _read(path):
        try:
            schedule = check_schedule(fields, chosen, honour)
        except ScheduleError as exc:
            table.add_row(str(fields.get("id", "")), str(fields.get("name", "")), str(fields.get("cronSchedule", "")),
                          str(fields.get("timezone", "")), str(fields.get("startupState", "")),
                          f"[red]{exc}[/red]")
            continue
        times = schedule.expression.fire_times(now, schedule.zone, count)
        table.add_row(schedule.id, schedule.name, schedule.expression.source,
                      str(getattr(schedule.zone, "key", schedule.zone)), str(fields.get("startupState", "")),
                      "\n".join(_when(t, schedule.zone) for t in times))
    out.print(table)


@schedule_app.command("validate")
def validate(
    schedulefile: Annotated[Path | None, typer.Argument(help="Schedule file (default: the config's).")] = None,
    configfile: ConfigOption = None,
    dialect: DialectOption = None,
) -> None:
    """Check every schedule in a file: exit 0 when all can run, 1 listing each problem."""
    chosen, honour, configured = _settings(configfile, dialect)
    path = schedulefile or configured
    if path is None:
        err.print("Give a schedule file, or --configfile to use the config's.")
        raise typer.Exit(2)
    entries = _read(path)
    problems = []
    seen: set[str] = set()
    for fields in entries:
        try:
            schedule = check_schedule(fields, chosen, honour)
            if schedule.id in seen:
                raise ScheduleError(f"{schedule_label(fields)}: field 'id': duplicate of an earlier schedule")
            seen.add(schedule.id)
        except ScheduleError as exc:
            problems.append(str(exc))
    if problems:
        err.print(f"{path}: {len(problems)} of {len(entries)} schedule(s) cannot run ({chosen.value} dialect):")
        for problem in problems:
            err.print(f"  - {problem}", markup=False)
        raise typer.Exit(1)
    out.print(f"{path}: {len(entries)} schedule(s), all valid ({chosen.value} dialect)")


@schedule_app.command("next")
def next_times(
    expression: Annotated[str, typer.Argument(
        help="Cron expression (5 fields, or 6 with seconds first), or a later.js text as Butler's "
             "frequency: keys take it ('every 30 seconds', 'at 10:15 am'; always UTC).")],
    timezone: Annotated[str, typer.Option("--timezone", "-z", help="IANA zone; default: the server's.")] = "",
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=1000)] = 5,
    after: Annotated[str, typer.Option("--after", help="ISO-8601 start time; default: now.")] = "",
    dialect: DialectOption = None,
) -> None:
    """Print the next fire times of a cron expression in a time zone, or of a later.js text."""
    try:
        zone = zone_for(timezone, "--timezone", True)
        start = parse_iso(after) if after else time.time()
        if looks_like_cron(expression):
            instants = CronExpression.parse(expression, dialect or Dialect.BUTLER).fire_times(start, zone, count)
        else:
            # A later.js text fires in UTC; --timezone only changes how the times are shown.
            instants = fire_times(parse_frequency(expression), start, count)
    except (CronError, ScheduleError, ScheduleTextError, ValueError) as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(1) from None
    for instant in instants:
        out.print(_when(instant, zone), markup=False, highlight=False)
