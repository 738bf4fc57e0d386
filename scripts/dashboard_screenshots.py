"""Screenshots of the dashboard on the demo site, for docs/dashboard.md.

    .venv/bin/python scripts/dashboard_screenshots.py [--out docs/images]

Starts `qbutler demo`'s environment (simulated Sense site, receiver, qbutler), lets its scripted
failures happen, and photographs each page at 1280x800 (and the overview on a phone, in dark mode)
with Debian's chromium.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from qbutler.demo import environment as demo  # noqa: E402
from qbutler.demo.environment import DemoEnvironment, Options  # noqa: E402
from support.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, LoopThread  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--wait", type=float, default=45.0, help="seconds of demo activity before the photos")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    thread = LoopThread()
    env = DemoEnvironment(Options(time_scale=0.5))
    thread.run(env.start(), timeout=120)
    try:
        assert env.service is not None
        service = env.service
        for key, value, ttl in (("lastRun", "2026-12-03T05:00:00Z", 86_400_000), ("rowsLoaded", "184233", 0),
                                ("status", "ok", 3_600_000)):
            thread.run(service.kv.set("sales-etl", key, value, ttl))
        thread.run(service.kv.set("finance", "budgetVersion", "v7"))
        print(f"demo running at {env.url}/ui/; waiting {args.wait:.0f} s for its scripted failures…")
        time.sleep(args.wait)
        photograph(env, args.out)
    finally:
        thread.run(env.stop(), timeout=60)
        thread.close()


def photograph(env: DemoEnvironment, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    failing_task = env.tasks[demo.FAILING_SCHEDULED_TASK]
    pages = [("overview", "/"), ("overview-site", "/"), ("tasks", "/tasks"), ("task", f"/tasks/{failing_task}"),
             ("schedules", "/schedules"), ("schedule-form", "/schedules/every-30-seconds/edit"),
             ("kv", "/kv/sales-etl"), ("alerts", "/alerts"), ("config", "/config")]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for scheme, viewport, chosen in (("light", DESKTOP, pages), ("dark", PHONE, pages[:1])):
            context = browser.new_context(viewport=viewport, color_scheme=scheme)
            page = context.new_page()
            for name, path in chosen:
                page.goto(f"{env.url}/ui{path}")
                page.wait_for_selector("#live-state[data-state=on]")
                prepare(page, name)
                page.wait_for_timeout(300)
                suffix = "" if scheme == "light" else "-phone-dark"
                target = out / f"dashboard-{name}{suffix}.png"
                page.screenshot(path=str(target))
                print("wrote", target.relative_to(ROOT))
            context.close()
        browser.close()


def prepare(page: Any, name: str) -> None:
    """What the admin would do before looking: scroll to the site watch, send a test alert."""
    if name == "overview-site":
        page.locator("#site").scroll_into_view_if_needed()
    elif name == "alerts":
        page.get_by_role("button", name="Send a test alert to Webhooks").click()
        page.wait_for_selector("#test-webhook .test-result")


if __name__ == "__main__":
    threading.current_thread().name = "screenshots"
    main()
