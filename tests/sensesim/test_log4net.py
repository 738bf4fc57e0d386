"""Byte-exact scheduler datagrams (reference §3.2-§3.4), pure formatter."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from sensesim.log4net import SchedulerEvent, format_datagram, format_date

TASK = "dec2a02a-1680-44ef-8dc2-e2bfb180af87"
APP = "e7af59a0-c243-480d-9571-08727551a66f"
EXEC = "14a81bf5-f81c-4047-b1a1-193b0920de28"
# Naive datetimes are taken as the scheduler's local time, so these tests need no time zone.
WHEN = datetime(2021, 2, 16, 9, 24, 59, 99_000)


def event(kind: str, **overrides: object) -> SchedulerEvent:
    fields: dict[str, object] = {
        "kind": kind,
        "host": "pro2-win1",
        "task_name": "Manually triggered reload of Test failing reloads 2",
        "app_name": "Test failing reloads 2",
        "user": "LAB\\goran",
        "task_id": TASK,
        "app_id": APP,
        "when": WHEN,
        "execution_id": EXEC,
    }
    fields.update(overrides)
    return SchedulerEvent(**fields)  # type: ignore[arg-type]


def test_failed_matches_the_real_event_verbatim() -> None:
    # The one datagram the reference quotes from a real site.
    expected = (
        b"/scheduler-task-failed/;pro2-win1;Manually triggered reload of Test failing reloads 2;"
        b"Test failing reloads 2;LAB\\goran;dec2a02a-1680-44ef-8dc2-e2bfb180af87;"
        b"e7af59a0-c243-480d-9571-08727551a66f;2021-02-16 09:24:59,099;INFO;"
        b"14a81bf5-f81c-4047-b1a1-193b0920de28;Max retries reached"
    )
    assert format_datagram(event("failed")) == expected


def test_aborted() -> None:
    assert format_datagram(event("aborted")) == (
        b"/scheduler-task-aborted/;pro2-win1;Manually triggered reload of Test failing reloads 2;"
        b"Test failing reloads 2;LAB\\goran;" + TASK.encode() + b";" + APP.encode() + b";"
        b"2021-02-16 09:24:59,099;INFO;" + EXEC.encode() + b";Execution State Change to Aborting"
    )


@pytest.mark.parametrize(
    ("style", "marker"),
    [("single", b"/scheduler-task-success/;"), ("double", b"/scheduler-task-success//;")],
)
def test_success_marker_forms(style: str, marker: bytes) -> None:
    data = format_datagram(event("success", user="INTERNAL\\sa_scheduler"), style)  # type: ignore[arg-type]
    assert data == (
        marker + b"pro2-win1;Manually triggered reload of Test failing reloads 2;Test failing reloads 2;"
        b"INTERNAL\\sa_scheduler;" + TASK.encode() + b";" + APP.encode() + b";2021-02-16 09:24:59,099;"
        b"INFO;" + EXEC.encode() + b";Execution State Change to FinishedSuccess"
    )


def test_layout_is_eleven_fields_utf8_without_newline_or_bom() -> None:
    data = format_datagram(event("failed", app_name="Försäljning åäö"))
    assert not data.startswith(b"\xef\xbb\xbf")
    assert not data.endswith(b"\n")
    assert len(data.decode("utf-8").split(";")) == 11
    assert "Försäljning åäö".encode() in data


def test_task_without_app_leaves_app_fields_empty() -> None:
    fields = format_datagram(event("failed", app_name="", app_id="")).decode().split(";")
    assert fields[3] == "" and fields[6] == ""


def test_semicolon_in_a_name_breaks_the_layout_like_a_real_site() -> None:
    # Negative case from §3.2: values are not escaped, so Butler sees 12 fields.
    assert len(format_datagram(event("failed", task_name="a;b")).split(b";")) == 12


def test_date_pattern_milliseconds_are_zero_padded() -> None:
    assert format_date(datetime(2024, 1, 10, 6, 7, 8, 5_000)) == "2024-01-10 06:07:08,005"


@pytest.fixture
def stockholm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Stockholm")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_aware_times_are_rendered_in_local_time(stockholm: None) -> None:
    # log4net's %date is the scheduler's local time: 08:24:59 UTC is 09:24:59 CET.
    assert format_date(datetime(2021, 2, 16, 8, 24, 59, 99_000, tzinfo=UTC)) == "2021-02-16 09:24:59,099"
