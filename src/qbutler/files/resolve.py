"""Resolving a path beneath an approved folder, like Linux's openat2(RESOLVE_BENEATH).

The walk starts at the approved folder's open handle and takes one name at a time. Links are
followed (so links inside the folder work), `..` is applied to the directory actually reached,
not to the text, and any step that would leave the folder (a `..` at the top, an absolute link
elsewhere) stops the walk. Each directory is opened without following links and compared with
what was checked, so a name swapped for a link in between is noticed and looked at again.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from qbutler.files.handles import Dir, Swapped, is_link
from qbutler.files.paths import Flavour, fold, link_target_parts, tokens

# Linux's limit on links followed in one lookup.
MAX_LINKS = 40
# Re-checks of one name that keeps changing under the walk before giving up.
MAX_RETRIES = 10


class Escape(Exception):
    """The path leads outside the approved folder."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Unresolvable(OSError):
    """The path cannot be resolved inside the folder (a missing or non-directory step, a link loop)."""


@dataclass
class Located:
    """The checked directories from the approved folder down to the parent, and the final name."""

    chain: list[Dir]
    name: str

    @property
    def parent(self) -> Dir:
        return self.chain[-1]

    def lstat(self) -> os.stat_result | None:
        try:
            return self.parent.lstat(self.name)
        except FileNotFoundError:
            return None

    def close(self) -> None:
        """Close every handle but the root's, which belongs to the caller."""
        for handle in self.chain[1:]:
            handle.close()
        del self.chain[1:]


def locate(root: Dir, parts: list[str], flavour: Flavour, *, follow_final: bool,
           create_parents: bool = False) -> Located:
    """Walk `parts` (names below `root`) to the directory holding the last one.

    With `follow_final` a link in the last place is followed too (a copy source); without it the
    link itself is the target (delete, move, an overwritten destination). `create_parents`
    creates missing directories on the way (`mkdir -p`), each one inside the folder.
    """
    pending = list(reversed(parts))
    chain = [root]
    links = retries = 0

    def look_again(name: str) -> None:
        # The entry changed since it was checked (another process is editing the tree).
        nonlocal retries
        retries += 1
        if retries > MAX_RETRIES:
            raise Unresolvable(errno.ESTALE, "the path keeps changing")
        pending.append(name)

    try:
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if len(chain) == 1:
                    raise Escape("'..' leads above the approved folder")
                chain.pop().close()
                continue
            final = all(part in ("", ".") for part in pending)
            if final and not follow_final:
                return Located(chain, name)
            try:
                st = chain[-1].lstat(name)
            except FileNotFoundError:
                if final:
                    return Located(chain, name)
                if not create_parents:
                    raise Unresolvable(errno.ENOENT, "a directory on the way does not exist") from None
                try:
                    chain[-1].mkdir(name)
                except FileExistsError:
                    pass
                look_again(name)
                continue
            if is_link(st):
                links += 1
                if links > MAX_LINKS:
                    raise Unresolvable(errno.ELOOP, "too many levels of symbolic links")
                try:
                    text = chain[-1].readlink(name)
                except OSError as exc:
                    # EINVAL: no longer a link; ENOENT: gone. Replaced since the lstat: look again.
                    if exc.errno not in (errno.EINVAL, errno.ENOENT):
                        raise
                    links -= 1
                    look_again(name)
                    continue
                absolute, target = link_target_parts(text, flavour)
                if absolute:
                    target = _below_root(root, target, flavour)
                    for handle in chain[1:]:
                        handle.close()
                    del chain[1:]
                pending.extend(reversed(target))
                continue
            if final:
                return Located(chain, name)
            if not stat.S_ISDIR(st.st_mode):
                raise Unresolvable(errno.ENOTDIR, "a step on the way is not a directory")
            try:
                chain.append(chain[-1].child(name, st))
            except Swapped:
                look_again(name)
        # Only a link whose target ends in '.' or '..' gets here: it names a directory by a
        # path with no last name to operate on.
        raise Unresolvable(errno.EINVAL, "the path ends in a link to '.' or '..'")
    except BaseException:
        for handle in chain[1:]:
            handle.close()
        raise


def ensure_directory(root: Dir, parts: list[str], flavour: Flavour) -> None:
    """`mkdir -p` of `parts` below `root`; every step, new or existing, stays inside the folder."""
    if not any(part not in ("", ".") for part in parts):
        return
    located = locate(root, parts, flavour, follow_final=True, create_parents=True)
    try:
        st = located.lstat()
        if st is None:
            try:
                located.parent.mkdir(located.name)
                return
            except FileExistsError:
                st = located.lstat()
        if st is None or not stat.S_ISDIR(st.st_mode):
            raise FileExistsError(errno.EEXIST, "something other than a directory is in the way", located.name)
    finally:
        located.close()


def _below_root(root: Dir, target: list[str], flavour: Flavour) -> list[str]:
    """An absolute link target as names below the root, or Escape if it points elsewhere.

    The target may name the root by its real path or as the configuration spells it.
    """
    for spelling in (root.path, *root.spellings):
        root_parts = fold(tokens(spelling.replace("\\", "/")), flavour)
        if fold(target[: len(root_parts)], flavour) == root_parts:
            return target[len(root_parts):]
    raise Escape("a link points outside the approved folder")
