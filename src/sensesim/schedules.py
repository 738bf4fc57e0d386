"""When a schema event fires: its schedule read in its own time zone, as UTC instants.

A QRS SchemaEvent carries `startDate` and `expirationDate` as clock readings in `timeZone`
(Qlik's "Reload task: Create" example sends `"startDate": "2017-01-11T12:05:46.000"` with
`"timeZone": "America/New_York"`), so the digits are a wall-clock time there, whatever offset
suffix a client adds. `daylightSavingTime` (QRS enum) says which offset applies:

- 0 ObserveDaylightSavingTime: the zone's offset on that date (summer time in summer);
- 1 PermanentStandardTime: the zone's standard offset all year;
- 2 PermanentDaylightSavingTime: the standard offset plus the zone's summer shift all year.

Repeats whose step is whole days (daily, weekly, custom "0 0 d w", monthly) keep the wall-clock
time, so a daily 06:00 event stays at 06:00 local across a DST change; steps with minutes or hours
are elapsed time from the first firing, so an hourly event stays hourly. A wall-clock time that a
spring-forward skips is read with the offset before the change (02:30 becomes 03:30 summer time);
one a fall-back repeats is its first occurrence.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:  # state.py reads seeds with this module's helpers
    from .state import SchemaEvent

OBSERVE_DST, PERMANENT_STANDARD, PERMANENT_DAYLIGHT = 0, 1, 2
ONCE, MONTHLY = 0, 4
_DAY = timedelta(days=1)


@functools.lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError naming it if the time zone database does not know it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timeZone {name!r} is not an IANA time zone name (e.g. 'Europe/Stockholm')") from None


def _summer_shift(tz: ZoneInfo, year: int) -> timedelta:
    """How far the zone moves its clocks in summer that year (zero if it keeps one offset)."""
    for month in (1, 7):
        shift = datetime(year, month, 1, 12, tzinfo=tz).dst()
        if shift:
            return shift
    return timedelta()


def to_instant(wall: datetime, tz: ZoneInfo, dst_mode: int) -> datetime:
    """The UTC instant of the naive wall-clock time `wall` in `tz` under `dst_mode`."""
    local = wall.replace(tzinfo=tz)
    if dst_mode == OBSERVE_DST:
        return local.astimezone(UTC)
    offset = (local.utcoffset() or timedelta()) - (local.dst() or timedelta())
    if dst_mode == PERMANENT_DAYLIGHT:
        offset += _summer_shift(tz, wall.year)
    return (wall - offset).replace(tzinfo=UTC)


def wall_clock(when: datetime) -> datetime:
    """The naive clock reading stored in a schema event date."""
    return when.replace(tzinfo=None)


def wall_date(when: datetime) -> datetime:
    """How a schema event keeps a date it was given: its digits, tagged UTC as QRS prints them."""
    return when.replace(tzinfo=UTC)


def wall_now(now: datetime, time_zone: str) -> datetime:
    """The clock reading in `time_zone` at the instant `now`, kept like any schema event date."""
    return wall_date(now.astimezone(zone(time_zone)))


def _add_months(when: datetime, months: int) -> datetime:
    month = when.month - 1 + months
    year = when.year + month // 12
    month = month % 12 + 1
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


def increment(event: SchemaEvent) -> timedelta | None:
    """The repeat interval, or None for a one-off (or a monthly event, handled apart)."""
    minutes, hours, days, weeks = (int(p) for p in event.increment_description.split())
    step = timedelta(minutes=minutes, hours=hours, days=days, weeks=weeks)
    if event.increment_option in (ONCE, MONTHLY) or step <= timedelta():
        return None
    return step


def _firing(event: SchemaEvent) -> tuple[Callable[[int], datetime], timedelta | None]:
    """firing(n), the UTC instant of the n-th firing (n >= 0), and their nominal spacing.

    Monthly firings use a long month as spacing so that the estimate in next_after never overshoots.
    """
    tz = zone(event.time_zone)
    start = wall_clock(event.start_date)
    mode = event.daylight_saving_time
    if event.increment_option == MONTHLY:
        return (lambda n: to_instant(_add_months(start, n), tz, mode)), timedelta(days=31)
    step = increment(event)
    if step is None:
        return (lambda n: to_instant(start, tz, mode)), None
    if step % _DAY:
        first = to_instant(start, tz, mode)
        return (lambda n: first + step * n), step
    return (lambda n: to_instant(start + step * n, tz, mode)), step


def next_after(event: SchemaEvent, after: datetime) -> datetime | None:
    """The first firing strictly after `after` (UTC), or None once the event has expired."""
    firing, gap = _firing(event)
    count = 0
    first = firing(0)
    if first <= after:
        if gap is None:
            return None
        # Jump to two firings early (DST moves a firing by an hour at most), then walk.
        count = max(int((after - first) / gap) - 2, 0)
        while firing(count) <= after:
            count += 1
    candidate = firing(count)
    if event.expiration_date is not None:
        expiry = to_instant(wall_clock(event.expiration_date), zone(event.time_zone), event.daylight_saving_time)
        if candidate > expiry:
            return None
    return candidate
