"""The syntax tree, shaped as Handlebars.js's AST (compiler/ast.js) so its whitespace rules carry over."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Strip:
    open: bool = False
    close: bool = False


@dataclass(slots=True)
class Content:
    original: str
    value: str
    start: int
    left_stripped: bool = False
    right_stripped: bool = False


@dataclass(slots=True)
class Comment:
    value: str
    strip: Strip
    start: int


@dataclass(slots=True)
class Path:
    data: bool
    depth: int
    parts: list[str]
    original: str
    start: int


@dataclass(slots=True)
class Literal:
    """StringLiteral, NumberLiteral, BooleanLiteral, NullLiteral or UndefinedLiteral."""

    value: Any
    original: Any
    start: int


@dataclass(slots=True)
class SubExpression:
    path: Path | Literal
    params: list[Any]
    hash: list[tuple[str, Any]] | None
    start: int


@dataclass(slots=True)
class Mustache:
    path: Path | Literal
    params: list[Any]
    hash: list[tuple[str, Any]] | None
    escaped: bool
    strip: Strip
    start: int


@dataclass(slots=True)
class Program:
    body: list[Any]
    block_params: list[str] | None = None
    chained: bool = False


@dataclass(slots=True)
class Block:
    path: Path | Literal
    params: list[Any]
    hash: list[tuple[str, Any]] | None
    program: Program | None
    inverse: Program | None
    open_strip: Strip
    inverse_strip: Strip | None
    close_strip: Strip
    start: int
