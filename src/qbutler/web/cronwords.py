"""A schedule's cron expression in words, and the daylight-saving changes that move its runs."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from qbutler.scheduler.cron import CronExpression

MONTHS = list(calendar.month_name)
WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


def _step(values: tuple[int, ...], low: int, high: int) -> int | None:
    """The n of `*/n` when the values are exactly low, low+n, … up to the range's end."""
    if len(values) < 2 or values[0] != low:
        return None
    step = values[1] - values[0]
    return step if values == tuple(range(low, high + 1, step)) else None


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _listing(values: list[int], name: object = str) -> str:
    parts = [name(a) if a == b else f"{name(a)} through {name(b)}"  # type: ignore[operator]
             for a, b in _runs(values)]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _unit(values: tuple[int, ...], low: int, high: int, unit: str) -> str:
    if len(values) == high - low + 1:
        return f"every {unit}"
    step = _step(values, low, high)
    if step:
        return f"every {step} {unit}s"
    if len(values) == 1:
        return f"at {unit} {values[0]}"
    return f"at {unit}s {_listing(list(values))}"


def _time_of_day(expression: CronExpression) -> str:
    seconds, minutes, hours = expression.seconds, expression.minutes, expression.hours
    if len(minutes) == 1 and len(seconds) == 1:
        clock = f"{minutes[0]:02d}" + (f":{seconds[0]:02d}" if seconds[0] else "")
        if len(hours) == 1:
            return f"at {hours[0]:02d}:{clock}"
        if clock == "00":
            times = "on the hour"
        elif seconds[0]:
            times = f"at {clock} (mm:ss) past the hour"
        else:
            times = f"at {minutes[0]} minutes past the hour"
        if len(hours) == 24:
            return f"every hour, {times}"
        step = _step(hours, 0, 23)
        if step:
            return f"every {step} hours, {times}"
        return f"{times}, hours {_listing(list(hours), lambda h: f'{h:02d}')}"
    parts = []
    if seconds != (0,):
        parts.append(_unit(seconds, 0, 59, "second"))
    if not (len(minutes) == 60 and parts):
        parts.append(_unit(minutes, 0, 59, "minute"))
    if len(hours) < 24:
        step = _step(hours, 0, 23)
        parts.append(f"every {step} hours" if step else f"during hours {_listing(list(hours), lambda h: f'{h:02d}')}")
    return ", ".join(parts)


def describe(expression: CronExpression) -> str:
    """`*/10 * * * * *` → "Every 10 seconds"; `0 30 6 * * 1-5` → "At 06:30, Monday through Friday"."""
    text = _time_of_day(expression)
    days = []
    if expression.days_restricted:
        days.append(f"on day {_listing(sorted(expression.days))} of the month")
    if expression.weekdays_restricted:
        days.append(_listing(sorted(expression.weekdays), lambda d: WEEKDAYS[d]))
    if days:
        text += ", " + (" or " if expression.days_or else ", ").join(days)
    if len(expression.months) < 12:
        text += ", in " + _listing(list(expression.months), lambda m: MONTHS[m])
    return text[0].upper() + text[1:]


@dataclass(frozen=True)
class DstNote:
    when: datetime  # the wall time in the schedule's zone
    text: str


def _transitions(zone: tzinfo, start: datetime, days: int) -> list[datetime]:
    """Instants (UTC, whole minutes) at which the zone's offset changes within `days` after `start`."""
    found = []
    day = start
    for _ in range(days):
        following = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            low, high = day, following
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high.replace(second=0, microsecond=0))
        day = following
    return found


def dst_notes(expression: CronExpression, zone: tzinfo, now: datetime, days: int = 366) -> list[DstNote]:
    """Runs within `days` whose wall time is skipped or repeated by a daylight-saving change."""
    notes: list[DstNote] = []
    for change in _transitions(zone, now, days):
        before = (change - timedelta(seconds=1)).astimezone(zone)
        after = change.astimezone(zone)
        shift = after.utcoffset() - before.utcoffset()  # type: ignore[operator]
        if shift > timedelta(0):
            # Clocks jump forward: wall times in [change's old wall time, + shift) do not exist.
            start = (change.astimezone(zone) - shift).replace(tzinfo=None)
            end = start + shift
            kind = ("does not exist that day (clocks jump forward); it runs at "
                    f"{after.strftime('%H:%M')} instead")
        else:
            # Clocks go back: wall times in [new wall time, + |shift|) happen twice.
            start = after.replace(tzinfo=None)
            end = start - shift
            kind = "happens twice that day (clocks go back); it runs once, at the first"
        wall = expression.next_wall(start) if start else None
        if wall is not None and wall < end:
            notes.append(DstNote(wall, f"{wall.strftime('%Y-%m-%d %H:%M:%S')} {kind}"))
    return notes
