"""Butler's InfluxDB measurements of the site watch (butler-monitoring.md §1.7): service states,
the Sense version, the server license, access-license usage and released allocations.

Each function turns a monitor's plain state into points; tags follow Butler's order (global
static tags, the measurement's own, then the feature's static tags).
"""

from __future__ import annotations

from typing import Any

from qbutler.alerts.site import ServiceChange
from qbutler.config_types import StaticNameValues
from qbutler.influx.line import Point
from qbutler.influx.points import static_tags

# Butler's numbers for `sc.exe` states and start types; anything else is -1.
STATE_NUMBERS = {"STOPPED": 1, "START_PENDING": 2, "STOP_PENDING": 3, "RUNNING": 4, "CONTINUE_PENDING": 5,
                 "PAUSE_PENDING": 6, "PAUSED": 7}
START_TYPE_NUMBERS = {"Automatic": 0, "Automatic (delayed start)": 1, "Manual": 2, "Disabled": 3}
# /v1/systeminfo key -> `qlik_sense_version` field.
VERSION_FIELDS = {"contentHash": "content_hash", "senseId": "sense_id", "version": "version",
                  "deploymentType": "deployment_type", "releaseLabel": "release_label",
                  "deprecatedProductVersion": "deprecated_product_version", "productName": "product_name",
                  "copyrightYearRange": "copyright_year_range"}
# `qlik_sense_license` points in Butler's order: license_type, the overview block (None: top
# level), the switch inside it, and field name -> QRS key.
_SEATS = {"allocated": "allocated", "available": "available", "excess": "excess", "quarantined": "quarantined",
          "total": "total", "used": "used"}
ACCESS_POINTS: tuple[tuple[str, str | None, str, dict[str, str]], ...] = (
    ("analyzer", "analyzerAccess", "enabled", _SEATS),
    ("analyzer_capacity", "analyzerTimeAccess", "enabled", {
        "allocated_minutes": "allocatedMinutes", "unavailable_minutes": "unavailableMinutes",
        "used_minutes": "usedMinutes"}),
    ("professional", "professionalAccess", "enabled", _SEATS),
    ("token_login", "loginAccess", "enabled", {
        "allocated_tokens": "allocatedTokens", "token_cost": "tokenCost", "unavailable_tokens": "unavailableTokens",
        "used_tokens": "usedTokens"}),
    # Butler reads used_tokens from `userTokens`, a key QRS does not have (docs/compatibility.md).
    ("token_user", "userAccess", "enabled", {
        "allocated_tokens": "allocatedTokens", "quarantined_tokens": "quarantinedTokens", "token_cost": "tokenCost",
        "used_tokens": "usedTokens"}),
    ("tokens_available", None, "tokensEnabled", {"available_tokens": "availableTokens",
                                                  "total_tokens": "totalTokens"}),
)


def _number(value: Any) -> float | None:
    # Every number is a float in Butler's series (line.py); a missing one is left out.
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def service_point(global_tags: StaticNameValues, change: ServiceChange) -> Point:
    """`win_service_state` for one service at one poll. Services read through QRS have no start
    type: `startup_mode_num` is then -1, as Butler writes for a type it does not know."""
    tags = {**static_tags(global_tags), "host": change.host, "service_name": change.serviceName,
            "display_name": change.serviceDisplayName, "friendly_name": change.serviceFriendlyName}
    return Point("win_service_state", tags, {
        "state_num": float(STATE_NUMBERS.get(change.serviceStatus, -1)), "state_text": change.serviceStatus,
        "startup_mode_num": float(START_TYPE_NUMBERS.get(change.serviceStartType, -1)),
        "startup_mode_text": change.serviceStartType})


def version_point(global_tags: StaticNameValues, feature_tags: StaticNameValues, info: dict[str, Any]) -> Point:
    fields = {name: str(info[key]) for key, name in VERSION_FIELDS.items() if info.get(key) is not None}
    return Point("qlik_sense_version", {**static_tags(global_tags), **static_tags(feature_tags)}, fields)


def server_license_point(global_tags: StaticNameValues, feature_tags: StaticNameValues,
                         status: dict[str, Any]) -> Point:
    """`qlik_sense_server_license`; expiry date and days are left out when `Valid To:` is unreadable."""
    return Point("qlik_sense_server_license", {**static_tags(global_tags), **static_tags(feature_tags)}, {
        "license_expired": bool(status.get("licenseExpired")), "expiry_date": status.get("expiryDateStr") or None,
        "days_until_expiry": _number(status.get("daysUntilExpiry"))})


def access_license_points(global_tags: StaticNameValues, feature_tags: StaticNameValues,
                          overview: dict[str, Any]) -> list[Point]:
    """`qlik_sense_license`: one point per access type the overview has enabled."""
    base = {**static_tags(global_tags), **static_tags(feature_tags)}
    points = []
    for license_type, block_key, switch, keys in ACCESS_POINTS:
        block = overview if block_key is None else overview.get(block_key)
        if not isinstance(block, dict) or block.get(switch) is not True:
            continue
        fields = {name: _number(block.get(key)) for name, key in keys.items()}
        points.append(Point("qlik_sense_license", {**base, "license_type": license_type}, fields))
    return points


def release_point(global_tags: StaticNameValues, feature_tags: StaticNameValues, record: dict[str, Any]) -> Point:
    """`qlik_sense_license_release` for one released allocation; the feature's static tags come
    last and may replace `license_type` and `user`, as in Butler."""
    tags = {**static_tags(global_tags), "license_type": record["kind"],
            "user": f"{record['userDir']}\\{record['userId']}", **static_tags(feature_tags)}
    return Point("qlik_sense_license_release", tags, {"days_since_last_use": float(record["daysSinceLastUse"])})
