"""The sandbox directly: approved folders spelled through links, relative folders, nested pairs,
moves across file systems, start-up warnings."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pytest

from qbutler.config import parse_config
from qbutler.files import FileOperationError, Sandbox
from qbutler.files.handles import DIR_FDS_SUPPORTED
from support.qbutler import base_config

MODES = [False, True] if DIR_FDS_SUPPORTED else [False]


def pair_sandbox(source: Path | str, target: Path | str, **options) -> Sandbox:
    pair = [(str(source), str(target))]
    return Sandbox(copy_pairs=pair, move_pairs=pair, delete_folders=[str(source)], **options)


@pytest.mark.parametrize("use_fds", MODES)
async def test_an_approved_folder_configured_through_a_link_accepts_absolute_links_in_either_spelling(
        tmp_path, use_fds):
    real = tmp_path / "real"
    (real / "from" / "sub").mkdir(parents=True)
    (real / "to").mkdir()
    (real / "from" / "sub" / "b.txt").write_bytes(b"bravo")
    os.symlink(real, tmp_path / "alias")
    configured = tmp_path / "alias" / "from"
    os.symlink(f"{configured}/sub", real / "from" / "by_alias")
    os.symlink(f"{real}/from/sub", real / "from" / "by_real")
    sandbox = pair_sandbox(configured, tmp_path / "alias" / "to", use_fds=use_fds)
    for link in ("by_alias", "by_real"):
        await sandbox.copy(f"{configured}/{link}/b.txt", f"{tmp_path}/alias/to/{link}.txt", overwrite=False,
                           preserve_timestamp=False, client="test")
        assert (real / "to" / f"{link}.txt").read_bytes() == b"bravo"


async def test_relative_approved_folders_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "conf" / "in").mkdir(parents=True)
    (tmp_path / "conf" / "in" / "a.txt").write_bytes(b"alpha")
    sandbox = pair_sandbox("in", "out", base_dir=tmp_path / "conf")
    assert await sandbox.copy("in//a.txt", "out/x/../a.txt", overwrite=False, preserve_timestamp=False,
                              client="test") == ("in/a.txt", "out/a.txt")
    assert (tmp_path / "conf" / "out" / "a.txt").read_bytes() == b"alpha"
    with pytest.raises(FileOperationError) as refused:
        await sandbox.copy(str(tmp_path / "conf" / "in" / "a.txt"), "out/b.txt", overwrite=False,
                           preserve_timestamp=False, client="test")
    assert refused.value.status == 403  # Butler's rule: absolute paths only match absolute folders


async def test_the_next_pair_is_tried_when_a_link_leaves_a_nested_folder(tmp_path):
    (tmp_path / "data" / "inner").mkdir(parents=True)
    (tmp_path / "data" / "x.txt").write_bytes(b"x")
    os.symlink("../x.txt", tmp_path / "data" / "inner" / "up")
    pairs = [(str(tmp_path / "data" / "inner"), str(tmp_path / "to")), (str(tmp_path / "data"), str(tmp_path / "to"))]
    sandbox = Sandbox(copy_pairs=pairs, move_pairs=[], delete_folders=[])
    await sandbox.copy(f"{tmp_path}/data/inner/up", f"{tmp_path}/to/x.txt", overwrite=False,
                       preserve_timestamp=False, client="test")
    assert (tmp_path / "to" / "x.txt").read_bytes() == b"x"
    only_inner = Sandbox(copy_pairs=pairs[:1], move_pairs=[], delete_folders=[])
    with pytest.raises(FileOperationError) as refused:
        await only_inner.copy(f"{tmp_path}/data/inner/up", f"{tmp_path}/to/y.txt", overwrite=False,
                              preserve_timestamp=False, client="test")
    assert refused.value.status == 403
    assert refused.value.message.endswith("fromFile leads outside the approved directory")


SECOND_FS = os.path.isdir("/dev/shm") and os.stat("/dev/shm").st_dev != os.stat(tempfile.gettempdir()).st_dev


@pytest.mark.skipif(not SECOND_FS, reason="needs a second file system at /dev/shm")
@pytest.mark.parametrize("use_fds", MODES)
async def test_move_across_file_systems_copies_then_removes(tmp_path, use_fds):
    source = tmp_path / "from"
    (source / "tree").mkdir(parents=True)
    (source / "a.txt").write_bytes(b"alpha")
    (source / "tree" / "b.txt").write_bytes(b"bravo")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        sandbox = pair_sandbox(source, other, use_fds=use_fds)
        for name in ("a.txt", "tree"):
            await sandbox.move(f"{source}/{name}", f"{other}/{name}", overwrite=False, client="test")
            assert not (source / name).exists()
        assert (Path(other) / "a.txt").read_bytes() == b"alpha"
        assert (Path(other) / "tree" / "b.txt").read_bytes() == b"bravo"


def test_start_up_warns_about_folders_that_cannot_work(tmp_path, caplog):
    config = parse_config(base_config(fileDeleteApprovedDirectories=["//server/share/tmp"],
                                      fileOperations={"createDirAnywhere": True}), tmp_path)
    with caplog.at_level(logging.WARNING, logger="qbutler.files"):
        Sandbox.from_config(config)
    messages = [record.getMessage() for record in caplog.records]
    assert any("//server/share/tmp is a UNC path" in message for message in messages)
    assert any("createDirAnywhere is true" in message for message in messages)


async def test_a_pipe_as_source_is_refused_without_hanging(tmp_path):
    (tmp_path / "from").mkdir()
    os.mkfifo(tmp_path / "from" / "pipe")
    sandbox = pair_sandbox(tmp_path / "from", tmp_path / "to")
    with pytest.raises(FileOperationError) as refused:
        await sandbox.copy(f"{tmp_path}/from/pipe", f"{tmp_path}/to/pipe", overwrite=False,
                           preserve_timestamp=False, client="test")
    assert (refused.value.status, refused.value.message) == (400, "fromFile is not a regular file or directory")
