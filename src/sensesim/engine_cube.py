"""Hypercubes and list objects over an app's data model (straight mode, qDataPages).

A hypercube's dimensions are fields (`qFieldDefs[0]`, or a library dimension by
`qLibraryId`); its measures are expressions (`qDef.qDef`, or a library measure).  Rows are
the distinct combinations of dimension values among the possible rows, sorted ascending by
the dimensions (numbers numerically, text alphabetically); each measure is evaluated over the
rows of its combination.  `qDataPages` answers `qInitialDataFetch` (layout) or the pages of
GetHyperCubeData, clipped to the cube's size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .engine_data import DataModel, cell
from .engine_eval import Dual, EvalError, Scope, evaluate_text

ScopeFor = Callable[[list[dict[str, Any]] | None], Scope]  # rows (None: all possible) -> scope


class CubeError(ValueError):
    pass


def _pages(raw: Any) -> list[dict[str, int]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CubeError("qPages must be an array of NxPage")
    pages = []
    for page in raw:
        if not isinstance(page, dict):
            raise CubeError("an NxPage must be an object")
        pages.append({k: int(page.get(k, 0) or 0) for k in ("qTop", "qLeft", "qWidth", "qHeight")})
    return pages


def _sort_key(value: Dual | None) -> tuple[int, Any]:
    if value is None:
        return (2, "")
    if value.num is not None:
        return (0, value.num)
    return (1, value.text.casefold())


def _state_counts(states: list[str]) -> dict[str, int]:
    return {
        "qLocked": 0,
        "qSelected": states.count("S"),
        "qOption": states.count("O"),
        "qDeselected": 0,
        "qAlternative": states.count("A"),
        "qExcluded": states.count("X"),
        "qSelectedExcluded": 0,
        "qLockedExcluded": 0,
    }


def _dimension_info(data: DataModel, fname: str, label: str, selections: dict[str, set[str]]) -> dict[str, Any]:
    states = [s for _, s in data.states(fname, selections)]
    numeric = data.is_numeric(fname)
    nums = [v.num for v in data.values.get(fname, []) if v.num is not None]
    return {
        "qFallbackTitle": label or fname,
        "qApprMaxGlyphCount": max((len(v.text) for v in data.values.get(fname, [])), default=0),
        "qCardinal": len(data.values.get(fname, [])),
        "qLocked": False,
        "qSortIndicator": "A",
        "qGroupFallbackTitles": [label or fname],
        "qGroupPos": 0,
        "qStateCounts": _state_counts(states),
        "qTags": ["$numeric", "$integer"] if numeric else ["$ascii", "$text"],
        "qDimensionType": "N" if numeric else "D",
        "qGrouping": "N",
        "qNumFormat": {"qType": "U", "qnDec": 0, "qUseThou": 0},
        "qIsAutoFormat": True,
        "qGroupFieldDefs": [fname],
        "qMin": min(nums) if nums else "NaN",
        "qMax": max(nums) if nums else "NaN",
        "qAttrExprInfo": [],
        "qAttrDimInfo": [],
        "qIsCalculated": False,
        "qCardinalities": {"qCardinal": len(data.values.get(fname, [])), "qHypercubeCardinal": 0},
    }


def _slice(matrix: list[list[dict[str, Any]]], width: int, pages: list[dict[str, int]]) -> list[dict[str, Any]]:
    out = []
    for page in pages:
        top, left = page["qTop"], page["qLeft"]
        rows = matrix[top : top + page["qHeight"]]
        clipped = [row[left : left + page["qWidth"]] for row in rows]
        out.append({
            "qMatrix": clipped,
            "qTails": [],
            "qArea": {"qLeft": left, "qTop": top, "qWidth": min(page["qWidth"], max(width - left, 0)),
                      "qHeight": len(clipped)},
            "qIsReduced": False,
        })
    return out


class Cube:
    """One hypercube definition resolved against a data model and the session's selections."""

    def __init__(
        self,
        definition: dict[str, Any],
        data: DataModel,
        selections: dict[str, set[str]],
        scope_for: ScopeFor,
        library: Callable[[str, str], Any],
    ) -> None:
        self.definition = definition
        self.data = data
        self.selections = selections
        self.scope_for = scope_for
        self.dims: list[tuple[str, str]] = []  # (field, label)
        for dim in definition.get("qDimensions") or []:
            fname, label = _dimension_field(dim, library)
            if not data.has_field(fname):
                raise CubeError(f"Bad field name(s): {fname}")
            self.dims.append((fname, label))
        self.measures: list[tuple[str, str]] = []  # (expression, label)
        for measure in definition.get("qMeasures") or []:
            self.measures.append(_measure_expression(measure, library))
        self._matrix: list[list[dict[str, Any]]] | None = None

    @property
    def width(self) -> int:
        return len(self.dims) + len(self.measures)

    def _evaluate(self, expression: str, rows: list[dict[str, Any]] | None) -> dict[str, Any]:
        try:
            value = evaluate_text(expression, self.scope_for(rows))
        except EvalError as exc:
            return {"qText": exc.message, "qNum": "NaN", "qElemNumber": -1, "qState": "L", "qIsNull": True}
        if value is None:
            return {"qText": "-", "qNum": "NaN", "qElemNumber": -1, "qState": "L", "qIsNull": True}
        return {"qText": value.text, "qNum": value.num if value.num is not None else "NaN", "qElemNumber": 0,
                "qState": "L"}

    def matrix(self) -> list[list[dict[str, Any]]]:
        if self._matrix is not None:
            return self._matrix
        possible = self.data.possible_rows(self.selections)
        if not self.dims:
            self._matrix = [[self._evaluate(expr, None) for expr, _ in self.measures]] if self.measures else []
            return self._matrix
        groups: dict[tuple[str, ...], tuple[list[Dual | None], list[dict[str, Any]]]] = {}
        for row in possible:
            values = [row.get(f) for f, _ in self.dims]
            key = tuple(v.text if v is not None else "\x00" for v in values)
            groups.setdefault(key, (values, []))[1].append(row)
        ordered = sorted(groups.values(), key=lambda g: [_sort_key(v) for v in g[0]])
        elems = {f: {v.text: i for i, v in enumerate(self.data.values.get(f, []))} for f, _ in self.dims}
        matrix = []
        for values, rows in ordered:
            line = []
            for (fname, _), value in zip(self.dims, values, strict=True):
                chosen = self.selections.get(fname)
                state = "S" if chosen is not None and value is not None and value.text in chosen else "O"
                line.append(cell(value, elems[fname].get(value.text, -2) if value else -2, state))
            line.extend(self._evaluate(expr, rows) for expr, _ in self.measures)
            # Qlik drops rows where every measure is null (suppress zero/null values off).
            if self.measures and all(c.get("qIsNull") for c in line[len(self.dims):]):
                continue
            matrix.append(line)
        self._matrix = matrix
        return matrix

    def data_pages(self, pages: Any) -> list[dict[str, Any]]:
        return _slice(self.matrix(), self.width, _pages(pages))

    def layout(self) -> dict[str, Any]:
        matrix = self.matrix()
        measure_info = []
        for index, (expr, label) in enumerate(self.measures):
            nums = [row[len(self.dims) + index]["qNum"] for row in matrix]
            nums = [n for n in nums if isinstance(n, float | int)]
            measure_info.append({
                "qFallbackTitle": label or expr,
                "qApprMaxGlyphCount": max((len(row[len(self.dims) + index]["qText"]) for row in matrix), default=0),
                "qCardinal": 0,
                "qSortIndicator": "D",
                "qNumFormat": {"qType": "U", "qnDec": 0, "qUseThou": 0},
                "qMin": min(nums) if nums else "NaN",
                "qMax": max(nums) if nums else "NaN",
                "qIsAutoFormat": True,
                "qAttrExprInfo": [],
                "qAttrDimInfo": [],
                "qTrendLines": [],
            })
        return {
            "qSize": {"qcx": self.width, "qcy": len(matrix)},
            "qDimensionInfo": [_dimension_info(self.data, f, label, self.selections) for f, label in self.dims],
            "qMeasureInfo": measure_info,
            "qEffectiveInterColumnSortOrder": list(range(self.width)),
            "qGrandTotalRow": [self._evaluate(expr, None) for expr, _ in self.measures],
            "qDataPages": self.data_pages(self.definition.get("qInitialDataFetch") or []),
            "qPivotDataPages": [],
            "qStackedDataPages": [],
            "qMode": "S",
            "qNoOfLeftDims": -1,
            "qTreeNodesOnDim": [],
            "qColumnOrder": [],
        }


def _library_item(library: Callable[[str, str], Any], kind: str, qid: Any, key: str) -> dict[str, Any]:
    props = library(kind, str(qid))
    if props is None:
        raise CubeError(f"unknown library {kind} {qid}")
    return dict(props.get(key, {}))


def _dimension_field(dim: Any, library: Callable[[str, str], Any]) -> tuple[str, str]:
    if not isinstance(dim, dict):
        raise CubeError("a dimension must be an object")
    if dim.get("qLibraryId"):
        qdim = _library_item(library, "dimension", dim["qLibraryId"], "qDim")
        return str((qdim.get("qFieldDefs") or [""])[0]), str((qdim.get("qFieldLabels") or [""])[0])
    qdef = dim.get("qDef") or {}
    defs = qdef.get("qFieldDefs") or []
    if not defs or not isinstance(defs[0], str):
        raise CubeError("a dimension needs qDef.qFieldDefs")
    if defs[0].startswith("="):
        raise CubeError("calculated dimensions are not supported by sensesim")
    labels = qdef.get("qFieldLabels") or [""]
    return defs[0], str(labels[0] or "")


def _measure_expression(measure: Any, library: Callable[[str, str], Any]) -> tuple[str, str]:
    if not isinstance(measure, dict):
        raise CubeError("a measure must be an object")
    if measure.get("qLibraryId"):
        qm = _library_item(library, "measure", measure["qLibraryId"], "qMeasure")
        return str(qm.get("qDef", "")), str(qm.get("qLabel", ""))
    qdef = measure.get("qDef") or {}
    expression = qdef.get("qDef")
    if not isinstance(expression, str) or not expression:
        raise CubeError("a measure needs qDef.qDef")
    return expression, str(qdef.get("qLabel") or "")


class ListObject:
    """A list object: one field's values with their selection states."""

    def __init__(self, definition: dict[str, Any], data: DataModel, selections: dict[str, set[str]],
                 library: Callable[[str, str], Any]) -> None:
        self.definition = definition
        fname, label = _dimension_field(
            {"qDef": definition.get("qDef") or {}, "qLibraryId": definition.get("qLibraryId")}, library
        )
        if not data.has_field(fname):
            raise CubeError(f"Bad field name(s): {fname}")
        self.field, self.label = fname, label
        self.data = data
        self.selections = selections

    def matrix(self) -> list[list[dict[str, Any]]]:
        states = self.data.states(self.field, self.selections)
        order = {"S": 0, "O": 1, "A": 2, "X": 3}
        indexed = list(enumerate(states))
        # Sorted by state then value, as a filter pane shows it (qSortByState, then text/number).
        indexed.sort(key=lambda item: (order[item[1][1]], _sort_key(item[1][0])))
        return [[cell(value, elem, state)] for elem, (value, state) in indexed]

    def data_pages(self, pages: Any) -> list[dict[str, Any]]:
        return _slice(self.matrix(), 1, _pages(pages))

    def layout(self) -> dict[str, Any]:
        matrix = self.matrix()
        return {
            "qSize": {"qcx": 1, "qcy": len(matrix)},
            "qDimensionInfo": _dimension_info(self.data, self.field, self.label, self.selections),
            "qExpressions": [],
            "qDataPages": self.data_pages(self.definition.get("qInitialDataFetch") or []),
        }
