"""QRS `?filter=` and `?orderby=`: parsing and evaluation against full entity JSON.

Grammar (reference §1.5), keywords and property names case-insensitive:

    expr      := term ("or" term)*
    term      := factor ("and" factor)*
    factor    := "(" expr ")" | predicate
    predicate := path op value
    path      := name ("." name)*
    op        := eq | ne | gt | ge | lt | le | sw | ew | so
    value     := 'quoted string' ('' escapes a quote) | GUID | number | true | false | null | enum name

`and` binds tighter than `or` (the OData convention QRS follows).  A path that crosses a list
(`tags.name`, `customProperties.value`, `objectTypes`) is true if ANY element matches, and every
predicate is evaluated on its own (LINQ `Any()` per predicate, reference §1.5 [?]);
`same_element=True` switches collection predicates joined by `and` to one shared element.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .enums import STATUS_NAMES

OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le", "sw", "ew", "so")
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")

# Enum names QRS accepts unquoted in place of the integer, keyed by the property's last segment.
ENUMS: dict[str, dict[str, int]] = {
    "status": {name.lower(): i for i, name in enumerate(STATUS_NAMES)},
    "tasktype": {"reload": 0, "externalprogram": 1, "usersync": 2, "distribute": 3, "preload": 4},
    "detailstype": {"error": 0, "warning": 1, "information": 2},
    "abortreason": {"undefined": 0, "manual": 1, "timeout": 2, "deletedtask": 3},
    "nodetype": {"undefined": 0, "central": 1, "rim": 2},
}


class FilterError(ValueError):
    """The filter or orderby text cannot be parsed; QRS answers 400."""


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Literal:
    kind: str  # "string" | "guid" | "number" | "bool" | "null" | "name"
    value: Any


@dataclass(frozen=True)
class Predicate:
    path: tuple[str, ...]  # lower-cased segments
    op: str
    literal: Literal


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


Node = Predicate | BoolOp


# --------------------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class _Token:
    kind: str  # "(" | ")" | "string" | "word"
    text: str


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch, ch))
            i += 1
        elif ch == "'":
            i += 1
            out: list[str] = []
            while True:
                if i >= n:
                    raise FilterError("unterminated string")
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        out.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                out.append(text[i])
                i += 1
            tokens.append(_Token("string", "".join(out)))
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in "()'":
                i += 1
            tokens.append(_Token("word", text[start:i]))
    return tokens


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise FilterError("unexpected end of expression")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() == word:
            self.pos += 1
            return True
        return False

    def expr(self) -> Node:
        items = [self.term()]
        while self.keyword("or"):
            items.append(self.term())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def term(self) -> Node:
        items = [self.factor()]
        while self.keyword("and"):
            items.append(self.factor())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def factor(self) -> Node:
        token = self.take()
        if token.kind == "(":
            node = self.expr()
            if self.take().kind != ")":
                raise FilterError("expected ')'")
            return node
        if token.kind != "word" or not _NAME_RE.match(token.text):
            raise FilterError(f"expected a property name, got {token.text!r}")
        path = tuple(part.lower() for part in token.text.split("."))
        op_token = self.take()
        op = op_token.text.lower()
        if op_token.kind != "word" or op not in OPERATORS:
            raise FilterError(f"unknown operator {op_token.text!r}")
        return Predicate(path, op, self.literal())

    def literal(self) -> Literal:
        token = self.take()
        if token.kind == "string":
            return Literal("string", token.text)
        if token.kind != "word":
            raise FilterError(f"expected a value, got {token.text!r}")
        text = token.text
        low = text.lower()
        if _GUID_RE.match(text):
            return Literal("guid", low)
        if _NUMBER_RE.match(text):
            return Literal("number", float(text) if "." in text else int(text))
        if low in ("true", "false"):
            return Literal("bool", low == "true")
        if low == "null":
            return Literal("null", None)
        if _NAME_RE.match(text) and "." not in text and low not in ("and", "or"):
            return Literal("name", text)
        raise FilterError(f"cannot read value {text!r}")


def parse(text: str) -> Node:
    """Parse a filter; raises FilterError on anything QRS would reject."""
    tokens = _tokenize(text)
    if not tokens:
        raise FilterError("empty expression")
    parser = _Parser(tokens)
    node = parser.expr()
    if parser.peek() is not None:
        raise FilterError(f"unexpected {parser.peek().text!r}")  # type: ignore[union-attr]
    return node


# --------------------------------------------------------------------------- evaluation


def _get(obj: dict[str, Any], key: str) -> tuple[bool, Any]:
    """Case-insensitive key lookup (QRS property names are case-insensitive)."""
    if key in obj:
        return True, obj[key]
    for k, v in obj.items():
        if k.lower() == key:
            return True, v
    return False, None


def _leaves(value: Any, path: tuple[str, ...]) -> list[Any]:
    """All values at `path`, flattening lists on the way (any-semantics)."""
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            out.extend(_leaves(item, path))
        return out
    if not path:
        return [value]
    if not isinstance(value, dict):
        return []
    found, child = _get(value, path[0])
    if not found:
        return []
    return _leaves(child, path[1:])


def _as_datetime(text: str) -> datetime | None:
    if not _DATE_RE.match(text.strip()):
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _order(op: str, a: Any, b: Any) -> bool:
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if op == "gt":
        return bool(a > b)
    if op == "ge":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    return bool(a <= b)


def _match_string(op: str, value: str, lit: str) -> bool:
    if op in ("sw", "ew", "so"):
        v, pattern = value.casefold(), lit.casefold()
        return v.startswith(pattern) if op == "sw" else v.endswith(pattern) if op == "ew" else pattern in v
    left, right = _as_datetime(value), _as_datetime(lit)
    if left is not None and right is not None:
        return _order(op, left, right)
    return _order(op, value.casefold(), lit.casefold())


def compare(value: Any, op: str, lit: Literal, path: tuple[str, ...] = ()) -> bool:
    """One leaf value against one literal."""
    if lit.kind == "null":
        return (value is None) if op == "eq" else (value is not None) if op == "ne" else False
    if value is None:
        # C#/LINQ semantics: null != 'x' is true, every other comparison with null is false.
        return op == "ne"
    if isinstance(value, bool):
        if lit.kind == "bool":
            wanted = lit.value
        elif lit.kind in ("string", "name") and str(lit.value).lower() in ("true", "false"):
            wanted = str(lit.value).lower() == "true"
        else:
            return op == "ne"
        return _order(op, value, wanted) if op in ("eq", "ne") else False
    if isinstance(value, int | float):
        number: Any = None
        if lit.kind == "number":
            number = lit.value
        elif lit.kind == "name" and path:
            number = ENUMS.get(path[-1], {}).get(str(lit.value).lower())
        elif lit.kind == "string" and _NUMBER_RE.match(str(lit.value)):
            number = float(lit.value)
        if number is None:
            if op in ("sw", "ew", "so"):
                return _match_string(op, str(value), str(lit.value))
            return op == "ne"
        if op in ("sw", "ew", "so"):
            return _match_string(op, str(value), str(lit.value))
        return _order(op, value, number)
    if isinstance(value, str):
        return _match_string(op, value, str(lit.value) if lit.kind != "bool" else str(lit.value).lower())
    return False


def _eval_predicate(node: Predicate, doc: dict[str, Any]) -> bool:
    return any(compare(v, node.op, node.literal, node.path) for v in _leaves(doc, node.path))


def evaluate(node: Node, doc: dict[str, Any], same_element: bool = False) -> bool:
    """True if the entity `doc` (full QRS JSON) matches."""
    if isinstance(node, Predicate):
        return _eval_predicate(node, doc)
    if node.op == "or":
        return any(evaluate(item, doc, same_element) for item in node.items)
    if same_element:
        return _eval_and_same_element(node.items, doc)
    return all(evaluate(item, doc, same_element) for item in node.items)


def _eval_and_same_element(items: tuple[Node, ...], doc: dict[str, Any]) -> bool:
    """`and` where predicates through the same collection must hit one shared element."""
    groups: dict[str, list[Predicate]] = {}
    rest: list[Node] = []
    for item in items:
        if isinstance(item, Predicate) and len(item.path) > 1:
            found, child = _get(doc, item.path[0])
            if found and isinstance(child, list):
                groups.setdefault(item.path[0], []).append(item)
                continue
        rest.append(item)
    if not all(evaluate(item, doc, True) for item in rest):
        return False
    for head, preds in groups.items():
        _, elements = _get(doc, head)
        if not any(
            all(_eval_predicate(Predicate(p.path[1:], p.op, p.literal), el) for p in preds)
            for el in elements
            if isinstance(el, dict)
        ):
            return False
    return True


def unknown_path(node: Node, docs: list[dict[str, Any]]) -> str | None:
    """The first path that exists in none of `docs`, or None.

    QRS rejects filters on properties the entity type does not have; with no entity to look
    at we cannot tell, so an empty collection accepts every path.
    """
    if not docs:
        return None
    if isinstance(node, BoolOp):
        for item in node.items:
            bad = unknown_path(item, docs)
            if bad:
                return bad
        return None
    if any(_path_exists(doc, node.path) for doc in docs):
        return None
    return ".".join(node.path)


def _path_exists(value: Any, path: tuple[str, ...]) -> bool:
    if not path or value is None:
        return True
    if isinstance(value, list):
        return not value or any(_path_exists(v, path) for v in value)
    if not isinstance(value, dict):
        return False
    found, child = _get(value, path[0])
    return found and _path_exists(child, path[1:])


def apply(docs: list[dict[str, Any]], text: str | None, same_element: bool = False) -> list[dict[str, Any]]:
    """Filter `docs` by the QRS filter `text` (None or blank: no filtering)."""
    if text is None or not text.strip():
        return docs
    node = parse(text)
    bad = unknown_path(node, docs)
    if bad is not None:
        raise FilterError(f"unknown property {bad!r}")
    return [doc for doc in docs if evaluate(node, doc, same_element)]


# --------------------------------------------------------------------------- orderby


def order(docs: list[dict[str, Any]], text: str | None) -> list[dict[str, Any]]:
    """Sort by `orderby=name asc, createdDate desc` (string compare is case-insensitive)."""
    if text is None or not text.strip():
        return docs
    keys: list[tuple[tuple[str, ...], bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or not _NAME_RE.match(words[0]):
            raise FilterError(f"cannot parse orderby {text!r}")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise FilterError(f"cannot parse orderby {text!r}")
        keys.append((tuple(w.lower() for w in words[0].split(".")), direction == "desc"))
    result = list(docs)
    for path, descending in reversed(keys):  # stable sorts, least significant key first
        result.sort(key=lambda doc, p=path: _sort_key(doc, p), reverse=descending)
    return result


def _sort_key(doc: dict[str, Any], path: tuple[str, ...]) -> tuple[int, Any]:
    values = _leaves(doc, path)
    value = values[0] if values else None
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, float(value))
    return (2, str(value).casefold())
