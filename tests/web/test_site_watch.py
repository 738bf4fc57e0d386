"""The overview with the site watch on: Sense's services, the licenses and qbutler's readiness
components, from a simulated site whose services and Repository Service the test stops."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from support.browser import accessibility_problems, screenshot
from support.dashboard import DashboardStack

WATCH = {"serviceMonitor": {"enable": True, "frequency": "every 1 seconds"},
         "qlikSenseLicense": {"serverLicenseMonitor": {"enable": True, "frequency": "every 1 seconds"},
                              "licenseMonitor": {"enable": True, "frequency": "every 1 seconds"}}}
NODE = "sense-prod-1"  # the demo seed's node


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    running = DashboardStack(tmp_path_factory.mktemp("dashboard-watch"), WATCH).start()
    try:
        yield running
    finally:
        running.close()


def set_service(stack: Any, service: str, state: str) -> None:
    response = stack.http.put(f"{stack.site.control_url}/services/{NODE}/{service}", json={"state": state})
    response.raise_for_status()


def set_qrs_reachable(stack: Any, reachable: bool) -> None:
    stack.http.put(f"{stack.site.control_url}/qrs/reachable", json={"reachable": reachable}).raise_for_status()


def component(page: Any, name: str) -> Any:
    return page.locator("#health li", has_text=name)


def test_services_licenses_and_readiness_from_the_site(page, stack):
    page.goto(f"{stack.url}/ui/")
    expect(page.locator("#live-state")).to_have_text("live")
    services = page.locator("#site tbody tr")
    expect(services).to_have_count(5)
    scheduler = services.filter(has_text="Scheduler")
    expect(scheduler.locator(".badge")).to_have_text("running")
    expect(scheduler.locator(".badge")).to_have_class("badge badge-ok")
    expect(page.locator("#server-license")).to_contain_text("expires 2030-12-31")
    expect(page.locator("#site .licenses")).to_contain_text("Professional access: allocated 4")
    for name in ("Repository Service", "Alert outbox", "Site watch: Sense services", "Site watch: Server license",
                 "Site watch: Access licenses"):
        expect(component(page, name).locator(".dot")).to_have_class("dot dot-ok")
    expect(component(page, "Site watch: Sense services")).to_contain_text("every 1 seconds; last check")
    assert accessibility_problems(page) == []
    page.emulate_media(color_scheme="dark")
    assert accessibility_problems(page, ["color-contrast"]) == []
    page.emulate_media(color_scheme="light")
    page.locator("#site").scroll_into_view_if_needed()
    screenshot(page, "overview-site-watch")

    # A stopped service turns red without a reload (the watch's change is a live event).
    page.evaluate("() => { window.notReloaded = true; }")
    set_service(stack, "Scheduler", "NoCommunication")
    try:
        expect(scheduler.locator(".badge")).to_have_text("stopped")
        expect(scheduler.locator(".badge")).to_have_class("badge badge-bad")
        expect(scheduler).to_contain_text("NoCommunication")
        assert page.evaluate("() => window.notReloaded === true"), "the page was reloaded instead of updated"
        expect(page.locator("#activity")).to_contain_text(f"{NODE}")
    finally:
        set_service(stack, "Scheduler", "Running")
    expect(scheduler.locator(".badge")).to_have_text("running")
    assert page.console_errors == []


def test_an_unreachable_repository_service_is_red_on_the_next_refresh(page, stack):
    page.goto(f"{stack.url}/ui/")
    expect(component(page, "Repository Service").locator(".dot")).to_have_class("dot dot-ok")
    set_qrs_reachable(stack, False)
    try:
        # Two failed checks of the service monitor, then the admin reloads the page.
        monitor = stack.service.watch.services
        deadline = time.monotonic() + 20
        while monitor.failures_in_a_row < 2:
            assert time.monotonic() < deadline, "the service monitor never failed"
            time.sleep(0.2)
        page.reload()
        repository = component(page, "Repository Service")
        expect(repository.locator(".dot")).to_have_class("dot dot-bad")
        expect(repository).to_contain_text("unhealthy")
        watch = component(page, "Site watch: Sense services")
        expect(watch).to_contain_text("failed checks in a row")
    finally:
        set_qrs_reachable(stack, True)
    # Green again on a later refresh once the Repository Service answers.
    deadline = time.monotonic() + 20
    while True:
        page.reload()
        if component(page, "Repository Service").locator(".dot-ok").count() == 1:
            break
        assert time.monotonic() < deadline, "the Repository Service stayed red after it came back"
        page.wait_for_timeout(500)
