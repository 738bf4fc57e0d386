"""What the history stores and answers: plain dataclasses, shared by every backend and reader."""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

OUTCOMES = ("success", "failed", "aborted")
# Who asked for a run: qbutler's own start paths, or Sense itself (QMC, its scheduler, a chain).
TRIGGERS = ("rest", "mqtt", "schedule", "app_reload", "dashboard", "sense")


@dataclass
class Execution:
    execution_id: str
    task_id: str
    task_name: str
    task_type: int
    outcome: str
    # QRS status name (FinishedSuccess, FinishedFail, Aborted…), or the outcome when QRS had none.
    status: str
    # Seconds since the epoch; `ended_at` is always known (the stop time, else when the event came).
    ended_at: float
    started_at: float | None = None
    duration_ms: int | None = None
    app_id: str = ""
    app_name: str = ""
    node: str = ""
    user: str = ""
    trigger: str = "sense"
    trigger_detail: str = ""
    log_message: str = ""
    details: list[str] = field(default_factory=list)
    script_log_tail: list[str] | None = None
    recorded_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Delivery:
    execution_id: str
    channel: str
    target: str
    # delivered | failed | rate_limited
    outcome: str
    attempts: int
    at: float
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StartRequest:
    """A task start qbutler made; an execution that follows it inherits its trigger."""

    task_id: str
    trigger: str
    detail: str
    requested_at: float
    task_name: str = ""
    ok: bool = True
    error: str = ""


@dataclass
class ExecutionDetail(Execution):
    deliveries: list[Delivery] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "deliveries": [d.to_dict() for d in self.deliveries]}


@dataclass
class ExecutionFilter:
    task_id: str | None = None
    app_id: str | None = None
    outcome: str | None = None
    trigger: str | None = None
    since: float | None = None
    until: float | None = None


@dataclass
class Page:
    items: list[Execution]
    # Opaque; pass it back to get the next (older) page. None: this was the last page.
    next_cursor: str | None


@dataclass
class TaskStats:
    task_id: str
    task_name: str
    runs: int
    failures: int
    aborts: int
    p50_duration_ms: float | None
    p95_duration_ms: float | None
    last_success_at: float | None
    last_run_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BadCursor(ValueError):
    pass


def encode_cursor(ended_at: float, execution_id: str) -> str:
    return base64.urlsafe_b64encode(f"{ended_at!r}|{execution_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ended, execution_id = text.split("|", 1)
        return float(ended), execution_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor(f"cursor {cursor[:40]!r} is not one this API handed out") from None


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * fraction // 1))
    return float(sorted_values[int(rank) - 1])


_AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, now: float | None = None) -> float:
    """Epoch seconds from an ISO 8601 time (UTC when it names no zone), seconds since the epoch, or
    an age such as 30m, 24h, 7d (before `now`). ValueError saying what is accepted otherwise."""
    text = text.strip()
    ago = _AGO.match(text)
    if ago:
        return (time.time() if now is None else now) - float(ago.group(1)) * _UNITS[ago.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not an ISO 8601 time, seconds since the epoch or an age "
                         "like 24h or 7d") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def iso(value: float | None) -> str | None:
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds")
