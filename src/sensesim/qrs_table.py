"""QRS `POST /qrs/{type}/table`: the column-select listing that list views and clients use.

Per Qlik's "Create table" page: the body is a TableDefinition `{id, type, columns[]}` where each
column has a `name` (no spaces), a `columnType` and a `definition`:

- `Property`: `definition` is the property name (a dotted path such as `stream.name` reaches
  into a referenced entity);
- `List`: `definition` is the list item type and `list` holds the sub-columns; the column's
  `name` is the entity's list property (`tags`, `customProperties`), and the cell is one row per
  element;
- `Function`: `count(Type1, Type2, ...)`, the number of entities of those types that refer to
  the row's entity (a ReloadTask refers to its App through `app`).

The answer is an ITable `{id, type, columnNames, rows}`.  `?filter=` (same grammar as lists),
`?sortColumn=` (a column name), `?orderAscending=`, `?skip=` and `?take=` apply in that order;
cells are computed for the rows of the page only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from . import filters

NULL_GUID = "00000000-0000-0000-0000-000000000000"
COLUMN_TYPES = ("Property", "List", "Function")
_COUNT_RE = re.compile(r"^\s*count\s*\(\s*([A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*)\s*\)\s*$", re.IGNORECASE)


class TableError(ValueError):
    """The table definition or a paging parameter is wrong; QRS answers 400 with this text."""


# Full docs of every entity of a schema type ("ReloadTask"), for count() columns.
Related = Callable[[str], list[dict[str, Any]]]


def _lookup(doc: Any, path: str) -> Any:
    """A dotted property path, case-insensitive per segment; a missing step is null."""
    value = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        found, value = filters._get(value, part.lower())
        if not found:
            return None
    return value


def _check_columns(columns: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(columns, list) or not columns:
        raise TableError(f"{where}: columns must be a non-empty list")
    for index, column in enumerate(columns):
        if not isinstance(column, dict):
            raise TableError(f"{where}: column {index} must be an object")
        name = column.get("name")
        if not isinstance(name, str) or not name or " " in name:
            raise TableError(f"{where}: column {index} needs a name without spaces")
        kind = column.get("columnType")
        if kind not in COLUMN_TYPES:
            raise TableError(f"column {name!r}: columnType must be one of {', '.join(COLUMN_TYPES)}")
        definition = column.get("definition")
        if not isinstance(definition, str) or not definition:
            raise TableError(f"column {name!r}: definition is required")
        if kind == "List":
            _check_columns(column.get("list"), f"list column {name!r}")
        if kind == "Function" and not _COUNT_RE.match(definition):
            raise TableError(f"column {name!r}: the only supported function is count(Type, ...)")
    return columns


def _count_types(definition: str) -> list[str]:
    match = _COUNT_RE.match(definition)
    assert match is not None  # checked by _check_columns
    return [part.strip().lower() for part in match.group(1).split(",")]


class _Counter:
    """count(Type): how many entities of Type refer to an id through a top-level reference."""

    def __init__(self, related: Related) -> None:
        self.related = related
        self.by_type: dict[str, dict[str, int]] = {}

    def count(self, types: list[str], entity_id: Any) -> int:
        return sum(self._index(t).get(str(entity_id), 0) for t in types)

    def _index(self, schema_type: str) -> dict[str, int]:
        index = self.by_type.get(schema_type)
        if index is None:
            index = {}
            for doc in self.related(schema_type):
                for value in doc.values():
                    if isinstance(value, dict) and isinstance(value.get("id"), str):
                        index[value["id"]] = index.get(value["id"], 0) + 1
            self.by_type[schema_type] = index
        return index


def _cell(doc: dict[str, Any], column: dict[str, Any], counter: _Counter) -> Any:
    kind = column["columnType"]
    if kind == "Property":
        return _lookup(doc, column["definition"])
    if kind == "Function":
        return counter.count(_count_types(column["definition"]), doc.get("id"))
    items = _lookup(doc, column["name"])
    if not isinstance(items, list):
        return []
    return [[_cell(item, sub, counter) for sub in column["list"]] for item in items if isinstance(item, dict)]


def _non_negative(query: dict[str, str], key: str) -> int | None:
    raw = query.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise TableError(f"{key} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise TableError(f"{key} must not be negative")
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    # Nulls first, then numbers and booleans, then text without regard to case, then lists by size.
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, float(value))
    if isinstance(value, list):
        return (3, len(value))
    return (2, str(value).casefold())


@dataclass
class Entities:
    """The entities of one QRS type and how to render them.

    `full` is the documented full shape every cell, filter and sort reads; `condensed` is the
    much cheaper bare-list shape, a subset of it, used for sort keys it holds (see build_table).
    """

    items: Sequence[Any]
    full: Callable[[Any], dict[str, Any]]
    condensed: Callable[[Any], dict[str, Any]]


class _Rendered:
    """Full shapes rendered on demand, by position in Entities.items.

    Rows are positions, not objects: on a site of 20,000 tasks a per-row object was enough extra
    allocation to set off garbage collections that scan the whole site and doubled the time of a
    full table.
    """

    def __init__(self, entities: Entities) -> None:
        self.entities = entities
        self.docs: list[dict[str, Any] | None] = [None] * len(entities.items)

    def full(self, at: int) -> dict[str, Any]:
        doc = self.docs[at]
        if doc is None:
            doc = self.docs[at] = self.entities.full(self.entities.items[at])
        return doc

    def sort_value(self, at: int, column: dict[str, Any], counter: _Counter) -> Any:
        # A top-level scalar of the condensed shape is the full shape's value: use it and leave
        # the full rendering to the rows of the page, so a sorted page costs a condensed listing.
        if self.docs[at] is None and column["columnType"] == "Property" and "." not in column["definition"]:
            condensed = self.entities.condensed(self.entities.items[at])
            found, value = filters._get(condensed, column["definition"].lower())
            if found and not isinstance(value, dict | list):
                return value
        return _cell(self.full(at), column, counter)


def build_table(
    entities: Entities,
    definition: Any,
    query: dict[str, str],
    *,
    default_type: str,
    related: Related,
    known_types: Collection[str],
    same_element: bool = False,
) -> dict[str, Any]:
    """The ITable of `entities` under `definition` and the query parameters.

    Full shapes are rendered for every entity only when a filter needs them (or a sort key is not
    in the condensed shape); otherwise only the rows of the requested page are rendered.
    """
    if not isinstance(definition, dict):
        raise TableError("Body must be a TableDefinition object {id, type, columns}")
    columns = _check_columns(definition.get("columns"), "table")
    for column in _function_columns(columns):
        unknown = [t for t in _count_types(column["definition"]) if t not in known_types]
        if unknown:
            raise TableError(f"count(): unknown entity type {unknown[0]!r}")
    names = [c["name"] for c in columns]
    ascending_text = query.get("orderascending", "true").lower()
    if ascending_text not in ("true", "false"):
        raise TableError(f"orderAscending must be true or false, not {query.get('orderascending')!r}")
    sort_column = query.get("sortcolumn")
    lowered = [n.lower() for n in names]
    if sort_column and sort_column.lower() not in lowered:
        raise TableError(f"sortColumn {sort_column!r} is not a column of the table")
    skip = _non_negative(query, "skip") or 0
    take = _non_negative(query, "take")
    counter = _Counter(related)
    rendered = _Rendered(entities)
    order = list(range(len(entities.items)))
    if query.get("filter", "").strip():
        docs = [rendered.full(at) for at in order]
        position = {id(doc): at for at, doc in enumerate(docs)}
        order = [position[id(doc)] for doc in filters.apply(docs, query["filter"], same_element)]
    if sort_column:
        column = columns[lowered.index(sort_column.lower())]
        order.sort(key=lambda at: _sort_key(rendered.sort_value(at, column, counter)),
                   reverse=ascending_text == "false")
    page = order[skip:] if take is None else order[skip : skip + take]
    return {
        "id": str(definition.get("id") or NULL_GUID),
        "type": str(definition.get("type") or default_type),
        "columnNames": names,
        "rows": [[_cell(rendered.full(at), column, counter) for column in columns] for at in page],
    }


def _function_columns(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every count() column, list sub-columns included."""
    found = []
    for column in columns:
        if column["columnType"] == "Function":
            found.append(column)
        elif column["columnType"] == "List":
            found.extend(_function_columns(column["list"]))
    return found
