"""Windows-only behaviour of the sandbox on a real NTFS volume: junctions, case, reserved names.

These run only where the platform is Windows; the same rules are checked as pure functions on
every platform in test_paths.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from qbutler.files import FileOperationError, Sandbox

pytestmark = pytest.mark.skipif(sys.platform != "win32", reason="Windows file-system behaviour")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    import _winapi

    (tmp_path / "Data" / "From").mkdir(parents=True)
    (tmp_path / "Data" / "To").mkdir(parents=True)
    (tmp_path / "Outside").mkdir()
    (tmp_path / "Outside" / "secret.txt").write_bytes(b"SECRET")
    (tmp_path / "Data" / "From" / "a.qvd").write_bytes(b"qvd")
    (tmp_path / "Data" / "From" / "Sub").mkdir()
    (tmp_path / "Data" / "From" / "Sub" / "b.qvd").write_bytes(b"sub")
    _winapi.CreateJunction(str(tmp_path / "Outside"), str(tmp_path / "Data" / "From" / "junction_out"))
    _winapi.CreateJunction(str(tmp_path / "Data" / "From" / "Sub"), str(tmp_path / "Data" / "From" / "junction_in"))
    return tmp_path


def sandbox(tree: Path) -> Sandbox:
    pair = [(str(tree / "Data" / "From"), str(tree / "Data" / "To"))]
    return Sandbox(copy_pairs=pair, move_pairs=pair, delete_folders=[str(tree / "Data" / "From")])


async def test_a_junction_out_of_the_approved_folder_is_refused(tree):
    with pytest.raises(FileOperationError) as refused:
        await sandbox(tree).copy(str(tree / "Data" / "From" / "junction_out" / "secret.txt"),
                                 str(tree / "Data" / "To" / "s.txt"), overwrite=False, preserve_timestamp=False,
                                 client="test")
    assert refused.value.status == 403
    assert not (tree / "Data" / "To" / "s.txt").exists()


async def test_a_junction_inside_the_approved_folder_works(tree):
    await sandbox(tree).copy(str(tree / "Data" / "From" / "junction_in" / "b.qvd"),
                             str(tree / "Data" / "To" / "b.qvd"), overwrite=False, preserve_timestamp=False,
                             client="test")
    assert (tree / "Data" / "To" / "b.qvd").read_bytes() == b"sub"


async def test_deleting_a_junction_removes_the_junction_not_its_target(tree):
    await sandbox(tree).delete(str(tree / "Data" / "From" / "junction_out"), client="test")
    assert (tree / "Outside" / "secret.txt").read_bytes() == b"SECRET"


async def test_paths_compare_case_insensitively(tree):
    source = str(tree / "data" / "FROM" / "a.qvd").lower()
    result = await sandbox(tree).copy(source, str(tree / "DATA" / "to" / "a.qvd"), overwrite=False,
                                      preserve_timestamp=False, client="test")
    assert result[0] == source.replace("\\", "/")
    assert (tree / "Data" / "To" / "a.qvd").read_bytes() == b"qvd"


@pytest.mark.parametrize("name", ["CON", "nul.qvd", "COM1", "a.qvd:stream", "a.qvd.", "a.qvd "])
async def test_names_windows_would_reinterpret_are_refused(tree, name):
    with pytest.raises(FileOperationError) as refused:
        await sandbox(tree).copy(str(tree / "Data" / "From" / "a.qvd"), f"{tree}\\Data\\To\\{name}",
                                 overwrite=True, preserve_timestamp=False, client="test")
    assert refused.value.status == 400
    assert os.listdir(tree / "Data" / "To") == []


async def test_device_paths_are_refused(tree):
    with pytest.raises(FileOperationError) as refused:
        await sandbox(tree).copy(f"\\\\?\\{tree}\\Data\\From\\a.qvd", str(tree / "Data" / "To" / "a.qvd"),
                                 overwrite=False, preserve_timestamp=False, client="test")
    assert refused.value.status == 400
