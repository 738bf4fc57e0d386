"""The Store protocol on each backend: what the scheduler, alerts and tasks areas rely on."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from qbutler.config import parse_config
from qbutler.kv import NamespaceFull, StoreUnavailable, open_store, sqlite_path
from qbutler.kv.redis import RedisStore
from qbutler.kv.sqlite import SqliteStore
from support.brokers import Redis


@pytest.fixture
async def store(kv_settings: dict[str, Any], tmp_path: Path) -> AsyncIterator[Any]:
    config = parse_config({"Butler": {"keyValueStore": {**kv_settings, "sweepIntervalSeconds": 0.1},
                                      "qbutler": {"dataDirectory": "data"}}}, tmp_path)
    kv = open_store(config)
    await kv.start()
    yield kv
    await kv.stop()


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_set_get_and_entry_fields(store):
    entry = await store.set("ns", "k", "v", 60_000)
    assert (entry.value, entry.ttl_ms) == ("v", 60_000)
    got = await store.get("ns", "k")
    assert (got.namespace, got.key, got.value, got.ttl_ms) == ("ns", "k", "v", 60_000)
    assert got.expires_at == pytest.approx(entry.expires_at, abs=1)
    plain = await store.set("ns", "p", "v")
    assert (plain.ttl_ms, plain.expires_at) == (None, None)
    assert await store.get("ns", "missing") is None


async def test_set_if_absent_is_a_reservation(store):
    assert await store.set_if_absent("alerts", "exec-1", "a", 200)
    assert not await store.set_if_absent("alerts", "exec-1", "b")
    assert (await store.get("alerts", "exec-1")).value == "a"
    await asyncio.sleep(0.3)
    assert await store.set_if_absent("alerts", "exec-1", "c")


async def test_concurrent_reservations_have_one_winner(store):
    results = await asyncio.gather(*(store.set_if_absent("sched", "run@12:00", str(i)) for i in range(25)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert (await store.get("sched", "run@12:00")).value == str(winner)


async def test_delete_and_delete_namespace(store):
    await store.set("ns", "a", "1")
    await store.set("ns", "b", "2")
    assert await store.delete("ns", "a")
    assert not await store.delete("ns", "a")
    assert await store.count("ns") == 1
    assert await store.delete_namespace("ns")
    assert not await store.delete_namespace("ns")
    assert await store.namespaces() == []


async def test_a_namespace_lives_from_first_write_until_deleted(store):
    await store.set("ns", "only", "v")
    await store.set("short", "k", "v", 100)
    assert await store.delete("ns", "only")
    await asyncio.sleep(0.35)  # the short key expires, and sweeps run meanwhile
    await store.create_namespace("made")
    await store.create_namespace("ns")  # exists already: nothing changes
    assert await store.namespaces() == ["ns", "short", "made"]
    for namespace in ("ns", "short", "made"):
        assert await store.has_namespace(namespace)
        assert await store.entries(namespace) == []
        assert await store.count(namespace) == 0
    assert not await store.has_namespace("never")
    assert await store.delete_namespace("ns")
    assert not await store.has_namespace("ns")
    assert not await store.delete_namespace("ns")
    await store.set("ns", "again", "v")
    assert await store.namespaces() == ["short", "made", "ns"]


async def test_listing_order(store):
    for namespace, key in [("n1", "b"), ("n2", "x"), ("n1", "a"), ("n1", "c")]:
        await store.set(namespace, key, "v")
    await store.set("n1", "b", "again")
    await store.delete("n1", "a")
    await store.set("n1", "a", "back")
    assert [e.key for e in await store.entries("n1")] == ["b", "c", "a"]
    assert await store.namespaces() == ["n1", "n2"]


async def test_key_limit(store):
    await store.set("ns", "a", "1", max_keys=2)
    await store.set("ns", "b", "1", max_keys=2)
    with pytest.raises(NamespaceFull) as caught:
        await store.set("ns", "c", "1", max_keys=2)
    assert (caught.value.namespace, caught.value.limit) == ("ns", 2)
    assert (await store.set("ns", "a", "2", max_keys=2)).value == "2"
    assert await store.count("ns") == 2


async def test_sweep_removes_expired_keys_from_storage(store, kv_settings, tmp_path):
    await store.set("ns", "gone", "v", 100)
    await store.set("ns", "kept", "v")
    await asyncio.sleep(0.5)  # several sweeps at 0.1 s, and no read in between
    backend = kv_settings["backend"]
    if backend == "sqlite":
        with sqlite3.connect(tmp_path / "data" / "kv.sqlite") as conn:
            assert conn.execute("SELECT key FROM kv").fetchall() == [("kept",)]
    elif backend == "redis":
        client = aioredis.from_url(kv_settings["redis"]["url"], decode_responses=True)
        try:
            assert await client.zrange("qbutler:kv:e:ns", 0, -1) == ["kept"]
            assert await client.zrange("qbutler:kv:k:ns", 0, -1) == ["kept"]
        finally:
            await client.aclose()
    else:
        assert list(store._space.data["ns"]) == ["kept"]  # what the process holds
    assert [e.key for e in await store.entries("ns")] == ["kept"]


# ----------------------------------------------------------------------------- sqlite


async def test_sqlite_keeps_empty_namespaces_across_a_restart(tmp_path):
    path = tmp_path / "kv.sqlite"
    first = SqliteStore(path)
    await first.start()
    await first.set("emptied", "k", "v")
    await first.delete("emptied", "k")
    await first.create_namespace("made")
    await first.set("kept", "k", "v")
    await first.stop()
    second = SqliteStore(path)
    await second.start()
    try:
        assert await second.namespaces() == ["emptied", "made", "kept"]
        assert await second.delete_namespace("made")
    finally:
        await second.stop()
    third = SqliteStore(path)
    await third.start()
    try:
        assert await third.namespaces() == ["emptied", "kept"]
    finally:
        await third.stop()


async def test_sqlite_file_from_before_the_namespaces_table(tmp_path):
    path = tmp_path / "kv.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE kv (namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
                     "ttl_ms INTEGER, expires_at REAL, seq INTEGER NOT NULL, PRIMARY KEY (namespace, key)) "
                     "WITHOUT ROWID")
        conn.executemany("INSERT INTO kv VALUES (?, ?, ?, NULL, NULL, ?)",
                         [("b", "k1", "v", 1), ("a", "k2", "v", 2), ("b", "k3", "v", 3)])
    store = SqliteStore(path)
    await store.start()
    try:
        assert await store.namespaces() == ["b", "a"]
        await store.delete("a", "k2")
        await store.set("c", "k", "v")
        assert await store.namespaces() == ["b", "a", "c"]
    finally:
        await store.stop()


async def test_sqlite_keeps_everything_across_a_restart(tmp_path):
    path = tmp_path / "kv.sqlite"
    first = SqliteStore(path)
    await first.start()
    await first.set("n2", "x", "1")
    await first.set("n1", "b", "2", 3_600_000)
    await first.set("n1", "a", "3")
    await first.delete("n2", "x")
    await first.set("n2", "y", "4")
    await first.stop()
    second = SqliteStore(path)
    await second.start()
    try:
        # n2 was created first and outlived its only key.
        assert await second.namespaces() == ["n2", "n1"]
        assert [(e.key, e.value, e.ttl_ms) for e in await second.entries("n1")] == [
            ("b", "2", 3_600_000), ("a", "3", None)]
        await second.set("n1", "c", "5")
        assert [e.key for e in await second.entries("n1")] == ["b", "a", "c"]
    finally:
        await second.stop()


async def test_sqlite_one_batch_decides_each_write_in_arrival_order(tmp_path):
    # Submitted without awaiting in between, these land in one transaction: each decision must
    # see the batch's earlier writes, and the file must end up as the mirror does.
    path = tmp_path / "kv.sqlite"
    kv = SqliteStore(path)
    await kv.start()
    await kv.set("ns", "old", "1")
    results = await asyncio.gather(
        kv.set("ns", "a", "1", max_keys=3),
        kv.set_if_absent("ns", "a", "2"),
        kv.set("ns", "b", "1", max_keys=3),
        kv.set("ns", "c", "1", max_keys=3),
        kv.delete_namespace("ns"),
        kv.set_if_absent("ns", "a", "3"),
        kv.delete("ns", "old"),
        kv.set("ns", "d", "1", max_keys=1),
        return_exceptions=True)
    assert results[0].value == "1"
    assert results[1] is False
    assert results[2].key == "b"
    assert isinstance(results[3], NamespaceFull)
    assert results[4:7] == [True, True, False]
    assert isinstance(results[7], NamespaceFull)
    assert [(e.key, e.value) for e in await kv.entries("ns")] == [("a", "3")]
    await kv.stop()
    again = SqliteStore(path)
    await again.start()
    try:
        assert [(e.key, e.value) for e in await again.entries("ns")] == [("a", "3")]
    finally:
        await again.stop()


async def test_sqlite_restart_neither_revives_nor_extends(tmp_path):
    path = tmp_path / "kv.sqlite"
    clock = Clock()
    first = SqliteStore(path, clock=clock)
    await first.start()
    await first.set("ns", "short", "v", 10_000)
    await first.set("ns", "long", "v", 60_000)
    await first.stop()
    clock.now += 30  # down for 30 s
    second = SqliteStore(path, clock=clock)
    await second.start()
    try:
        assert await second.get("ns", "short") is None
        assert await second.get("ns", "long") is not None
        clock.now += 29.9
        assert await second.get("ns", "long") is not None
        clock.now += 0.2  # 60.1 s after the write, not 60 s after the restart
        assert await second.get("ns", "long") is None
    finally:
        await second.stop()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT key FROM kv").fetchall() == [("long",)]


async def test_sqlite_file_has_one_owner(tmp_path):
    owner = SqliteStore(tmp_path / "kv.sqlite")
    await owner.start()
    try:
        with pytest.raises(StoreUnavailable, match="in use by another qbutler process"):
            await SqliteStore(tmp_path / "kv.sqlite").start()
    finally:
        await owner.stop()
    again = SqliteStore(tmp_path / "kv.sqlite")
    await again.start()
    await again.stop()


async def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "kv.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreUnavailable, match=r"cannot open the key-value store .*kv\.sqlite"):
        await SqliteStore(path).start()


async def test_sqlite_path_from_config(tmp_path):
    default = parse_config({"Butler": {"qbutler": {"dataDirectory": "state"}}}, tmp_path)
    assert sqlite_path(default) == tmp_path / "state" / "kv.sqlite"
    chosen = parse_config({"Butler": {"keyValueStore": {"sqlite": {"path": "elsewhere/kv.db"}}}}, tmp_path)
    assert sqlite_path(chosen) == tmp_path / "elsewhere" / "kv.db"


async def test_writes_after_stop_are_refused(tmp_path):
    kv = SqliteStore(tmp_path / "kv.sqlite")
    await kv.start()
    await kv.stop()
    with pytest.raises(StoreUnavailable):
        await kv.set("ns", "k", "v")


# ----------------------------------------------------------------------------- redis


async def test_redis_instances_share_keys_and_reservations(redis_server):
    one, two = RedisStore(redis_server.url), RedisStore(redis_server.url)
    await one.start()
    await two.start()
    try:
        await one.set("ns", "k", "from one")
        assert (await two.get("ns", "k")).value == "from one"
        results = await asyncio.gather(*(store.set_if_absent("alerts", "e1", name)
                                         for name in ("one", "two") for store in (one, two) for _ in range(5)))
        assert results.count(True) == 1
        assert await two.delete_namespace("ns")
        assert await one.namespaces() == ["alerts"]
    finally:
        await one.stop()
        await two.stop()


async def test_redis_prefixes_separate_sites(redis_server):
    site_a, site_b = RedisStore(redis_server.url, "site-a"), RedisStore(redis_server.url, "site-b")
    await site_a.start()
    await site_b.start()
    try:
        await site_a.set("ns", "k", "a")
        assert await site_b.namespaces() == []
        assert await site_b.get("ns", "k") is None
    finally:
        await site_a.stop()
        await site_b.stop()


async def test_redis_unreachable_at_start_names_the_server_without_password():
    store = RedisStore("redis://user:secret@127.0.0.1:1/0")
    with pytest.raises(StoreUnavailable) as caught:
        await store.start()
    assert "127.0.0.1:1" in str(caught.value)
    assert "secret" not in str(caught.value)


async def test_redis_going_away_gives_butlers_500(tmp_path):
    from support.qbutler import base_config, running_service

    server = Redis(tmp_path / "own-redis")
    server.start()
    try:
        config = base_config(keyValueStore={"backend": "redis", "redis": {"url": server.url}})
        async with running_service(config, tmp_path) as running, running.client() as api:
            assert (await api.post("/v4/keyvalues/ns", json={"key": "k", "value": "v"})).status_code == 201
            server.stop()
            got = await api.get("/v4/keyvalues/ns?key=k")
            assert got.status_code == 500
            assert got.json() == {"statusCode": 500, "error": "Internal Server Error",
                                  "message": "Failed getting key-value data"}
            posted = await api.post("/v4/keyvalues/ns", json={"key": "k", "value": "v"})
            assert posted.json()["message"] == "Failed adding key-value to namespace"
            assert (await api.get("/v4/keyvaluesnamespaces")).json()["message"] == "Failed getting all namespaces"
    finally:
        server.stop()
