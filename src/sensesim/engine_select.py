"""Selections, search and property patches: the pure parts behind the Engine's methods.

Selections are `{field: {value text, ...}}` per document session.  Search follows the shapes
of the Engine API's SearchResults/SearchSuggest/SearchObjects (schema 12.612.0): a term
matches a value or title containing it, without regard to case.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from typing import Any

from .engine_data import DataModel
from .engine_eval import Dual


class SelectError(ValueError):
    pass


def match_values(data: DataModel, fname: str, match: str) -> set[str]:
    """Field.Select's qMatch: an exact text, a `*`/`?` wildcard, or a `>`/`<` numeric search."""
    values = data.values.get(fname, [])
    text = match.strip()
    if text[:2] in (">=", "<=") or text[:1] in (">", "<"):
        op = text[:2] if text[:2] in (">=", "<=") else text[:1]
        try:
            bound = float(text[len(op):])
        except ValueError:
            return set()
        compare = {">": float.__gt__, "<": float.__lt__, ">=": float.__ge__, "<=": float.__le__}[op]
        return {v.text for v in values if v.num is not None and compare(v.num, bound)}
    if "*" in text or "?" in text:
        return {v.text for v in values if fnmatch.fnmatchcase(v.text.casefold(), text.casefold())}
    return {v.text for v in values if v.text.casefold() == text.casefold()}


def values_from_field_values(data: DataModel, fname: str, field_values: Any) -> set[str]:
    """Field.SelectValues: FieldValue {qText, qIsNumeric, qNumber} items to value texts."""
    if not isinstance(field_values, list):
        raise SelectError("qFieldValues must be an array")
    wanted: set[str] = set()
    for item in field_values:
        if not isinstance(item, dict):
            raise SelectError("a FieldValue must be an object")
        for value in data.values.get(fname, []):
            if item.get("qIsNumeric") and value.num is not None and value.num == item.get("qNumber"):
                wanted.add(value.text)
            elif not item.get("qIsNumeric") and value.text == item.get("qText"):
                wanted.add(value.text)
    return wanted


def values_from_elements(data: DataModel, fname: str, elements: Any) -> set[str]:
    """qElemNumber values (list objects, hypercube dimensions) to value texts."""
    if not isinstance(elements, list) or not all(isinstance(e, int) and not isinstance(e, bool) for e in elements):
        raise SelectError("qValues must be an array of element numbers")
    values = data.values.get(fname, [])
    bad = [e for e in elements if not 0 <= e < len(values)]
    if bad:
        raise SelectError(f"no element {bad[0]} in field {fname}")
    return {values[e].text for e in elements}


def apply_selection(selections: dict[str, set[str]], fname: str, wanted: set[str], toggle: bool) -> bool:
    """Replace (or toggle) the field's selection; an empty result clears it. True if it changed."""
    before = set(selections.get(fname, set()))
    after = before ^ wanted if toggle else set(wanted)
    if after:
        selections[fname] = after
    else:
        selections.pop(fname, None)
    return after != before


def _page(raw: Any) -> tuple[int, int]:
    page = raw if isinstance(raw, dict) else {}
    return int(page.get("qOffset", 0) or 0), int(page.get("qCount", 20) or 20)


def _matched_terms(text: str, terms: list[str]) -> list[int]:
    folded = text.casefold()
    return [i for i, term in enumerate(terms) if term and term.casefold() in folded]


def _terms(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise SelectError("qTerms must be an array of strings")
    return raw


def search_results(data: DataModel, options: Any, raw_terms: Any, page: Any) -> dict[str, Any]:
    """SearchResults: one DatasetType group whose items are fields with matching values."""
    terms = _terms(raw_terms)
    wanted_fields = (options or {}).get("qSearchFields") if isinstance(options, dict) else None
    offset, count = _page(page)
    items = []
    for fname, values in data.values.items():
        if wanted_fields and wanted_fields != ["*"] and fname not in wanted_fields:
            continue
        matches = [(v, _matched_terms(v.text, terms)) for v in values]
        matches = [(v, hit) for v, hit in matches if hit]
        if not matches:
            continue
        items.append({
            "qItemType": "Field",
            "qTotalNumberOfMatches": len(matches),
            "qIdentifier": fname,
            "qItemMatches": [{"qText": v.text, "qAttributes": [], "qFieldSelectionMode": "NORMAL"}
                             for v, _ in matches],
            "qSearchTermsMatched": sorted({i for _, hit in matches for i in hit}),
        })
    groups = []
    if items:
        groups.append({
            "qGroupType": "DatasetType",
            "qSearchTermsMatched": sorted({i for item in items for i in item["qSearchTermsMatched"]}),
            "qId": 0,
            "qItems": items,
            "qTotalNumberOfItems": len(items),
        })
    return {"qSearchTerms": terms, "qTotalNumberOfGroups": len(groups), "qSearchGroupArray": groups[offset:][:count]}


def search_suggest(data: DataModel, raw_terms: Any) -> dict[str, Any]:
    """SearchSuggest: values containing the last term, and the fields they come from."""
    terms = _terms(raw_terms)
    if not terms:
        return {"qSuggestions": [], "qFieldNames": []}
    last = terms[-1].casefold()
    suggestions: dict[str, int] = {}
    fields: list[str] = []
    for fname, values in data.values.items():
        hits = [v.text for v in values if last and last in v.text.casefold()]
        if hits:
            fields.append(fname)
        for hit in hits:
            suggestions.setdefault(hit.casefold(), len(terms) - 1)
    return {"qSuggestions": [{"qValue": v, "qTerm": t} for v, t in suggestions.items()], "qFieldNames": fields}


def search_objects(titles: list[tuple[str, str, str]], raw_term: Any, page: Any) -> dict[str, Any]:
    """SearchObjects over (qId, qType, title) of the app's objects."""
    if not isinstance(raw_term, str):
        raise SelectError("qTerm must be a string")
    offset, count = _page(page)
    items = [
        {
            "qItemType": "GenericObject",
            "qTotalNumberOfMatches": 1,
            "qIdentifier": qid,
            "qItemMatches": [{"qText": title, "qAttributes": [{"qKey": "qType", "qValue": qtype}]}],
            "qSearchTermsMatched": [0],
        }
        for qid, qtype, title in titles
        if raw_term and raw_term.casefold() in title.casefold()
    ]
    groups = [{"qGroupType": "GenericObjectsType", "qSearchTermsMatched": [0], "qId": 0,
               "qItems": items[offset:][:count], "qTotalNumberOfItems": len(items)}] if items else []
    return {"qSearchTerms": [raw_term], "qTotalNumberOfGroups": len(groups), "qSearchGroupArray": groups}


def apply_patches(props: dict[str, Any], patches: Any) -> dict[str, Any]:
    """ApplyPatches: NxPatch {qOp add|replace|remove, qPath, qValue (JSON text)} on a copy."""
    if not isinstance(patches, list):
        raise SelectError("qPatches must be an array")
    result = copy.deepcopy(props)
    for patch in patches:
        if not isinstance(patch, dict) or patch.get("qOp") not in ("add", "replace", "remove"):
            raise SelectError("a patch needs qOp add, replace or remove")
        path = str(patch.get("qPath", ""))
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")] if path else []
        if not parts or parts[0] == "":
            raise SelectError("qPath must point inside the properties")
        if parts[0] == "qInfo":
            raise SelectError("qInfo cannot be patched")
        parent: Any = result
        for part in parts[:-1]:
            if isinstance(parent, list) and part.isdigit():
                parent = parent[int(part)]
            elif isinstance(parent, dict):
                parent = parent.setdefault(part, {})
            else:
                raise SelectError(f"qPath {path} does not exist")
        leaf = parts[-1]
        if patch["qOp"] == "remove":
            if isinstance(parent, dict):
                parent.pop(leaf, None)
            elif isinstance(parent, list) and leaf.isdigit() and int(leaf) < len(parent):
                parent.pop(int(leaf))
            continue
        try:
            value = json.loads(patch.get("qValue", "null"))
        except (TypeError, ValueError):
            raise SelectError(f"qValue of {path} is not JSON") from None
        if isinstance(parent, dict):
            parent[leaf] = value
        elif isinstance(parent, list) and leaf.isdigit():
            index = int(leaf)
            if patch["qOp"] == "add":
                parent.insert(index, value)
            elif index < len(parent):
                parent[index] = value
            else:
                raise SelectError(f"qPath {path} does not exist")
        elif isinstance(parent, list) and leaf == "-":
            parent.append(value)
        else:
            raise SelectError(f"qPath {path} does not exist")
    return result


def field_description(data: DataModel, fname: str, seeded: dict[str, Any] | None) -> dict[str, Any]:
    """Doc.GetFieldDescription's FieldDescription."""
    values: list[Dual] = data.values.get(fname, [])
    total = sum(data.non_nulls(t, fname) for t in data.field_tables.get(fname, []))
    return {
        "qInternalNumber": list(data.field_tables).index(fname) if fname in data.field_tables else -1,
        "qName": fname,
        "qSrcTables": list(data.field_tables.get(fname, [])),
        "qIsSystem": False,
        "qIsHidden": False,
        "qIsSemantic": False,
        "qDistinctOnly": False,
        "qCardinal": len(values),
        "qTotalCount": total,
        "qIsLocked": False,
        "qAlwaysOneSelected": False,
        "qAndMode": False,
        "qIsNumeric": data.is_numeric(fname),
        "qComment": str((seeded or {}).get("comment", "")),
        "qTags": (["$key"] if fname in data.key_fields() else [])
        + (["$numeric", "$integer"] if data.is_numeric(fname) else ["$ascii", "$text"]),
        "qIsDefinitionOnly": False,
        "qByteSize": sum(len(v.text.encode("utf-8")) + 8 for v in values),
    }
