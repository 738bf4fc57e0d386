"""App metadata snapshots: the app dump of every app (or those a QRS filter selects), kept as
versioned JSON files that change only when the app changed.

Layout of `Butler.appSnapshots.directory`:

    apps/<appId>.json                          the latest snapshot of each app
    versions/<appId>/<UTC time>-<sha12>.json   every distinct version, the newest `keepVersions`

A file is the app dump, pretty-printed with its keys in a stable order: the top-level keys in the
dump's order (`appId` last), keys of nested objects sorted, and the items of each top-level list
sorted by their id (engine list order is not guaranteed). `omitKeys` are left out, so a reload
alone (`properties.qLastReloadTime`) makes no new version. Files are written atomically (temporary
file, fsync, rename). A new version is written only when the file's SHA-256 differs from the
current one. With `git.enable` the folder is a git repository and every run that changed
something is one commit, so `git log -p apps/<appId>.json` shows what changed when.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson

from qbutler.actions.appdump import dump_app
from qbutler.activity import ActivityFeed
from qbutler.background import cancel_and_wait
from qbutler.config import AppSnapshots as SnapshotSettings
from qbutler.config import Config
from qbutler.durable import write_atomic
from qbutler.scheduler.cron import CronExpression
from qbutler.sense.engine import EngineClient, EngineError, EngineUnavailable
from qbutler.sense.qrs import QrsClient

log = logging.getLogger("qbutler.snapshots")

Status = Literal["new", "changed", "unchanged", "failed"]

# App ids become file names: only GUID characters, so that no id can point outside the folder.
_SAFE_APP_ID = re.compile(r"[0-9A-Za-z-]+")


@dataclass
class AppResult:
    app_id: str
    name: str
    status: Status
    file: Path | None = None
    error: str = ""


@dataclass
class SnapshotRun:
    started: datetime
    results: list[AppResult] = field(default_factory=list)
    # The commit this run made, when git is enabled and something changed.
    commit: str | None = None
    git_error: str = ""

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def changed(self) -> list[AppResult]:
        return [r for r in self.results if r.status in ("new", "changed")]


# ----------------------------------------------------------------------------- rendering


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


def _item_key(item: Any) -> tuple[str, str]:
    """Sort key of a top-level list item: its id, name or URL, else its JSON text."""
    if isinstance(item, dict):
        info = (item.get("qProperty") or {}).get("qInfo") or item.get("qInfo") or {}
        for candidate in (info.get("qId"), item.get("qName"), item.get("qUrlDef"), item.get("qId")):
            if isinstance(candidate, str):
                return (candidate, "")
    return ("", orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode())


def _omit(dump: dict[str, Any], paths: list[str]) -> None:
    for path in paths:
        *parents, last = path.split(".")
        node: Any = dump
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)


def render_snapshot(dump: dict[str, Any], omit_keys: list[str] | tuple[str, ...] = ()) -> bytes:
    """The snapshot file's bytes for a dump (see the module docstring for the ordering rules)."""
    dump = orjson.loads(orjson.dumps(dump))  # a private copy to edit
    _omit(dump, list(omit_keys))
    stable: dict[str, Any] = {}
    for key, value in dump.items():
        value = _sorted_keys(value)
        if isinstance(value, list) and key != "lineage":  # lineage follows the script; keep its order
            value = sorted(value, key=_item_key)
        stable[key] = value
    return orjson.dumps(stable, option=orjson.OPT_INDENT_2) + b"\n"


# ----------------------------------------------------------------------------- files


class SnapshotFolder:
    """The files of one snapshot directory (blocking file I/O; callers run it in a thread)."""

    def __init__(self, directory: Path, keep_versions: int):
        self.directory = directory
        self.keep_versions = keep_versions

    def current(self, app_id: str) -> Path:
        return self.directory / "apps" / f"{app_id}.json"

    def versions(self, app_id: str) -> list[Path]:
        """Oldest first (file names start with the UTC time)."""
        folder = self.directory / "versions" / app_id
        return sorted(folder.glob("*.json")) if folder.is_dir() else []

    def store(self, app_id: str, data: bytes, when: datetime) -> Status:
        """Write `data` as the app's snapshot unless the current one has the same content."""
        current = self.current(app_id)
        digest = hashlib.sha256(data).hexdigest()
        try:
            previous = hashlib.sha256(current.read_bytes()).hexdigest()
        except FileNotFoundError:
            previous = None
        if previous == digest:
            return "unchanged"
        stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        write_atomic(self.directory / "versions" / app_id / f"{stamp}-{digest[:12]}.json", data)
        write_atomic(current, data)
        if self.keep_versions:
            for old in self.versions(app_id)[:-self.keep_versions]:
                old.unlink()
        return "new" if previous is None else "changed"


# ----------------------------------------------------------------------------- git


class GitError(Exception):
    pass


async def _git(directory: Path, *args: str) -> str:
    try:
        process = await asyncio.create_subprocess_exec(
            "git", *args, cwd=directory, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError:
        raise GitError("git is not installed (appSnapshots.git.enable needs it)") from None
    out, err = await process.communicate()
    if process.returncode != 0:
        raise GitError(f"git {args[0]} failed: {(err or out).decode(errors='replace').strip()}")
    return out.decode(errors="replace").strip()


async def commit_run(directory: Path, settings: SnapshotSettings, run: SnapshotRun) -> str | None:
    """Commit the snapshot files of `run`; None when nothing changed. Creates the repository."""
    if not (directory / ".git").exists():
        await _git(directory, "init", "-q")
        # Old versions live in git history already; the versions folder would only double them.
        await asyncio.to_thread((directory / ".gitignore").write_text, "versions/\n", "utf-8")
    await _git(directory, "add", "-A", "--", "apps", ".gitignore")
    if not await _git(directory, "status", "--porcelain", "--", "apps", ".gitignore"):
        return None
    lines = [f"Snapshot {run.started.strftime('%Y-%m-%d %H:%M:%S')} UTC: {len(run.changed)} app(s) new or changed", ""]
    lines += [f"- {r.status}: {r.name} ({r.app_id})" for r in run.changed]
    author = settings.git
    await _git(directory, "-c", f"user.name={author.authorName}", "-c", f"user.email={author.authorEmail}",
               "commit", "-q", "-m", "\n".join(lines))
    return await _git(directory, "rev-parse", "HEAD")


# ----------------------------------------------------------------------------- the job


async def list_apps(qrs: QrsClient, qrs_filter: str = "") -> list[tuple[str, str]]:
    """(id, name) of the apps QRS lists, by name then id."""
    apps = await qrs.get("app", params={"filter": qrs_filter} if qrs_filter else None)
    return sorted(((a["id"], a.get("name", "")) for a in apps), key=lambda a: (a[1].lower(), a[0]))


def next_fire(schedule: str, timezone: str, after: datetime, dialect: str = "standard") -> datetime:
    """The first time `schedule` fires after `after` (5 fields, or 6 with seconds first), with the
    scheduler's rules for wall times that daylight saving skips or repeats."""
    zone = ZoneInfo(timezone)
    instant = CronExpression.parse(schedule, dialect).next_fire(after.timestamp(), zone)
    return datetime.fromtimestamp(instant, zone)


Progress = Callable[[AppResult], None]


class AppSnapshotJob:
    """Runs snapshots on demand (`run`) and, once started, on the configured schedule."""

    def __init__(self, config: Config, engine: EngineClient, qrs: QrsClient, activity: ActivityFeed | None = None):
        self.settings = config.Butler.appSnapshots
        self.directory = config.resolve_path(self.settings.directory)
        self.engine = engine
        self.qrs = qrs
        self.activity = activity
        self._lock = asyncio.Lock()
        self._loop: asyncio.Task[None] | None = None
        self.last_run: SnapshotRun | None = None

    async def run(self, qrs_filter: str | None = None, directory: Path | None = None,
                  on_start: Callable[[int], None] | None = None, on_app: Progress | None = None) -> SnapshotRun:
        """One snapshot of every selected app; one run at a time. `qrs_filter` and `directory`
        override the config; `on_start(n)` and `on_app(result)` report progress."""
        async with self._lock:
            folder = SnapshotFolder(directory or self.directory, self.settings.keepVersions)
            run = SnapshotRun(datetime.now(UTC))
            apps = await list_apps(self.qrs, self.settings.filter if qrs_filter is None else qrs_filter)
            if on_start:
                on_start(len(apps))
            slots = asyncio.Semaphore(self.settings.parallelApps)

            async def snapshot(app_id: str, name: str) -> AppResult:
                async with slots:
                    result = await self._snapshot_app(folder, app_id, name, run.started)
                if on_app:
                    on_app(result)
                return result

            run.results = list(await asyncio.gather(*(snapshot(app_id, name) for app_id, name in apps)))
            if self.settings.git.enable:
                try:
                    run.commit = await commit_run(folder.directory, self.settings, run)
                except GitError as exc:
                    run.git_error = str(exc)
                    log.error("App snapshots written, but not committed: %s", exc)
            self.last_run = run
            self._report(run)
            return run

    async def _snapshot_app(self, folder: SnapshotFolder, app_id: str, name: str, when: datetime) -> AppResult:
        if not _SAFE_APP_ID.fullmatch(app_id):
            return AppResult(app_id, name, "failed", error=f"app id {app_id!r} is not usable as a file name")
        try:
            dump = await dump_app(self.engine, app_id)
            data = render_snapshot(dump, self.settings.omitKeys)
            status = await asyncio.to_thread(folder.store, app_id, data, when)
        except (EngineError, EngineUnavailable, OSError) as exc:
            log.warning("Snapshot of app %s (%s) failed: %s", name, app_id, exc)
            return AppResult(app_id, name, "failed", error=str(exc))
        return AppResult(app_id, name, status, folder.current(app_id))

    def _report(self, run: SnapshotRun) -> None:
        counts = {status: run.count(status) for status in ("new", "changed", "unchanged", "failed")}
        summary = ", ".join(f"{n} {status}" for status, n in counts.items())
        log.info("App snapshots: %s%s", summary, f"; commit {run.commit[:12]}" if run.commit else "")
        if self.activity is not None:
            self.activity.publish("appdump.snapshot", f"App snapshots: {summary}", commit=run.commit, **counts)

    # ------------------------------------------------------------------ schedule

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._run_on_schedule(), name="app-snapshots")

    async def stop(self) -> None:
        await cancel_and_wait(self._loop)
        self._loop = None

    async def _run_on_schedule(self) -> None:
        due = datetime.now(UTC)
        while True:
            # From the later of now and the last fire time: a timer that wakes a little early
            # must not fire the same occurrence twice.
            now = datetime.now(UTC)
            due = next_fire(self.settings.schedule, self.settings.timezone, max(now, due), self.settings.cronDialect)
            await asyncio.sleep(max(0.0, (due - now).total_seconds()))
            try:
                await self.run()
            except Exception:
                # A failed run (QRS down, disk full) must not end the schedule.
                log.exception("App snapshot run failed")
