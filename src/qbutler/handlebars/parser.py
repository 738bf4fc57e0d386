"""Handlebars 4.7's grammar (handlebars.yy) as a recursive-descent parser, building the same tree
as its `yy` helpers (compiler/helpers.js): paths, blocks, `else` chains, inverted and raw blocks.

Partials and decorators are not part of the language notification templates use; they are
reported as errors rather than misread.
"""

from __future__ import annotations

import re

from qbutler.handlebars.lexer import LexError, Token, tokenize
from qbutler.handlebars.nodes import Block, Comment, Content, Literal, Mustache, Path, Program, Strip, SubExpression
from qbutler.handlebars.values import UNDEFINED
from qbutler.handlebars.whitespace import control

TYPE_CHECKING = False  # typing is not imported at run time: the engine must import fast
if TYPE_CHECKING:
    from typing import Any


class ParseError(Exception):
    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


_DESCRIBE = {
    "EOF": "the end of the template", "CLOSE": "`}}`", "CLOSE_UNESCAPED": "`}}}`", "CLOSE_SEXPR": "`)`",
    "OPEN_SEXPR": "`(`", "EQUALS": "`=`", "SEP": "a path separator", "CONTENT": "text",
    "OPEN_ENDBLOCK": "a closing `{{/…}}`", "INVERSE": "`{{else}}`", "OPEN_INVERSE_CHAIN": "`{{else …}}`",
    "CLOSE_BLOCK_PARAMS": "`|`", "OPEN_BLOCK_PARAMS": "`as |`", "CLOSE_RAW_BLOCK": "`}}}}`",
}
_HELPER_NAME = {"ID", "DATA", "STRING", "NUMBER", "BOOLEAN", "UNDEFINED", "NULL"}
_BRACKETED = r"(?s)^\[.*\]$"


def _id(text: str) -> str:
    return text[1:-1] if re.match(_BRACKETED, text) else text


def _strip_flags(open_text: str, close_text: str) -> Strip:
    return Strip(open=open_text[2:3] == "~", close=close_text[-3:-2] == "~")


def _strip_comment(text: str) -> str:
    text = re.sub(r"^\{\{~?!-?-?", "", text)
    return re.sub(r"-?-?~?\}\}$", "", text)


class _Parser:
    def __init__(self, source: str):
        self.tokens = tokenize(source)
        self.index = 0

    # ------------------------------------------------------------------ token helpers
    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, expected: str) -> ParseError:
        token = self.token
        got = _DESCRIBE.get(token.kind) or f"`{token.text}`"
        return ParseError(f"expected {expected}, found {got}", token.start)

    def expect(self, kind: str, expected: str | None = None) -> Token:
        if self.token.kind != kind:
            raise self.fail(expected or _DESCRIBE.get(kind, kind))
        return self.take()

    # ------------------------------------------------------------------ statements
    def program(self) -> Program:
        body: list[Any] = []
        while True:
            kind = self.token.kind
            if kind == "CONTENT":
                token = self.take()
                body.append(Content(token.text, token.text, token.start))
            elif kind == "COMMENT":
                token = self.take()
                body.append(Comment(_strip_comment(token.text), _strip_flags(token.text, token.text), token.start))
            elif kind in ("OPEN", "OPEN_UNESCAPED"):
                body.append(self.mustache())
            elif kind == "OPEN_BLOCK":
                body.append(self.block(inverted=False))
            elif kind == "OPEN_INVERSE":
                body.append(self.block(inverted=True))
            elif kind == "OPEN_RAW_BLOCK":
                body.append(self.raw_block())
            elif kind in ("OPEN_PARTIAL", "OPEN_PARTIAL_BLOCK"):
                raise ParseError("partials (`{{> name}}`) are not supported", self.token.start)
            else:
                return Program(body)

    def mustache(self) -> Mustache:
        open_token = self.take()
        if "*" in open_token.text:
            raise ParseError("decorators (`{{* …}}`) are not supported", open_token.start)
        path, params, hash_ = self.call()
        unescaped = open_token.kind == "OPEN_UNESCAPED"
        close = self.expect("CLOSE_UNESCAPED" if unescaped else "CLOSE")
        flag = open_token.text[3:4] or open_token.text[2:3]
        return Mustache(path, params, hash_, flag not in ("{", "&"), _strip_flags(open_token.text, close.text),
                        open_token.start)

    def open_block(self) -> dict[str, Any]:
        open_token = self.take()
        if "*" in open_token.text:
            raise ParseError("decorator blocks (`{{#* …}}`) are not supported", open_token.start)
        path, params, hash_ = self.call()
        block_params = None
        if self.token.kind == "OPEN_BLOCK_PARAMS":
            self.take()
            block_params = [_id(self.expect("ID", "a block parameter name").text)]
            while self.token.kind == "ID":
                block_params.append(_id(self.take().text))
            self.expect("CLOSE_BLOCK_PARAMS")
        close = self.expect("CLOSE")
        return {"path": path, "params": params, "hash": hash_, "block_params": block_params,
                "strip": _strip_flags(open_token.text, close.text), "start": open_token.start}

    def block(self, inverted: bool) -> Block:
        opened = self.open_block()
        program = self.program()
        inverse_and_program: dict[str, Any] | None = None
        if self.token.kind == "INVERSE":
            inverse_and_program = self.inverse_and_program()
        elif self.token.kind == "OPEN_INVERSE_CHAIN" and not inverted:
            inverse_and_program = self.inverse_chain()
        close = self.close_block(opened)
        return _prepare_block(opened, program, inverse_and_program, close, inverted)

    def inverse_and_program(self) -> dict[str, Any]:
        token = self.take()
        return {"strip": _strip_flags(token.text, token.text), "program": self.program(), "chain": False}

    def inverse_chain(self) -> dict[str, Any]:
        opened = self.open_block()
        program = self.program()
        nested: dict[str, Any] | None = None
        if self.token.kind == "INVERSE":
            nested = self.inverse_and_program()
        elif self.token.kind == "OPEN_INVERSE_CHAIN":
            nested = self.inverse_chain()
        inverse = _prepare_block(opened, program, nested, nested, False)
        return {"strip": opened["strip"], "program": Program([inverse], chained=True), "chain": True}

    def close_block(self, opened: dict[str, Any]) -> dict[str, Any]:
        token = self.expect("OPEN_ENDBLOCK", "a closing `{{/…}}` or `{{else}}`")
        path = self.helper_name()
        close = self.expect("CLOSE")
        if opened["path"].original != path.original:
            raise ParseError(f"{opened['path'].original} doesn't match {path.original}", opened["path"].start)
        return {"path": path, "strip": _strip_flags(token.text, close.text)}

    def raw_block(self) -> Block:
        open_token = self.take()
        path, params, hash_ = self.call()
        self.expect("CLOSE_RAW_BLOCK")
        contents: list[Any] = []
        while self.token.kind == "CONTENT":
            token = self.take()
            contents.append(Content(token.text, token.text, token.start))
        end = self.expect("END_RAW_BLOCK", "the end of the raw block")
        if path.original != end.text:
            raise ParseError(f"{path.original} doesn't match {end.text}", path.start)
        return Block(path, params, hash_, Program(contents), None, Strip(), None, Strip(), open_token.start)

    # ------------------------------------------------------------------ expressions
    def call(self) -> tuple[Any, list[Any], list[tuple[str, Any]] | None]:
        """helperName param* hash?"""
        path = self.helper_name()
        params: list[Any] = []
        while not (self.token.kind == "ID" and self.peek().kind == "EQUALS"):
            if self.token.kind in _HELPER_NAME or self.token.kind == "OPEN_SEXPR":
                params.append(self.param())
            else:
                break
        hash_: list[tuple[str, Any]] | None = None
        while self.token.kind == "ID" and self.peek().kind == "EQUALS":
            key = _id(self.take().text)
            self.take()
            hash_ = [*(hash_ or []), (key, self.param())]
        return path, params, hash_

    def param(self) -> Any:
        if self.token.kind == "OPEN_SEXPR":
            start = self.take().start
            path, params, hash_ = self.call()
            self.expect("CLOSE_SEXPR")
            return SubExpression(path, params, hash_, start)
        return self.helper_name()

    def helper_name(self) -> Path | Literal:
        token = self.token
        kind = token.kind
        if kind == "ID":
            return self.path(data=False)
        if kind == "DATA":
            self.take()
            if self.token.kind != "ID":
                raise self.fail("a name after `@`")
            return self.path(data=True, start=token.start)
        self.take()
        if kind == "STRING":
            return Literal(token.text, token.text, token.start)
        if kind == "NUMBER":
            number = _number(token.text)
            return Literal(number, number, token.start)
        if kind == "BOOLEAN":
            return Literal(token.text == "true", token.text == "true", token.start)
        if kind == "UNDEFINED":
            return Literal(UNDEFINED, UNDEFINED, token.start)
        if kind == "NULL":
            return Literal(None, None, token.start)
        self.index -= 1
        raise self.fail("a name, path or literal")

    def path(self, data: bool, start: int | None = None) -> Path:
        first = self.take()
        segments = [(first.text, None)]
        while self.token.kind == "SEP":
            separator = self.take().text
            segments.append((self.expect("ID", "a name after the path separator").text, separator))
        return _prepare_path(data, segments, first.start if start is None else start)


def _number(text: str) -> int | float:
    """JavaScript's Number(text) for a NUMBER token, kept an int where it is one."""
    number = float(text)
    if number.is_integer() and abs(number) < 2**53 and "." not in text and text != "-0":
        return int(text)
    return number


def _prepare_path(data: bool, segments: list[tuple[str, str | None]], start: int) -> Path:
    original = "@" if data else ""
    dig: list[str] = []
    depth = 0
    for text, separator in segments:
        part = _id(text)
        is_literal = text != part
        original += (separator or "") + part
        if not is_literal and part in ("..", ".", "this"):
            if dig:
                raise ParseError(f"Invalid path: {original}", start)
            if part == "..":
                depth += 1
        else:
            dig.append(part)
    return Path(data, depth, dig, original, start)


def _prepare_block(opened: dict[str, Any], program: Program, inverse_and_program: dict[str, Any] | None,
                   close: dict[str, Any] | None, inverted: bool) -> Block:
    program.block_params = opened["block_params"]
    inverse: Program | None = None
    inverse_strip: Strip | None = None
    if inverse_and_program is not None:
        if inverse_and_program["chain"] and close is not None:
            inverse_and_program["program"].body[0].close_strip = close["strip"]
        inverse_strip = inverse_and_program["strip"]
        inverse = inverse_and_program["program"]
    main: Program | None = program
    if inverted:
        main, inverse = inverse, program
    return Block(opened["path"], opened["params"], opened["hash"], main, inverse, opened["strip"], inverse_strip,
                 close["strip"] if close is not None else Strip(), opened["start"])


def parse(source: str) -> Program:
    """The template's tree after Handlebars' whitespace control; ParseError with the offset."""
    try:
        parser = _Parser(source)
    except LexError as exc:
        raise ParseError(str(exc), exc.position) from None
    program = parser.program()
    if parser.token.kind != "EOF":
        raise parser.fail("text or a mustache")
    return control(program)
