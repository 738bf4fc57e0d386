"""Butler's frequency texts: later.js semantics (UTC, clock alignment, the 1-second rule) for every
form Butler's template and docs use, cron accepted, and everything else refused with a message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from qbutler.cli import app
from qbutler.config import ConfigError, parse_config
from qbutler.scheduler.later import ScheduleTextError, fire_times, parse_frequency

START = datetime(2024, 3, 1, 10, 7, 0, 500000, tzinfo=UTC).timestamp()  # a Friday


def times(text: str, count: int = 3, after: float = START) -> list[str]:
    return [datetime.fromtimestamp(t, UTC).strftime("%a %d %H:%M:%S") for t in fire_times(parse_frequency(text),
                                                                                        after, count)]


@pytest.mark.parametrize(("text", "expected"), [
    ("every 10 seconds", ["Fri 01 10:07:10", "Fri 01 10:07:20", "Fri 01 10:07:30"]),
    ("every 30 seconds", ["Fri 01 10:07:30", "Fri 01 10:08:00", "Fri 01 10:08:30"]),
    ("every 5 minutes", ["Fri 01 10:10:00", "Fri 01 10:15:00", "Fri 01 10:20:00"]),
    ("every 15 minutes", ["Fri 01 10:15:00", "Fri 01 10:30:00", "Fri 01 10:45:00"]),
    ("every 1 hour", ["Fri 01 11:00:00", "Fri 01 12:00:00", "Fri 01 13:00:00"]),
    ("every 6 hours", ["Fri 01 12:00:00", "Fri 01 18:00:00", "Sat 02 00:00:00"]),
    ("every 24 hours", ["Sat 02 00:00:00", "Sun 03 00:00:00", "Mon 04 00:00:00"]),
    ("at 10:15 am", ["Fri 01 10:15:00", "Sat 02 10:15:00", "Sun 03 10:15:00"]),
    ("at 23:00", ["Fri 01 23:00:00", "Sat 02 23:00:00", "Sun 03 23:00:00"]),
    ("at 10:15 am every weekday", ["Fri 01 10:15:00", "Mon 04 10:15:00", "Tue 05 10:15:00"]),
    ("every 2 hours after 8:00am", ["Fri 01 12:00:00", "Fri 01 14:00:00", "Fri 01 16:00:00"]),
    ("every 1 day", ["Sat 02 00:00:00", "Sun 03 00:00:00", "Mon 04 00:00:00"]),
    ("on the first day of the month", ["Mon 01 00:00:00", "Wed 01 00:00:00", "Sat 01 00:00:00"]),
    ("every 45 seconds", ["Fri 01 10:07:45", "Fri 01 10:08:00", "Fri 01 10:08:45"]),
    ("every 30 second", ["Fri 01 10:07:30", "Fri 01 10:08:00", "Fri 01 10:08:30"]),
    ("every 5 mins", ["Fri 01 10:10:00", "Fri 01 10:15:00", "Fri 01 10:20:00"]),
    ("*/20 * * * *", ["Fri 01 10:20:00", "Fri 01 10:40:00", "Fri 01 11:00:00"]),
])
def test_butlers_forms_fire_as_later_js_does(text: str, expected: list[str]):
    assert times(text) == expected


def test_a_match_less_than_a_second_away_is_skipped():
    just_before = datetime(2024, 3, 1, 10, 59, 59, 400000, tzinfo=UTC).timestamp()
    assert times("every 1 hour", 1, just_before) == ["Fri 01 12:00:00"]
    assert times("every 1 hour", 1, just_before - 1) == ["Fri 01 11:00:00"]


@pytest.mark.parametrize("text", ["every day", "every hour", "every 90 minutes", "garbage", "", "at 25:00",
                                  "every 5 fortnights", "at 13:00 pm", "every 30 seconds every 30 seconds"])
def test_texts_later_js_misreads_are_refused(text: str):
    with pytest.raises(ScheduleTextError):
        parse_frequency(text)


def test_config_check_names_the_key(tmp_path):
    with pytest.raises(ConfigError) as failure:
        parse_config({"Butler": {"heartbeat": {"frequency": "every day"}}}, tmp_path)
    assert failure.value.errors[0].startswith("Butler.heartbeat.frequency: 'every day': cannot read")


def test_schedule_next_prints_the_times_of_a_text():
    result = CliRunner().invoke(app, ["schedule", "next", "every 6 hours", "--after", "2024-03-01T10:07:00Z",
                                      "-n", "2", "--timezone", "UTC"])
    assert result.exit_code == 0, result.output
    assert result.output.split("\n")[:2] == ["2024-03-01 12:00:00 UTC", "2024-03-01 18:00:00 UTC"]
