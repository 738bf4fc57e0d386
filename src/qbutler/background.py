"""Ending the background tasks a component started (its loops and workers) in `stop()`."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("qbutler")

# How long a cancelled task may take to end before it is cancelled again.
RECANCEL_SECONDS = 1.0


async def end_tasks(tasks: Iterable[asyncio.Task[Any]], limit: float | None = None) -> set[asyncio.Task[Any]]:
    """Cancel the tasks and wait until they have ended; the ones still running after `limit`
    seconds (none without a limit) are returned.

    A cancel is only a request, and one can be lost: on Python 3.11, asyncio.wait_for (used by
    aiomqtt for every publish) swallows a cancel that arrives as the operation it waits for
    completes (CPython gh-86296), and a loop such as the site watch's then simply runs on. So a
    task still running RECANCEL_SECONDS after its cancel is cancelled again, and again."""
    pending = set(tasks)
    for task in pending:
        task.cancel()
    loop = asyncio.get_running_loop()
    give_up = math.inf if limit is None else loop.time() + limit
    while pending:
        left = give_up - loop.time()
        if left <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_SECONDS, left))
        for task in pending:
            log.info("Task %s has not ended %gs after it was cancelled; cancelling it again", task.get_name(),
                     RECANCEL_SECONDS)
            task.cancel()
    return pending


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the tasks (None entries are skipped) and wait until each has ended, so that stop()
    returns only once nothing of the component runs any more. Raises what the first of them
    that failed (rather than being cancelled) raised."""
    running = [task for task in tasks if task is not None]
    await end_tasks(running)
    for task in running:
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            raise failure
