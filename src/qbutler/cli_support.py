"""Helpers every area's CLI verbs share; area CLIs import these, never `qbutler.cli` itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


class LazyConsole:
    """A rich Console made on first use: importing rich costs start-up time `qbutler serve` need
    not pay for the other commands' output."""

    def __init__(self, stderr: bool = False):
        self._stderr = stderr
        self._console: Any = None

    def console(self) -> Any:
        """The rich Console itself (for rich objects that take one, such as Progress)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console(), name)
