"""`qbutler app dump` and `qbutler app snapshot`: the app dump and snapshots from the command line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import orjson
import typer

from qbutler.actions.appdump import dump_app
from qbutler.actions.snapshots import AppResult, AppSnapshotJob, SnapshotRun
from qbutler.cli_support import LazyConsole
from qbutler.config import Config, ConfigError, load_config
from qbutler.sense.engine import EngineClient, EngineError, EngineUnavailable
from qbutler.sense.qrs import QrsClient, QrsError

app = typer.Typer(help="Export Sense apps' metadata through the Engine API.", no_args_is_help=True)

err = LazyConsole(stderr=True)

ConfigOption = Annotated[Path, typer.Option("--configfile", "-c", help="Butler-format YAML config file.")]


def _config(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        err.print(f"Config file {path} is not valid:")
        for line in exc.errors:
            err.print(f"  - {line}", markup=False)
        raise typer.Exit(1) from None


@app.command("dump")
def dump(
    app_id: Annotated[str, typer.Argument(metavar="APPID", help="Id of the app to dump.")],
    configfile: ConfigOption,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")] = None,
) -> None:
    """Dump one app's metadata as pretty-printed JSON (the same content as GET /v4/app/{appId}/dump)."""
    engine = EngineClient(_config(configfile))
    try:
        result = asyncio.run(dump_app(engine, app_id))
    except (EngineError, EngineUnavailable) as exc:
        err.print(f"[red]Cannot dump app {app_id}:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n"
    if output is None:
        typer.echo(text.decode(), nl=False)
    else:
        output.write_bytes(text)
        err.print(f"App {app_id} written to {output}", highlight=False)


async def _snapshot(config: Config, qrs_filter: str | None, out: Path | None) -> SnapshotRun:
    qrs = QrsClient(config)
    job = AppSnapshotJob(config, EngineClient(config), qrs)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    try:
        with Progress(*columns, console=err.console(), transient=False) as progress:
            task = progress.add_task("Listing apps", total=None)

            def started(total: int) -> None:
                progress.update(task, total=total, description="Snapshotting apps")

            def done(result: AppResult) -> None:
                progress.advance(task)
                if result.status == "failed":
                    progress.console.print(f"[red]failed[/red] {result.name} ({result.app_id}): {result.error}",
                                           highlight=False)

            return await job.run(qrs_filter, out, on_start=started, on_app=done)
    finally:
        await qrs.stop()


@app.command("snapshot")
def snapshot(
    configfile: ConfigOption,
    qrs_filter: Annotated[str | None, typer.Option(
        "--filter", help="QRS filter on apps, e.g. \"stream.name eq 'Finance'\" (default: appSnapshots.filter).")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Snapshot folder (default: appSnapshots.directory).")] = None,
) -> None:
    """Snapshot apps into a folder: one JSON file per app, a new version only when it changed."""
    config = _config(configfile)
    try:
        run = asyncio.run(_snapshot(config, qrs_filter, out))
    except QrsError as exc:
        err.print(f"[red]Cannot list apps:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    summary = ", ".join(f"{run.count(s)} {s}" for s in ("new", "changed", "unchanged", "failed"))
    folder = out or config.resolve_path(config.Butler.appSnapshots.directory)
    typer.echo(f"{len(run.results)} apps: {summary}. Folder: {folder}")
    if run.commit:
        typer.echo(f"Committed {run.commit}")
    if run.git_error:
        err.print(f"[red]Not committed:[/red] {run.git_error}", highlight=False)
    if run.count("failed") or run.git_error:
        raise typer.Exit(1)
