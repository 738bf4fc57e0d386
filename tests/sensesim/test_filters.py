"""The QRS filter grammar (reference §1.5): a table of cases and a property-based check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensesim import filters

GUID_A = "dec2a02a-1680-44ef-8dc2-e2bfb180af87"
GUID_B = "3c9e2f5a-6d1b-4c8e-9a0f-2b7d4e6f8a1c"

DOCS: list[dict[str, Any]] = [
    {
        "id": GUID_A,
        "name": "Reload of Sales",
        "taskType": 0,
        "enabled": True,
        "tags": [{"id": "t1", "name": "Nightly"}, {"id": "t2", "name": "Finance"}],
        "customProperties": [
            {"value": "Sales", "definition": {"name": "Department"}},
            {"value": "Yes", "definition": {"name": "Butler_FailedAlertEnableEmail"}},
        ],
        "createdDate": "2024-01-10T05:40:00.000Z",
        "objectTypes": ["App", "ReloadTask"],
        "operational": {"lastExecutionResult": {"status": 8, "executionID": GUID_B}},
        "stream": None,
    },
    {
        "id": GUID_B,
        "name": "O'Brien's reload",
        "taskType": 1,
        "enabled": False,
        "tags": [],
        "customProperties": [{"value": "Finance", "definition": {"name": "Department"}}],
        "createdDate": "2023-06-01T00:00:00.000Z",
        "objectTypes": ["User"],
        "operational": {"lastExecutionResult": {"status": 7, "executionID": GUID_A}},
        "stream": {"id": "s1", "name": "Everyone"},
    },
]


def names(text: str, same_element: bool = False) -> list[str]:
    return [d["name"] for d in filters.apply(DOCS, text, same_element)]


SALES = ["Reload of Sales"]
OBRIEN = ["O'Brien's reload"]
BOTH = SALES + OBRIEN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"id eq {GUID_A}", SALES),
        (f"id eq {GUID_A.upper()}", SALES),  # unquoted GUIDs, any case
        (f"id eq '{GUID_A}'", SALES),
        (f"id ne {GUID_A}", OBRIEN),
        ("name eq 'reload of sales'", SALES),  # strings compare case-insensitively
        ("Name EQ 'Reload of Sales'", SALES),  # property names and keywords too
        ("name eq 'O''Brien''s reload'", OBRIEN),  # '' escapes a quote
        ("name sw 'reload'", SALES),
        ("name ew 'RELOAD'", OBRIEN),
        ("name so 'brien'", OBRIEN),
        ("name so 'nothing'", []),
        ("taskType eq 0", SALES),
        ("taskType ge 0", BOTH),
        ("taskType gt 0", OBRIEN),
        ("taskType lt 1", SALES),
        ("taskType le 1", BOTH),
        ("taskType eq ExternalProgram", OBRIEN),  # enum by name
        ("operational.lastExecutionResult.status eq FinishedFail", SALES),
        ("operational.lastExecutionResult.status eq 7", OBRIEN),
        (f"operational.lastExecutionResult.executionId eq {GUID_B}", SALES),
        ("enabled eq true", SALES),
        ("enabled eq false", OBRIEN),
        ("tags.name eq 'nightly'", SALES),
        ("tags.name ne 'Nightly'", SALES),  # any element differs: Finance
        ("tags.id eq 't2'", SALES),
        ("customProperties.definition.name eq 'Department'", BOTH),
        ("customProperties.value eq 'finance'", OBRIEN),
        ("(customProperties.definition.name eq 'Department') and (customProperties.value eq 'Yes')", SALES),
        ("objectTypes eq 'ReloadTask'", SALES),
        ("objectTypes eq 'user'", OBRIEN),
        ("createdDate gt '2024-01-01T00:00:00.000Z'", SALES),
        ("createdDate le '2023-06-01T00:00:00Z'", OBRIEN),  # compared as instants, not text
        ("createdDate lt '2024-01-10'", OBRIEN),
        ("createdDate eq '2024-01-10T06:40:00.000+01:00'", SALES),
        ("stream eq null", SALES),
        ("stream ne null", OBRIEN),
        ("stream.name eq 'Everyone'", OBRIEN),
        ("taskType eq 0 or taskType eq 1", BOTH),
        ("taskType eq 0 and enabled eq false", []),
        ("taskType eq 1 or taskType eq 0 and enabled eq false", OBRIEN),  # and binds tighter
        ("(taskType eq 1 or taskType eq 0) and enabled eq false", OBRIEN),
        ("(taskType eq 0 or taskType eq 1) and (enabled eq true)", SALES),
        ("((name sw 'o'))", OBRIEN),
        (
            f"id eq {GUID_A} and customProperties.definition.name eq 'Department' "
            "and customProperties.value eq 'Sales'",
            SALES,
        ),
        ("", BOTH),
    ],
)
def test_filter_table(text: str, expected: list[str]) -> None:
    assert names(text) == expected


def test_any_semantics_is_per_predicate_by_default() -> None:
    # Department=Sales and Butler...=Yes: 'Department' and 'Yes' hit different elements.
    text = "customProperties.definition.name eq 'Department' and customProperties.value eq 'Yes'"
    assert names(text) == SALES
    assert names(text, same_element=True) == []
    shared = "customProperties.definition.name eq 'Department' and customProperties.value eq 'Sales'"
    assert names(shared, same_element=True) == SALES


@pytest.mark.parametrize(
    "text",
    [
        "name eq",
        "name 'x'",
        "name xx 'a'",
        "name eq 'unterminated",
        "(name eq 'a'",
        "name eq 'a')",
        "name eq 'a' and",
        "name eq 'a' 'b'",
        "and name eq 'a'",
        "name eq 'a' or or name eq 'b'",
        "eq eq 'a'",
        "name eq a.b",
        "na-me eq 'a'",
    ],
)
def test_parse_errors(text: str) -> None:
    with pytest.raises(filters.FilterError):
        filters.apply(DOCS, text)


def test_unknown_property_is_rejected() -> None:
    with pytest.raises(filters.FilterError):
        filters.apply(DOCS, "nosuchthing eq 'a'")
    # ... but a path into an empty or null collection is fine.
    assert filters.apply(DOCS, "stream.id eq 's1'") == [DOCS[1]]


def test_orderby() -> None:
    assert [d["name"] for d in filters.order(DOCS, "name asc")] == ["O'Brien's reload", "Reload of Sales"]
    assert [d["name"] for d in filters.order(DOCS, "taskType desc")] == [
        "O'Brien's reload",
        "Reload of Sales",
    ]
    assert [d["name"] for d in filters.order(DOCS, "createdDate")] == ["O'Brien's reload", "Reload of Sales"]
    with pytest.raises(filters.FilterError):
        filters.order(DOCS, "name sideways")


# --------------------------------------------------------------------------- property-based
# Entities, filter trees and a reference evaluator written independently of filters.py: the
# evaluator walks the generated tree over Python objects, never the parsed text.


@dataclass(frozen=True)
class Entity:
    name: str
    count: int
    tags: tuple[str, ...]
    created: datetime

    def doc(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "count": self.count,
            "tags": [{"name": t} for t in self.tags],
            "createdDate": self.created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }


@dataclass(frozen=True)
class Pred:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Junction:
    op: str
    items: tuple[Any, ...]


texts = st.text(alphabet="abAB '", min_size=0, max_size=4)
dates = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2025, 1, 1)).map(
    lambda d: d.replace(microsecond=0)
)
entities = st.builds(
    Entity,
    name=texts,
    count=st.integers(-3, 3),
    tags=st.lists(texts, max_size=3).map(tuple),
    created=dates,
)
string_ops = st.sampled_from(["eq", "ne", "sw", "ew", "so", "gt", "ge", "lt", "le"])
order_ops = st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"])
predicates = st.one_of(
    st.builds(Pred, st.just("name"), string_ops, texts),
    st.builds(Pred, st.just("tags.name"), string_ops, texts),
    st.builds(Pred, st.just("count"), order_ops, st.integers(-3, 3)),
    st.builds(Pred, st.just("createdDate"), order_ops, dates),
)
trees = st.recursive(
    predicates,
    lambda inner: st.builds(
        Junction, st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=3).map(tuple)
    ),
    max_leaves=6,
)


def cmp(op: str, a: Any, b: Any) -> bool:
    return {
        "eq": a == b,
        "ne": a != b,
        "gt": a > b,
        "ge": a >= b,
        "lt": a < b,
        "le": a <= b,
    }[op]


def ref_string(op: str, value: str, literal: str) -> bool:
    v, w = value.casefold(), literal.casefold()
    if op == "sw":
        return v.startswith(w)
    if op == "ew":
        return v.endswith(w)
    if op == "so":
        return w in v
    return cmp(op, v, w)


def reference(node: Any, e: Entity) -> bool:
    if isinstance(node, Junction):
        results = [reference(item, e) for item in node.items]
        return all(results) if node.op == "and" else any(results)
    if node.field == "name":
        return ref_string(node.op, e.name, node.value)
    if node.field == "tags.name":
        return any(ref_string(node.op, tag, node.value) for tag in e.tags)
    if node.field == "count":
        return cmp(node.op, e.count, node.value)
    return cmp(node.op, e.created, node.value)


def render(node: Any, draw_case: Any, parent: str | None = None) -> str:
    if isinstance(node, Junction):
        keyword = draw_case(node.op)
        text = f" {keyword} ".join(render(item, draw_case, node.op) for item in node.items)
        # `or` inside `and` needs parentheses; elsewhere add them at random (still valid).
        if (parent == "and" and node.op == "or") or (parent is not None and draw_case("paren") == "PAREN"):
            return f"({text})"
        return text
    field = node.field if draw_case("field") == "field" else node.field.upper()
    op = draw_case(node.op)
    if isinstance(node.value, str):
        value = "'" + node.value.replace("'", "''") + "'"
    elif isinstance(node.value, datetime):
        value = "'" + node.value.strftime("%Y-%m-%dT%H:%M:%S.000Z") + "'"
    else:
        value = str(node.value)
    return f"{field} {op} {value}"


@settings(max_examples=300, deadline=None)
@given(tree=trees, population=st.lists(entities, min_size=1, max_size=5), data=st.data())
def test_filters_agree_with_reference_evaluator(
    tree: Any, population: list[Entity], data: st.DataObject
) -> None:
    def draw_case(word: str) -> str:
        return data.draw(st.sampled_from([word, word.upper()]))

    text = render(tree, draw_case)
    got = filters.apply([e.doc() for e in population], text)
    expected = [e.doc() for e in population if reference(tree, e)]
    assert got == expected, text
