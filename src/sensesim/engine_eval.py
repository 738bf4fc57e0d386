"""A minimal Qlik expression evaluator: enough of the chart-expression language for a simulator.

Covered (Qlik's "Chart expression" syntax): numbers, 'strings', field names bare or in
[brackets] (double quotes also name a field, as in Qlik), `+ - * /`, `&` concatenation,
`= <> < > <= >=`, `and or not`, parentheses, `Today()`, `Now()`, `If(c, a[, b])`, and the
aggregations `Sum Count Min Max Avg Only` (with `Count(DISTINCT x)`) over the rows the
current selections leave possible.  A variable name evaluates to its value; `$(name)` and
`$(=expr)` are dollar-sign expansions done before parsing.  Qlik's truth values are -1 and 0.

Values are duals: a text and, when numeric, a number.  Anything else (set analysis, other
functions) is a parse error naming the unsupported part, never a silent wrong answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

AGGREGATIONS = ("sum", "count", "min", "max", "avg", "only")
SCALARS = ("today", "now", "if")
TRUE, FALSE = -1.0, 0.0
_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)


class EvalError(ValueError):
    """The expression cannot be evaluated; `bad_fields` lists (offset, length) of unknown names."""

    def __init__(self, message: str, bad_fields: list[tuple[int, int]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.bad_fields = bad_fields or []


@dataclass(frozen=True)
class Dual:
    text: str
    num: float | None

    @property
    def is_numeric(self) -> bool:
        return self.num is not None


def format_number(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return "-"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".14g")


def number(value: float) -> Dual:
    return Dual(format_number(value), value)


def text(value: str) -> Dual:
    try:
        return Dual(value, float(value)) if value.strip() else Dual(value, None)
    except ValueError:
        return Dual(value, None)


# --------------------------------------------------------------------------- tokens

_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<num>\d+(?:\.\d*)?|\.\d+)
      | '(?P<str>(?:[^']|'')*)'
      | \[(?P<bracket>[^\]]*)\]
      | "(?P<quoted>[^"]*)"
      | (?P<op><>|<=|>=|[-+*/&=<>(),])
      | (?P<name>[A-Za-z_%$#@][\w.%$#@]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, field, name, op, end
    value: str
    pos: int


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(source, pos)
        if match is None:
            raise EvalError(f"Error in expression: unexpected {source[pos:].strip()[:10]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        start = match.start(kind) - (1 if kind in ("str", "bracket", "quoted") else 0)
        if kind == "str":
            value = value.replace("''", "'")
        if kind in ("bracket", "quoted"):
            kind = "field"
        tokens.append(Token(kind, value, start))
        pos = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


# --------------------------------------------------------------------------- AST

Node = tuple[Any, ...]  # ("num", v) ("str", s) ("ref", name, pos, bracketed) ("bin", op, a, b)
# ("not", a) ("neg", a) ("call", name, args, distinct, pos)


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.at = 0

    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expect(self, op: str) -> None:
        token = self.take()
        if token.kind != "op" or token.value != op:
            raise EvalError(f"Error in expression: '{op}' expected at {token.pos}")

    def word(self, *words: str) -> str | None:
        token = self.peek()
        if token.kind == "name" and token.value.lower() in words:
            self.at += 1
            return token.value.lower()
        return None

    def op(self, *ops: str) -> str | None:
        token = self.peek()
        if token.kind == "op" and token.value in ops:
            self.at += 1
            return token.value
        return None

    def parse(self) -> Node:
        node = self.or_()
        if self.peek().kind != "end":
            raise EvalError(f"Error in expression: unexpected {self.peek().value!r} at {self.peek().pos}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.word("or"):
            node = ("bin", "or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.word("and"):
            node = ("bin", "and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.word("not"):
            return ("not", self.not_())
        return self.cmp()

    def cmp(self) -> Node:
        node = self.concat()
        op = self.op("=", "<>", "<", ">", "<=", ">=")
        if op:
            node = ("bin", op, node, self.concat())
        return node

    def concat(self) -> Node:
        node = self.add()
        while self.op("&"):
            node = ("bin", "&", node, self.add())
        return node

    def add(self) -> Node:
        node = self.mul()
        while True:
            op = self.op("+", "-")
            if not op:
                return node
            node = ("bin", op, node, self.mul())

    def mul(self) -> Node:
        node = self.unary()
        while True:
            op = self.op("*", "/")
            if not op:
                return node
            node = ("bin", op, node, self.unary())

    def unary(self) -> Node:
        if self.op("-"):
            return ("neg", self.unary())
        if self.op("+"):
            return self.unary()
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "num":
            return ("num", float(token.value))
        if token.kind == "str":
            return ("str", token.value)
        if token.kind == "field":
            return ("ref", token.value, token.pos, True)
        if token.kind == "op" and token.value == "(":
            node = self.or_()
            self.expect(")")
            return node
        if token.kind == "name":
            if self.op("("):
                return self.call(token)
            return ("ref", token.value, token.pos, False)
        raise EvalError(f"Error in expression: unexpected {token.value or 'end'!r} at {token.pos}")

    def call(self, token: Token) -> Node:
        name = token.value.lower()
        if name not in AGGREGATIONS and name not in SCALARS:
            raise EvalError(f"Error in expression: {token.value}() is not supported by sensesim")
        distinct = False
        args: list[Node] = []
        if self.peek().kind == "name" and self.peek().value.lower() == "distinct" and name in AGGREGATIONS:
            self.at += 1
            distinct = True
        if not self.op(")"):
            args.append(self.or_())
            while self.op(","):
                args.append(self.or_())
            self.expect(")")
        expected = {"today": (0, 1), "now": (0, 1), "if": (2, 3)}.get(name, (1, 1))
        if not expected[0] <= len(args) <= expected[1]:
            raise EvalError(f"Error in expression: {token.value}() takes {expected[0]}-{expected[1]} arguments")
        return ("call", name, args, distinct, token.pos)


def parse(source: str) -> Node:
    return _Parser(source).parse()


# --------------------------------------------------------------------------- evaluation


@dataclass
class Scope:
    """What an expression can see: field values per row, variables, the clock and formats."""

    rows: list[dict[str, Any]]  # the possible (selection-filtered) rows, each field -> Dual | None
    row_sources: Callable[[dict[str, Any], str], Any]  # identity of the row a field came from
    fields: set[str]
    variables: dict[str, str]  # name -> definition
    now: datetime
    date_format: str = "YYYY-MM-DD"
    timestamp_format: str = "YYYY-MM-DD hh:mm:ss"


def qlik_format(when: datetime, pattern: str) -> str:
    out = pattern
    for token, value in (
        ("YYYY", f"{when.year:04d}"),
        ("MM", f"{when.month:02d}"),
        ("DD", f"{when.day:02d}"),
        ("hh", f"{when.hour:02d}"),
        ("mm", f"{when.minute:02d}"),
        ("ss", f"{when.second:02d}"),
    ):
        out = out.replace(token, value)
    out = re.sub(r"(?<![A-Za-z])M(?![A-Za-z])", str(when.month), out)
    out = re.sub(r"(?<![A-Za-z])D(?![A-Za-z])", str(when.day), out)
    out = re.sub(r"(?<![A-Za-z])h(?![A-Za-z])", str(when.hour % 12 or 12), out)
    out = out.replace("[.fff]", "").replace("TT", "AM" if when.hour < 12 else "PM")
    return out


def _serial(when: datetime) -> float:
    return (when - _EPOCH).total_seconds() / 86400.0


def _truth(value: Dual | None) -> bool:
    return value is not None and value.num is not None and value.num != 0


def _bool(flag: bool) -> Dual:
    return number(TRUE if flag else FALSE)


class Evaluator:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._var_depth = 0

    def evaluate(self, node: Node, row: dict[str, Any] | None = None, in_aggr: bool = False) -> Dual | None:
        kind = node[0]
        if kind == "num":
            return number(node[1])
        if kind == "str":
            return text(node[1])
        if kind == "ref":
            return self._ref(node, row)
        if kind == "neg":
            value = self.evaluate(node[1], row, in_aggr)
            return None if value is None or value.num is None else number(-value.num)
        if kind == "not":
            return _bool(not _truth(self.evaluate(node[1], row, in_aggr)))
        if kind == "bin":
            return self._binary(node, row, in_aggr)
        return self._call(node, row, in_aggr)

    def _ref(self, node: Node, row: dict[str, Any] | None) -> Dual | None:
        name = node[1]
        if name in self.scope.fields:
            if row is not None:
                value: Dual | None = row.get(name)
                return value
            # Outside an aggregation a field means Only(field).
            return self._aggregate("only", [node], False, node[2])
        if not node[3] and name in self.scope.variables:
            return self._variable(name)
        raise EvalError(f"Bad field name(s): {name}", [(node[2], len(name) + (2 if node[3] else 0))])

    def _variable(self, name: str) -> Dual | None:
        definition = self.scope.variables[name]
        if not definition.startswith("="):
            return text(definition)
        if self._var_depth > 20:
            raise EvalError(f"Error in expression: variable {name} refers to itself")
        self._var_depth += 1
        try:
            return self.evaluate(parse(expand(definition[1:], self)))
        finally:
            self._var_depth -= 1

    def _binary(self, node: Node, row: dict[str, Any] | None, in_aggr: bool) -> Dual | None:
        op, left_node, right_node = node[1], node[2], node[3]
        left = self.evaluate(left_node, row, in_aggr)
        if op == "and":
            return _bool(_truth(left) and _truth(self.evaluate(right_node, row, in_aggr)))
        if op == "or":
            return _bool(_truth(left) or _truth(self.evaluate(right_node, row, in_aggr)))
        right = self.evaluate(right_node, row, in_aggr)
        if op == "&":
            return text((left.text if left else "") + (right.text if right else ""))
        if op in ("+", "-", "*", "/"):
            if left is None or right is None or left.num is None or right.num is None:
                return None
            if op == "/" and right.num == 0:
                return None
            a, b = left.num, right.num
            return number(a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b)
        if left is None or right is None:
            return None
        pair: tuple[Any, Any]
        if left.num is not None and right.num is not None:
            pair = (left.num, right.num)
        else:
            pair = (left.text, right.text)
        a, b = pair
        result = {"=": a == b, "<>": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return _bool(result)

    def _call(self, node: Node, row: dict[str, Any] | None, in_aggr: bool) -> Dual | None:
        _, name, args, distinct, pos = node
        if name == "if":
            if _truth(self.evaluate(args[0], row, in_aggr)):
                return self.evaluate(args[1], row, in_aggr)
            return self.evaluate(args[2], row, in_aggr) if len(args) > 2 else None
        if name in ("today", "now"):
            now = self.scope.now
            if name == "today":
                day = now.replace(hour=0, minute=0, second=0, microsecond=0)
                return Dual(qlik_format(day, self.scope.date_format), float(int(_serial(day))))
            return Dual(qlik_format(now, self.scope.timestamp_format), _serial(now))
        if in_aggr or row is not None:
            raise EvalError("Error in expression: Nested aggregation not allowed")
        return self._aggregate(name, args, distinct, pos)

    def _aggregate(self, name: str, args: list[Node], distinct: bool, pos: int) -> Dual | None:
        inner = args[0]
        referenced = sorted(_fields_of(inner) & self.scope.fields)
        values: list[Dual] = []
        seen: set[Any] = set()
        for row in self.scope.rows:
            # Each source row counts once, however many joined rows repeat it (Qlik's rule
            # that an aggregation runs over the table the field lives in).
            identity = tuple(self.scope.row_sources(row, f) for f in referenced) if referenced else id(row)
            if identity in seen:
                continue
            seen.add(identity)
            value = self.evaluate(inner, row, in_aggr=True)
            if value is not None:
                values.append(value)
        if name == "count":
            if distinct:
                return number(float(len({v.text for v in values})))
            return number(float(len(values)))
        if name == "only":
            texts = {v.text for v in values}
            return values[0] if len(texts) == 1 else None
        nums = [v.num for v in values if v.num is not None]
        if distinct:
            nums = list(dict.fromkeys(nums))
        if name == "sum":
            return number(math.fsum(nums))
        if not nums:
            return None
        if name == "min":
            return number(min(nums))
        if name == "max":
            return number(max(nums))
        return number(math.fsum(nums) / len(nums))


def _fields_of(node: Node) -> set[str]:
    if node[0] == "ref":
        return {node[1]}
    found: set[str] = set()
    for part in node[1:]:
        if isinstance(part, tuple):
            found |= _fields_of(part)
        elif isinstance(part, list):
            for item in part:
                found |= _fields_of(item)
    return found


_DOLLAR_RE = re.compile(r"\$\(([^()]*(?:\([^()]*\)[^()]*)*)\)")


def expand(source: str, evaluator: Evaluator) -> str:
    """Dollar-sign expansion: `$(var)` by the variable's text, `$(=expr)` by the value's text."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        if inner.startswith("="):
            value = evaluator.evaluate(parse(inner[1:]))
            return value.text if value is not None else "-"
        definition = evaluator.scope.variables.get(inner)
        if definition is None:
            return ""  # Qlik expands an unknown variable to nothing
        if definition.startswith("="):
            value = evaluator.evaluate(parse(definition[1:]))
            return value.text if value is not None else "-"
        return definition

    for _ in range(10):
        expanded = _DOLLAR_RE.sub(replace, source)
        if expanded == source:
            return expanded
        source = expanded
    return source


def evaluate_text(source: str, scope: Scope) -> Dual | None:
    """Evaluate `source` (a leading `=` is allowed) in `scope`."""
    evaluator = Evaluator(scope)
    body = source[1:] if source.startswith("=") else source
    return evaluator.evaluate(parse(expand(body, evaluator)))


def check(source: str, scope: Scope) -> tuple[str, list[tuple[int, int]]]:
    """CheckExpression: an error text ('' when fine) and the spans of unknown field names."""
    evaluator = Evaluator(scope)
    body = source[1:] if source.startswith("=") else source
    offset = len(source) - len(body)
    try:
        node = parse(expand(body, evaluator))
    except EvalError as exc:
        return exc.message, []
    bad = [(pos + offset, length) for pos, length in _unknown_refs(node, scope)]
    if bad:
        names = ", ".join(source[p : p + n] for p, n in bad)
        return f"Bad field name(s): {names}", bad
    return "", []


def _unknown_refs(node: Node, scope: Scope) -> Iterable[tuple[int, int]]:
    if node[0] == "ref":
        name, pos, bracketed = node[1], node[2], node[3]
        if name not in scope.fields and (bracketed or name not in scope.variables):
            yield (pos, len(name) + (2 if bracketed else 0))
        return
    for part in node[1:]:
        if isinstance(part, tuple):
            yield from _unknown_refs(part, scope)
        elif isinstance(part, list):
            for item in part:
                yield from _unknown_refs(item, scope)
