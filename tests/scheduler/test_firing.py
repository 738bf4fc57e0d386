"""Firing against sensesim with a hand-driven clock: times, windows, missed runs, overlap, state."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from qbutler.scheduler.cron import iso
from qbutler.scheduler.manager import RESERVATION_NAMESPACE
from support.scheduling import (
    TASK,
    FakeClock,
    firings_done,
    running_scheduler,
    schedule,
    task_starts,
    write_schedules,
)

T0 = datetime(2026, 6, 1, 12, 0, 5, tzinfo=UTC).timestamp()


async def test_a_firing_starts_the_task_in_sense(sense_site, sense_control, tmp_path: Path):
    write_schedules(tmp_path / "schedule.yaml", [schedule("every-10s", "*/10 * * * * *")])
    clock = FakeClock(T0)
    async with running_scheduler(sense_site, tmp_path, clock) as scheduler:
        [status] = scheduler.status()
        assert status["state"] == "running"
        assert status["nextFireTime"] == "2026-06-01T12:00:10.000Z"
        await clock.advance(4)
        assert await task_starts(sense_control, 1, wait=0.3) == []
        await clock.advance(1)
        [call] = await task_starts(sense_control, 1)
        assert call["path"] == f"/qrs/task/{TASK}/start"
        await clock.advance(20)
        assert len(await task_starts(sense_control, 3)) == 3
        [status] = scheduler.status()
        assert status["lastFireTime"] == "2026-06-01T12:00:30.000Z"
        assert status["lastOutcome"] == "started"


async def test_hourly_from_three_to_fifteen_in_the_schedules_zone(sense_site, sense_control, tmp_path: Path):
    write_schedules(tmp_path / "schedule.yaml", [schedule("window", "0 3-15 * * *", "Europe/Stockholm")])
    stockholm = ZoneInfo("Europe/Stockholm")
    clock = FakeClock(datetime(2026, 6, 1, 0, 30, tzinfo=stockholm).timestamp())
    async with running_scheduler(sense_site, tmp_path, clock) as scheduler:
        fired = []
        scheduler.observers.append(lambda firing: fired.append(firing.occurrence))
        await clock.advance(24 * 3600)
        assert [datetime.fromtimestamp(t, stockholm).hour for t in fired] == list(range(3, 16))
        assert len(await task_starts(sense_control, 13)) == 13


async def test_server_zone_mode_ignores_the_schedule_zone(sense_site, tmp_path: Path, monkeypatch):
    write_schedules(tmp_path / "schedule.yaml", [schedule("daily", "0 6 * * *", "Asia/Tokyo")])
    async with running_scheduler(sense_site, tmp_path, FakeClock(T0), timezoneMode="server") as scheduler:
        [status] = scheduler.status()
        assert status["timezone"] != "Asia/Tokyo"


async def test_invalid_schedules_are_reported_and_the_rest_run(sense_site, tmp_path: Path):
    write_schedules(tmp_path / "schedule.yaml", [
        schedule("bad-month", "0 0 1 12 *"),
        schedule("bad-zone", "0 0 * * *", "Mars/Olympus"),
        schedule("good", "0 0 * * *"),
        {"name": "no id", "cronSchedule": "* * * * *", "qlikSenseTaskId": TASK},
        schedule("good", "0 1 * * *"),
    ])
    async with running_scheduler(sense_site, tmp_path, FakeClock(T0)) as scheduler:
        states = [(s["id"], s["state"], s.get("error", "")) for s in scheduler.status()]
    assert states[0][:2] == ("bad-month", "invalid")
    assert "schedule 'bad-month'" in states[0][2] and "field 'cronSchedule': month field" in states[0][2]
    assert "value 12 is out of range 0-11" in states[0][2]
    assert states[1][:2] == ("bad-zone", "invalid") and "unknown time zone 'Mars/Olympus'" in states[1][2]
    assert states[2] == ("good", "running", "")
    assert states[3][1] == "invalid" and "field 'id' is required" in states[3][2]
    assert states[4][1] == "invalid" and "duplicate" in states[4][2]


async def _run_then_restart(site, folder: Path, cron: str, down_for: float, grace: float = 300) -> list[dict]:
    """Run once past one firing, stop, and start again `down_for` seconds later."""
    write_schedules(folder / "schedule.yaml", [schedule("s", cron)])
    clock = FakeClock(T0)
    async with running_scheduler(site, folder, clock, missedRunGraceSeconds=grace):
        await clock.advance(3600)
    await clock.advance(down_for)
    fired: list = []
    async with running_scheduler(site, folder, clock, missedRunGraceSeconds=grace) as scheduler:
        scheduler.observers.append(fired.append)
        await clock.advance(0)
        await firings_done(scheduler)
    return fired


async def test_missed_run_inside_grace_runs_once_at_start(sense_site, sense_control, tmp_path: Path):
    # Hourly at :00; ran at 13:00, down until 14:02: the 14:00 run is 2 minutes late.
    fired = await _run_then_restart(sense_site, tmp_path, "0 * * * *", down_for=62 * 60)
    runs = [(iso(f.occurrence), f.outcome, f.catch_up) for f in fired]
    assert runs == [("2026-06-01T14:00:00.000Z", "started", True)]
    assert len(await task_starts(sense_control, 2)) == 2


async def test_missed_run_outside_grace_is_skipped(sense_site, sense_control, tmp_path: Path, caplog):
    fired = await _run_then_restart(sense_site, tmp_path, "0 * * * *", down_for=70 * 60)
    assert fired == []
    assert len(await task_starts(sense_control, 2, wait=0.5)) == 1
    assert "missed runs from 2026-06-01T14:00:00.000Z outside the 300.0s grace period" in caplog.text


async def test_many_missed_runs_give_one_catch_up(sense_site, sense_control, tmp_path: Path):
    # Every minute, down for 3 hours: one run for all of them.
    fired = await _run_then_restart(sense_site, tmp_path, "0 * * * * *", down_for=3 * 3600 + 30)
    assert len(fired) == 1 and fired[0].catch_up
    assert iso(fired[0].occurrence) == "2026-06-01T15:56:00.000Z"  # the first one inside the grace period


async def test_runs_missed_while_stopped_are_not_owed(sense_site, tmp_path: Path):
    write_schedules(tmp_path / "schedule.yaml", [schedule("s", "0 * * * *")])
    clock = FakeClock(T0)
    async with running_scheduler(sense_site, tmp_path, clock) as scheduler:
        await clock.advance(3600)
        await scheduler.set_state("s", "stopped")
    await clock.advance(3600 + 60)
    fired: list = []
    async with running_scheduler(sense_site, tmp_path, clock) as scheduler:
        scheduler.observers.append(fired.append)
        await clock.advance(0)
    assert fired == []


async def test_a_slow_start_is_not_overlapped(sense_site, sense_control, tmp_path: Path, caplog):
    await sense_control.fault(service="qrs", match="/start", delayMs=1500, count=1)
    write_schedules(tmp_path / "schedule.yaml", [schedule("s", "* * * * * *")])
    clock = FakeClock(T0)
    async with running_scheduler(sense_site, tmp_path, clock) as scheduler:
        clock.quiet = None  # let the first start hang while time moves on
        outcomes: list = []
        scheduler.observers.append(lambda firing: outcomes.append(firing.outcome))
        await clock.advance(1)  # fires; the start call is held for 1.5 s
        await clock.advance(1)  # the previous firing is still running: skipped
        await task_starts(sense_control, 1)
        await firings_done(scheduler)
        await clock.advance(1)
        await firings_done(scheduler)
    assert outcomes == ["skipped-overlap", "started", "started"]
    assert "run at 2026-06-01T12:00:07.000Z skipped: the previous firing is still running" in caplog.text
    assert "fires again after 1 run(s) skipped for overlap" in caplog.text


async def test_state_file_survives_restart(sense_site, tmp_path: Path):
    write_schedules(tmp_path / "schedule.yaml", [schedule("s", "0 * * * *")])
    clock = FakeClock(T0)
    async with running_scheduler(sense_site, tmp_path, clock):
        await clock.advance(3600)
    state = yaml.safe_load((tmp_path / "data" / "scheduler-state.json").read_text())
    assert state["schedules"]["s"]["lastFire"] == "2026-06-01T13:00:00.000Z"
    assert state["schedules"]["s"]["owedFrom"] == "2026-06-01T13:00:00.000Z"
    assert state["schedules"]["s"]["lastOutcome"] == "started"


async def test_an_occurrence_reserved_by_another_instance_is_not_fired(sense_site, sense_control, tmp_path: Path):
    write_schedules(tmp_path / "schedule.yaml", [schedule("s", "*/10 * * * * *")])
    clock = FakeClock(T0)
    async with running_scheduler(sense_site, tmp_path, clock, coordination="kv", instanceId="here") as scheduler:
        outcomes: list = []
        scheduler.observers.append(lambda firing: outcomes.append((iso(firing.occurrence), firing.outcome)))
        kv = scheduler.service.kv
        assert await kv.set_if_absent(RESERVATION_NAMESPACE, "s:2026-06-01T12:00:10.000Z", "elsewhere", 60_000)
        await clock.advance(20)
        taken = await kv.get(RESERVATION_NAMESPACE, "s:2026-06-01T12:00:20.000Z")
    assert outcomes == [("2026-06-01T12:00:10.000Z", "other-instance"), ("2026-06-01T12:00:20.000Z", "started")]
    assert taken is not None and taken.value == "here"
    assert len(await task_starts(sense_control, 1)) == 1


async def test_a_stalled_process_runs_a_late_occurrence_once_within_grace_only(sense_site, tmp_path: Path):
    write_schedules(tmp_path / "schedule.yaml", [schedule("s", "0 * * * * *")])
    clock = FakeClock(T0)
    async with running_scheduler(sense_site, tmp_path, clock, missedRunGraceSeconds=120) as scheduler:
        outcomes: list = []
        scheduler.observers.append(lambda firing: outcomes.append((iso(firing.occurrence), firing.outcome)))
        clock._now += 100  # the loop did not run for 100 s: 12:01:00 is 45 s late
        await clock.advance(0)
        clock._now += 300  # then 300 s: 12:02:00 is 285 s late, beyond the grace period
        await clock.advance(0)
        await clock.advance(60)
    assert outcomes == [("2026-06-01T12:01:00.000Z", "started"), ("2026-06-01T12:02:00.000Z", "skipped-late"),
                        ("2026-06-01T12:07:00.000Z", "started")]
