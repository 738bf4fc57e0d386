"""Ending background tasks at shutdown, including a task whose cancel was lost."""

from __future__ import annotations

import asyncio
import time

from qbutler.background import cancel_and_wait, end_tasks


async def poll_forever(acknowledged: asyncio.Event, polls: list[int]) -> None:
    """A loop like the site watch's: wait (bounded) for an acknowledgement, then go on."""
    while True:
        await asyncio.wait_for(acknowledged.wait(), 5)
        polls.append(1)
        acknowledged.clear()
        await asyncio.sleep(0.01)


async def test_a_task_that_lost_its_cancel_is_still_ended():
    acknowledged = asyncio.Event()
    polls: list[int] = []
    task = asyncio.create_task(poll_forever(acknowledged, polls))
    await asyncio.sleep(0.05)
    # The acknowledgement completes the inner wait; the cancel then arrives before wait_for has
    # resumed, which Python 3.11's wait_for answers by returning instead of raising.
    acknowledged.set()
    await asyncio.sleep(0)
    started = time.monotonic()
    async with asyncio.timeout(5):
        await cancel_and_wait(task)
    assert task.cancelled()
    assert time.monotonic() - started < 2.5


async def test_a_task_ignoring_every_cancel_is_left_after_the_limit():
    stubborn = True

    async def ignores_cancels() -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if not stubborn:
                    raise

    task = asyncio.create_task(ignores_cancels())
    await asyncio.sleep(0)
    started = time.monotonic()
    assert await end_tasks([task], limit=0.5) == {task}
    assert 0.4 < time.monotonic() - started < 2
    stubborn = False
    await end_tasks([task])


async def test_the_failure_of_a_task_is_raised_once_all_have_ended():
    async def fails() -> None:
        raise ValueError("broken loop")

    failing = asyncio.create_task(fails())
    sleeping = asyncio.create_task(asyncio.sleep(10))
    await asyncio.sleep(0)
    try:
        await cancel_and_wait(failing, None, sleeping)
    except ValueError as exc:
        assert str(exc) == "broken loop"
    else:
        raise AssertionError("the failure was not raised")
    assert sleeping.cancelled()
