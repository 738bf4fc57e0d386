"""Copy, move and delete between checked locations, so that a reader never sees half a file.

A copied file is written to a hidden temporary file in the destination folder, flushed to disk,
and only then given its name (a rename, which replaces atomically, or a hard link, which refuses
to replace). A copied directory is built under a temporary name and renamed into place; onto an
existing directory it is merged file by file, each file landing the same way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat

from qbutler.files.handles import Dir, is_link, link_no_replace, rename, same_file
from qbutler.files.resolve import Located

_CHUNK = 1024 * 1024


class SourceMissing(Exception):
    pass


class NotCopyable(Exception):
    """The source is neither a regular file nor a directory (a device, pipe or socket)."""


class DirectoryInTheWay(Exception):
    """A directory would replace a file or a link (a link is never followed, nor replaced by a tree)."""


def _temp_name() -> str:
    return f".qbutler-{secrets.token_hex(8)}.tmp"


def _open_source_file(src: Dir, name: str, checked: os.stat_result) -> int:
    # O_NONBLOCK: should the name have become a pipe, opening it must not hang.
    fd = src.open_file(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    if not same_file(os.fstat(fd), checked) or not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotCopyable(name)
    return fd


def _pump(fd_in: int, fd_out: int) -> None:
    if hasattr(os, "sendfile"):
        offset = 0
        try:
            while True:
                sent = os.sendfile(fd_out, fd_in, offset, _CHUNK * 8)
                if sent == 0:
                    return
                offset += sent
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP) or offset:
                raise
    while chunk := os.read(fd_in, _CHUNK):
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd_out, view):]


def _write_temp_copy(src: Dir, name: str, checked: os.stat_result, dst: Dir, preserve: bool) -> str:
    """A complete, flushed copy of the file under a temporary name in `dst`; returns that name."""
    fd_in = _open_source_file(src, name, checked)
    temp = _temp_name()
    try:
        fd_out = dst.open_file(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            _pump(fd_in, fd_out)
            if hasattr(os, "fchmod"):
                os.fchmod(fd_out, stat.S_IMODE(checked.st_mode))
            if preserve and os.utime in os.supports_fd:
                os.utime(fd_out, ns=(checked.st_atime_ns, checked.st_mtime_ns))
            os.fsync(fd_out)
        finally:
            os.close(fd_out)
        if preserve and os.utime not in os.supports_fd:
            dst.set_times(temp, checked.st_atime_ns, checked.st_mtime_ns)
        if not hasattr(os, "fchmod"):
            os.chmod(dst.ref(temp), stat.S_IMODE(checked.st_mode))
    except BaseException:
        with contextlib.suppress(OSError):
            dst.unlink(temp)
        raise
    finally:
        os.close(fd_in)
    return temp


def _land(dst: Dir, temp: str, name: str, overwrite: bool) -> bool:
    """Give the temporary file its final name; False if it exists and must not be replaced."""
    try:
        if overwrite:
            rename(dst, temp, dst, name)
            return True
        try:
            link_no_replace(dst, temp, dst, name)
        except FileExistsError:
            return False
        except OSError as exc:
            # File systems without hard links: check, then rename (a small window remains).
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV):
                raise
            if _exists(dst, name):
                return False
            rename(dst, temp, dst, name)
            return True
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            dst.unlink(temp)
        dst.sync()


def _exists(directory: Dir, name: str) -> bool:
    try:
        directory.lstat(name)
    except FileNotFoundError:
        return False
    return True


def _copy_file(src: Dir, name: str, checked: os.stat_result, dst: Dir, dst_name: str,
               overwrite: bool, preserve: bool) -> None:
    if not overwrite and _exists(dst, dst_name):
        return
    temp = _write_temp_copy(src, name, checked, dst, preserve)
    _land(dst, temp, dst_name, overwrite)


def _copy_link(src: Dir, name: str, dst: Dir, dst_name: str, overwrite: bool) -> None:
    # A link inside a copied tree is copied as a link (like `cp -r`); its target is not read.
    exists = _exists(dst, dst_name)
    if exists and not overwrite:
        return
    temp = _temp_name()
    dst.symlink(src.readlink(name), temp)
    try:
        rename(dst, temp, dst, dst_name)
    except BaseException:
        with contextlib.suppress(OSError):
            dst.unlink(temp)
        raise


def _fill_directory(src: Dir, dst: Dir, overwrite: bool, preserve: bool, avoid: set[tuple[int, int]]) -> None:
    """Copy the contents of `src` into the existing directory `dst`, merging."""
    for name in src.entries():
        st = src.lstat(name)
        if (st.st_dev, st.st_ino) in avoid:
            continue
        if is_link(st):
            _copy_link(src, name, dst, name, overwrite)
        elif stat.S_ISDIR(st.st_mode):
            _copy_directory(src, name, st, dst, name, overwrite, preserve, avoid)
        elif stat.S_ISREG(st.st_mode):
            _copy_file(src, name, st, dst, name, overwrite, preserve)
        # Devices, pipes and sockets inside a tree are skipped: they are not data.


def _copy_directory(src: Dir, name: str, checked: os.stat_result, dst: Dir, dst_name: str,
                    overwrite: bool, preserve: bool, avoid: set[tuple[int, int]]) -> None:
    source = src.child(name, checked)
    try:
        existing = _lstat_or_none(dst, dst_name)
        if existing is not None:
            if is_link(existing) or not stat.S_ISDIR(existing.st_mode):
                raise DirectoryInTheWay(dst_name)
            target = dst.child(dst_name, existing)
            try:
                _fill_directory(source, target, overwrite, preserve, avoid)
            finally:
                target.close()
            return
        # Build the copy under a temporary name, then rename it into place in one step.
        temp = _temp_name()
        dst.mkdir(temp, 0o700)
        try:
            built = dst.child(temp, dst.lstat(temp))
            try:
                avoid.add((built.identity().st_dev, built.identity().st_ino))
                _fill_directory(source, built, overwrite, preserve, avoid)
                built.set_mode(stat.S_IMODE(checked.st_mode))
            finally:
                built.close()
            if preserve:
                dst.set_times(temp, checked.st_atime_ns, checked.st_mtime_ns)
            rename(dst, temp, dst, dst_name)
        except BaseException:
            with contextlib.suppress(OSError):
                dst.rmtree(temp)
            raise
        dst.sync()
    finally:
        source.close()


def _lstat_or_none(directory: Dir, name: str) -> os.stat_result | None:
    try:
        return directory.lstat(name)
    except FileNotFoundError:
        return None


def copy(src: Located, dst: Located, *, overwrite: bool, preserve_timestamp: bool) -> None:
    """Copy a file or a directory tree. An existing file is kept unless `overwrite` (Butler's rule)."""
    checked = src.lstat()
    if checked is None:
        raise SourceMissing(src.name)
    if is_link(checked):
        # The resolved name became a link after it was checked: not followed.
        raise NotCopyable(src.name)
    if stat.S_ISDIR(checked.st_mode):
        _refuse_copy_into_itself(checked, dst)
        _copy_directory(src.parent, src.name, checked, dst.parent, dst.name, overwrite,
                        preserve_timestamp, set())
    elif stat.S_ISREG(checked.st_mode):
        _copy_file(src.parent, src.name, checked, dst.parent, dst.name, overwrite, preserve_timestamp)
    else:
        raise NotCopyable(src.name)


def _refuse_copy_into_itself(source: os.stat_result, dst: Located) -> None:
    for handle in dst.chain:
        if same_file(handle.identity(), source):
            raise OSError(errno.EINVAL, "cannot copy a directory into itself")
    parent = dst.parent
    current = os.path.realpath(parent.path)
    while True:
        st = os.stat(current)
        if same_file(st, source):
            raise OSError(errno.EINVAL, "cannot copy a directory into itself")
        up = os.path.dirname(current)
        if up == current:
            return
        current = up


def move(src: Located, dst: Located, *, overwrite: bool) -> None:
    """Rename a file, link or directory (a link is moved, not followed).

    An existing destination is an error unless `overwrite`; then it is replaced.
    """
    checked = src.lstat()
    if checked is None:
        raise SourceMissing(src.name)
    existing = dst.lstat()
    if existing is not None:
        if not overwrite:
            raise FileExistsError(errno.EEXIST, "destination exists", dst.name)
        if same_file(existing, checked):
            return
        # A rename replaces a file with a file; anything else is removed first (as fs-extra does).
        if _is_tree(existing) or stat.S_ISDIR(checked.st_mode) or is_link(existing):
            _remove(dst.parent, dst.name, existing)
    try:
        if existing is None and not stat.S_ISDIR(checked.st_mode) and not is_link(checked):
            _move_file_no_replace(src, dst)
        else:
            rename(src.parent, src.name, dst.parent, dst.name)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # Different file systems: copy, then remove the original.
        copy(src, dst, overwrite=overwrite, preserve_timestamp=True)
        delete(src)
    dst.parent.sync()
    src.parent.sync()


def _move_file_no_replace(src: Located, dst: Located) -> None:
    try:
        link_no_replace(src.parent, src.name, dst.parent, dst.name)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.EXDEV):
            raise
        if _exists(dst.parent, dst.name):
            raise FileExistsError(errno.EEXIST, "destination exists", dst.name) from exc
        rename(src.parent, src.name, dst.parent, dst.name)
        return
    src.parent.unlink(src.name)


def delete(target: Located) -> None:
    """Remove a file or link, or a whole directory tree (links inside are removed, not followed)."""
    st = target.lstat()
    if st is None:
        raise SourceMissing(target.name)
    _remove(target.parent, target.name, st)


def _is_tree(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode) and not is_link(st)


def _remove(directory: Dir, name: str, st: os.stat_result) -> None:
    if _is_tree(st):
        directory.rmtree(name)
    elif stat.S_ISDIR(st.st_mode):
        # Windows: a junction or a directory link is removed like an empty folder; its target stays.
        directory.rmdir(name)
    else:
        directory.unlink(name)
