"""A durable queue of JSON records: one append-only file per folder, written in batches.

Every `put` and `remove` appends one line (`["p", id, record]` or `["d", id]`) and returns once
the line is on disk. Lines arriving while a batch is being written go out together in the next
one (group commit), so a burst of alerts costs one write and one fsync per batch instead of a
file created, renamed and deleted per record, each through a thread of its own.

A crash (even SIGKILL or a power cut) can leave at most a torn last line, which loading ignores:
every acknowledged line is whole. The file is rewritten with just the live records when dead lines
make up most of it, and before the first append after a load that found dead or damaged lines.
Records load in the order they were first written. qbutler uses two: the inbox (task events
received but not yet turned into messages) and the outbox (messages not yet delivered). The
folder belongs to one instance; instances share nothing here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from pathlib import Path
from typing import Any

import orjson

from qbutler.durable import write_atomic

log = logging.getLogger("qbutler.alerts.journal")

FILE_NAME = "journal.jsonl"
# Rewrite the file once it is this large and less than half of it is live records.
COMPACT_BYTES = 4 << 20

_sequence = itertools.count()


def read_records(folder: Path) -> tuple[dict[str, bytes], bool]:
    """The live records' lines by id, in first-written order, and whether the file holds only those."""
    try:
        data = (folder / FILE_NAME).read_bytes()
    except FileNotFoundError:
        return {}, True
    live: dict[str, bytes] = {}
    clean = data.endswith(b"\n") or not data
    lines = data.split(b"\n")
    # The part after the last newline is a write cut short by a crash: never acknowledged.
    for number, line in enumerate(lines[:-1], start=1):
        try:
            entry = orjson.loads(line)
            kind, record_id = entry[0], entry[1]
            if kind == "p" and isinstance(entry[2], dict):
                clean = clean and record_id not in live
                live[record_id] = line + b"\n"
            elif kind == "d":
                live.pop(record_id, None)
                clean = False
            else:
                raise ValueError(f"unknown entry kind {kind!r}")
        except (orjson.JSONDecodeError, ValueError, TypeError, IndexError, KeyError) as exc:
            log.error("%s line %d is damaged and skipped (%s): %.200r", folder / FILE_NAME, number, exc, line)
            clean = False
    return live, clean


class Journal:
    def __init__(self, folder: Path, *, compact_bytes: int = COMPACT_BYTES):
        self.folder = folder
        self.path = folder / FILE_NAME
        self.compact_bytes = compact_bytes
        self._pid = os.getpid()  # a system call each time on Linux
        # Live records as their file lines: what a rewrite writes.
        self._live: dict[str, bytes] = {}
        self._live_bytes = 0
        self._size = 0
        self._loaded = False
        self._rewrite = False
        self._pending: list[bytes] = []
        self._puts: list[tuple[str, bytes, bytes | None]] = []
        self._batch: asyncio.Future[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    def new_id(self) -> str:
        # Sortable: write time, then a per-process sequence for records of the same nanosecond.
        return f"{time.time_ns():020d}-{self._pid}-{next(_sequence):08d}"

    def load(self) -> list[tuple[str, dict[str, Any]]]:
        """Every stored record, oldest first. Call once, before the first put."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._live, clean = read_records(self.folder)
        self._live_bytes = sum(len(line) for line in self._live.values())
        self._size = self.path.stat().st_size if self.path.exists() else 0
        # A new file is written whole, so that its folder entry is synced too.
        self._rewrite = not clean or not self._size
        self._loaded = True
        return [(record_id, orjson.loads(line)[2]) for record_id, line in self._live.items()]

    async def put(self, record_id: str, record: dict[str, Any]) -> None:
        """Store (or replace) a record; on disk when this returns, OSError when it could not be."""
        await self.begin_put(record_id, record)

    def begin_put(self, record_id: str, record: dict[str, Any]) -> asyncio.Future[None]:
        """`put`, queued for the next write before this returns (so a cancelled caller cannot
        skip it); the future is done once the record is on disk."""
        self._check_loaded()
        line = orjson.dumps(["p", record_id, record]) + b"\n"
        previous = self._keep(record_id, line)
        self._puts.append((record_id, line, previous))
        return self._append(line)

    async def remove(self, record_id: str) -> None:
        self._check_loaded()
        self._forget(record_id)
        await self._append(orjson.dumps(["d", record_id]) + b"\n")

    def _check_loaded(self) -> None:
        # Writing first would rewrite the file without the records already in it.
        if not self._loaded:
            raise RuntimeError(f"{self.path}: load() the journal before writing to it")

    def _keep(self, record_id: str, line: bytes) -> bytes | None:
        """Store a record's line (a replaced record keeps its place); the line it replaced."""
        previous = self._live.get(record_id)
        self._live[record_id] = line
        self._live_bytes += len(line) - (len(previous) if previous is not None else 0)
        return previous

    def _forget(self, record_id: str) -> bytes | None:
        line = self._live.pop(record_id, None)
        if line is not None:
            self._live_bytes -= len(line)
        return line

    def _append(self, line: bytes) -> asyncio.Future[None]:
        self._pending.append(line)
        if self._batch is None:
            self._batch = asyncio.get_running_loop().create_future()
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        # Shielded: a caller that is cancelled must not cancel the batch shared with others.
        return asyncio.shield(self._batch)

    async def _flush(self) -> None:
        try:
            while self._pending:
                lines, puts, batch = self._pending, self._puts, self._batch
                self._pending, self._puts, self._batch = [], [], None
                assert batch is not None
                data = b"".join(lines)
                grown = self._size + len(data)
                try:
                    if self._rewrite or (grown > self.compact_bytes and 2 * self._live_bytes < grown):
                        # The live records already include this batch's changes.
                        snapshot = b"".join(self._live.values())
                        await asyncio.to_thread(write_atomic, self.path, snapshot)
                        self._size, self._rewrite = len(snapshot), False
                    else:
                        await asyncio.to_thread(self._write, data)
                        self._size = grown
                except OSError as exc:
                    # Part of the batch may be in the file: rewrite it whole next time, and undo
                    # the puts that failed (their callers are told; a replaced record stays).
                    self._rewrite = True
                    for record_id, line, previous in reversed(puts):
                        if self._live.get(record_id) is line:
                            if previous is None:
                                self._forget(record_id)
                            else:
                                self._keep(record_id, previous)
                    log.error("Writing %s failed: %s", self.path, exc)
                    batch.set_exception(exc)
                    batch.exception()  # retrieved: callers that were cancelled do not log it again
                else:
                    batch.set_result(None)
        finally:
            self._flusher = None

    def _write(self, data: bytes) -> None:
        with open(self.path, "ab") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
