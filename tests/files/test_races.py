"""Closing the window between check and use: a directory swapped for a link is never followed."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from qbutler.files.handles import DIR_FDS_SUPPORTED, Dir, Swapped


@pytest.mark.parametrize("use_fds", [False, True] if DIR_FDS_SUPPORTED else [False])
def test_a_checked_directory_replaced_by_a_link_or_another_directory_is_not_opened(tmp_path, use_fds):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    handle = Dir.open_root(str(root), use_fds)
    try:
        checked = handle.lstat("d")
        (root / "d").rename(root / "d_old")
        os.symlink(outside, root / "d")
        with pytest.raises(Swapped):
            handle.child("d", checked)
        (root / "d").unlink()
        (root / "d").mkdir()
        with pytest.raises(Swapped):
            handle.child("d", checked)
        fresh = handle.child("d", handle.lstat("d"))
        fresh.close()
    finally:
        handle.close()


def test_swapping_a_directory_for_a_link_out_during_requests_never_escapes(shared_site, shared_http):
    """Like openat2's rename-attack test: a thread keeps swapping a folder inside the approved
    tree with a link to the outside while requests go through it."""
    site = shared_site
    site.build()
    for folder in (site.source, site.target):
        (folder / "race_real").mkdir()
        (folder / "race_real" / "secret.txt").write_bytes(b"inside")
        os.symlink(site.outside, folder / "race_link")
    before = site.snapshot_outside()
    stop = threading.Event()

    swaps = Counter()

    def swap(folder):
        race, real, link = folder / "race", folder / "race_real", folder / "race_link"
        while not stop.is_set():
            for entry in (real, link):
                try:
                    os.rename(entry, race)
                except OSError:
                    # A request created a real `race` folder (mkdir -p) while it was absent.
                    shutil.rmtree(race, ignore_errors=True)
                    continue
                os.rename(race, entry)
                swaps[folder.name] += 1

    def request(n: int) -> int:
        kind = n % 3
        if kind == 0:
            body = {"fromFile": site.p("data/from/a.txt"), "toFile": site.p(f"data/to/race/f{n}.txt"),
                    "overwrite": "true"}
            return shared_http.put("/v4/filecopy", json=body).status_code
        if kind == 1:
            body = {"fromFile": site.p("data/from/race/secret.txt"), "toFile": site.p(f"data/to/got{n}.txt")}
            return shared_http.put("/v4/filecopy", json=body).status_code
        return shared_http.post("/v4/createdir", json={"directory": site.p(f"data/to/race/d{n}/e")}).status_code

    swappers = [threading.Thread(target=swap, args=(folder,)) for folder in (site.source, site.target)]
    for thread in swappers:
        thread.start()
    statuses: Counter[int] = Counter()
    try:
        deadline = time.monotonic() + 2
        n = 0
        with ThreadPoolExecutor(4) as pool:
            while time.monotonic() < deadline:
                statuses.update(pool.map(request, range(n, n + 12)))
                n += 12
    finally:
        stop.set()
        for thread in swappers:
            thread.join()
    assert site.snapshot_outside() == before
    assert site.secrets_inside() == []
    # A request that meets a concurrent change answers 409 (try again), never 500.
    assert set(statuses) <= {201, 400, 403, 409}
    assert statuses[201] > 0 and statuses[403] > 0, statuses
    assert min(swaps.values()) > 100, swaps


def test_a_reader_never_sees_half_a_copied_file(shared_site, shared_http):
    site = shared_site
    site.build()
    size = 4 * 1024 * 1024
    (site.source / "old.bin").write_bytes(b"O" * size)
    (site.source / "new.bin").write_bytes(b"N" * size)
    target = site.target / "target.bin"
    target.write_bytes(b"O" * size)
    stop = threading.Event()
    seen: Counter[str] = Counter()

    def read() -> None:
        while not stop.is_set():
            data = target.read_bytes()
            seen["whole" if len(data) == size and len(set(data)) == 1 else "torn"] += 1

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(16):
            source = "new.bin" if n % 2 == 0 else "old.bin"
            response = shared_http.put("/v4/filecopy", json={
                "fromFile": site.p(f"data/from/{source}"), "toFile": str(target), "overwrite": True})
            assert response.status_code == 201
    finally:
        stop.set()
        reader.join()
    assert seen["torn"] == 0
    assert seen["whole"] > 0
    assert [p.name for p in site.target.iterdir() if p.name.startswith(".qbutler-")] == []
