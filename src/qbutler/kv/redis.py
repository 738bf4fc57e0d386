"""Keys in Redis, shared by every qbutler instance that points at the same server and prefix.

Layout under the prefix `P` (any characters, ':' included, are safe in namespaces and keys):

    P:v:<byte length of ns>:<ns>:<key>   hash {v: value, t: ttl ms (0: none), x: expiry ms (-1: none)},
                                         with a Redis expiry when it has a TTL
    P:k:<ns>                             sorted set of the namespace's keys, scored by creation order
    P:e:<ns>                             sorted set of the same keys, scored by expiry (+inf: never)
    P:ns                                 sorted set of namespaces (empty ones too), scored by creation order
    P:seq                                counter for creation order

Redis removes an expired value by itself, so a key is invisible the moment it expires, on every
instance. The two index sets are pruned of expired keys inside every script that reads or changes
a namespace, so counts, listings and the key limit agree with the values. Each change is one Lua
script, so checks and writes are atomic across instances (set-if-absent is the basis of shared
reservations). Expiry times come from the Redis server's clock, the one clock all instances share.
Scripts build key names from the prefix, so this needs a single Redis server (or a primary with
replicas), not Redis Cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from qbutler.kv.store import Entry, NamespaceFull, StoreUnavailable, normalise_ttl
from qbutler.kv.sweeper import Sweeper

log = logging.getLogger("qbutler.kv")

_COMMON = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function value_key(p, ns, key)
  return p .. ':v:' .. string.len(ns) .. ':' .. ns .. ':' .. key
end
-- Forget index entries whose value Redis has expired (score < now <=> Redis sees it expired);
-- the namespace stays, possibly empty. Returns how many were forgotten.
local function prune(p, ns, now)
  local kz, ez = p .. ':k:' .. ns, p .. ':e:' .. ns
  local dead = redis.call('ZRANGEBYSCORE', ez, '-inf', '(' .. now)
  for i = 1, #dead, 500 do
    local chunk = {unpack(dead, i, math.min(i + 499, #dead))}
    redis.call('ZREM', ez, unpack(chunk))
    redis.call('ZREM', kz, unpack(chunk))
  end
  return #dead
end
"""

# ARGV: prefix, namespace, key, value, ttl ms (0: none), key limit (0: none), only if absent (1/0)
# -> {1, expiry ms or -1} written, {0, 0} present already, {-1, 0} namespace full
_SET = _COMMON + """
local p, ns, key, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, max, nx = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1'
local now = now_ms()
prune(p, ns, now)
local kz, ez, vk = p .. ':k:' .. ns, p .. ':e:' .. ns, value_key(p, ns, key)
local live = redis.call('EXISTS', vk) == 1
if live and nx then return {0, 0} end
if not live and max > 0 and redis.call('ZCARD', kz) >= max then return {-1, 0} end
local expires = -1
if ttl > 0 then
  expires = now + ttl
  redis.call('HSET', vk, 'v', value, 't', ttl, 'x', expires)
  redis.call('PEXPIREAT', vk, expires)
  redis.call('ZADD', ez, expires, key)
else
  redis.call('HSET', vk, 'v', value, 't', 0, 'x', -1)
  redis.call('PERSIST', vk)
  redis.call('ZADD', ez, '+inf', key)
end
if not live then
  local seq = redis.call('INCR', p .. ':seq')
  redis.call('ZADD', kz, seq, key)
  redis.call('ZADD', p .. ':ns', 'NX', seq, ns)
end
return {1, expires}
"""

# ARGV: prefix, namespace -> 1 created, 0 existed already
_CREATE_NAMESPACE = """
local p, ns = ARGV[1], ARGV[2]
if redis.call('ZSCORE', p .. ':ns', ns) then return 0 end
redis.call('ZADD', p .. ':ns', redis.call('INCR', p .. ':seq'), ns)
return 1
"""

# ARGV: prefix, namespace, key -> 1 removed, 0 absent
_DELETE = _COMMON + """
local p, ns, key = ARGV[1], ARGV[2], ARGV[3]
prune(p, ns, now_ms())
local vk = value_key(p, ns, key)
if redis.call('DEL', vk) == 0 then return 0 end
redis.call('ZREM', p .. ':k:' .. ns, key)
redis.call('ZREM', p .. ':e:' .. ns, key)
return 1
"""

# ARGV: prefix, namespace -> 1 removed, 0 absent
_DELETE_NAMESPACE = _COMMON + """
local p, ns = ARGV[1], ARGV[2]
if not redis.call('ZSCORE', p .. ':ns', ns) then return 0 end
local keys = redis.call('ZRANGE', p .. ':k:' .. ns, 0, -1)
for _, key in ipairs(keys) do redis.call('DEL', value_key(p, ns, key)) end
redis.call('DEL', p .. ':k:' .. ns, p .. ':e:' .. ns)
redis.call('ZREM', p .. ':ns', ns)
return 1
"""

# ARGV: prefix, namespace -> flat list key, value, ttl, expiry for each live key in creation order
_ENTRIES = _COMMON + """
local p, ns = ARGV[1], ARGV[2]
prune(p, ns, now_ms())
local out = {}
for _, key in ipairs(redis.call('ZRANGE', p .. ':k:' .. ns, 0, -1)) do
  local h = redis.call('HMGET', value_key(p, ns, key), 'v', 't', 'x')
  if h[1] then
    out[#out + 1] = key; out[#out + 1] = h[1]; out[#out + 1] = h[2]; out[#out + 1] = h[3]
  end
end
return out
"""

# ARGV: prefix, namespace -> live key count
_COUNT = _COMMON + """
prune(ARGV[1], ARGV[2], now_ms())
return redis.call('ZCARD', ARGV[1] .. ':k:' .. ARGV[2])
"""

# ARGV: prefix -> index entries forgotten after pruning every namespace
_SWEEP = _COMMON + """
local p = ARGV[1]
local now = now_ms()
local forgotten = 0
for _, ns in ipairs(redis.call('ZRANGE', p .. ':ns', 0, -1)) do
  forgotten = forgotten + prune(p, ns, now)
end
return forgotten
"""


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _entry(namespace: str, key: str, value: str, ttl: Any, expires: Any) -> Entry:
    ttl_ms = int(ttl or 0)
    expires_ms = int(expires or -1)
    return Entry(namespace, key, value, ttl_ms if ttl_ms > 0 else None,
                 expires_ms / 1000.0 if expires_ms > 0 else None)


class RedisStore:
    def __init__(self, url: str, prefix: str = "qbutler:kv", sweep_interval: float = 60.0):
        self.url = url
        self.prefix = prefix
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._sweeper = Sweeper(self.sweep, sweep_interval)

    async def start(self) -> None:
        client = aioredis.from_url(self.url, decode_responses=True)
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise StoreUnavailable(f"cannot reach Redis at {redacted(self.url)}: {exc}") from None
        self._client = client
        self._scripts = {name: client.register_script(source) for name, source in [
            ("set", _SET), ("create_namespace", _CREATE_NAMESPACE), ("delete", _DELETE),
            ("delete_namespace", _DELETE_NAMESPACE), ("entries", _ENTRIES), ("count", _COUNT),
            ("sweep", _SWEEP)]}
        self._sweeper.start()
        log.info("Key-value store: redis %s, prefix %s", redacted(self.url), self.prefix)

    async def stop(self) -> None:
        await self._sweeper.stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _running(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreUnavailable("the key-value store is not running")
        return self._client

    async def _run(self, script: str, *args: Any) -> Any:
        self._running()
        return await self._scripts[script](args=[self.prefix, *args])

    def _value_key(self, namespace: str, key: str) -> str:
        return f"{self.prefix}:v:{len(namespace.encode())}:{namespace}:{key}"

    async def get(self, namespace: str, key: str) -> Entry | None:
        value, ttl, expires = await self._running().hmget(self._value_key(namespace, key), ["v", "t", "x"])
        return None if value is None else _entry(namespace, key, value, ttl, expires)

    async def _set(self, namespace: str, key: str, value: str, ttl_ms: int | None, max_keys: int | None,
                   only_if_absent: bool) -> tuple[int, int]:
        ttl = normalise_ttl(ttl_ms) or 0
        status, expires = await self._run("set", namespace, key, value, ttl, max_keys or 0,
                                          1 if only_if_absent else 0)
        return int(status), int(expires)

    async def set(self, namespace: str, key: str, value: str, ttl_ms: int | None = None, *,
                  max_keys: int | None = None) -> Entry:
        status, expires = await self._set(namespace, key, value, ttl_ms, max_keys, False)
        if status < 0:
            raise NamespaceFull(namespace, max_keys or 0)
        return _entry(namespace, key, value, normalise_ttl(ttl_ms), expires)

    async def set_if_absent(self, namespace: str, key: str, value: str, ttl_ms: int | None = None) -> bool:
        status, _ = await self._set(namespace, key, value, ttl_ms, None, True)
        return status == 1

    async def delete(self, namespace: str, key: str) -> bool:
        return bool(await self._run("delete", namespace, key))

    async def create_namespace(self, namespace: str) -> None:
        await self._run("create_namespace", namespace)

    async def has_namespace(self, namespace: str) -> bool:
        return await self._running().zscore(f"{self.prefix}:ns", namespace) is not None

    async def delete_namespace(self, namespace: str) -> bool:
        return bool(await self._run("delete_namespace", namespace))

    async def namespaces(self) -> list[str]:
        return list(await self._running().zrange(f"{self.prefix}:ns", 0, -1))

    async def entries(self, namespace: str) -> list[Entry]:
        flat: Sequence[Any] = await self._run("entries", namespace)
        return [_entry(namespace, *flat[i:i + 4]) for i in range(0, len(flat), 4)]

    async def count(self, namespace: str) -> int:
        return int(await self._run("count", namespace))

    async def sweep(self) -> int:
        """Prune every namespace's indexes of keys Redis has expired; returns how many."""
        return int(await self._run("sweep"))
