"""Collects what happens during the demo from every side: qbutler's activity feed, sensesim's
task outcomes (the UDP datagrams it sent) and what the built-in receiver got."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from qbutler.activity import Activity


@dataclass(frozen=True)
class Row:
    time: float
    text: str
    detail: str = ""
    ok: bool = True


# Activity kinds (by prefix) and the panel that shows them.
PANELS = {
    "scheduler.": "Schedules",
    "task.": "Task starts",
    "app.": "Apps",
    "appdump.": "Apps",
    "kv.": "Key-value store",
    "files.": "Files",
    "alert.": "Alerts",
    "mqtt.": "MQTT",
}


@dataclass
class Recorder:
    size: int = 8
    panels: dict[str, deque[Row]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, panel: str, row: Row) -> None:
        self.panels.setdefault(panel, deque(maxlen=self.size)).append(row)
        self.counts[panel] = self.counts.get(panel, 0) + 1

    def activity(self, activity: Activity) -> None:
        panel = next((name for prefix, name in PANELS.items() if activity.kind.startswith(prefix)), "Other")
        failed = activity.kind.endswith((".failed", ".error"))
        self.add(panel, Row(activity.time, activity.message, ok=not failed))

    def outcome(self, kind: str, task: str, when: float | None = None) -> None:
        self.add("Task outcomes", Row(when or time.time(), f"{task}: {kind}", ok=kind == "success"))

    def alert(self, channel: str, text: str, latency: float | None) -> None:
        detail = f"{latency * 1000:.0f} ms after the event" if latency is not None else ""
        self.add("Alerts delivered", Row(time.time(), f"{channel}: {text}", detail))

    def rows(self, panel: str) -> list[Row]:
        return list(self.panels.get(panel, ()))
