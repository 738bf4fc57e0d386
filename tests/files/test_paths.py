"""Butler's lexical rules and qbutler's Windows rules, as pure functions (run on every platform)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qbutler.files.paths import (
    dirname,
    is_unc,
    is_within,
    link_target_parts,
    normalize,
    too_long,
    windows_problem,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("C:\\Data\\..\\x\\f.qvd", "C:/x/f.qvd"),
    ("\\\\server\\share\\dir\\f.txt", "//server/share/dir/f.txt"),
    ("./rel/../x", "./x"),
    ("/a/b/", "/a/b/"),
    ("/d/from//sub/../a.txt", "/d/from/a.txt"),
    ("/a/b/..", "/a"),
    ("/a/b/../", "/a/"),
    ("/..", "/"),
    ("/../../etc", "/etc"),
    ("a/..", "."),
    ("a/../", "./"),
    ("", "."),
    ("../x", "../x"),
    ("a/../../x", "../x"),
    ("///a//b", "//a/b"),
])
def test_normalize_matches_upath_normalize_safe(raw, expected):
    assert normalize(raw, "posix") == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("C:\\Data\\..\\x\\f.qvd", "C:/x/f.qvd"),
    ("C:\\..\\..\\Windows", "C:/Windows"),  # '..' never climbs above a drive root
    ("\\\\server\\share\\..\\..\\x", "//server/share/x"),  # nor above a UNC share
    ("c:/Data/./sub//f.qvd", "c:/Data/sub/f.qvd"),
])
def test_normalize_windows_keeps_drive_and_share_roots(raw, expected):
    assert normalize(raw, "windows") == expected


def test_dirname_is_nodes():
    assert dirname("/a/b/") == "/a"
    assert dirname("/a") == "/"
    assert dirname("a") == "."
    assert dirname("C:/x/f.qvd") == "C:/x"


@pytest.mark.parametrize(("candidate", "approved", "inside"), [
    ("/data/to", "/data/to", True),
    ("/data/to/sub/deeper", "/data/to", True),
    ("/data/tomorrow", "/data/to", False),
    ("/data", "/data/to", False),
    ("/anything", "/", True),
    ("relative/x", "relative", True),
    ("/relative/x", "relative", True),  # Butler's tokens ignore the leading slash
    ("//server/share/x", "/server/share", True),
    ("C:/Data/x", "c:/data", False),
])
def test_is_within_is_butlers_token_prefix(candidate, approved, inside):
    assert is_within(candidate, approved, "posix") is inside


def test_windows_compares_case_insensitively():
    assert is_within("C:/Data/X", "c:/data", "windows")
    assert not is_within("C:/Database", "c:/data", "windows")


@pytest.mark.parametrize("raw", ["\\\\server\\share\\f", "//server/share/f", "\\/server/x"])
def test_unc_paths_are_recognised(raw):
    assert is_unc(raw)


@pytest.mark.parametrize("raw", ["/data/f", "C:\\data\\f", "\\data\\f"])
def test_other_paths_are_not_unc(raw):
    assert not is_unc(raw)


@pytest.mark.parametrize(("raw", "reason"), [
    ("\\\\?\\C:\\data\\f.qvd", "device paths"),
    ("\\\\.\\PhysicalDrive0", "device paths"),
    ("//?/C:/data/f.qvd", "device paths"),
    ("\\??\\C:\\data", "device paths"),
    ("C:\\data\\f.qvd:hidden", "alternate data streams"),
    ("C:\\data\\f.qvd::$DATA", "alternate data streams"),
    ("C:\\data\\CON", "reserved device name"),
    ("C:\\data\\nul.txt", "reserved device name"),
    ("C:\\data\\com1.qvd", "reserved device name"),
    ("C:\\data\\LPT9", "reserved device name"),
    ("C:\\data\\COM\u00b9", "reserved device name"),
    ("C:\\data\\con .txt", "reserved device name"),
    ("C:\\data\\dir.\\f.qvd", "ends in a dot or space"),
    ("C:\\data\\f.qvd ", "ends in a dot or space"),
    ("C:\\data\\f.qvd...", "ends in a dot or space"),
    ("C:\\data\\a<b", "character Windows does not allow"),
    ("C:\\data\\a\x01b", "character Windows does not allow"),
])
def test_windows_refuses_names_that_mean_something_else(raw, reason):
    problem = windows_problem(raw)
    assert problem is not None and reason in problem


@pytest.mark.parametrize("raw", ["C:\\data\\f.qvd", "\\\\server\\share\\dir\\f.qvd", "C:/data/../x/./f.qvd",
                                 "D:\\CONSOLE\\connect.txt", "C:\\data\\.hidden", "C:\\data\\com10",
                                 "relative\\f.qvd"])
def test_windows_accepts_ordinary_paths(raw):
    assert windows_problem(raw) is None


def test_link_targets_as_parts():
    assert link_target_parts("../x/y", "posix") == (False, ["..", "x", "y"])
    assert link_target_parts("/srv/data", "posix") == (True, ["srv", "data"])
    assert link_target_parts("\\\\?\\C:\\data\\x", "windows") == (True, ["C:", "data", "x"])
    assert link_target_parts("\\??\\UNC\\srv\\share\\x", "windows") == (True, ["srv", "share", "x"])
    assert link_target_parts("..\\x", "windows") == (False, ["..", "x"])
    # On POSIX a backslash is part of a name.
    assert link_target_parts("..\\x", "posix") == (False, ["..\\x"])


def test_too_long():
    assert too_long("/d/" + "a" * 256, "posix")
    assert not too_long("/d/" + "a" * 255, "posix")
    assert too_long("/d/" + "é" * 128, "posix")  # 256 bytes in UTF-8
    assert not too_long("C:/d/" + "é" * 255, "windows")
    assert too_long("/a" * 2049, "posix")


names = st.text(alphabet=st.sampled_from("ab./\\"), max_size=30)


@given(names)
def test_normalize_is_idempotent_and_leaves_no_dot_segments(raw):
    once = normalize(raw, "posix")
    assert normalize(once, "posix") == once
    assert "\\" not in once
    body = [part for part in once.split("/") if part]
    leading = len(list(itertools.takewhile(lambda part: part == "..", body)))
    assert ".." not in body[leading:]
    assert "." not in body[1:]
    if once.startswith("/"):
        assert leading == 0


@given(names, names)
def test_within_after_normalising_never_climbs_out(approved, rest):
    root = "/" + normalize(approved, "posix").strip("/.")
    candidate = normalize(f"{root}/{rest}", "posix")
    if is_within(candidate, root, "posix"):
        assert ".." not in candidate.split("/")
