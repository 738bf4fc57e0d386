"""`sensesim serve`: run a simulated Qlik Sense site until SIGINT/SIGTERM.

The last line printed once everything listens is one JSON object (`"event": "listening"`)
holding every URL and port, so a parent process can start `sensesim serve --qrs-port 0 ...`
and read where things ended up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from .runner import RunnerConfig
from .server import Site, SiteConfig
from .state import SeedError, load_seed, parse_iso

app = typer.Typer(add_completion=False, no_args_is_help=True, help="A simulated Qlik Sense Enterprise site.")


@app.callback()
def _root() -> None:
    """A simulated Qlik Sense Enterprise on Windows site: QRS, Engine, scheduler, UDP events."""


def parse_target(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `[v6]:PORT`."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise typer.BadParameter(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


@app.command()
def serve(
    seed: Annotated[str, typer.Option(help="demo, minimal, or a seed YAML file")] = "demo",
    certs: Annotated[Path, typer.Option(help="certificate directory (QMC export layout)")] = Path(
        "sensesim-certs"
    ),
    host: Annotated[str, typer.Option(help="address QRS, engine and 9032 listen on")] = "127.0.0.1",
    qrs_port: Annotated[int, typer.Option(help="QRS port; 0 picks a free one")] = 4242,
    engine_port: Annotated[int, typer.Option(help="engine websocket port; 0 picks a free one")] = 4747,
    systeminfo_port: Annotated[int, typer.Option(help="port of /v1/systeminfo; 0 picks a free one")] = 9032,
    control_port: Annotated[int, typer.Option(help="control API port (plain HTTP); 0 picks one")] = 4999,
    control_host: Annotated[str, typer.Option(help="control API address; keep it on loopback")] = "127.0.0.1",
    udp_target: Annotated[
        list[str] | None, typer.Option(help="HOST:PORT to send scheduler datagrams to (repeatable)")
    ] = None,
    success_marker: Annotated[
        str, typer.Option(help="single: /scheduler-task-success/, double: ...//")
    ] = "single",
    hostname: Annotated[str | None, typer.Option(help="node name in QRS results and datagrams")] = None,
    extra_san: Annotated[
        list[str] | None, typer.Option(help="extra server-certificate name (repeatable)")
    ] = None,
    duration_ms: Annotated[int, typer.Option(help="run time of tasks whose seed sets none")] = 2000,
    trigger_delay_ms: Annotated[int, typer.Option(help="Triggered -> Started delay")] = 300,
    retry_delay_ms: Annotated[int, typer.Option(help="delay before a retry attempt")] = 1000,
    time_scale: Annotated[float, typer.Option(help="multiply every run delay by this")] = 1.0,
    clock_start: Annotated[
        str | None, typer.Option(help="ISO instant the simulated clock starts at (default: now)")
    ] = None,
    strict_user: Annotated[bool, typer.Option(help="403 on QRS calls without X-Qlik-User")] = False,
    same_element_filters: Annotated[
        bool, typer.Option(help="collection predicates joined by 'and' must hit one element")
    ] = False,
    engine: Annotated[bool, typer.Option(help="start the engine websocket server")] = True,
    apps_dir: Annotated[
        Path | None, typer.Option(help="import folder of QRS app/import (the site's Apps folder)")
    ] = None,
    log_level: Annotated[str, typer.Option(help="Python log level")] = "INFO",
) -> None:
    """Run the site until interrupted."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if success_marker not in ("single", "double"):
        raise typer.BadParameter("--success-marker must be single or double")
    try:
        start = parse_iso(clock_start) if clock_start else None
    except ValueError:
        raise typer.BadParameter(f"--clock-start must be an ISO date-time, not {clock_start!r}") from None
    try:
        state = load_seed(seed)
    except SeedError as exc:
        typer.echo(f"seed error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if hostname:
        state.site.hostname = hostname
    config = SiteConfig(
        seed=seed,
        certs_dir=certs,
        host=host,
        control_host=control_host,
        qrs_port=qrs_port,
        engine_port=engine_port,
        control_port=control_port,
        systeminfo_port=systeminfo_port,
        engine=engine,
        hostnames=tuple(extra_san or ()),
        runner=RunnerConfig(
            default_duration_ms=duration_ms,
            trigger_delay_ms=trigger_delay_ms,
            retry_delay_ms=retry_delay_ms,
            time_scale=time_scale,
            udp_targets=[parse_target(t) for t in udp_target or []],
            success_marker=success_marker,  # type: ignore[arg-type]
            clock_start=start,
        ),
    )
    config.qrs.strict_user = strict_user
    config.qrs.same_element_filters = same_element_filters
    config.qrs.import_folder = apps_dir.resolve() if apps_dir else None
    _run_on_uvloop(_run(Site(config, state=state)))


def _run_on_uvloop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop where installed (it comes with uvicorn[standard]): measured with
    bench/qrs_throughput.py, sensesim answers about a fifth more task starts per second on it."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


async def _run(site: Site) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no add_signal_handler
            loop.add_signal_handler(sig, stop.set)
    async with site:
        info = site.describe()
        typer.echo(f"QRS          {info['qrs']}/qrs/")
        typer.echo(f"Engine       {info['engine'] or '(not available)'}")
        typer.echo(f"systeminfo   {info['systeminfo']}/v1/systeminfo")
        typer.echo(f"Control API  {info['control']}/")
        typer.echo(f"Certificates {info['certs']} (client.pem, client_key.pem, root.pem)")
        typer.echo(f"UDP targets  {', '.join(info['udpTargets']) or '(none)'}")
        typer.echo(json.dumps({"event": "listening", **info}))
        sys.stdout.flush()
        await stop.wait()
    typer.echo(json.dumps({"event": "stopped"}))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
