"""Helpers every area's CLI verbs share; area CLIs import these, never `qbutler.cli` itself."""

from __future__ import annotations

from pathlib import Path

import typer

from qbutler.config import Config, ConfigError, load_config


def load_or_exit(path: Path) -> Config:
    """The config at `path`, or every error printed and exit code 1."""
    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(f"Config file {path} is not valid:", err=True)
        for line in exc.errors:
            typer.echo(f"  - {line}", err=True)
        raise typer.Exit(1) from None
