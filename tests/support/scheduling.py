"""Scheduler test helpers: a clock the test moves by hand, and a scheduler wired to sensesim."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from qbutler.config import parse_config
from qbutler.scheduler.manager import Scheduler
from qbutler.service import Service
from support.sense import sense_config

TASK = "3c9e2f5a-6d1b-4c8e-9a0f-2b7d4e6f8a1c"  # "Reload Sales Dashboard" in sensesim's minimal seed


class FakeClock:
    """Wall-clock time that only moves when the test calls `advance`."""

    def __init__(self, start: float):
        self._now = start
        # Awaited after each wake-up, so work started at that instant (a task start over the
        # network) finishes before time moves on.
        self.quiet: Callable[[], Awaitable[None]] | None = None
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep_until(self, when: float) -> None:
        if when <= self._now:
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._order), future))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking every sleeper on the way at its own deadline."""
        target = self._now + seconds
        while True:
            await settle()
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            when, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, when)
            future.set_result(None)
            await settle()
            if self.quiet is not None:
                await self.quiet()
        self._now = target
        await settle()


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def write_schedules(path: Path, schedules: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump({"butlerSchedule": schedules}, sort_keys=False), encoding="utf-8")


def schedule(id: str, cron: str, zone: str = "UTC", state: str = "started", **extra: Any) -> dict[str, Any]:
    return {"name": f"schedule {id}", "cronSchedule": cron, "timezone": zone, "qlikSenseTaskId": TASK,
            "startupState": state, "id": id, **extra}


@contextlib.asynccontextmanager
async def running_scheduler(site: Any, folder: Path, clock: Any, **settings: Any) -> AsyncIterator[Scheduler]:
    """qbutler without its REST listener, scheduler on, tasks started in `site`; `clock` drives the
    scheduler. The config 'lives' in `folder`."""
    config = sense_config(site, restServerConfig={"enable": False},
                          scheduler={"enable": True, "configfile": "schedule.yaml", **settings})
    service = Service(parse_config(config, folder))
    scheduler = service.scheduler
    assert scheduler is not None
    scheduler.clock = clock
    clock.quiet = lambda: firings_done(scheduler)
    await service.start()
    try:
        yield scheduler
    finally:
        await service.stop()


async def firings_done(scheduler: Scheduler) -> None:
    assert scheduler.runner is not None
    firings = [job.firing for job in scheduler.runner.jobs.values() if job.firing and not job.firing.done()]
    if firings:
        await asyncio.wait(firings, timeout=10)


async def task_starts(control: Any, count: int, wait: float = 5.0) -> list[dict[str, Any]]:
    """Wait until sensesim has seen `count` start calls (or `wait` seconds), and return them."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        starts = [c for c in await control.calls() if c["method"] == "POST" and c["path"].endswith("/start")]
        if len(starts) >= count or asyncio.get_running_loop().time() > deadline:
            return starts
        await asyncio.sleep(0.05)
