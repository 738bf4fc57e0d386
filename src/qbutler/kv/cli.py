"""`qbutler kv ...`: look at and change the key-value store the config file points at."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from qbutler.cli_support import load_or_exit
from qbutler.config import Config
from qbutler.kv import NamespaceFull, Store, StoreUnavailable, open_store, sqlite_path
from qbutler.kv.memory import MemoryStore
from qbutler.kv.sqlite import read_snapshot
from qbutler.kv.store import Entry, wall_clock

kv_app = typer.Typer(help="Look at and change the key-value store (Butler.keyValueStore).",
                     no_args_is_help=True)

ConfigOption = Annotated[Path, typer.Option("--configfile", "-c", help="Butler-format YAML config file.")]
T = TypeVar("T")


def _config(path: Path) -> Config:
    config = load_or_exit(path)
    if config.Butler.keyValueStore.backend == "memory":
        _fail("the memory backend keeps its keys inside the running qbutler process; use the REST "
              "API (/v4/keyvalues/...) to reach them, or switch Butler.keyValueStore.backend to sqlite or redis")
    return config


def _fail(message: str) -> NoReturn:
    typer.echo(f"qbutler kv: {message}", err=True)
    raise typer.Exit(1)


async def _using(store: Store, action: Callable[[Store], Awaitable[T]], start: bool) -> T:
    if start:
        await store.start()
    try:
        return await action(store)
    finally:
        if start:
            await store.stop()


def _read(configfile: Path, action: Callable[[Store], Awaitable[T]]) -> T:
    """Run a read; the sqlite file is read beside a running qbutler, without its writer lock."""
    config = _config(configfile)
    try:
        if config.Butler.keyValueStore.backend == "sqlite":
            snapshot = MemoryStore(space=read_snapshot(sqlite_path(config), wall_clock()))
            return asyncio.run(_using(snapshot, action, start=False))
        return asyncio.run(_using(open_store(config), action, start=True))
    except StoreUnavailable as exc:
        _fail(str(exc))


def _write(configfile: Path, action: Callable[[Store, Config], Awaitable[T]]) -> T:
    config = _config(configfile)

    async def run(store: Store) -> T:
        return await action(store, config)

    try:
        return asyncio.run(_using(open_store(config), run, start=True))
    except StoreUnavailable as exc:
        hint = ""
        if config.Butler.keyValueStore.backend == "sqlite":
            hint = " (a running qbutler owns the file: stop it, or change keys through its REST API)"
        _fail(f"{exc}{hint}")
    except NamespaceFull as exc:
        _fail(str(exc))


def _expiry(entry: Entry) -> str:
    if entry.expires_at is None:
        return "no expiry"
    moment = datetime.fromtimestamp(entry.expires_at, UTC).isoformat(timespec="milliseconds")
    return f"expires {moment.replace('+00:00', 'Z')}"


@kv_app.command("namespaces")
def namespaces(configfile: ConfigOption) -> None:
    """List namespaces, one per line, in creation order."""
    for name in _read(configfile, lambda store: store.namespaces()):
        typer.echo(name)


@kv_app.command("keys")
def keys(namespace: str, configfile: ConfigOption,
         values: Annotated[bool, typer.Option("--values", help="Also print each value and its expiry.")] = False,
         ) -> None:
    """List the keys of a namespace, one per line, in creation order."""
    async def listing(store: Store) -> list[Entry] | None:
        return await store.entries(namespace) if await store.has_namespace(namespace) else None

    entries = _read(configfile, listing)
    if entries is None:
        _fail(f"Namespace not found: {namespace}")
    for entry in entries:
        typer.echo(f"{entry.key}\t{entry.value}\t{_expiry(entry)}" if values else entry.key)


@kv_app.command("get")
def get(namespace: str, key: str, configfile: ConfigOption) -> None:
    """Print the value of a key."""
    async def lookup(store: Store) -> Entry | str:
        entry = await store.get(namespace, key)
        if entry is not None:
            return entry
        # The same two messages as GET /v4/keyvalues/{namespace}?key= gives.
        if not await store.has_namespace(namespace):
            return f"Namespace not found: {namespace}"
        return f"Key '{key}' not found in namespace: {namespace}"

    found = _read(configfile, lookup)
    if isinstance(found, str):
        _fail(found)
    typer.echo(found.value)


@kv_app.command("set")
def set_(namespace: str, key: str, value: str, configfile: ConfigOption,
         ttl: Annotated[int, typer.Option("--ttl", help="Time to live in milliseconds; 0 means no expiry.")] = 0,
         ) -> None:
    """Create or overwrite a key (the namespace's key limit applies, as over REST)."""
    if key == "":
        _fail("the key must not be empty")

    async def action(store: Store, config: Config) -> Entry:
        limit = config.Butler.keyValueStore.maxKeysPerNamespace
        return await store.set(namespace, key, value, ttl, max_keys=limit or None)

    entry = _write(configfile, action)
    typer.echo(f"{namespace} / {key} stored, {_expiry(entry)}")


@kv_app.command("delete")
def delete(namespace: str, configfile: ConfigOption,
           key: Annotated[str | None, typer.Argument(help="Key to delete; without it, the whole namespace.")] = None,
           ) -> None:
    """Delete a key, or a whole namespace when no key is given."""
    if key is None:
        if not _write(configfile, lambda store, _: store.delete_namespace(namespace)):
            _fail(f"Namespace not found: {namespace}")
        typer.echo(f"Namespace {namespace} deleted")
        return

    async def delete_key(store: Store, _: Config) -> str | None:
        if await store.delete(namespace, key):
            return None
        if not await store.has_namespace(namespace):
            return f"Namespace not found: {namespace}"
        return f"Key '{key}' not found in namespace: {namespace}"

    problem = _write(configfile, delete_key)
    if problem:
        _fail(problem)
    typer.echo(f"{namespace} / {key} deleted")
