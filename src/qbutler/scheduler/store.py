"""Butler's schedule file: `butlerSchedule:` followed by a list of schedule objects.

Every field of every schedule is kept, in its order, including fields qbutler does not know, so
the file stays readable by Butler. Writes are atomic (temporary file, fsync, rename, fsync of the
folder): a crash at any moment leaves either the old or the new file, never a mix.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from qbutler.durable import write_atomic

ROOT_KEY = "butlerSchedule"


class ScheduleFileError(Exception):
    """The schedule file cannot be read, has the wrong shape, or cannot be written."""


class _Loader(yaml.SafeLoader):
    """Keeps ISO timestamps (`created`) as the strings Butler wrote."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Dumper(yaml.SafeDumper):
    """js-yaml's layout: list items indented under their key, two spaces per level."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dump_schedules(entries: list[dict[str, Any]]) -> str:
    return yaml.dump({ROOT_KEY: entries}, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, indent=2, width=80)


def parse_schedules(text: str, source: str) -> list[dict[str, Any]]:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ScheduleFileError(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, dict) or ROOT_KEY not in data:
        raise ScheduleFileError(f"{source}: expected a mapping with the root key '{ROOT_KEY}'")
    entries = data[ROOT_KEY]
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ScheduleFileError(f"{source}: '{ROOT_KEY}' must be a list of schedules")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ScheduleFileError(f"{source}: '{ROOT_KEY}' entry {index + 1} is not a mapping of fields")
    return entries


Signature = tuple[int, int, int] | None


def file_signature(path: Path) -> Signature:
    """Changes whenever the file is replaced or rewritten (inode, size, modification time)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


class ScheduleStore:
    """The schedule list in memory, mirrored to the file after every change.

    A change is written first and applied in memory only once the file holds it, so a failed
    write changes nothing. If the file could not be read at start, writes are refused: replacing a
    file we could not read would destroy the schedules in it.
    """

    def __init__(self, path: Path):
        self.path = path
        self.entries: list[dict[str, Any]] = []
        self.read_error: str | None = None
        self.signature: Signature = None
        self._lock = asyncio.Lock()

    def read(self) -> list[dict[str, Any]]:
        """Read the file (a missing file is an empty list). Raises ScheduleFileError."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise ScheduleFileError(f"{self.path}: cannot be read: {exc}") from None
        return parse_schedules(text, str(self.path))

    async def load(self) -> list[dict[str, Any]]:
        async with self._lock:
            # Taken before reading: a change made while we read is seen on the next look.
            signature = self.signature = file_signature(self.path)
            try:
                entries = await asyncio.to_thread(self.read)
            except ScheduleFileError as exc:
                self.read_error = str(exc)
                raise
            self.entries, self.read_error, self.signature = entries, None, signature
            return copy.deepcopy(entries)

    def changed_on_disk(self) -> bool:
        return file_signature(self.path) != self.signature

    async def mutate(self, change: Callable[[list[dict[str, Any]]], Any]) -> Any:
        """Apply `change` to a copy of the list, write it, then adopt it. Returns change's result."""
        async with self._lock:
            if self.read_error is not None:
                raise ScheduleFileError(f"not writing the schedule file, it could not be read: {self.read_error}")
            entries = copy.deepcopy(self.entries)
            result = change(entries)
            text = dump_schedules(entries)
            try:
                await asyncio.to_thread(write_atomic, self.path, text.encode("utf-8"))
            except OSError as exc:
                raise ScheduleFileError(f"{self.path}: cannot be written: {exc}") from None
            self.entries = entries
            self.signature = file_signature(self.path)
            return result
