"""The environment of a qbutler installed with pip, for benches that start Python processes."""

from __future__ import annotations

import os


def installed_env(**extra: str) -> dict[str, str]:
    """This process's environment without `PYTHONDONTWRITEBYTECODE`: pip compiles an installed
    package's bytecode, so an import or start-up measured with that variable set would time
    Python compiling qbutler's source on every run, which no installed qbutler does."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **extra}
