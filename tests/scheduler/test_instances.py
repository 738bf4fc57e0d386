"""Several qbutler instances sharing one schedule file and one Redis.

SLOW: the main test here runs two real qbutler processes for about 60 seconds on purpose (the
issue's acceptance test); everything else in tests/scheduler takes seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from qbutler.kv.redis import RedisStore
from qbutler.scheduler.manager import RESERVATION_NAMESPACE
from support.scheduling import TASK, schedule, write_schedules
from support.sense import sense_config

RUN_SECONDS = 60


def instance_config(site, redis_url: str, schedule_file: Path, name: str) -> dict:
    return sense_config(
        site,
        keyValueStore={"backend": "redis", "redis": {"url": redis_url, "keyPrefix": "qbutler:test"}},
        scheduler={"enable": True, "configfile": str(schedule_file), "instanceId": name})


@pytest.mark.timeout(180)
async def test_two_instances_fire_each_occurrence_once_over_60_seconds(
        sense_site, sense_control, redis_server, qbutler_process, tmp_path: Path):
    schedule_file = tmp_path / "shared" / "schedule.yaml"
    schedule_file.parent.mkdir()
    write_schedules(schedule_file, [schedule("every-second", "* * * * * *")])
    first = await asyncio.to_thread(
        qbutler_process, instance_config(sense_site, redis_server.url, schedule_file, "a"), tmp_path / "a")
    second = await asyncio.to_thread(
        qbutler_process, instance_config(sense_site, redis_server.url, schedule_file, "b"), tmp_path / "b")
    both_up = time.time()
    await asyncio.sleep(RUN_SECONDS)
    both_running_until = time.time()
    await asyncio.to_thread(first.stop)
    await asyncio.to_thread(second.stop)

    calls = [c for c in await sense_control.calls() if c["method"] == "POST" and c["path"].endswith("/start")]
    assert all(c["path"] == f"/qrs/task/{TASK}/start" for c in calls)
    # sensesim stamps each call when it arrives, a few milliseconds after its occurrence.
    seconds = Counter(int(datetime.fromisoformat(c["time"].replace("Z", "+00:00")).timestamp()) for c in calls)
    assert max(seconds.values()) == 1, [s for s, n in seconds.items() if n > 1]
    window = range(int(both_up) + 1, int(both_running_until))
    assert len(window) >= RUN_SECONDS - 1
    assert [s for s in window if s not in seconds] == []

    store = RedisStore(redis_server.url, "qbutler:test")
    await store.start()
    try:
        reservations = await store.entries(RESERVATION_NAMESPACE)
    finally:
        await store.stop()
    assert len(reservations) == len(calls)
    # Both instances took part: each reserved (and fired) some of the occurrences.
    assert set(Counter(e.value for e in reservations)) == {"a", "b"}
