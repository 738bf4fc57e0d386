"""Windows services by host (Butler's `serviceMonitor.monitor[]`), read with `sc.exe`.

Only on Windows: `sc.exe \\\\<host> query state= all` gives every service's state (one process per
host and poll) and `sc.exe \\\\<host> qc <name>` its start type, path and dependencies (once per
service, again after a change). As in Butler, a service is STOPPED when its STATE line says
STOPPED and RUNNING otherwise. Host and service names are checked against Butler's rules before
they reach a command line, and sc.exe is started without a shell.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from qbutler.alerts.site import RUNNING

log = logging.getLogger("qbutler.watch.windows")

STOPPED = "STOPPED"
_HOST = re.compile(r"^[a-zA-Z0-9._-]+$")
_BAD_NAME = re.compile(r'["\r\n&|;`$()<>]')
# A remote host that does not answer ties sc.exe up for a while; longer than this is a failure.
SC_TIMEOUT = 30.0
START_TYPES = {"0": "Boot", "1": "System", "2": "Automatic", "3": "Manual", "4": "Disabled"}
# Runs sc.exe with these arguments; the text it printed, or OSError when it failed.
ScRunner = Callable[[list[str]], Awaitable[str]]


def check_host(host: str) -> str:
    if not _HOST.match(host):
        raise ValueError(f"{host!r} is not a host name (letters, digits, '.', '_' and '-' only)")
    return host


def check_service(name: str) -> str:
    if not 1 <= len(name) <= 256 or _BAD_NAME.search(name):
        raise ValueError(f"{name!r} is not a Windows service name")
    return name


def _value(line: str) -> str:
    return line.split(":", 1)[1].strip() if ":" in line else ""


def parse_states(text: str) -> dict[str, tuple[str, str]]:
    """`sc query state= all`: service key name -> (STOPPED or RUNNING, display name)."""
    services: dict[str, tuple[str, str]] = {}
    for block in re.split(r"\r?\n\s*\r?\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        name = next((_value(line) for line in lines if line.startswith("SERVICE_NAME")), "")
        if not name:
            continue
        display = next((_value(line) for line in lines if line.startswith("DISPLAY_NAME")), "")
        state = next((line for line in lines if line.startswith("STATE")), "")
        services[name] = (STOPPED if "STOPPED" in state else RUNNING, display)
    return services


@dataclass
class ServiceDetails:
    name: str = ""
    displayName: str = ""
    startType: str = ""
    exePath: str = ""
    dependencies: list[str] = field(default_factory=list)


def parse_details(text: str) -> ServiceDetails:
    """`sc qc <name>`: start type (a delayed start is Automatic, as in Butler), path, dependencies."""
    details = ServiceDetails()
    in_dependencies = False
    for raw in text.splitlines():
        line = raw.strip()
        key = line.split(":", 1)[0].strip()
        if key == "SERVICE_NAME":
            details.name = _value(line)
        elif key == "DISPLAY_NAME":
            details.displayName = _value(line)
        elif key == "START_TYPE":
            digit = re.search(r"\d", _value(line))
            details.startType = START_TYPES.get(digit.group(0), "") if digit else ""
        elif key == "BINARY_PATH_NAME":
            details.exePath = _value(line)
        elif key == "DEPENDENCIES":
            in_dependencies = True
            if _value(line):
                details.dependencies.append(_value(line))
            continue
        elif in_dependencies and line.startswith(":"):
            if _value(line):
                details.dependencies.append(_value(line))
            continue
        in_dependencies = False
    return details


async def run_sc(arguments: list[str]) -> str:
    """sc.exe itself (Windows): its output, or OSError with what it printed when it failed."""
    process = await asyncio.create_subprocess_exec("sc.exe", *arguments, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    try:
        async with asyncio.timeout(SC_TIMEOUT):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        raise OSError(f"sc.exe {' '.join(arguments)}: no answer within {SC_TIMEOUT:g}s") from None
    text = output.decode("utf-8", errors="replace")
    if process.returncode != 0:
        raise OSError(f"sc.exe {' '.join(arguments)} failed ({process.returncode}): {' '.join(text.split())[:300]}")
    return text


class ScExe:
    """Queries of one host's services, with each service's details cached until it changes."""

    def __init__(self, runner: ScRunner = run_sc):
        self.runner = runner
        self._details: dict[tuple[str, str], ServiceDetails] = {}

    async def states(self, host: str) -> dict[str, tuple[str, str]]:
        return parse_states(await self.runner([f"\\\\{check_host(host)}", "query", "state=", "all"]))

    async def details(self, host: str, name: str, refresh: bool = False) -> ServiceDetails:
        key = (host, name)
        if refresh or key not in self._details:
            text = await self.runner([f"\\\\{check_host(host)}", "qc", check_service(name)])
            self._details[key] = parse_details(text)
        return self._details[key]
