"""Fault injection rules set through the control API.

A rule matches calls of one service whose path contains `match` (case-insensitive) and,
optionally, whose method equals `method`.  It delays the call by `delayMs`, then answers
with `status` (and `body`) instead of the real handler; without `status` the call goes on
normally after the delay (a slow server, for client timeouts).  `count` limits how many
calls the rule affects; absent means every call until reset.

Besides request rules there are site-wide knobs (`scriptLogDelayMs`, `udpLagMs`) that the
runner reads when a run finishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Services whose request handlers consult the rules; the engine server does not (yet).
SERVICES = ("qrs", "systeminfo")


class FaultError(ValueError):
    """The fault description is invalid; the control API answers 400."""


@dataclass
class FaultRule:
    service: str
    match: str = ""
    method: str | None = None
    status: int | None = None
    delay_ms: int = 0
    count: int | None = None
    body: Any = None
    hits: int = 0

    def describe(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "match": self.match,
            "method": self.method,
            "status": self.status,
            "delayMs": self.delay_ms,
            "count": self.count,
            "body": self.body,
            "hits": self.hits,
        }


@dataclass
class Faults:
    rules: list[FaultRule] = field(default_factory=list)
    script_log_delay_ms: int = 0
    udp_lag_ms: int = 0

    def add(self, spec: dict[str, Any]) -> None:
        """Add one control-API fault object (a rule, a knob, or both)."""
        if not isinstance(spec, dict):
            raise FaultError("a fault must be a JSON object")
        known = {
            "service",
            "match",
            "method",
            "status",
            "delayMs",
            "count",
            "body",
            "scriptLogDelayMs",
            "udpLagMs",
        }
        unknown = set(spec) - known
        if unknown:
            raise FaultError(f"unknown fault keys {sorted(unknown)}")
        if "scriptLogDelayMs" in spec:
            self.script_log_delay_ms = _non_negative(spec["scriptLogDelayMs"], "scriptLogDelayMs")
        if "udpLagMs" in spec:
            self.udp_lag_ms = _non_negative(spec["udpLagMs"], "udpLagMs")
        if "service" not in spec:
            if not {"scriptLogDelayMs", "udpLagMs"} & set(spec):
                raise FaultError("a fault rule needs 'service'")
            return
        service = str(spec["service"]).lower()
        if service not in SERVICES:
            raise FaultError(f"service must be one of {SERVICES}")
        status = spec.get("status")
        if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
            raise FaultError("status must be an HTTP status code")
        count = spec.get("count")
        if count is not None:
            count = _non_negative(count, "count")
        self.rules.append(
            FaultRule(
                service=service,
                match=str(spec.get("match", "")),
                method=str(spec["method"]).upper() if spec.get("method") else None,
                status=status,
                delay_ms=_non_negative(spec.get("delayMs", 0), "delayMs"),
                count=count,
                body=spec.get("body"),
            )
        )

    def take(self, service: str, method: str, path: str) -> FaultRule | None:
        """The first live rule for this call, consuming one of its `count`."""
        for rule in self.rules:
            if rule.service != service or (rule.method and rule.method != method.upper()):
                continue
            if rule.match.lower() not in path.lower():
                continue
            if rule.count is not None and rule.hits >= rule.count:
                continue
            rule.hits += 1
            return rule
        return None

    def clear(self) -> None:
        self.rules.clear()
        self.script_log_delay_ms = 0
        self.udp_lag_ms = 0

    def describe(self) -> dict[str, Any]:
        return {
            "rules": [r.describe() for r in self.rules],
            "scriptLogDelayMs": self.script_log_delay_ms,
            "udpLagMs": self.udp_lag_ms,
        }


def _non_negative(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultError(f"{name} must be a non-negative number")
    return int(value)
