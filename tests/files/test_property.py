"""Property: whatever paths a client sends, no accepted operation touches anything outside.

Paths are built from the names in the test tree (approved folders, links in and out, `..`,
doubled and back slashes, encoded and look-alike dots); after every request the tree outside the
approved folders must be exactly as before, and no outside content may have been copied in.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NAMES = ["data", "from", "to", "del", "qvd", "outside", "sub", "a.txt", "b.txt", "c.txt", "secret.txt", "dir",
         "inner.txt", "esc_rel", "esc_abs", "esc_file", "chain1", "chain2", "chain3", "deep_up", "up_in",
         "inlink", "abs_in", "file_link", "sibling", "abs_dotdot", "in_link", "in_dir", "esc", "tree",
         "new", "..", ".", "", "%2e%2e", "\uff0e\uff0e", "loop1"]
ENDPOINTS = {"copy": ("PUT", "/v4/filecopy"), "move": ("PUT", "/v4/filemove"),
             "delete": ("DELETE", "/v4/filedelete"), "createdir": ("POST", "/v4/createdir"),
             "createdirqvd": ("POST", "/v4/createdirqvd")}
# Every refusal the sandbox can give; an unhandled error would read "Internal Server Error".
EXPECTED = {201, 204, 400, 403, 500}

relative = st.lists(st.sampled_from(NAMES), min_size=1, max_size=5).map("/".join)
# Prefixes weighted towards the approved folders, so that many requests are accepted.
ELSEWHERE = ["@/", "@/data/", "", "@/outside/", "@/data/del/", "@/qvd/"]
# Mixed with names that exist (or may be created) there, so that many requests are accepted.
known_sources = st.sampled_from(["a.txt", "sub/b.txt", "inlink/b.txt", "file_link", "sub", "c.txt",
                                 "abs_in/b.txt", "sub/up_in/b.txt", "tree", "esc_file"])
known_targets = st.sampled_from(["new.txt", "in_link/x.txt", "deep/er/n.txt", "esc_file", "in_dir", "sub"])
source_names = st.one_of(known_sources, known_sources, relative)
target_names = st.one_of(known_targets, known_targets, relative)
sources = st.tuples(st.sampled_from([*ELSEWHERE, *["@/data/from/"] * 15]), source_names, st.booleans(), st.booleans())
targets = st.tuples(st.sampled_from([*ELSEWHERE, *["@/data/to/"] * 15]), target_names, st.booleans(), st.booleans())
requests = st.tuples(st.sampled_from(sorted(ENDPOINTS)), sources, targets, st.booleans())


def render(path: tuple[str, str, bool, bool], root: str) -> str:
    prefix, rest, backslashes, trailing = path
    text = prefix.replace("@", root) + rest + ("/" if trailing else "")
    return text.replace("/", "\\") if backslashes else text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(requests, min_size=1, max_size=4))
def test_no_accepted_operation_touches_anything_outside(shared_site, shared_http, calls):
    site = shared_site
    site.build()
    before = site.snapshot_outside()
    root = site.root.as_posix()
    for operation, first, second, overwrite in calls:
        method, endpoint = ENDPOINTS[operation]
        a, b = render(first, root), render(second, root)
        if operation == "createdir":
            a = b
        if operation == "createdirqvd":
            a = first[1]
        body = {"copy": {"fromFile": a, "toFile": b, "overwrite": str(overwrite).lower()},
                "move": {"fromFile": a, "toFile": b, "overwrite": overwrite},
                "delete": {"deleteFile": a}}.get(operation, {"directory": a})
        headers = {} if method == "POST" else {"X-HTTP-Method-Override": method}
        response = shared_http.post(endpoint, json=body, headers=headers)
        assert response.status_code in EXPECTED, response.text
        if response.status_code >= 400:
            assert response.json()["message"] != "Internal Server Error"
        assert site.snapshot_outside() == before, (operation, body, response.status_code)
        assert site.secrets_inside() == [], (operation, body)

