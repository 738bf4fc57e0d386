"""The alerts page's "Send a test alert": `qbutler test-alert` for one destination, from the browser.

The sending is the CLI's (`qbutler.alerts.testalert`): a sample failed reload, built by the
destination's channel exactly as a real alert and sent at once, without the outbox, so the
result is what the destination answered. The last result per destination is kept for the page.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from qbutler.alerts.router import SECTIONS, switched_on
from qbutler.alerts.testalert import Outcome, sample_event, send_test_alert

log = logging.getLogger("qbutler.web")

LABELS = {"slack": "Slack", "teams": "Teams", "email": "Email", "webhook": "Webhooks", "mqtt": "MQTT",
          "newrelic": "New Relic", "signl4": "Signl4"}


@dataclass(frozen=True)
class TestRun:
    sent_at: float
    outcomes: list[Outcome]

    @property
    def delivered(self) -> bool:
        # Every message sent and answered well; a destination that sent nothing did not deliver.
        return bool(self.outcomes) and all(outcome.ok for outcome in self.outcomes)


@dataclass(frozen=True)
class Destination:
    name: str
    label: str
    last: TestRun | None


class TestAlerts:
    """Sends test alerts for the dashboard and remembers each destination's last result."""

    def __init__(self, config: Any):
        self.config = config
        self.last: dict[str, TestRun] = {}

    def destinations(self) -> list[Destination]:
        """The switched-on destinations, in the CLI's order."""
        on = switched_on(self.config)
        return [Destination(name, LABELS[name], self.last.get(name)) for name in SECTIONS if on[name]]

    def is_on(self, name: str) -> bool:
        return switched_on(self.config).get(name, False)

    async def send(self, name: str) -> TestRun:
        run = TestRun(time.time(), await send_test_alert(self.config, sample_event(), (name,)))
        self.last[name] = run
        log.log(logging.INFO if run.delivered else logging.WARNING, "Dashboard: test alert to %s: %s", name,
                summary(run))
        return run


def answer(outcome: Outcome) -> str:
    """What the destination answered, without the target the error text often starts with."""
    return outcome.detail.removeprefix(f"{outcome.target}: ").removeprefix(f"{outcome.target} ")


def summary(run: TestRun) -> str:
    """One part per target: "POST http://host:port/…: delivered", or the destination's error."""
    return "; ".join(answer(outcome) if outcome.target == "-" else f"{outcome.target}: {answer(outcome)}"
                     for outcome in run.outcomes)
