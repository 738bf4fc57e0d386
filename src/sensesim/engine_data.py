"""An app's data model: seeded tables, their associations, selections and what they leave.

A seed gives an app `data: {TableName: [ {Field: value, ...}, ... ]}`.  Tables that share a
field name are associated through it (Qlik's key fields).  Rows of all tables are joined
(full outer join on the shared fields) into one row set; each joined row remembers which
source row every field came from, so an aggregation counts each source row once.

Selections are per document session: field -> the set of selected value texts.  The
possible rows are the joined rows whose value of every selected field is selected;
a field's value state is S (selected), O (possible) or X (excluded).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .engine_eval import Dual, Scope, number

_EPOCH = dt.date(1899, 12, 30)
_SRC = "\x00src"  # joined-row key holding {table: source row index}


def to_dual(value: Any) -> Dual | None:
    """A seed value as the engine stores it: numbers and dates are duals, text is text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return number(-1.0 if value else 0.0)
    if isinstance(value, int | float):
        return number(float(value))
    if isinstance(value, dt.datetime):
        serial = (value.replace(tzinfo=None) - dt.datetime(1899, 12, 30)).total_seconds() / 86400.0
        return Dual(value.strftime("%Y-%m-%d %H:%M:%S"), serial)
    if isinstance(value, dt.date):
        return Dual(value.isoformat(), float((value - _EPOCH).days))
    return Dual(str(value), None)


@dataclass
class DataModel:
    tables: dict[str, list[dict[str, Dual | None]]]
    field_tables: dict[str, list[str]]  # field -> the tables holding it, in load order
    rows: list[dict[str, Any]]  # joined rows
    values: dict[str, list[Dual]] = field(default_factory=dict)  # distinct values, load order

    @classmethod
    def build(cls, raw: dict[str, list[dict[str, Any]]]) -> DataModel:
        tables: dict[str, list[dict[str, Dual | None]]] = {}
        field_tables: dict[str, list[str]] = {}
        for name, rows in raw.items():
            converted = [{str(k): to_dual(v) for k, v in row.items()} for row in rows]
            tables[str(name)] = converted
            columns: list[str] = []
            for row in converted:
                columns.extend(k for k in row if k not in columns)
            for column in columns:
                field_tables.setdefault(column, []).append(str(name))
        values: dict[str, list[Dual]] = {}
        for fname, owners in field_tables.items():
            seen: dict[str, Dual] = {}
            for table in owners:
                for row in tables[table]:
                    value = row.get(fname)
                    if value is not None and value.text not in seen:
                        seen[value.text] = value
            values[fname] = list(seen.values())
        return cls(tables, field_tables, _join(tables), values)

    # ---- questions the engine objects ask

    def has_field(self, name: str) -> bool:
        return name in self.field_tables

    def key_fields(self) -> list[str]:
        return [f for f, owners in self.field_tables.items() if len(owners) > 1]

    def possible_rows(self, selections: dict[str, set[str]]) -> list[dict[str, Any]]:
        if not selections:
            return self.rows
        return [
            row
            for row in self.rows
            if all(row.get(f) is not None and row[f].text in chosen for f, chosen in selections.items())
        ]

    def states(self, fname: str, selections: dict[str, set[str]]) -> list[tuple[Dual, str]]:
        """Every value of `fname` with its state: S selected, O possible, X excluded."""
        others = {f: s for f, s in selections.items() if f != fname}
        possible = {row[fname].text for row in self.possible_rows(others) if row.get(fname) is not None}
        chosen = selections.get(fname)
        out = []
        for value in self.values.get(fname, []):
            if chosen is not None and value.text in chosen:
                state = "S"
            elif value.text in possible and chosen is None:
                state = "O"
            elif value.text in possible:
                state = "A"  # alternative: possible, but another value of the field is selected
            else:
                state = "X"
            out.append((value, state))
        return out

    def scope(self, selections: dict[str, set[str]], variables: dict[str, str], now: dt.datetime,
              date_format: str, timestamp_format: str) -> Scope:
        return Scope(
            rows=self.possible_rows(selections),
            row_sources=_source_of(self.field_tables),
            fields=set(self.field_tables),
            variables=variables,
            now=now,
            date_format=date_format,
            timestamp_format=timestamp_format,
        )

    def table_rows(self, table: str) -> int:
        return len(self.tables.get(table, []))

    def non_nulls(self, table: str, fname: str) -> int:
        return sum(1 for row in self.tables.get(table, []) if row.get(fname) is not None)

    def distinct_in(self, table: str, fname: str) -> int:
        return len({row[fname].text for row in self.tables.get(table, []) if row.get(fname) is not None})

    def is_numeric(self, fname: str) -> bool:
        values = self.values.get(fname, [])
        return bool(values) and all(v.num is not None for v in values)


def _source_of(field_tables: dict[str, list[str]]) -> Any:
    def source(row: dict[str, Any], fname: str) -> Any:
        sources = row.get(_SRC, {})
        return tuple((t, sources.get(t)) for t in field_tables.get(fname, []))

    return source


def _join(tables: dict[str, list[dict[str, Dual | None]]]) -> list[dict[str, Any]]:
    """Full outer join of every table on the fields they share, in load order."""
    joined: list[dict[str, Any]] = []
    joined_fields: set[str] = set()
    for name, rows in tables.items():
        tagged = [{**row, _SRC: {name: index}} for index, row in enumerate(rows)]
        table_fields = {k for row in rows for k in row}
        if not joined:
            joined, joined_fields = tagged, table_fields
            continue
        shared = sorted(joined_fields & table_fields)
        out: list[dict[str, Any]] = []
        if not shared:
            # Unassociated tables: every combination, as a Qlik model without keys would show.
            for left in joined:
                for right in tagged:
                    out.append(_merge(left, right))
        else:
            index: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for right in tagged:
                index.setdefault(_key(right, shared), []).append(right)
            used: set[int] = set()
            for left in joined:
                matches = index.get(_key(left, shared), [])
                if not matches:
                    out.append(left)
                for right in matches:
                    used.add(id(right))
                    out.append(_merge(left, right))
            out.extend(right for right in tagged if id(right) not in used)
        joined, joined_fields = out, joined_fields | table_fields
    return joined


def _key(row: dict[str, Any], shared: list[str]) -> tuple[str, ...]:
    return tuple(row[f].text if row.get(f) is not None else "\x00null" for f in shared)


def _merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    merged = {**left, **{k: v for k, v in right.items() if k != _SRC}}
    merged[_SRC] = {**left[_SRC], **right[_SRC]}
    return merged


def cell(value: Dual | None, elem: int, state: str) -> dict[str, Any]:
    """An NxCell as list objects and hypercubes show it."""
    if value is None:
        return {"qText": "-", "qNum": "NaN", "qElemNumber": -2, "qState": state, "qIsNull": True}
    return {
        "qText": value.text,
        "qNum": value.num if value.num is not None else "NaN",
        "qElemNumber": elem,
        "qState": state,
    }


_BUILT: dict[int, tuple[Any, DataModel]] = {}
_EMPTY = DataModel({}, {}, [])


def model_of(raw: Any) -> DataModel:
    """The DataModel of a seed's `data` block, built once per block (the block never changes)."""
    if not raw:
        return _EMPTY
    cached = _BUILT.get(id(raw))
    if cached is None or cached[0] is not raw:
        cached = (raw, DataModel.build(raw))
        _BUILT[id(raw)] = cached
    return cached[1]
