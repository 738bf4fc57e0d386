"""The two ways to run the demo: the live view, and the headless check."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from qbutler.demo import environment as demo
from qbutler.demo.check import Result, run_checks
from qbutler.demo.environment import DemoEnvironment, Options
from qbutler.demo.view import render
from qbutler.runtime import stop_on_signals


def try_this(env: DemoEnvironment) -> list[tuple[str, str]]:
    url = env.url
    task = env.tasks[demo.SUCCESS_TASK]
    app = env.apps[demo.DUMP_APP]
    commands = [
        ("Start a task", f"curl -X PUT {url}/v4/reloadtask/{task}/start -H 'Content-Type: application/json' -d '[]'"),
        ("Set a KV pair", f"curl -X POST {url}/v4/keyvalues/demo -H 'Content-Type: application/json' "
                          "-d '{\"key\":\"color\",\"value\":\"blue\",\"ttl\":60000}'"),
        ("Read it back", f"curl '{url}/v4/keyvalues/demo?key=color'"),
        ("Post to Slack", f"curl -X PUT {url}/v4/slackpostmessage -H 'Content-Type: application/json' "
                          "-d '{\"channel\":\"#demo\",\"from_user\":\"me\",\"msg\":\"Hello from a load script\"}'"),
        ("Dump an app", f"curl {url}/v4/app/{app}/dump"),
    ]
    if env.broker is not None:
        commands.insert(1, ("Start over MQTT",
                            f"mosquitto_pub -p {env.broker.port} -t qliksense/start_task -m {task}"))
    return commands


def header(env: DemoEnvironment) -> str:
    lines = [f"qbutler dashboard {env.url}/ui/   (open it in a browser)",
             f"qbutler REST API  {env.url}   (API docs: {env.url}/documentation)",
             f"Simulated Sense   QRS {env.site.qrs_url}   Engine {env.site.engine_url}",
             (f"MQTT broker       127.0.0.1:{env.broker.port}" if env.broker else env.mqtt_note)
             + f"   Folder {env.folder}   Ctrl-C stops everything"]
    return "\n".join(lines)


async def live(folder: Path | None, port: int) -> None:
    console = Console()
    stop = asyncio.Event()
    stop_on_signals(stop)  # for the rest of the run
    console.print("Starting the simulated Sense site and qbutler…")
    async with DemoEnvironment(Options(folder=folder, port=port)) as env:
        commands = try_this(env)
        with Live(render(env.recorder, header(env), commands), console=console, screen=False,
                  refresh_per_second=4, transient=False) as view:
            while not stop.is_set():
                view.update(render(env.recorder, header(env), commands))
                try:
                    await asyncio.wait_for(stop.wait(), 0.25)
                except TimeoutError:
                    pass
        console.print("Stopping…")
    console.print("Stopped; nothing left running." + ("" if folder is None else f" Files kept in {folder}."))


def report(results: list[Result]) -> Table:
    table = Table(title="qbutler demo --check")
    table.add_column("Capability")
    table.add_column("Result")
    table.add_column("Detail")
    table.add_column("Time", justify="right")
    for result in results:
        verdict = "[yellow]skipped[/yellow]" if result.skipped else ("[green]pass[/green]" if result.ok
                                                                      else "[red]FAIL[/red]")
        table.add_row(result.name, verdict, result.detail, f"{result.seconds:.1f} s")
    return table


async def check(folder: Path | None, port: int) -> bool:
    results = await run_checks(folder, port)
    Console().print(report(results))
    return all(result.ok for result in results)
