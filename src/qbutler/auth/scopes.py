"""The scopes a key, an address rule or a client certificate can hold, and what each one opens.

Every REST route declares exactly one of these (or `AUTHENTICATED`) when it is registered; a
route without one fails tests/security/test_scopes.py.
"""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "kv:read": "read the key-value store",
    "kv:write": "create and delete keys and namespaces",
    "tasks": "start Qlik Sense tasks",
    "files": "copy, move and delete files, create directories",
    "schedules:read": "list schedules and their status",
    "schedules:write": "create, change, start, stop and delete schedules",
    "apps": "reload, list and dump Qlik Sense apps",
    "messages": "post messages (Slack, MQTT, New Relic)",
    "history:read": "read the reload history and its statistics (/qbutler/v1/)",
    "metrics:read": "scrape the Prometheus metrics (/metrics)",
    "admin": "every scope, plus qbutler's own administration endpoints",
}

# A route any identified client may call (ping, base conversion, the API document).
AUTHENTICATED = "authenticated"
# In a config list: every scope.
ALL = "*"


def unknown_scopes(names: list[str]) -> list[str]:
    return [name for name in names if name != ALL and name not in SCOPES]


def grants(held: frozenset[str], needed: str) -> bool:
    """Whether an identity holding `held` may call a route that declares `needed`."""
    return needed == AUTHENTICATED or needed in held or "admin" in held


def expand(names: list[str]) -> frozenset[str]:
    return frozenset(SCOPES) if ALL in names else frozenset(names)
