"""Butler's lexical path rules, and the Windows rules qbutler adds, as pure functions.

Nothing here touches the file system. The functions take a `flavour` so that the Windows rules
run (and are tested) on every platform; the sandbox picks the host's flavour.
"""

from __future__ import annotations

import re
import sys
from typing import Literal

Flavour = Literal["posix", "windows"]
HOST_FLAVOUR: Flavour = "windows" if sys.platform == "win32" else "posix"

# Longest normalised request path accepted: Linux's PATH_MAX and Windows' long-path limit.
MAX_PATH_LENGTH: dict[Flavour, int] = {"posix": 4096, "windows": 32767}
# Longest single name: 255 bytes on Linux file systems, 255 UTF-16 units on NTFS.
MAX_NAME_LENGTH = 255

_DRIVE = re.compile(r"^[A-Za-z]:")
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{device}{suffix}" for device in ("COM", "LPT") for suffix in [*"0123456789", "¹", "²", "³"]}
_INVALID_WINDOWS_CHARS = set('<>"|?*') | {chr(c) for c in range(32)}


def too_long(path: str, flavour: Flavour) -> bool:
    """Longer than the platform allows, as a whole or in one of its names."""
    if len(path) > MAX_PATH_LENGTH[flavour]:
        return True
    if flavour == "windows":
        return any(len(name.encode("utf-16-le")) // 2 > MAX_NAME_LENGTH for name in path.split("/"))
    return any(len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_LENGTH for name in path.split("/"))


def to_slashes(path: str) -> str:
    """Backslashes become slashes; runs of slashes collapse, except a leading `//` (UNC)."""
    path = path.replace("\\", "/")
    lead = len(path) - len(path.lstrip("/"))
    rest = re.sub(r"/{2,}", "/", path[lead:])
    return "/" * min(lead, 2) + rest


def _normalize_parts(text: str, allow_above_root: bool) -> list[str]:
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif allow_above_root:
                parts.append("..")
            continue
        parts.append(part)
    return parts


def split_root(path: str, flavour: Flavour) -> tuple[str, str]:
    """(root, rest) of a slash path: `/`, `C:/`, `C:`, `//server/share/` (Windows), or `` (relative)."""
    if flavour == "windows":
        if path.startswith("//"):
            pieces = path[2:].split("/", 2)
            if len(pieces) >= 2 and pieces[0] and pieces[1]:
                return f"//{pieces[0]}/{pieces[1]}/", pieces[2] if len(pieces) > 2 else ""
        if _DRIVE.match(path):
            return (path[:3], path[3:]) if path[2:3] == "/" else (path[:2], path[2:])
    if path.startswith("/"):
        return "/", path.lstrip("/")
    return "", path


def normalize(path: str, flavour: Flavour = HOST_FLAVOUR) -> str:
    """Butler's `upath.normalizeSafe`: slashes, `.` and `..` applied lexically, `./` and `//` kept.

    `..` never climbs above an absolute root; a trailing slash is kept. Relative paths stay
    relative (nothing is resolved against a working directory).
    """
    unix = to_slashes(path)
    if unix == "":
        return "."
    root, rest = split_root(unix, flavour)
    absolute = root.endswith("/")
    parts = _normalize_parts(rest, allow_above_root=not absolute)
    trailing = unix.endswith("/") and bool(parts)
    body = "/".join(parts) + ("/" if trailing else "")
    if root == "/" and unix.startswith("//") and not unix.startswith("///"):
        root = "//"  # normalizeSafe keeps a leading `//` that posix normalisation would drop
    result = root + body
    if not result:
        return "./" if unix.endswith("/") else "."
    if unix.startswith("./") and not root and not result.startswith(".."):
        result = "./" + result if result != "." else result
    return result


def dirname(path: str) -> str:
    """Node's `path.posix.dirname` (what Butler applies to a normalised path)."""
    if not path:
        return "."
    has_root = path[0] == "/"
    end = -1
    matched_slash = True
    for index in range(len(path) - 1, 0, -1):
        if path[index] == "/":
            if not matched_slash:
                end = index
                break
        else:
            matched_slash = False
    if end == -1:
        return "/" if has_root else "."
    if has_root and end == 1:
        return "//"
    return path[:end]


def tokens(path: str) -> list[str]:
    """Butler's tokens: split on `/`, empty ones dropped."""
    return [token for token in path.split("/") if token]


def fold(parts: list[str], flavour: Flavour) -> list[str]:
    """Windows compares names case-insensitively; POSIX exactly."""
    return [p.casefold() for p in parts] if flavour == "windows" else parts


def is_within(candidate: str, approved: str, flavour: Flavour = HOST_FLAVOUR) -> bool:
    """Butler's "is child of" test on normalised paths: the approved tokens prefix the candidate's.

    An equal path counts as within; `/data/tomorrow` is not within `/data/to`.
    """
    if candidate == approved:
        return True
    want = fold(tokens(approved), flavour)
    have = fold(tokens(candidate), flavour)
    return have[: len(want)] == want


def below(candidate: str, approved: str) -> list[str]:
    """The candidate's tokens below an approved folder it lies within."""
    return tokens(candidate)[len(tokens(approved)):]


def is_unc(raw: str) -> bool:
    """`\\\\server\\share` or `//server/share`, as Butler recognises them (before normalising)."""
    return raw.startswith(("\\\\", "//", "\\/", "/\\"))


def windows_problem(raw: str) -> str | None:
    """Why Windows cannot safely take this path as a plain file name, or None.

    Refused: device and extended-length paths (`\\\\?\\`, `\\\\.\\`, `\\??\\`), which bypass the
    normal name rules; alternate data streams (`name:stream`); reserved device names (CON, NUL,
    COM1…, also with an extension); names ending in a dot or space (Windows strips them, so they
    name a different file than they appear to); and characters Windows forbids in names.
    """
    unix = raw.replace("\\", "/")
    if unix.startswith(("//?/", "//./", "/??/")):
        return "device paths (\\\\?\\, \\\\.\\) are not allowed"
    rest = unix[2:] if _DRIVE.match(unix) else unix
    if ":" in rest:
        return "alternate data streams (':' in a name) are not allowed"
    names = unix.split("/")
    if _DRIVE.fullmatch(names[0]):
        names = names[1:]
    for name in names:
        if name in ("", ".", ".."):
            continue
        if any(char in _INVALID_WINDOWS_CHARS for char in name):
            return f"the name {name!r} contains a character Windows does not allow"
        if name.endswith((".", " ")):
            return f"the name {name!r} ends in a dot or space"
        if name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED:
            return f"the name {name!r} is a reserved device name"
    return None


def link_target_parts(target: str, flavour: Flavour) -> tuple[bool, list[str]]:
    """(absolute, parts) of a symbolic link's or junction's target text."""
    unix = target.replace("\\", "/") if flavour == "windows" else target
    if flavour == "windows" and unix.startswith(("//?/", "/??/")):
        unix = unix[4:]
        if unix[:4].upper() == "UNC/":
            unix = "//" + unix[4:]
    root, rest = split_root(unix, flavour)
    parts = [part for part in rest.split("/") if part]
    if root.startswith("//"):
        parts = tokens(root) + parts
    elif root[:1].isalpha():
        parts = [root[:2], *parts]
    return bool(root), parts
