"""The syntax tree, shaped as Handlebars.js's AST (compiler/ast.js) so its whitespace rules carry over.

Plain classes with slots rather than dataclasses: importing dataclasses costs more than this whole
package (bench/template_render.py).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Strip:
    __slots__ = ("close", "open")

    def __init__(self, open: bool = False, close: bool = False):
        self.open, self.close = open, close


class Content:
    __slots__ = ("left_stripped", "original", "right_stripped", "start", "value")

    def __init__(self, original: str, value: str, start: int):
        self.original, self.value, self.start = original, value, start
        self.left_stripped = self.right_stripped = False


class Comment:
    __slots__ = ("start", "strip", "value")

    def __init__(self, value: str, strip: Strip, start: int):
        self.value, self.strip, self.start = value, strip, start


class Path:
    __slots__ = ("data", "depth", "original", "parts", "start")

    def __init__(self, data: bool, depth: int, parts: list[str], original: str, start: int):
        self.data, self.depth, self.parts, self.original, self.start = data, depth, parts, original, start


class Literal:
    """StringLiteral, NumberLiteral, BooleanLiteral, NullLiteral or UndefinedLiteral."""

    __slots__ = ("original", "start", "value")

    def __init__(self, value: Any, original: Any, start: int):
        self.value, self.original, self.start = value, original, start


class SubExpression:
    __slots__ = ("hash", "params", "path", "start")

    def __init__(self, path: Path | Literal, params: list[Any], hash_: list[tuple[str, Any]] | None, start: int):
        self.path, self.params, self.hash, self.start = path, params, hash_, start


class Mustache:
    __slots__ = ("escaped", "hash", "params", "path", "start", "strip")

    def __init__(self, path: Path | Literal, params: list[Any], hash_: list[tuple[str, Any]] | None, escaped: bool,
                 strip: Strip, start: int):
        self.path, self.params, self.hash, self.escaped, self.strip, self.start = (
            path, params, hash_, escaped, strip, start)


class Program:
    __slots__ = ("block_params", "body", "chained")

    def __init__(self, body: list[Any], block_params: list[str] | None = None, chained: bool = False):
        self.body, self.block_params, self.chained = body, block_params, chained


class Block:
    __slots__ = ("close_strip", "hash", "inverse", "inverse_strip", "open_strip", "params", "path", "program",
                 "start")

    def __init__(self, path: Path | Literal, params: list[Any], hash_: list[tuple[str, Any]] | None,
                 program: Program | None, inverse: Program | None, open_strip: Strip, inverse_strip: Strip | None,
                 close_strip: Strip, start: int):
        self.path, self.params, self.hash, self.program, self.inverse = path, params, hash_, program, inverse
        self.open_strip, self.inverse_strip, self.close_strip, self.start = (
            open_strip, inverse_strip, close_strip, start)
