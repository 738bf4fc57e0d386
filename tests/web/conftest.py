"""One simulated site + one qbutler and one chromium per test module (issue 20: keep the browser
tests' wall time bounded)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from support.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, browser_missing
from support.dashboard import DashboardStack

MISSING = browser_missing()
# Without chromium, Playwright or axe-core the browser modules cannot even be imported: they are left
# out, and test_browser_available.py reports the reason as a skip.
collect_ignore = ["test_config_page.py", "test_dashboard.py", "test_login.py", "test_site_watch.py",
                  "test_test_alerts.py"] if MISSING else []

if not MISSING:
    from playwright.sync_api import expect

    expect.set_options(timeout=15000)

@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardStack]:
    running = DashboardStack(tmp_path_factory.mktemp("dashboard")).start()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per module. Not per session: Playwright's sync API keeps an event loop running in
    the main thread while it is open, and the asyncio tests that follow need that thread free."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) at 1280×800 per test."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15000)
    tab = context.new_page()
    errors: list[str] = []
    # A CSP violation or script error anywhere fails the test that caused it.
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.console_errors = errors
    yield tab
    context.close()
