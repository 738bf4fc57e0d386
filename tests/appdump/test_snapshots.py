"""App snapshots over the demo site (sensesim QRS + engine over mTLS): files, versions, git, schedule."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from qbutler.actions.snapshots import AppSnapshotJob, render_snapshot
from qbutler.config import Config, ConfigError, parse_config
from qbutler.sense.engine import EngineClient
from qbutler.sense.qrs import QrsClient
from support.appdump import SALES
from support.qbutler import running_service
from support.sense import sense_config


def snapshot_config(site: Any, folder: Path, **snapshots: Any) -> Config:
    settings = {"directory": str(folder / "snapshots"), **snapshots}
    return parse_config(sense_config(site, appSnapshots=settings), folder)


class Job:
    """An AppSnapshotJob with its clients, closed after the test."""

    def __init__(self, config: Config):
        self.config = config
        self.qrs = QrsClient(config)
        self.engine = EngineClient(config)
        self.job = AppSnapshotJob(config, self.engine, self.qrs)
        self.directory = self.job.directory

    def files(self) -> dict[str, bytes]:
        return {p.relative_to(self.directory).as_posix(): p.read_bytes()
                for p in sorted(self.directory.rglob("*.json"))}

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.directory, check=True, capture_output=True,
                              text=True).stdout


@pytest.fixture
async def make_job(tmp_path: Path):
    jobs: list[Job] = []

    def make(site: Any, **snapshots: Any) -> Job:
        jobs.append(Job(snapshot_config(site, tmp_path, **snapshots)))
        return jobs[-1]

    yield make
    for job in jobs:
        await job.qrs.stop()


async def change_script(job: Job, app_id: str, script: str) -> None:
    async with job.engine.session(app_id) as session:
        await session.set_script(session.doc, script)
        await session.do_save(session.doc)


async def test_a_run_writes_one_file_per_app_and_a_second_run_nothing(demo_site: Any, make_job) -> None:
    job = make_job(demo_site)
    run = await job.job.run()
    app_ids = sorted(demo_site.state.apps)
    assert len(app_ids) == 20
    assert sorted(r.app_id for r in run.results) == app_ids
    assert {r.status for r in run.results} == {"new"}
    files = job.files()
    assert sorted(f"apps/{a}.json" for a in app_ids) == sorted(k for k in files if k.startswith("apps/"))
    assert len([k for k in files if k.startswith("versions/")]) == 20

    sales = files[f"apps/{SALES}.json"]
    assert sales.startswith(b'{\n  "properties": {\n')
    snapshot = orjson.loads(sales)
    assert list(snapshot)[-1] == "appId" and snapshot["appId"] == SALES
    assert snapshot["loadScript"] == demo_site.state.apps[SALES].engine["script"]
    # Left out by default, so that a reload alone is no new version.
    assert "qLastReloadTime" not in snapshot["properties"]
    assert not list(job.directory.rglob("*.tmp"))

    again = await job.job.run()
    assert {r.status for r in again.results} == {"unchanged"}
    assert job.files() == files


async def test_a_changed_script_is_one_new_version(demo_site: Any, make_job) -> None:
    job = make_job(demo_site)
    await job.job.run()
    before = job.files()
    await change_script(job, SALES, "LOAD 'changed' as x AutoGenerate 1;")

    run = await job.job.run()
    assert [(r.app_id, r.status) for r in run.results if r.status != "unchanged"] == [(SALES, "changed")]
    after = job.files()
    added = sorted(set(after) - set(before))
    assert len(added) == 1 and added[0].startswith(f"versions/{SALES}/")
    assert orjson.loads(after[f"apps/{SALES}.json"])["loadScript"] == "LOAD 'changed' as x AutoGenerate 1;"
    assert after[added[0]] == after[f"apps/{SALES}.json"]
    assert {k: v for k, v in after.items() if SALES not in k} == {k: v for k, v in before.items() if SALES not in k}


async def test_git_commits_once_per_run_that_changed_something(demo_site: Any, make_job) -> None:
    job = make_job(demo_site, git={"enable": True, "authorName": "Snap Shot", "authorEmail": "snap@example.test"})
    first = await job.job.run()
    assert first.commit and not first.git_error
    assert job.git("log", "--format=%an <%ae>").splitlines() == ["Snap Shot <snap@example.test>"]
    assert len(job.git("ls-files", "apps").splitlines()) == 20
    # Older versions live in git history; the versions folder is not committed.
    assert job.git("ls-files", "versions") == ""

    second = await job.job.run()
    assert second.commit is None
    assert len(job.git("log", "--format=%H").splitlines()) == 1

    await change_script(job, SALES, "LOAD 'git' as x AutoGenerate 1;")
    third = await job.job.run()
    assert third.commit and third.commit != first.commit
    assert job.git("log", "--format=%H").splitlines()[0] == third.commit
    assert job.git("show", "--name-only", "--format=", "HEAD").split() == [f"apps/{SALES}.json"]
    assert "+  \"loadScript\": \"LOAD 'git' as x AutoGenerate 1;\"," in job.git("show", "HEAD")
    assert "Sales Dashboard" in job.git("log", "-1", "--format=%B")


async def test_filter_selects_apps_through_qrs(demo_site: Any, make_job) -> None:
    job = make_job(demo_site, filter="stream.name eq 'Finance'")
    run = await job.job.run()
    finance = sorted(a.id for a in demo_site.state.apps.values() if a.stream and a.stream.name == "Finance")
    assert len(finance) == 4
    assert sorted(r.app_id for r in run.results) == finance
    # A filter given to run() wins over the configured one.
    other = await job.job.run(qrs_filter=f"id eq {SALES}", directory=job.directory.parent / "other")
    assert [r.app_id for r in other.results] == [SALES]
    assert (job.directory.parent / "other" / "apps" / f"{SALES}.json").is_file()


async def test_retention_keeps_the_newest_versions(demo_site: Any, make_job) -> None:
    job = make_job(demo_site, keepVersions=2, filter=f"id eq {SALES}")
    for n in range(4):
        await change_script(job, SALES, f"LOAD {n} as x AutoGenerate 1;")
        await job.job.run()
    versions = sorted((job.directory / "versions" / SALES).glob("*.json"))
    assert [orjson.loads(v.read_bytes())["loadScript"] for v in versions] == [
        "LOAD 2 as x AutoGenerate 1;", "LOAD 3 as x AutoGenerate 1;"]


async def test_unreachable_engine_fails_every_app_and_writes_nothing(demo_site: Any, tmp_path: Path,
                                                                     closed_port: int) -> None:
    config = snapshot_config(demo_site, tmp_path)
    config.Butler.configEngine.port = closed_port
    qrs = QrsClient(config)
    try:
        run = await AppSnapshotJob(config, EngineClient(config), qrs).run()
    finally:
        await qrs.stop()
    assert len(run.results) == 20 and {r.status for r in run.results} == {"failed"}
    assert "unreachable" in run.results[0].error
    assert not list((tmp_path / "snapshots").rglob("*.json"))


def test_rendering_is_independent_of_engine_key_and_list_order() -> None:
    dump = {"properties": {"qTitle": "A", "description": "d", "qLastReloadTime": "x"}, "loadScript": "s",
            "lineage": [{"qDiscriminator": "b"}, {"qDiscriminator": "a"}],
            "sheets": [{"qProperty": {"qInfo": {"qId": "s2"}, "b": 1, "a": 2}},
                       {"qProperty": {"qInfo": {"qId": "s1"}}}],
            "fields": [{"qName": "Z"}, {"qName": "A"}], "appId": "id"}
    shuffled = {"properties": {"description": "d", "qLastReloadTime": "y", "qTitle": "A"}, "loadScript": "s",
                "lineage": [{"qDiscriminator": "b"}, {"qDiscriminator": "a"}],
                "sheets": [{"qProperty": {"qInfo": {"qId": "s1"}}},
                           {"qProperty": {"a": 2, "b": 1, "qInfo": {"qId": "s2"}}}],
                "fields": [{"qName": "A"}, {"qName": "Z"}], "appId": "id"}
    text = render_snapshot(dump, ["properties.qLastReloadTime"])
    assert text == render_snapshot(shuffled, ["properties.qLastReloadTime"])
    parsed = orjson.loads(text)
    assert list(parsed) == ["properties", "loadScript", "lineage", "sheets", "fields", "appId"]
    assert [x["qDiscriminator"] for x in parsed["lineage"]] == ["b", "a"]  # script order kept
    assert [x["qName"] for x in parsed["fields"]] == ["A", "Z"]
    assert list(parsed["sheets"][1]["qProperty"]) == ["a", "b", "qInfo"]
    assert render_snapshot(dump) != text  # nothing omitted: the reload time is there


async def test_the_service_runs_snapshots_on_its_cron_schedule(demo_site: Any, tmp_path: Path) -> None:
    settings = {"enable": True, "schedule": "* * * * * *", "directory": str(tmp_path / "snapshots"),
                "filter": f"id eq {SALES}"}
    async with running_service(sense_config(demo_site, appSnapshots=settings), tmp_path) as running:
        job = running.service.appdump
        assert job is not None
        feed = running.service.activity.subscribe()
        async with asyncio.timeout(10):
            while job.last_run is None:
                await feed.get()
        assert [r.status for r in job.last_run.results] == ["new"]
        assert next(a.message for a in running.service.activity.recent("appdump")).startswith("App snapshots: 1 new")
    assert (tmp_path / "snapshots" / "apps" / f"{SALES}.json").is_file()


async def test_an_app_id_that_is_no_file_name_is_refused(demo_site: Any, make_job) -> None:
    from datetime import UTC, datetime

    from qbutler.actions.snapshots import SnapshotFolder

    job = make_job(demo_site)
    folder = SnapshotFolder(job.directory, 5)
    result = await job.job._snapshot_app(folder, "../escape", "Evil", datetime.now(UTC))
    assert (result.status, result.error) == ("failed", "app id '../escape' is not usable as a file name")
    assert not job.directory.exists()


def test_schedule_fire_times_read_the_cron_in_its_time_zone() -> None:
    from datetime import UTC, datetime

    from qbutler.actions.snapshots import next_fire

    after = datetime(2026, 1, 15, 0, 30, tzinfo=UTC)
    assert next_fire("0 2 * * *", "Europe/Stockholm", after) == datetime(2026, 1, 15, 1, 0, tzinfo=UTC)
    assert next_fire("0 2 * * *", "UTC", datetime(2026, 1, 15, 2, 0, tzinfo=UTC)) == datetime(2026, 1, 16, 2, 0,
                                                                                                tzinfo=UTC)
    # Six fields: seconds first, as in Butler's schedules.
    assert next_fire("*/20 * * * * *", "UTC", after) == datetime(2026, 1, 15, 0, 30, 20, tzinfo=UTC)


def test_schedule_is_checked_by_the_schedulers_cron_reader(tmp_path: Path) -> None:
    def settings(**snapshots: Any) -> dict[str, Any]:
        return {"Butler": {"appSnapshots": snapshots}}

    # Standard dialect by default: an expression that can never fire (30 February) is refused
    # when the config is read, not when the schedule loop first looks for a fire time.
    with pytest.raises(ConfigError) as refused:
        parse_config(settings(schedule="0 2 30 2 *"), tmp_path)
    assert "none of these days occurs in the chosen months" in str(refused.value)
    assert "appSnapshots.schedule" in str(refused.value)
    # Butler's dialect on request: months 0-11, so 0 is January.
    config = parse_config(settings(schedule="0 2 1 0 *", cronDialect="butler"), tmp_path)
    assert config.Butler.appSnapshots.cronDialect == "butler"
    with pytest.raises(ConfigError, match="out of range 1-12"):
        parse_config(settings(schedule="0 2 1 0 *"), tmp_path)


def test_schedule_fire_times_follow_the_schedulers_daylight_saving_rules() -> None:
    from datetime import UTC, datetime

    from qbutler.actions.snapshots import next_fire

    # 29 March 2026 02:30 does not exist in Stockholm: it fires once, at the jump to 03:00 CEST.
    spring = next_fire("30 2 * * *", "Europe/Stockholm", datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert spring == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    # The butler dialect reads month 1 as February.
    assert next_fire("0 0 1 1 *", "UTC", datetime(2026, 1, 15, tzinfo=UTC), "butler") == datetime(
        2026, 2, 1, tzinfo=UTC)
