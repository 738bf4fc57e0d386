"""Seeds: the packaged ones load, ids are reproducible, bad seeds are rejected clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sensesim.state import (
    ENGINE_KEYS_LIST,
    NULL_GUID,
    TASK_RELOAD,
    SeedError,
    build_state,
    load_seed,
)

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def all_ids(name: str) -> list[str]:
    state = load_seed(name)
    ids = [*state.apps, *state.tasks, *state.users, *state.tags, *state.streams]
    ids += [*state.custom_property_definitions, *state.licenses]
    ids += [r.id for r in state.execution_results.values()]
    return ids


@pytest.mark.parametrize("name", ["demo", "minimal"])
def test_packaged_seeds_are_reproducible_lowercase_guids(name: str) -> None:
    first, second = all_ids(name), all_ids(name)
    assert first == second
    assert all(GUID.match(i) for i in first)
    assert len(set(first)) == len(first)


def test_demo_is_a_realistic_site() -> None:
    state = load_seed("demo")
    assert len(state.apps) == 20 and len(state.streams) == 5
    reload_tasks = state.tasks_of_type(TASK_RELOAD)
    assert len(reload_tasks) == 30
    scenarios = {str(t.scenario) for t in reload_tasks}
    assert {"success", "fail", "abort"} <= scenarios
    assert any(t.on_success for t in reload_tasks) and any(t.on_failure for t in reload_tasks)
    assert any(t.max_retries for t in reload_tasks)
    cp_names = {d.name for d in state.custom_property_definitions.values()}
    assert {
        "Butler_FailedAlertEnableEmail",
        "Butler_FailedAlertSendToEmail",
        "Butler_ReloadFailure_Teams",
    } <= cp_names
    # One app has every engine object type populated.
    assert any(all(app.engine[key] for key in ENGINE_KEYS_LIST) for app in state.apps.values())


def test_engine_view_of_an_app() -> None:
    state = load_seed("minimal")
    app = state.apps["5e1f8a2c-3b4d-4c6e-8f0a-1b2c3d4e5f60"]
    assert set(app.engine) == {*ENGINE_KEYS_LIST, "script", "reload", "data"}
    assert app.engine["sheets"][0] == {
        "id": "s1",
        "title": "Overview",
        "description": "Top-level KPIs",
        "cells": [{"name": "obj1", "type": "barchart"}, {"name": "obj2", "type": "kpi"}],
    }
    assert app.engine["reload"] == "success"
    plain = next(a for a in state.apps.values() if a.name == "HR Overview")
    assert plain.engine["sheets"] == [] and "LOAD" in plain.engine["script"]
    broken = next(a for a in state.apps.values() if a.name == "Broken App")
    assert broken.engine["reload"] == "fail"
    assert app.published and app.stream is not None and app.stream.name == "Finance"
    assert app.owner.domain_user == "ACME\\anna"


def test_app_reloaded_and_record_call() -> None:
    state = load_seed("minimal")
    app_id = next(iter(state.apps))
    state.app_reloaded(app_id, "2024-03-01T10:00:00.123Z")
    assert state.apps[app_id].lastReloadTime == "2024-03-01T10:00:00.123Z"
    call = state.record_call("engine", "OpenDoc", "/app/x", "", [app_id])
    assert call.seq == 0 and state.calls == [call]


def test_a_task_starts_never_run() -> None:
    state = load_seed("minimal")
    for task in state.tasks.values():
        assert task.last_result.status == 0 and task.last_result.file_reference_id == NULL_GUID


def test_seed_from_file(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(
        "apps: [{name: A}]\nreloadTasks: [{name: T, app: A, scenario: {sequence: [fail, success]}}]\n"
    )
    state = load_seed(path)
    assert [a.name for a in state.apps.values()] == ["A"]
    assert next(iter(state.tasks.values())).app is not None


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ({"apps": [{"name": "A", "owner": "ACME\\nobody"}]}, "unknown user"),
        ({"apps": [{"name": "A", "stream": "Nope"}]}, "unknown stream"),
        ({"reloadTasks": [{"name": "T", "app": "Nope"}]}, "unknown app"),
        (
            {"apps": [{"name": "A"}], "reloadTasks": [{"name": "T", "app": "A", "scenario": "maybe"}]},
            "scenario",
        ),
        (
            {"apps": [{"name": "A"}], "reloadTasks": [{"name": "T", "app": "A", "onSuccess": ["X"]}]},
            "unknown task",
        ),
        ({"apps": [{"name": "A", "customProperties": {"X": "y"}}]}, "unknown custom property"),
        (
            {
                "customProperties": [{"name": "X", "values": ["a"]}],
                "apps": [{"name": "A", "customProperties": {"X": "b"}}],
            },
            "not a choice",
        ),
        ({"apps": [{"name": "A", "id": "not-a-guid"}]}, "not a GUID"),
        ({"apps": [{"name": "A", "reload": "maybe"}]}, "reload must be"),
        ({"apps": [{"id": "5e1f8a2c-3b4d-4c6e-8f0a-1b2c3d4e5f60"}]}, "lacks required key"),
        ({"site": {"bogus": 1}}, "unknown keys"),
        (
            {"apps": [{"name": "A"}], "reloadTasks": [{"name": "T", "app": "A"}],
             "schemaEvents": [{"name": "S", "task": "T", "timeZone": "Europe/Atlantis"}]},
            "not an IANA time zone",
        ),
        (
            {"apps": [{"name": "A"}], "reloadTasks": [{"name": "T", "app": "A"}],
             "schemaEvents": [{"name": "S", "task": "T", "daylightSavingTime": 5}]},
            "daylightSavingTime",
        ),
        ({"licenses": {"token": {"total": 1}}}, r"licenses: unknown keys \['token'\]"),
        ({"licenses": {"tokens": {"userAccess": {"allocatedTokens": 1}}}}, "tokens must be a mapping with total"),
        (
            {"licenses": {"tokens": {"total": 10, "userAccess": {"allocatedTokens": 8},
                                     "loginAccess": {"allocatedTokens": 5}}}},
            "allocate 13 tokens, more than total 10",
        ),
        ({"licenses": {"analyzerCapacity": {"usedMinutes": -1}}}, "analyzerCapacity.usedMinutes must be a number >= 0"),
        ({"licenses": {"analyzerCapacity": {"minutes": 60}}}, r"analyzerCapacity: unknown keys \['minutes'\]"),
    ],
)
def test_bad_seeds(seed: dict[str, object], message: str) -> None:
    with pytest.raises(SeedError, match=message):
        build_state(seed)


def test_unknown_packaged_name() -> None:
    with pytest.raises(SeedError):
        load_seed("no-such-seed")
