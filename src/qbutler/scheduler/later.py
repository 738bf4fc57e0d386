"""Butler's `frequency:` schedules: later.js text (`every 30 seconds`, `at 10:15 am`) or cron.

Butler parses these keys with `@breejs/later` and runs them with `later.setInterval`. What that
means, and what this module reproduces:

- UTC: `at 10:15` and `every 6 hours` are UTC wall times.
- Clock alignment: `every N <unit>` is the set {0, N, 2N, ...} of that unit (days: {1, 1+N, ...}),
  not "N after start"; every finer unit is 0 (`every 5 minutes` fires at second 0).
- The firing rule: of the next two matches, the first is skipped when it is less than 1 s away.

Unlike Butler, a text later.js cannot parse (`every day`, `every hour`, garbage) is refused with
a message instead of silently firing monthly, daily or never. An `every N` beyond its unit's
range (`every 90 minutes`, which later turns into "hourly") is refused too. A string of 5 or 6
cron fields (seconds first) is accepted as standard crontab, also in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from qbutler.scheduler.cron import CronError, CronExpression, Dialect

_UNITS = {
    "second": ("s", 60), "seconds": ("s", 60), "sec": ("s", 60), "secs": ("s", 60), "s": ("s", 60),
    "minute": ("m", 60), "minutes": ("m", 60), "min": ("m", 60), "mins": ("m", 60), "m": ("m", 60),
    "hour": ("h", 24), "hours": ("h", 24), "hr": ("h", 24), "hrs": ("h", 24), "h": ("h", 24),
    "day": ("D", 31), "days": ("D", 31), "d": ("D", 31),
}
_WITHIN = {"s": "minute", "m": "hour", "h": "day", "D": "month"}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
_TIME = r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(am|pm)?"
_CLAUSES = [
    ("every_n", re.compile(r"every\s+(\d+)\s+([a-z]+)\b")),
    ("weekday", re.compile(r"every\s+weekday\b|on\s+weekdays?\b")),
    ("weekend", re.compile(r"every\s+weekend\b|on\s+weekends?\b")),
    ("at", re.compile(r"at\s+" + _TIME + r"(?![\w:])")),
    ("after", re.compile(r"after\s+" + _TIME + r"(?![\w:])")),
    ("before", re.compile(r"before\s+" + _TIME + r"(?![\w:])")),
    ("day_of_month", re.compile(r"on\s+the\s+(\w+)\s+day\s+of\s+the\s+month\b")),
]
_CRON_FIELD = re.compile(r"^[\d*/,\-?A-Za-z]+$")
# Longest search for the next match: a day-of-month schedule may wait for a 31st day.
_HORIZON = timedelta(days=400)


class ScheduleTextError(ValueError):
    """The text is neither a later.js schedule qbutler understands nor a cron expression."""


def _seconds_of_day(match: re.Match[str], text: str) -> int:
    hour, minute, second = int(match.group(1)), int(match.group(2) or 0), int(match.group(3) or 0)
    meridiem = match.group(4)
    if meridiem:
        if not 1 <= hour <= 12:
            raise ScheduleTextError(f"{text!r}: {hour} is not an hour of a 12-hour clock")
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ScheduleTextError(f"{text!r}: {match.group(0).split(maxsplit=1)[1]} is not a time of day")
    return hour * 3600 + minute * 60 + second


@dataclass
class LaterSchedule:
    """One later.js text schedule: a set of constraints, all of which a fire time meets."""

    source: str
    seconds: frozenset[int] | None = None
    minutes: frozenset[int] | None = None
    hours: frozenset[int] | None = None
    days: frozenset[int] | None = None
    # Day of week as later counts it: 1 = Sunday ... 7 = Saturday.
    weekdays: frozenset[int] | None = None
    at: int | None = None
    after: int | None = None
    before: int | None = None
    kind: str = field(default="later", init=False)

    @classmethod
    def parse(cls, text: str) -> LaterSchedule:
        source = text
        rest = " ".join(text.lower().split())
        if not rest:
            raise ScheduleTextError("empty schedule")
        schedule = cls(source)
        while rest:
            for name, pattern in _CLAUSES:
                match = pattern.match(rest)
                if match:
                    schedule._apply(name, match, source)
                    rest = rest[match.end():].lstrip()
                    if rest.startswith("and "):
                        rest = rest[4:]
                    break
            else:
                raise ScheduleTextError(
                    f"{source!r}: cannot read {rest!r}; use forms such as 'every 30 seconds', 'every 6 hours', "
                    "'at 10:15 am', 'at 10:15 am every weekday', 'every 2 hours after 8:00am' or a cron expression")
        if schedule.next_match(datetime(2000, 1, 1, tzinfo=UTC)) is None:
            raise ScheduleTextError(f"{source!r}: never fires")
        return schedule

    def _apply(self, name: str, match: re.Match[str], text: str) -> None:
        if name == "every_n":
            count, word = int(match.group(1)), match.group(2)
            if word not in _UNITS:
                raise ScheduleTextError(f"{text!r}: unknown unit {word!r} (seconds, minutes, hours or days)")
            unit, size = _UNITS[word]
            if not 1 <= count <= size:
                # later would quietly turn `every 90 minutes` into hourly; say so instead.
                raise ScheduleTextError(f"{text!r}: 'every {count} {word}' does not fit in one {_WITHIN[unit]}; "
                                        f"later.js would fire it at a different rhythm")
            values = frozenset(range(1, 32, count)) if unit == "D" else frozenset(range(0, size, count))
            self._set({"s": "seconds", "m": "minutes", "h": "hours", "D": "days"}[unit], values, text)
        elif name == "weekday":
            self._set("weekdays", frozenset(range(2, 7)), text)
        elif name == "weekend":
            self._set("weekdays", frozenset({1, 7}), text)
        elif name == "day_of_month":
            word = match.group(1)
            number = _ORDINALS.get(word) or (int(word[:-2]) if re.fullmatch(r"\d{1,2}(st|nd|rd|th)", word) else 0)
            if not 1 <= number <= 31:
                raise ScheduleTextError(f"{text!r}: {word!r} is not a day of the month")
            self._set("days", frozenset({number}), text)
        else:
            self._set(name, _seconds_of_day(match, text), text)

    def _set(self, attribute: str, value: object, text: str) -> None:
        if getattr(self, attribute) is not None:
            raise ScheduleTextError(f"{text!r}: two clauses set the same part of the schedule")
        setattr(self, attribute, value)

    # ---------------------------------------------------------------- matching

    def _finest(self) -> int:
        """The step of the finest constrained unit, in seconds: finer units are 0 at a match."""
        if self.seconds is not None or self.at is not None:
            return 1
        if self.minutes is not None:
            return 60
        if self.hours is not None:
            return 3600
        return 86400

    def next_match(self, start: datetime) -> datetime | None:
        """The first match at or after `start` (UTC, whole seconds), or None within the horizon."""
        t = start.replace(microsecond=0)
        end = t + _HORIZON
        finest = self._finest()
        while t < end:
            midnight = t.replace(hour=0, minute=0, second=0)
            next_day = midnight + timedelta(days=1)
            if self.days is not None and t.day not in self.days:
                t = next_day
                continue
            if self.weekdays is not None and (t.isoweekday() % 7) + 1 not in self.weekdays:
                t = next_day
                continue
            of_day = t.hour * 3600 + t.minute * 60 + t.second
            if self.after is not None and of_day < self.after:
                t = midnight + timedelta(seconds=self.after)
                continue
            if self.before is not None and of_day >= self.before:
                t = next_day
                continue
            if self.at is not None:
                if of_day > self.at:
                    t = next_day
                elif of_day < self.at:
                    t = midnight + timedelta(seconds=self.at)
                else:
                    return t
                continue
            next_hour = t.replace(minute=0, second=0) + timedelta(hours=1)
            next_minute = t.replace(second=0) + timedelta(minutes=1)
            if (self.hours is not None and t.hour not in self.hours) or (finest > 3600 and t.hour):
                t = next_hour if finest <= 3600 else next_day
            elif (self.minutes is not None and t.minute not in self.minutes) or (finest > 60 and t.minute):
                t = next_minute if finest <= 60 else next_hour
            elif (self.seconds is not None and t.second not in self.seconds) or (finest > 1 and t.second):
                t = t + timedelta(seconds=1) if finest == 1 else next_minute
            else:
                return t
        return None

    def next_fire(self, now: float) -> float:
        """When later.setInterval fires next: the first match, unless it is under 1 s away."""
        start = datetime.fromtimestamp(int(now), UTC)
        first = self.next_match(start)
        assert first is not None, "parse() refuses schedules that never fire"
        if first.timestamp() - now < 1.0:
            first = self.next_match(first + timedelta(seconds=1))
            assert first is not None
        return first.timestamp()


@dataclass
class CronSchedule:
    """A cron expression in a `frequency:` key: standard crontab fields, fired in UTC."""

    source: str
    expression: CronExpression
    kind: str = field(default="cron", init=False)

    def next_fire(self, now: float) -> float:
        return self.expression.next_fire(now, UTC)


Schedule = LaterSchedule | CronSchedule


def looks_like_cron(text: str) -> bool:
    parts = text.split()
    return len(parts) in (5, 6) and all(_CRON_FIELD.match(p) for p in parts) and any(
        c.isdigit() or c == "*" for c in parts[0])


def parse_frequency(text: str) -> Schedule:
    """A `frequency:` value; ScheduleTextError says what is wrong with it."""
    if not isinstance(text, str):
        raise ScheduleTextError(f"expected a text such as 'every 30 seconds', got {text!r}")
    if looks_like_cron(text):
        try:
            return CronSchedule(text, CronExpression.parse(text, Dialect.STANDARD))
        except CronError as exc:
            raise ScheduleTextError(str(exc)) from None
    return LaterSchedule.parse(text)


def fire_times(schedule: Schedule, after: float, count: int) -> list[float]:
    times: list[float] = []
    for _ in range(count):
        after = schedule.next_fire(after)
        times.append(after)
    return times
