"""`qbutler apikey new`: make an API key, print it once with the config entry that holds its hash."""

from __future__ import annotations

from typing import Annotated

import typer
import yaml

from qbutler.auth.keys import new_key
from qbutler.auth.scopes import ALL, SCOPES, unknown_scopes

apikey_app = typer.Typer(help="API keys for the REST API (Butler.qbutler.api.keys).", no_args_is_help=True)


@apikey_app.command("new")
def new(
    name: Annotated[str, typer.Option("--name", help="Shown in the audit trail and logs instead of the key.")],
    scopes: Annotated[str, typer.Option(
        "--scopes", help=f"Comma-separated: {', '.join(SCOPES)}, or '{ALL}' for all.")],
) -> None:
    """Print a new key (shown only now) and the entry to add under Butler.qbutler.api.keys."""
    wanted = [scope.strip() for scope in scopes.split(",") if scope.strip()]
    unknown = unknown_scopes(wanted)
    if not wanted or unknown or not name.strip():
        problem = (f"unknown scope(s): {', '.join(unknown)}" if unknown
                   else "--name must not be empty" if not name.strip() else "--scopes lists no scope")
        typer.echo(f"qbutler apikey new: {problem}; known scopes: {', '.join(SCOPES)} or '{ALL}'", err=True)
        raise typer.Exit(2)
    key, hashed = new_key()
    entry = yaml.safe_dump([{"name": name.strip(), "hash": hashed, "scopes": wanted}], sort_keys=False)
    typer.echo(f"API key (store it now, it is not shown again):\n\n  {key}\n")
    typer.echo("Add to Butler.qbutler.api.keys in the config file:\n")
    typer.echo("\n".join(f"  {line}" for line in entry.splitlines()))
