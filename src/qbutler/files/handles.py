"""Directory handles: every file operation names its target relative to an already-checked directory.

Where the platform supports it (Linux, macOS, the BSDs) a handle is an open directory file
descriptor, and every call goes through the `*at` system calls (`openat`, `unlinkat`,
`renameat`…) with that descriptor: once a directory has been checked, renaming or replacing
anything above it cannot redirect the operation. Elsewhere (Windows) a handle is the directory's
checked path; the walk still refuses every escape it can see, but a swap between check and use
cannot be excluded there.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator

DIR_FDS_SUPPORTED = (
    hasattr(os, "O_DIRECTORY") and hasattr(os, "O_NOFOLLOW")
    and {os.open, os.stat, os.unlink, os.rename, os.mkdir, os.readlink} <= os.supports_dir_fd
    and shutil.rmtree.avoids_symlink_attacks
)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
# Windows reparse points that redirect a name: symbolic links and junctions (mount points).
_LINK_TAGS = {0xA000000C, 0xA0000003}


class Swapped(OSError):
    """A directory was replaced (e.g. by a link) between being checked and being opened."""


def is_link(st: os.stat_result) -> bool:
    """A symbolic link, or on Windows a junction, both of which redirect the name."""
    return stat.S_ISLNK(st.st_mode) or getattr(st, "st_reparse_tag", 0) in _LINK_TAGS


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class Dir:
    """One checked directory: an open descriptor (`fd`) or, without descriptor support, a path."""

    def __init__(self, path: str, fd: int | None, spellings: tuple[str, ...] = ()):
        self.path = path
        self.fd = fd
        # Other absolute paths that name this directory (an approved folder as configured).
        self.spellings = spellings

    @classmethod
    def open_root(cls, path: str, use_fds: bool) -> Dir:
        """An approved folder, given by the configuration: links in its own path are trusted."""
        real = os.path.realpath(path)
        spellings = (os.path.abspath(path),)
        if not use_fds:
            if not os.path.isdir(real):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
            return cls(real, None, spellings)
        return cls(real, os.open(real, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC), spellings)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def ref(self, name: str) -> str:
        """The name to hand to an `*at` call with `dir_fd=self.fd` (a full path without fds)."""
        return name if self.fd is not None else os.path.join(self.path, name)

    def identity(self) -> os.stat_result:
        return os.fstat(self.fd) if self.fd is not None else os.stat(self.path)

    def lstat(self, name: str) -> os.stat_result:
        return os.stat(self.ref(name), dir_fd=self.fd, follow_symlinks=False)

    def readlink(self, name: str) -> str:
        return os.readlink(self.ref(name), dir_fd=self.fd)

    def child(self, name: str, checked: os.stat_result) -> Dir:
        """Open the subdirectory `name`, which `checked` (an lstat) showed to be a directory.

        No link is followed, and the opened directory must be the one that was checked;
        otherwise `Swapped` is raised and the caller looks again.
        """
        path = os.path.join(self.path, name)
        if self.fd is None:
            if not same_file(os.stat(path, follow_symlinks=False), checked):
                raise Swapped(errno.ESTALE, "changed while being checked", path)
            return Dir(path, None)
        try:
            fd = os.open(name, _DIRECTORY_FLAGS, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                raise Swapped(errno.ESTALE, "changed while being checked", path) from exc
            raise
        if not same_file(os.fstat(fd), checked):
            os.close(fd)
            raise Swapped(errno.ESTALE, "changed while being checked", path)
        return Dir(path, fd)

    def mkdir(self, name: str, mode: int = 0o777) -> None:
        os.mkdir(self.ref(name), mode, dir_fd=self.fd)

    def open_file(self, name: str, flags: int, mode: int = 0o600) -> int:
        """Open a file in this directory; the name itself is never followed if it is a link."""
        return os.open(self.ref(name), flags | _NOFOLLOW | _CLOEXEC | getattr(os, "O_BINARY", 0),
                       mode, dir_fd=self.fd)

    def unlink(self, name: str) -> None:
        os.unlink(self.ref(name), dir_fd=self.fd)

    def rmdir(self, name: str) -> None:
        os.rmdir(self.ref(name), dir_fd=self.fd)

    def rmtree(self, name: str) -> None:
        """Remove a directory tree; links inside are removed, never followed."""
        if self.fd is not None:
            shutil.rmtree(name, dir_fd=self.fd)
        else:
            shutil.rmtree(self.ref(name))

    def symlink(self, target: str, name: str) -> None:
        os.symlink(target, self.ref(name), dir_fd=self.fd)

    def set_times(self, name: str, atime_ns: int, mtime_ns: int) -> None:
        os.utime(self.ref(name), ns=(atime_ns, mtime_ns), dir_fd=self.fd,
                 follow_symlinks=os.utime not in os.supports_follow_symlinks)

    def set_mode(self, mode: int) -> None:
        if self.fd is not None:
            os.fchmod(self.fd, mode)
        else:
            os.chmod(self.path, mode)

    def entries(self) -> Iterator[str]:
        with os.scandir(self.fd if self.fd is not None else self.path) as listing:
            names = [entry.name for entry in listing]
        yield from names

    def sync(self) -> None:
        """Make renames in this directory durable (a no-op where directories cannot be synced)."""
        if self.fd is not None:
            try:
                os.fsync(self.fd)
            except OSError:
                pass


def rename(src: Dir, src_name: str, dst: Dir, dst_name: str) -> None:
    """Rename, atomically replacing a file at the destination (also on Windows, unlike os.rename)."""
    os.replace(src.ref(src_name), dst.ref(dst_name), src_dir_fd=src.fd, dst_dir_fd=dst.fd)


def link_no_replace(src: Dir, src_name: str, dst: Dir, dst_name: str) -> None:
    """Give a file a second name, failing with FileExistsError if the destination exists.

    Unlike "check, then rename", nothing can appear at the destination in between.
    """
    options = {"follow_symlinks": False} if os.link in os.supports_follow_symlinks else {}
    os.link(src.ref(src_name), dst.ref(dst_name), src_dir_fd=src.fd, dst_dir_fd=dst.fd, **options)
