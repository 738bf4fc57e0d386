"""With API keys required: the login page, a read-only key that sees no actions and is refused
them anyway, and the audit trail of dashboard actions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import expect

from support.browser import accessibility_problems, screenshot
from support.dashboard import DashboardStack

auth = pytest.importorskip("qbutler.auth.keys", reason="API keys arrive with issue 16 (qbutler.auth)")

ADMIN_KEY, ADMIN_HASH = auth.new_key()
READER_KEY, READER_HASH = auth.new_key()
KEYS = [{"name": "ops-admin", "hash": ADMIN_HASH, "scopes": ["admin"]},
        {"name": "viewer", "hash": READER_HASH, "scopes": ["kv:read", "schedules:read"]}]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    running = DashboardStack(tmp_path_factory.mktemp("dashboard-auth"),
                             {"qbutler": {"api": {"requireAuth": True, "keys": KEYS}}}).start()
    running.thread.run(running.service.kv.set("loadscript", "rows", "1234"))
    try:
        yield running
    finally:
        running.close()


def log_in(page: Any, stack: Any, key: str, then: str = "/") -> None:
    page.goto(f"{stack.url}/ui{then}")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#live-state")).to_have_text("live")


def audit_lines(stack: Any) -> list[dict[str, Any]]:
    return [orjson.loads(line) for path in sorted(Path(stack.folder, "data", "audit").glob("*"))
            for line in path.read_bytes().splitlines()]


def test_log_in_with_a_key_and_out_again(page, stack):
    page.goto(f"{stack.url}/ui/kv")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/kv$"))
    assert accessibility_problems(page) == []
    screenshot(page, "login")
    page.get_by_label("API key").fill("qbk_00000000_not-a-key")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("That API key is not valid.")

    page.get_by_label("API key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{stack.url}/ui/kv")
    expect(page.locator(".user")).to_have_text("key:ops-admin")
    cookie = next(c for c in page.context.cookies() if c["name"] == "qbutler_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and ADMIN_KEY not in cookie["value"]

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.goto(f"{stack.url}/ui/")
    expect(page).to_have_url(re.compile(r"/ui/login"))


def test_a_read_only_key_sees_no_actions_and_is_refused_them(page, stack):
    log_in(page, stack, READER_KEY, "/tasks")
    expect(page.locator("#task-list tbody tr").first).to_be_visible()
    assert page.get_by_role("button", name=re.compile("^Start ")).count() == 0

    page.goto(f"{stack.url}/ui/schedules")
    expect(page.locator("#s-nightly-sales")).to_be_visible()
    assert page.locator("main button").count() == 0
    assert page.get_by_role("link", name="New schedule").count() == 0

    page.goto(f"{stack.url}/ui/kv/loadscript")
    expect(page.locator("#keys")).to_contain_text("1234")
    assert page.locator("main form[method=post]").count() == 0

    page.goto(f"{stack.url}/ui/alerts")
    expect(page.locator("#test-webhook")).to_contain_text("Webhooks")
    assert page.locator("main button").count() == 0

    page.goto(f"{stack.url}/ui/config")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()

    # The buttons are missing, and the server refuses the actions even with a valid CSRF token.
    refused = page.evaluate("""async (task) => {
        const token = document.body.dataset.csrf;
        const post = async (url, body) => (await fetch(url, {method: 'POST', body: new URLSearchParams(body),
            headers: {'Accept': 'application/json', 'X-CSRF-Token': token}})).json();
        return [await post('/ui/kv', {namespace: 'loadscript', key: 'rows', value: 'forged'}),
                await post('/ui/schedules/nightly-sales/delete', {}),
                await post('/ui/tasks/' + task + '/start', {}),
                await post('/ui/test-alert/webhook', {})];
    }""", stack.task_id("Reload Headcount"))
    assert [r["ok"] for r in refused] == [False, False, False, False]
    assert "lacks the 'kv:write' scope" in refused[0]["message"]
    assert "lacks the 'admin' scope" in refused[3]["message"]
    assert stack.service.dashboard.dashboard.test_alerts.last == {}  # nothing was sent
    assert stack.thread.run(stack.service.kv.get("loadscript", "rows")).value == "1234"
    assert stack.service.scheduler.find("nightly-sales") is not None
    refusals = [line for line in audit_lines(stack) if line.get("via") == "dashboard" and line["status"] == 403]
    assert {line["path"] for line in refusals} >= {"/ui/kv", "/ui/schedules/nightly-sales/delete",
                                                   "/ui/test-alert/webhook"}
    assert all(line["identity"] == "key:viewer" for line in refusals)


def test_an_admin_action_is_in_the_audit_trail_without_the_value(page, stack):
    log_in(page, stack, ADMIN_KEY, "/kv/loadscript")
    page.get_by_role("link", name="Edit rows").click()
    page.get_by_label("Value").fill("secret-value-42")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#keys")).to_contain_text("secret-value-42")
    [entry] = [line for line in audit_lines(stack) if line.get("via") == "dashboard" and line["status"] == 200
               and line["path"] == "/ui/kv/loadscript"]
    assert entry["identity"] == "key:ops-admin" and entry["changed"]["key"] == "rows"
    assert "secret-value-42" not in orjson.dumps(audit_lines(stack)).decode()


def test_a_request_to_another_host_name_is_refused(page, stack):
    response = page.context.request.get(f"{stack.url}/ui/login", headers={"Host": "attacker.example"})
    assert response.status == 421
