"""A site folder with approved folders, an outside folder holding secrets, and links between them."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.qbutler import ThreadedService, base_config

SECRET = b"SECRET-outside-the-sandbox"


@dataclass
class Site:
    """`root/data/{from,to,del}` and `root/qvd` are approved; `root/outside` is not."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def source(self) -> Path:
        return self.data / "from"

    @property
    def target(self) -> Path:
        return self.data / "to"

    @property
    def trash(self) -> Path:
        return self.data / "del"

    @property
    def qvd(self) -> Path:
        return self.root / "qvd"

    @property
    def outside(self) -> Path:
        return self.root / "outside"

    @property
    def approved(self) -> list[Path]:
        return [self.source, self.target, self.trash, self.qvd]

    def p(self, relative: str) -> str:
        """An absolute request path below the site root, written with forward slashes."""
        return f"{self.root.as_posix()}/{relative}"

    def build(self) -> None:
        """(Re)create the whole tree; links inside approved folders lead both in and out."""
        for folder in (self.data, self.qvd, self.outside):
            if folder.exists():
                shutil.rmtree(folder)
        (self.outside / "dir").mkdir(parents=True)
        (self.outside / "secret.txt").write_bytes(SECRET)
        (self.outside / "dir" / "inner.txt").write_bytes(SECRET + b"-inner")
        for folder in self.approved:
            folder.mkdir(parents=True)
        (self.source / "sub").mkdir()
        (self.source / "a.txt").write_bytes(b"alpha")
        (self.source / "sub" / "b.txt").write_bytes(b"bravo")
        links = {
            # inside the folder
            "from/inlink": "sub",
            "from/abs_in": str(self.source / "sub"),
            "from/sub/up_in": "../sub",
            "from/file_link": "a.txt",
            # leading outside: relative, absolute, to a file, chained, '..' through a link
            "from/esc_rel": "../../outside",
            "from/esc_abs": str(self.outside),
            "from/esc_file": str(self.outside / "secret.txt"),
            "from/chain1": "chain2",
            "from/chain2": "sub/chain3",
            "from/sub/chain3": "../../../outside",
            "from/sub/deep_up": "../..",
            "from/sibling": "../to",
            "from/abs_dotdot": f"{self.source}/../../outside",
            "from/loop1": "loop2",
            "from/loop2": "loop1",
            "to/in_link": "in_dir",
            "to/esc": "../../outside",
            "to/esc_file": str(self.outside / "secret.txt"),
            "del/esc": "../../outside",
            "del/esc_file": str(self.outside / "secret.txt"),
        }
        for name, target in links.items():
            os.symlink(target, self.data / name)
        (self.target / "in_dir").mkdir()
        (self.trash / "c.txt").write_bytes(b"charlie")
        (self.trash / "tree" / "deeper").mkdir(parents=True)
        (self.trash / "tree" / "deeper" / "x.txt").write_bytes(b"x")
        os.symlink("../../../outside", self.trash / "tree" / "esc")
        os.symlink("../outside", self.qvd / "esc")

    def snapshot_outside(self) -> dict[str, tuple]:
        """Everything not inside an approved folder: type, size, times, content, link target."""
        approved = {str(folder) for folder in self.approved}
        result: dict[str, tuple] = {}
        for top, dirs, files in os.walk(self.root, followlinks=False):
            dirs[:] = [d for d in dirs if os.path.join(top, d) not in approved]
            for name in [*dirs, *files]:
                path = os.path.join(top, name)
                st = os.lstat(path)
                entry: tuple = (stat.S_IFMT(st.st_mode), st.st_mode, st.st_mtime_ns)
                if stat.S_ISLNK(st.st_mode):
                    entry += (os.readlink(path),)
                elif stat.S_ISREG(st.st_mode):
                    entry += (st.st_size, hashlib.sha256(Path(path).read_bytes()).hexdigest())
                result[os.path.relpath(path, self.root)] = entry
            result[os.path.relpath(top, self.root)] = ("dir", os.lstat(top).st_mtime_ns)
        return result

    def secrets_inside(self) -> list[str]:
        """Approved-folder files whose content came from outside."""
        found = []
        for folder in self.approved:
            for top, _dirs, files in os.walk(folder, followlinks=False):
                for name in files:
                    path = Path(top, name)
                    if not path.is_symlink() and SECRET in path.read_bytes():
                        found.append(str(path))
        return found

    def config(self, **butler: object) -> dict:
        pair = [{"fromDirectory": str(self.source), "toDirectory": str(self.target)}]
        defaults: dict[str, object] = {
            "fileCopyApprovedDirectories": pair,
            "fileMoveApprovedDirectories": pair,
            "fileDeleteApprovedDirectories": [str(self.trash), str(self.source)],
            "configDirectories": {"qvdPath": str(self.qvd)},
        }
        return base_config(**{**defaults, **butler})


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    built = Site(tmp_path / "site")
    built.root.mkdir()
    built.build()
    yield built


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    built = Site(tmp_path_factory.mktemp("files") / "site")
    built.root.mkdir()
    built.build()
    return built


@pytest.fixture(scope="module")
def shared_http(shared_site: Site) -> Iterator[httpx.Client]:
    """One qbutler for a whole module, serving `shared_site` (rebuild the tree per test)."""
    with ThreadedService(shared_site.config(), shared_site.root.parent / "conf") as service, \
            httpx.Client(base_url=service.url, timeout=30) as client:
        yield client
