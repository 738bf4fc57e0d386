"""InfluxDB line protocol, as Butler's clients write it (butler-monitoring.md §1.3).

Numbers are always floats (node-influx never adds the `i` suffix; Butler's v2/v3 path uses float
fields), so qbutler's points land in the same field types as existing Butler series. No
timestamp: the server assigns the time, as for Butler.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Point:
    measurement: str
    tags: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str | float | bool | None] = field(default_factory=dict)


# Names and tag values escape commas, spaces (and '=') only: InfluxDB keeps any other backslash
# as it is, so `ACME\bob` stays one backslash (node-influx writes it the same way).
def _escape_key(text: str) -> str:
    return text.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _escape_measurement(text: str) -> str:
    return text.replace(",", "\\,").replace(" ", "\\ ")


def _field_value(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value))
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode(point: Point, *, sort_fields: bool) -> str | None:
    """One line; None when the point has no field left. Empty tag values and None fields are left
    out (InfluxDB refuses an empty tag value; Butler's v1 path would fail the whole batch on None)."""
    tags = "".join(f",{_escape_key(k)}={_escape_key(v)}" for k, v in sorted(point.tags.items()) if v != "")
    items = [(k, v) for k, v in point.fields.items() if v is not None]
    if sort_fields:
        items.sort()
    if not items:
        return None
    fields = ",".join(f"{_escape_key(k)}={_field_value(v)}" for k, v in items)  # type: ignore[arg-type]
    return f"{_escape_measurement(point.measurement)}{tags} {fields}"
