"""Cron expressions with seconds, in two dialects, and their fire times in an IANA time zone.

Dialects:
- ``butler``: what Butler's cron library (`cron` 1.8.2) accepts, so an existing schedule file fires
  exactly as it does in Butler: months 0-11 (January = 0), day of week 0-6 (7 is refused), names
  anywhere in the expression, a day of month that no chosen month has is wrapped (31 in February
  becomes 2), and day of month / day of week OR together when both cover less than their range.
- ``standard``: crontab as most tools read it: months 1-12, day of week 0-7 (0 and 7 are Sunday),
  names only in the month and weekday fields, Vixie cron's OR rule (a field that starts with ``*``
  does not count as restricted), and an expression that can never fire is refused.

Both take 5 fields, or 6 with seconds first; lists, ranges, steps and ``*``.

Fire times in a zone (see `next_fire`): each matching wall-clock time fires once. A wall time that
does not exist (spring forward) fires at the first instant after the jump; a wall time that occurs
twice (fall back) fires at its first occurrence only.
"""

from __future__ import annotations

import bisect
import calendar
import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum


class Dialect(StrEnum):
    BUTLER = "butler"
    STANDARD = "standard"


class CronError(ValueError):
    """An expression that cannot be used; `field` names the offending field (or None)."""

    def __init__(self, expression: str, message: str, field: str | None = None):
        self.expression = expression
        self.field = field
        self.reason = message
        where = f"field '{field}'" if field else "expression"
        super().__init__(f"cron expression '{expression}': {where}: {message}")


FIELD_NAMES = ("second", "minute", "hour", "day of month", "month", "day of week")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# Longest month length by month number 1-12; cron 1.8.2 allows 29 February.
MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

_NAME_RUN = re.compile(r"[a-z]{1,3}", re.IGNORECASE)
_ELEMENT = re.compile(r"^(?:(\*)|(\d+)(?:-(\d+))?)(?:/(\d+))?$")


def _bounds(dialect: Dialect) -> dict[str, tuple[int, int]]:
    month = (0, 11) if dialect is Dialect.BUTLER else (1, 12)
    dow = (0, 6) if dialect is Dialect.BUTLER else (0, 7)
    return {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day of month": (1, 31),
            "month": month, "day of week": dow}


def _butler_aliases(expression: str) -> str:
    # cron 1.8.2 replaces every run of 1-3 letters in the whole expression by its number.
    def replace(match: re.Match[str]) -> str:
        word = match.group(0).lower()
        if word in MONTH_NAMES:
            return str(MONTH_NAMES.index(word))
        if word in DAY_NAMES:
            return str(DAY_NAMES.index(word))
        raise CronError(expression, f"unknown alias '{match.group(0)}'")

    return _NAME_RUN.sub(replace, expression)


def _standard_aliases(expression: str, text: str, field: str) -> str:
    names = {"month": MONTH_NAMES, "day of week": DAY_NAMES}.get(field)
    offset = 1 if field == "month" else 0

    def replace(match: re.Match[str]) -> str:
        word = match.group(0).lower()
        if names is None or word not in names:
            raise CronError(expression, f"unknown name '{match.group(0)}'", field)
        return str(names.index(word) + offset)

    return re.sub(r"[a-z]+", replace, text, flags=re.IGNORECASE)


def _parse_field(expression: str, text: str, field: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for element in text.split(","):
        match = _ELEMENT.match(element)
        if match is None:
            raise CronError(expression, f"cannot read '{element}'", field)
        star, first, last, step_text = match.groups()
        step = int(step_text) if step_text is not None else 1
        if step == 0:
            raise CronError(expression, "a step of 0 is not allowed", field)
        if star:
            start, end = low, high
        else:
            start = int(first)
            # 'a/n' runs from a to the field's end; a plain 'a' is the single value.
            end = int(last) if last is not None else (high if step_text is not None else start)
            for value in (start, end):
                if not low <= value <= high:
                    raise CronError(expression, f"value {value} is out of range {low}-{high}", field)
            if start > end:
                raise CronError(expression, f"range {start}-{end} runs backwards", field)
        values.update(range(start, end + 1, step))
    return values


@dataclass(frozen=True)
class CronExpression:
    """A parsed expression. Months are stored as 1-12 and weekdays as 0-6 (Sunday 0) in either dialect."""

    source: str
    dialect: Dialect
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: tuple[int, ...]
    weekdays: frozenset[int]
    # True when day of month and day of week are both restricted: a day matches either (OR).
    days_or: bool
    days_restricted: bool
    weekdays_restricted: bool

    @classmethod
    def parse(cls, source: str, dialect: Dialect | str = Dialect.BUTLER) -> CronExpression:
        dialect = Dialect(dialect)
        if not isinstance(source, str):
            raise CronError(str(source), "must be a string")
        text = _butler_aliases(source) if dialect is Dialect.BUTLER else source
        parts = text.split()
        if len(parts) < 5:
            raise CronError(source, f"too few fields ({len(parts)}; expected 5, or 6 with seconds first)")
        if len(parts) > 6:
            raise CronError(source, f"too many fields ({len(parts)}; expected 5, or 6 with seconds first)")
        if len(parts) == 5:
            parts = ["0", *parts]
        bounds = _bounds(dialect)
        fields: dict[str, set[int]] = {}
        for name, part in zip(FIELD_NAMES, parts, strict=True):
            if dialect is Dialect.STANDARD:
                part = _standard_aliases(source, part, name)
            fields[name] = _parse_field(source, part, name, *bounds[name])
        months = {m + 1 for m in fields["month"]} if dialect is Dialect.BUTLER else fields["month"]
        weekdays = {d % 7 for d in fields["day of week"]}
        days = fields["day of month"]
        if dialect is Dialect.BUTLER:
            days_restricted = len(days) < 31
            weekdays_restricted = len(weekdays) < 7
            days = _butler_fix_days(days, months)
        else:
            # Vixie cron: a field written with a leading '*' is not a restriction.
            days_restricted = not parts[3].startswith("*")
            weekdays_restricted = not parts[5].startswith("*")
            if not weekdays_restricted and not any(d <= MONTH_DAYS[m - 1] for d in days for m in months):
                raise CronError(source, "none of these days occurs in the chosen months", "day of month")
        return cls(source, dialect, tuple(sorted(fields["second"])), tuple(sorted(fields["minute"])),
                   tuple(sorted(fields["hour"])), frozenset(days), tuple(sorted(months)), frozenset(weekdays),
                   days_restricted and weekdays_restricted, days_restricted, weekdays_restricted)

    def day_matches(self, year: int, month: int, day: int) -> bool:
        weekday = (calendar.weekday(year, month, day) + 1) % 7
        if self.days_or:
            return day in self.days or weekday in self.weekdays
        return day in self.days and weekday in self.weekdays

    def matches(self, wall: datetime) -> bool:
        """Whether a wall-clock time (its date and whole seconds) matches."""
        return (wall.second in self.seconds and wall.minute in self.minutes and wall.hour in self.hours
                and wall.month in self.months and self.day_matches(wall.year, wall.month, wall.day))

    def next_wall(self, start: datetime, horizon_years: int = 30) -> datetime:
        """The first matching naive wall-clock time at or after `start` (whole seconds)."""
        t = start.replace(microsecond=0, tzinfo=None)
        if start.microsecond:
            t += timedelta(seconds=1)
        limit = t.year + horizon_years
        while t.year <= limit:
            if t.month not in self.months:
                t = _next_month(t, self.months)
                continue
            if not self.day_matches(t.year, t.month, t.day):
                t = datetime(t.year, t.month, t.day) + timedelta(days=1)
                continue
            hour = _next_value(self.hours, t.hour)
            if hour is None:
                t = datetime(t.year, t.month, t.day) + timedelta(days=1)
                continue
            if hour != t.hour:
                t = t.replace(hour=hour, minute=0, second=0)
            minute = _next_value(self.minutes, t.minute)
            if minute is None:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if minute != t.minute:
                t = t.replace(minute=minute, second=0)
            second = _next_value(self.seconds, t.second)
            if second is None:
                t = t.replace(second=0) + timedelta(minutes=1)
                continue
            return t.replace(second=second)
        raise CronError(self.source, f"no fire time within {horizon_years} years")

    def next_fire(self, after: float, zone: tzinfo) -> float:
        """The first fire time strictly after `after` (epoch seconds), for wall clocks in `zone`."""
        local = datetime.fromtimestamp(int(after // 1) + 1, zone)
        wall = local.replace(tzinfo=None)
        while True:
            wall = self.next_wall(wall)
            instant = resolve_wall(wall, zone)
            if instant > after:
                return instant
            # A wall time of a repeated hour already fired at its first occurrence, or a skipped
            # wall time already fired at the jump: look further.
            wall += timedelta(seconds=1)

    def fire_times(self, after: float, zone: tzinfo, count: int) -> list[float]:
        times: list[float] = []
        for _ in range(count):
            after = self.next_fire(after, zone)
            times.append(after)
        return times


def _next_value(values: tuple[int, ...], current: int) -> int | None:
    index = bisect.bisect_left(values, current)
    return values[index] if index < len(values) else None


def _next_month(t: datetime, months: tuple[int, ...]) -> datetime:
    month = _next_value(months, t.month + 1)
    if month is None:
        return datetime(t.year + 1, months[0], 1)
    return datetime(t.year, month, 1)


def _butler_fix_days(days: set[int], months: set[int]) -> set[int]:
    """cron 1.8.2: when no chosen day exists in any chosen month, days beyond the length of the
    last such month wrap around (day mod length), so `0 0 31 1 *` fires on 2 February."""
    if any(day <= MONTH_DAYS[month - 1] for month in months for day in days):
        return days
    length = MONTH_DAYS[max(months) - 1]
    return {day % length if day > length else day for day in days}


def resolve_wall(wall: datetime, zone: tzinfo) -> float:
    """The instant a naive wall-clock time stands for in `zone`.

    Repeated wall times give their first occurrence; skipped ones the instant of the jump.
    """
    first = wall.replace(tzinfo=zone, fold=0).timestamp()
    second = wall.replace(tzinfo=zone, fold=1).timestamp()
    if first <= second:
        return first
    # In a gap fold=0 applies the offset from before the jump and lands after it; fold=1 lands
    # before it. The jump lies between: find its first whole second.
    low, high = int(second), int(first)
    offset_after = datetime.fromtimestamp(first, zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return float(high)


@functools.lru_cache(maxsize=256)
def iso(instant: float) -> str:
    """Epoch seconds as ISO-8601 UTC with milliseconds, the form Butler writes (`...T10:24:56.897Z`).

    Cached: every schedule firing at one instant names that instant (reservations, logs, events).
    """
    moment = datetime.fromtimestamp(instant, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
