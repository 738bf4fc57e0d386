"""QRS self-description: `about/api/enums`, `about/api/default/{type}`, `about/api/description`.

Shapes per Qlik's "About API" pages: enums are `{Name: {"Values": ["0: X", ...], "Usages":
["Type.Property"]}}`; a default is an entity of the type with every value at its default (null
GUID ids, the null date, empty strings and lists, false, 0, null references); the description
is the list of `METHOD /qrs/path` templates sensesim serves.
"""

from __future__ import annotations

import re
from typing import Any

from .enums import STATUS_NAMES

NULL_GUID = "00000000-0000-0000-0000-000000000000"
NULL_DATE = "1753-01-01T00:00:00.000Z"
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _enum(values: list[str] | tuple[str, ...], usages: list[str], start: int = 0) -> dict[str, Any]:
    return {"Values": [f"{i + start}: {name}" for i, name in enumerate(values)], "Usages": usages}


ENUMS: dict[str, dict[str, Any]] = {
    "TaskExecutionStatus": _enum(STATUS_NAMES, ["ExecutionResult.Status"]),
    "TaskType": _enum(("Reload", "ExternalProgram", "UserSync", "Distribute", "Preload"),
                      ["ReloadTask.TaskType", "ExternalProgramTask.TaskType", "UserSyncTask.TaskType"]),
    "ExecutionResultDetailType": _enum(("Error", "Warning", "Information"), ["ExecutionResultDetail.DetailsType"]),
    "ExecutionSessionAbortReason": _enum(("Undefined", "Manual", "Timeout", "DeletedTask"),
                                         ["ExecutionSession.AbortReason"]),
    "NodeType": _enum(("Undefined", "Central", "Rim"), ["About.NodeType"]),
    "IncrementOption": _enum(("once", "hourly", "daily", "weekly", "monthly", "custom"),
                             ["SchemaEvent.IncrementOption"]),
    "EventType": _enum(("Schema", "Composite"), ["SchemaEvent.EventType", "CompositeEvent.EventType"]),
    "CompositeEventRuleState": {"Values": ["1: TaskSuccessful", "2: TaskFail"],
                                "Usages": ["CompositeEventRule.RuleState"]},
    "AvailabilityStatusEnum": _enum(("NotApplicable", "Available", "NoActiveRoute", "NoConfiguredRoute",
                                     "NotSynced", "NotMigrated"), ["App.AvailabilityStatus"]),
}


def blank(value: Any, key: str = "") -> Any:
    """The default of a value of the same kind (schemaPath is kept: it names the type)."""
    if key == "schemaPath":
        return value
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return 0
    if isinstance(value, str):
        if _GUID_RE.match(value):
            return NULL_GUID
        if _DATE_RE.match(value):
            return NULL_DATE
        return ""
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        # A nested entity with an id is a reference: unset by default.
        if key and "id" in value:
            return None
        return {k: blank(v, k) for k, v in value.items()}
    return None


def template(sample: dict[str, Any]) -> dict[str, Any]:
    return {k: blank(v, k) for k, v in sample.items()}


_GROUP_NAMES = {r"([0-9a-z-]+)": "{id}", r"([^/]+)": "{name}"}


def describe(routes: list[tuple[str, str]], method: str | None) -> list[str]:
    """`METHOD /qrs/path` for each (method, regex) route, regex groups shown as placeholders."""
    out = []
    for verb, pattern in routes:
        if method and verb.lower() != method.lower():
            continue
        path = pattern
        for group, name in _GROUP_NAMES.items():
            path = path.replace(group, name)
        out.append(f"{verb} {path}")
    return sorted(set(out))
