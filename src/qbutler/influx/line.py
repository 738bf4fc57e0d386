"""InfluxDB line protocol, as Butler's clients write it (butler-monitoring.md §1.3).

Numbers are always floats (node-influx never adds the `i` suffix; Butler's v2/v3 path uses float
fields), so qbutler's points land in the same field types as existing Butler series. No
timestamp: the server assigns the time, as for Butler. Two points of one series in one request
would get the same time and the second would replace the first, so `one_per_series` splits a
batch (one gathered from a burst, or a backlog after an outage) into requests that each hold a
series at most once.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def one_per_series(points: Iterable[Point]) -> list[list[Point]]:
    """The points in order, split into as few groups as keep each series (measurement and tag set)
    at most once per group; a point goes into the first group without its series."""
    groups: list[list[Point]] = []
    series_in: list[set[tuple[str, tuple[tuple[str, str], ...]]]] = []
    for point in points:
        series = (point.measurement, tuple(sorted((k, v) for k, v in point.tags.items() if v != "")))
        index = next((i for i, seen in enumerate(series_in) if series not in seen), len(groups))
        if index == len(groups):
            groups.append([])
            series_in.append(set())
        groups[index].append(point)
        series_in[index].add(series)
    return groups
