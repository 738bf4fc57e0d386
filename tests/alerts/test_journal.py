"""The inbox/outbox journal: what a put or remove acknowledged is there after a restart, whatever
a crash left at the end of the file, and a failed write changes nothing."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbutler.alerts.journal import FILE_NAME, Journal


def reopened(folder: Path) -> list[tuple[str, dict]]:
    """What a restarted instance loads."""
    return Journal(folder).load()


async def test_records_come_back_in_first_written_order_with_replacements_in_place(tmp_path: Path):
    journal = Journal(tmp_path)
    assert journal.load() == []
    for name in ("a", "b", "c"):
        await journal.put(name, {"n": name})
    await journal.remove("b")
    await journal.put("a", {"n": "a", "attempts": 2})
    assert reopened(tmp_path) == [("a", {"n": "a", "attempts": 2}), ("c", {"n": "c"})]


async def test_concurrent_puts_are_all_on_disk_when_they_return(tmp_path: Path):
    journal = Journal(tmp_path)
    journal.load()
    await asyncio.gather(*(journal.put(f"r{n:04d}", {"n": n, "text": "x" * n}) for n in range(1000)))
    await asyncio.gather(*(journal.remove(f"r{n:04d}") for n in range(0, 1000, 2)))
    loaded = reopened(tmp_path)
    assert [record_id for record_id, _ in loaded] == [f"r{n:04d}" for n in range(1, 1000, 2)]
    assert loaded[-1][1] == {"n": 999, "text": "x" * 999}


async def test_a_line_torn_by_a_crash_is_ignored_and_later_records_are_kept(tmp_path: Path):
    journal = Journal(tmp_path)
    journal.load()
    await journal.put("kept", {"v": 1})
    with open(tmp_path / FILE_NAME, "ab") as file:
        file.write(b'["p","torn",{"v":')  # the write a kill cut short: never acknowledged
    restarted = Journal(tmp_path)
    assert restarted.load() == [("kept", {"v": 1})]
    await restarted.put("after", {"v": 2})
    assert reopened(tmp_path) == [("kept", {"v": 1}), ("after", {"v": 2})]


async def test_a_damaged_line_is_reported_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    journal = Journal(tmp_path)
    journal.load()
    await journal.put("one", {"v": 1})
    with open(tmp_path / FILE_NAME, "ab") as file:
        file.write(b'\x00\x00garbage\n["p","two",{"v":2}]\n')
    restarted = Journal(tmp_path)
    with caplog.at_level(logging.ERROR, logger="qbutler.alerts.journal"):
        assert restarted.load() == [("one", {"v": 1}), ("two", {"v": 2})]
    assert "line 2 is damaged" in caplog.text
    await restarted.put("three", {"v": 3})
    caplog.clear()
    assert reopened(tmp_path) == [("one", {"v": 1}), ("two", {"v": 2}), ("three", {"v": 3})]
    assert "damaged" not in caplog.text  # the first write after the load left a clean file


async def test_writing_before_loading_is_refused_so_stored_records_are_not_overwritten(tmp_path: Path):
    first = Journal(tmp_path)
    first.load()
    await first.put("stored", {"v": 1})
    with pytest.raises(RuntimeError, match="load"):
        await Journal(tmp_path).put("new", {"v": 2})
    assert reopened(tmp_path) == [("stored", {"v": 1})]


async def test_the_file_is_compacted_to_the_live_records(tmp_path: Path):
    journal = Journal(tmp_path, compact_bytes=20_000)
    journal.load()
    await journal.put("long-lived", {"v": "keep me"})
    for n in range(2000):
        await journal.put(f"m{n}", {"body": "y" * 100})
        await journal.remove(f"m{n}")
    assert (tmp_path / FILE_NAME).stat().st_size < 20_000 + 200
    assert reopened(tmp_path) == [("long-lived", {"v": "keep me"})]


async def test_a_failed_write_raises_and_leaves_no_half_applied_change(tmp_path: Path):
    journal = Journal(tmp_path)
    journal.load()
    await journal.put("before", {"v": 1})
    await journal.put("replaced", {"attempts": 1})
    saved = (tmp_path / FILE_NAME).read_bytes()
    # The file turns into a folder: every write fails with an OSError.
    (tmp_path / FILE_NAME).unlink()
    (tmp_path / FILE_NAME).mkdir()
    (tmp_path / FILE_NAME / "occupied").touch()
    with pytest.raises(OSError):
        await journal.put("lost", {"v": 2})
    with pytest.raises(OSError):
        await journal.put("replaced", {"attempts": 2})
    shutil.rmtree(tmp_path / FILE_NAME)
    (tmp_path / FILE_NAME).write_bytes(saved)
    await journal.put("after", {"v": 3})
    assert reopened(tmp_path) == [("before", {"v": 1}), ("replaced", {"attempts": 1}), ("after", {"v": 3})]


operations = st.lists(st.tuples(st.sampled_from(["put", "remove"]), st.integers(0, 9),
                                st.text(max_size=30)), max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, torn=st.binary(max_size=40), restarts=st.sets(st.integers(0, 59)))
def test_any_sequence_of_writes_restarts_and_a_torn_tail_loads_as_acknowledged(
        tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int, str]], torn: bytes, restarts: set[int]):
    folder = tmp_path_factory.mktemp("journal")
    expected: dict[str, dict] = {}

    async def play() -> None:
        journal = Journal(folder, compact_bytes=600)
        journal.load()
        for index, (op, key, text) in enumerate(ops):
            if index in restarts:
                # A crash in the middle of a write, then a restart that goes on writing.
                with open(folder / FILE_NAME, "ab") as file:
                    file.write(torn.replace(b"\n", b""))
                journal = Journal(folder, compact_bytes=600)
                assert journal.load() == list(expected.items())
            record_id = f"id{key}"
            if op == "put":
                await journal.put(record_id, {"text": text, "index": index})
                expected[record_id] = {"text": text, "index": index}
            else:
                await journal.remove(record_id)
                expected.pop(record_id, None)

    asyncio.run(play())
    with open(folder / FILE_NAME, "ab") as file:
        file.write(torn.replace(b"\n", b""))  # a write cut short by a crash
    assert reopened(folder) == list(expected.items())


async def test_a_write_whose_caller_is_cancelled_still_reaches_the_disk(tmp_path: Path):
    journal = Journal(tmp_path)
    journal.load()
    first = asyncio.create_task(journal.put("first", {"v": 1}))
    await asyncio.sleep(0)  # its write is under way
    # Begun, then the caller is cancelled before the write finishes (a shutdown in mid-event).
    waiting = journal.begin_put("second", {"v": 2})
    waiting.cancel()
    first.cancel()
    await journal.put("third", {"v": 3})
    assert reopened(tmp_path) == [("first", {"v": 1}), ("second", {"v": 2}), ("third", {"v": 3})]
