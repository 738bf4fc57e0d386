"""The dashboard in a real headless chromium against qbutler and a simulated Sense site."""

from __future__ import annotations

import re
import time
from typing import Any

import yaml
from playwright.sync_api import expect

from support.browser import accessibility_problems, screenshot

FAILING_TASK = "Reload Budget vs Actual"
SUCCESS_TASK = "Reload Headcount"


def open_page(page: Any, stack: Any, path: str) -> None:
    page.goto(f"{stack.url}/ui{path}")
    expect(page.locator("#live-state")).to_have_text("live")


def test_a_failing_task_appears_live_and_its_script_log_is_one_click_away(page, stack):
    open_page(page, stack, "/")
    failing = page.locator("#failing")
    expect(failing).not_to_contain_text(FAILING_TASK)
    page.evaluate("() => { window.notReloaded = true; }")

    stack.start_task_over_rest(FAILING_TASK)

    expect(failing.get_by_role("link", name=FAILING_TASK, exact=True)).to_be_visible()
    expect(failing).to_contain_text("FinishedFail")
    assert page.evaluate("() => window.notReloaded === true"), "the page was reloaded instead of updated"
    expect(page.locator("#reloads")).to_contain_text("1 failed")
    screenshot(page, "overview")

    failing.get_by_role("link", name=f"Script log of {FAILING_TASK}").click()
    expect(page).to_have_url(re.compile(r"/ui/tasks/[0-9a-f-]+#log$"))
    log = page.locator("pre.log")
    expect(log).to_be_visible()
    assert len(log.inner_text().splitlines()) > 3
    expect(page.locator("#task-summary")).to_contain_text("FinishedFail")
    screenshot(page, "task")
    assert page.console_errors == []


def test_start_a_task_and_see_its_result(page, stack):
    stack.next_outcome(SUCCESS_TASK, "success")
    open_page(page, stack, f"/tasks/{stack.task_id(SUCCESS_TASK)}")
    expect(page.get_by_label(re.compile("Wait for the result"))).to_be_checked()
    page.get_by_role("button", name="Start now").click()
    notice = page.locator("#notice")
    expect(notice).to_contain_text(f"{SUCCESS_TASK} finished: FinishedSuccess")
    expect(page.locator("#task-summary")).to_contain_text("FinishedSuccess")
    # The run, from the reload history, started by the dashboard (not "rest") and by whom.
    run = page.locator("#task-runs tbody tr").first
    expect(run).to_contain_text("success")
    expect(run.locator("td").nth(3)).to_have_text("dashboard anonymous")
    history = stack.http.get(f"{stack.url}/qbutler/v1/executions",
                             params={"task": stack.task_id(SUCCESS_TASK), "trigger": "dashboard"}).json()
    assert [e["triggerDetail"] for e in history["executions"]] == ["anonymous"]
    metrics = stack.http.get(f"{stack.url}/metrics").text
    assert 'qbutler_task_starts_total{trigger="dashboard",outcome="started"} 1' in metrics


def test_tasks_page_searches(page, stack):
    open_page(page, stack, "/tasks")
    rows = page.locator("#task-list tbody tr")
    everything = rows.count()
    assert everything > 10
    page.get_by_label("Search tasks").fill("budget")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(FAILING_TASK)
    expect(page.get_by_role("button", name=f"Start {FAILING_TASK} now")).to_be_visible()


def schedule_file(stack: Any) -> list[dict[str, Any]]:
    return yaml.safe_load((stack.folder / "schedule.yaml").read_text(encoding="utf-8"))["butlerSchedule"]


def test_create_edit_stop_and_delete_a_schedule(page, stack):
    page.on("dialog", lambda dialog: dialog.accept())
    open_page(page, stack, "/schedules")
    article = page.locator("#s-nightly-sales")
    expect(article).to_contain_text("At 02:30")
    expect(article).to_contain_text("Europe/Stockholm")
    screenshot(page, "schedules")

    page.get_by_role("link", name="New schedule").click()
    page.get_by_label("Name").fill("Every quarter hour")
    page.get_by_label("Cron expression").fill("0 */15 * * * *")
    page.get_by_label("Time zone").fill("Not/AZone")
    page.get_by_label("Task").select_option(label=SUCCESS_TASK)
    page.get_by_role("button", name="Save").click()
    # The API's validation, shown on the form that is still filled in.
    expect(page.locator("#notice")).to_contain_text("unknown time zone 'Not/AZone'")
    page.get_by_label("Time zone").fill("America/New_York")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(f"{stack.url}/ui/schedules")
    expect(page.locator("#notice")).to_contain_text("Schedule 'Every quarter hour' created")
    created = next(s for s in schedule_file(stack) if s["name"] == "Every quarter hour")
    card = page.locator(f"#s-{created['id']}")
    expect(card).to_contain_text("Every 15 minutes")
    expect(card).to_contain_text("running")
    # Next runs in the schedule's zone and in the viewer's.
    expect(card.locator(".next-runs li")).to_have_count(3)

    card.get_by_role("link", name="Edit schedule Every quarter hour").click()
    page.get_by_label("Cron expression").fill("0 0 6 * * 1-5")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#notice")).to_contain_text("saved")
    expect(card).to_contain_text("At 06:00, Monday through Friday")
    assert next(s for s in schedule_file(stack) if s["id"] == created["id"])["cronSchedule"] == "0 0 6 * * 1-5"

    card.get_by_role("button", name="Stop schedule Every quarter hour").click()
    expect(card.locator(".badge").first).to_have_text("stopped")
    assert next(s for s in schedule_file(stack) if s["id"] == created["id"])["lastKnownState"] == "stopped"

    card.get_by_role("button", name="Delete schedule Every quarter hour").click()
    expect(card).to_have_count(0)
    assert all(s["id"] != created["id"] for s in schedule_file(stack))


def test_daylight_saving_warning(page, stack):
    scheduler = stack.service.scheduler
    stack.thread.run(scheduler.create({"name": "DST victim", "cronSchedule": "0 30 2 * * *",
                                       "timezone": "Europe/Berlin", "qlikSenseTaskId": stack.task_id(SUCCESS_TASK),
                                       "startupState": "stopped"}))
    open_page(page, stack, "/schedules")
    card = page.locator("article", has_text="DST victim")
    expect(card.locator(".warning").first).to_contain_text("does not exist that day")
    expect(card.locator(".warning").nth(1)).to_contain_text("happens twice")


def test_edit_and_delete_a_kv_key(page, stack):
    page.on("dialog", lambda dialog: dialog.accept())
    stack.thread.run(stack.service.kv.set("loadscript", "lastRun", "2026-12-01", 3_600_000))
    stack.thread.run(stack.service.kv.set("loadscript", "rows", "1234"))
    open_page(page, stack, "/kv")
    page.get_by_role("link", name="loadscript").click()
    rows = page.locator("#keys tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="lastRun")).to_contain_text(re.compile(r"in (59|60) min"))
    expect(rows.filter(has_text="rows")).to_contain_text("never")
    screenshot(page, "kv")

    page.get_by_role("link", name="Edit rows").click()
    expect(page.get_by_label("Value")).to_have_value("1234")
    page.get_by_label("Value").fill("5678")
    page.get_by_label(re.compile("Time to live")).fill("120000")
    page.get_by_role("button", name="Save").click()
    expect(rows.filter(has_text="rows")).to_contain_text("5678")
    entry = stack.thread.run(stack.service.kv.get("loadscript", "rows"))
    assert entry is not None and entry.value == "5678" and entry.ttl_ms == 120000

    rows.filter(has_text="lastRun").get_by_role("button", name="Delete lastRun").click()
    expect(rows).to_have_count(1)
    assert stack.thread.run(stack.service.kv.get("loadscript", "lastRun")) is None


def test_retry_a_stuck_alert_once_its_receiver_is_back(page, stack):
    deliverer = stack.service.alerts.deliverer
    before = {item.record_id for item in deliverer.outbox_items()}
    stack.next_outcome(FAILING_TASK, "fail")
    stack.start_task_over_rest(FAILING_TASK)
    deadline = time.monotonic() + 20
    while not [i for i in deliverer.outbox_items() if i.record_id not in before and i.state == "retrying"]:
        assert time.monotonic() < deadline, "the failure alert never reached the outbox"
        time.sleep(0.1)

    open_page(page, stack, "/alerts")
    pending = page.locator("#pending")
    row = pending.locator("tbody tr", has_text=FAILING_TASK).first
    expect(row).to_contain_text("retrying")
    expect(row).to_contain_text("webhook")
    screenshot(page, "alerts")

    receiver = stack.start_receiver()
    retry_buttons = pending.get_by_role("button", name="Retry the webhook alert now")
    waiting = retry_buttons.count()
    while waiting:
        retry_buttons.first.click()
        expect(page.locator("#notice")).to_contain_text("queued for delivery now")
        waiting -= 1
        expect(retry_buttons).to_have_count(waiting)
    expect(pending).to_contain_text("Every alert has been delivered")
    assert any(FAILING_TASK in record.text() for record in receiver.received("webhook"))
    expect(page.locator("#deliveries")).to_contain_text("delivered")


def test_send_a_test_alert_to_each_destination(page, stack):
    stack.stop_receiver()
    deliverer = stack.service.alerts.deliverer
    in_outbox = len(deliverer.outbox_items())
    open_page(page, stack, "/alerts")
    card = page.locator("#test-alerts")
    # One button per switched-on destination: the stack sends webhooks only.
    expect(card.get_by_role("button", name=re.compile("^Send a test alert to "))).to_have_count(1)
    button = card.get_by_role("button", name="Send a test alert to Webhooks")
    target = f"POST http://127.0.0.1:{stack.receiver_port}/…"  # the path is often the secret: not shown

    button.click()
    expect(page.locator("#notice")).to_contain_text(f"Test alert to Webhooks: {target}: ClientConnectorError")
    result = card.locator("#test-webhook .test-result li")
    expect(result).to_have_count(1)
    expect(result.locator(".badge")).to_have_text("failed")
    expect(result).to_contain_text(target)
    expect(result.locator(".value")).to_have_text(re.compile(r"^ClientConnectorError: Cannot connect to host"))

    receiver = stack.start_receiver()
    button.click()
    expect(page.locator("#notice")).to_contain_text(f"Test alert to Webhooks: {target}: delivered")
    expect(result.locator(".badge")).to_have_text("delivered")
    [alert] = receiver.received("webhook")
    assert "qbutler test alert" in alert.text()
    # Sent directly, like `qbutler test-alert`: nothing went through the outbox.
    assert len(deliverer.outbox_items()) == in_outbox
    assert page.console_errors == []


def test_a_forged_post_is_refused(page, stack):
    open_page(page, stack, "/kv")
    # A same-site script without the page's token, and a request from another origin with it.
    status = page.evaluate("""async () => (await fetch('/ui/kv', {method: 'POST',
        headers: {'Content-Type': 'application/x-www-form-urlencoded', 'Accept': 'application/json'},
        body: 'namespace=forged&key=k&value=v'})).status""")
    assert status == 403
    # A forged test alert: refused, nothing sent.
    tests = stack.service.dashboard.dashboard.test_alerts
    last_test = tests.last.get("webhook")
    test_alert = page.evaluate("""async () => (await fetch('/ui/test-alert/webhook', {method: 'POST',
        headers: {'Accept': 'application/json'}})).status""")
    assert test_alert == 403 and tests.last.get("webhook") is last_test
    token = page.locator("body").get_attribute("data-csrf")
    cookies = page.context.cookies()
    response = page.context.request.post(f"{stack.url}/ui/kv", form={"namespace": "forged", "key": "k",
                                                                     "value": "v", "csrf": token},
                                         headers={"Origin": "http://evil.example"}, max_redirects=0)
    assert response.status == 403
    session = next(c for c in cookies if c["name"] == "qbutler_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert stack.thread.run(stack.service.kv.get("forged", "k")) is None


def test_security_headers_and_no_inline_script(page, stack):
    response = page.goto(f"{stack.url}/ui/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.locator("script:not([src])").count() == 0
    assert page.locator("[style]").count() == 0


def test_config_page_masks_secrets(page, stack):
    open_page(page, stack, "/config")
    text = page.locator("pre.config").inner_text()
    assert f"127.0.0.1:{stack.receiver_port}" not in text  # webhook URLs keep their first 10 characters
    assert "http://127**********" in text
    screenshot(page, "config")


def test_every_page_has_no_serious_accessibility_problem_in_light_and_dark(page, stack):
    paths = ["/", "/tasks", f"/tasks/{stack.task_id(FAILING_TASK)}", "/schedules", "/schedules/new", "/kv",
             "/kv/loadscript", "/alerts", "/config"]
    problems = {}
    for path in paths:
        open_page(page, stack, path)
        # Every rule in the light scheme; the dark one changes only colours, checked where every
        # colour of the palette is used (badges, heat strip, notices, warnings).
        schemes = (("light", None), ("dark", ["color-contrast"])) if path in ("/", "/schedules", "/alerts") else (
            ("light", None),)
        for scheme, rules in schemes:
            page.emulate_media(color_scheme=scheme)
            found = accessibility_problems(page, rules)
            if found:
                problems[f"{scheme} {path}"] = found
        page.emulate_media(color_scheme="light")
    assert problems == {}


def test_usable_on_a_phone(page, stack):
    page.set_viewport_size({"width": 390, "height": 844})
    open_page(page, stack, "/")
    screenshot(page, "phone-overview")
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > 392).map(e => e.tagName + '.' + e.className).slice(0, 8)""")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the overview is {width}px wide on a 390px screen: {wide}"
    page.get_by_role("link", name="Schedules").click()
    expect(page.get_by_role("heading", name="Schedules", level=1)).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    screenshot(page, "phone-schedules")


def test_keyboard_reaches_the_navigation_and_actions(page, stack):
    open_page(page, stack, "/tasks")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    focused = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.textContent.trim()"))
    assert "Schedules" in focused and "Config" in focused


def test_the_page_reconnects_after_a_restart(page, stack):
    open_page(page, stack, "/")
    stack.restart_qbutler()
    expect(page.locator("#live-state")).to_have_text("live", timeout=20000)
    stack.next_outcome(FAILING_TASK, "fail")
    stack.start_task_over_rest(FAILING_TASK)
    expect(page.locator("#activity")).to_contain_text(f"Task {FAILING_TASK}: failed")
