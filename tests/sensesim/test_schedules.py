"""Schema events read in their own time zone, across daylight saving changes, on a fixed clock.

The site's simulated clock starts at a chosen instant (`clock_start`); the control API moves it
forward. Europe/Stockholm leaves CET (+01:00) for CEST (+02:00) at 01:00 UTC on 30 March 2025
and goes back at 01:00 UTC on 26 October 2025.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from support.sensesim_support import SALES_APP, Qrs, UdpListener

START = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def site_options() -> dict[str, Any]:
    # The `site`, `qrs` and `control` fixtures of conftest.py, on a clock that starts at START.
    return {"clock_start": START}


def event(name: str, start: str, *, zone: str = "Europe/Stockholm", dst: int = 0, option: int = 2,
          increment: str = "0 0 1 0") -> dict[str, Any]:
    return {"name": name, "enabled": True, "timeZone": zone, "daylightSavingTime": dst, "startDate": start,
            "expirationDate": "9999-01-01T00:00:00.000", "schemaFilterDescription": ["* * - * * * * *"],
            "incrementDescription": increment, "incrementOption": option}


async def create_task(qrs: Qrs, name: str, *events: dict[str, Any]) -> str:
    answer = await qrs.post("/qrs/reloadtask/create",
                            {"task": {"app": {"id": SALES_APP}, "name": name}, "schemaEvents": list(events)})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def next_execution(qrs: Qrs, task_id: str) -> str:
    (found,) = await qrs.json("/qrs/schemaevent/full", filter=f"reloadTask.id eq {task_id}")
    return str(found["operational"]["nextExecution"])


async def advance_to(control: httpx.AsyncClient, when: datetime) -> int:
    """Move the clock to just past `when`; the number of events that fired."""
    now = datetime.fromisoformat((await control.get("/clock")).json()["now"].replace("Z", "+00:00"))
    answer = await control.post("/clock", json={"advanceSeconds": (when - now).total_seconds()})
    assert answer.status_code == 200, answer.text
    return int(answer.json()["fired"])


async def test_daily_event_keeps_its_local_time_across_the_spring_change(
    qrs: Qrs, control: httpx.AsyncClient, udp: UdpListener
) -> None:
    task = await create_task(qrs, "Daily 06:00 Stockholm", event("Daily", "2025-03-28T06:00:00.000"))
    (stored,) = await qrs.json("/qrs/schemaevent/full", filter=f"reloadTask.id eq {task}")
    assert (stored["startDate"], stored["timeZone"]) == ("2025-03-28T06:00:00.000Z", "Europe/Stockholm")
    # 06:00 CET is 05:00 UTC: the 28th's firing is past, the next one is the 29th.
    assert await next_execution(qrs, task) == "2025-03-29T05:00:00.000Z"
    assert await advance_to(control, datetime(2025, 3, 29, 4, 59, 59, tzinfo=UTC)) == 0
    assert await advance_to(control, datetime(2025, 3, 29, 5, 0, 1, tzinfo=UTC)) == 1
    datagram = (await udp.receive()).decode().split(";")
    assert (datagram[0], datagram[5]) == ("/scheduler-task-success/", task)
    # From the 30th Stockholm is on summer time: 06:00 CEST is 04:00 UTC, an hour earlier in UTC.
    assert await next_execution(qrs, task) == "2025-03-30T04:00:00.000Z"
    assert await advance_to(control, datetime(2025, 3, 30, 3, 59, 59, tzinfo=UTC)) == 0
    assert await advance_to(control, datetime(2025, 3, 30, 4, 0, 1, tzinfo=UTC)) == 1
    assert (await udp.receive()).decode().split(";")[5] == task
    assert await next_execution(qrs, task) == "2025-03-31T04:00:00.000Z"


async def test_permanent_standard_and_daylight_time_ignore_the_change(
    qrs: Qrs, control: httpx.AsyncClient
) -> None:
    standard = await create_task(qrs, "Permanent CET", event("Std", "2025-03-29T06:00:00.000", dst=1))
    daylight = await create_task(qrs, "Permanent CEST", event("Dst", "2025-03-29T06:00:00.000", dst=2))
    assert await next_execution(qrs, standard) == "2025-03-29T05:00:00.000Z"
    assert await next_execution(qrs, daylight) == "2025-03-29T04:00:00.000Z"
    assert await advance_to(control, datetime(2025, 3, 29, 5, 0, 1, tzinfo=UTC)) == 2
    # After the change both keep their offset: +01:00 and +02:00 all year.
    assert await next_execution(qrs, standard) == "2025-03-30T05:00:00.000Z"
    assert await next_execution(qrs, daylight) == "2025-03-30T04:00:00.000Z"


async def test_hourly_event_stays_hourly_in_utc_and_autumn_change_moves_daily_back(
    qrs: Qrs, control: httpx.AsyncClient
) -> None:
    hourly = await create_task(qrs, "Hourly Stockholm",
                               event("Hourly", "2025-03-30T00:30:00.000", option=1, increment="0 1 0 0"))
    daily = await create_task(qrs, "Daily New York",
                              event("NY", "2025-10-24T06:00:00.000", zone="America/New_York"))
    # 00:30 CET is 23:30 UTC the day before.
    assert await next_execution(qrs, hourly) == "2025-03-29T23:30:00.000Z"
    assert await next_execution(qrs, daily) == "2025-10-24T10:00:00.000Z"  # 06:00 EDT (-04:00)
    # Stockholm's autumn change at 01:00 UTC repeats 02:00-03:00 local: an hourly event still
    # fires every hour of elapsed time (00:30, 01:30, 02:30 UTC), skipping none.
    assert await advance_to(control, datetime(2025, 10, 26, 0, 30, 1, tzinfo=UTC)) == 2
    assert await next_execution(qrs, hourly) == "2025-10-26T01:30:00.000Z"
    assert await advance_to(control, datetime(2025, 10, 26, 1, 30, 1, tzinfo=UTC)) == 1
    assert await next_execution(qrs, hourly) == "2025-10-26T02:30:00.000Z"
    # New York leaves summer time on 2 November: 06:00 EST is 11:00 UTC.
    await advance_to(control, datetime(2025, 11, 1, 10, 0, 1, tzinfo=UTC))
    assert await next_execution(qrs, daily) == "2025-11-02T11:00:00.000Z"


async def test_bad_time_zone_or_daylight_mode_is_refused(qrs: Qrs) -> None:
    before = (await qrs.json("/qrs/reloadtask/count"))["value"]
    for bad, message in [({"timeZone": "Mars/Olympus"}, "Mars/Olympus"),
                         ({"daylightSavingTime": 3}, "daylightSavingTime"),
                         ({"timeZone": 1}, "timeZone")]:
        answer = await qrs.post("/qrs/reloadtask/create", {
            "task": {"app": {"id": SALES_APP}, "name": "Bad zone"},
            "schemaEvents": [{**event("Bad", "2025-04-01T06:00:00.000"), **bad}]})
        assert answer.status_code == 400 and message in answer.text, answer.text
    assert (await qrs.json("/qrs/reloadtask/count"))["value"] == before
