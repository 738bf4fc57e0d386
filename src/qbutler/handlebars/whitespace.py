"""Handlebars 4.7's whitespace control (compiler/whitespace-control.js): `~` strips white space
beside a mustache, and a block, `else` or comment alone on its line takes that line with it."""

from __future__ import annotations

import re

from qbutler.handlebars.lexer import WS
from qbutler.handlebars.nodes import Block, Comment, Content, Mustache, Program, Strip

TYPE_CHECKING = False  # typing is not imported at run time: the engine must import fast
if TYPE_CHECKING:
    from typing import Any

# Patterns compiled by re's cache at first use (not at import: start-up time).
_PREV_WS = rf"\r?\n{WS}*?\Z"
_PREV_WS_ROOT = rf"(?:^|\r?\n){WS}*?\Z"
_NEXT_WS = rf"{WS}*?\r?\n"
_NEXT_WS_ROOT = rf"{WS}*?(?:\r?\n|\Z)"
_LEADING = rf"^{WS}+"
_LEADING_LINE = r"^[ \t]*\r?\n?"
_TRAILING = rf"{WS}+\Z"
_TRAILING_LINE = r"[ \t]+\Z"


class _Standalone:
    __slots__ = ("close", "close_standalone", "inline_standalone", "open", "open_standalone")

    def __init__(self, open_: bool, close: bool, *, open_standalone: bool = False, close_standalone: bool = False,
                 inline_standalone: bool = False):
        self.open, self.close = open_, close
        self.open_standalone, self.close_standalone = open_standalone, close_standalone
        self.inline_standalone = inline_standalone


def _is_prev_whitespace(body: list[Any], i: int | None = None, is_root: bool = False) -> bool:
    if i is None:
        i = len(body)
    prev = body[i - 1] if i - 1 >= 0 else None
    if prev is None:
        return is_root
    if isinstance(prev, Content):
        sibling = i - 2 >= 0
        pattern = _PREV_WS if sibling or not is_root else _PREV_WS_ROOT
        return re.search(pattern, prev.original) is not None
    return False


def _is_next_whitespace(body: list[Any], i: int | None = None, is_root: bool = False) -> bool:
    if i is None:
        i = -1
    nxt = body[i + 1] if i + 1 < len(body) else None
    if nxt is None:
        return is_root
    if isinstance(nxt, Content):
        sibling = i + 2 < len(body)
        pattern = _NEXT_WS if sibling or not is_root else _NEXT_WS_ROOT
        return re.match(pattern, nxt.original) is not None
    return False


def _omit_right(body: list[Any], i: int | None = None, multiple: bool = False) -> None:
    index = 0 if i is None else i + 1
    current = body[index] if index < len(body) else None
    if not isinstance(current, Content) or (not multiple and current.right_stripped):
        return
    original = current.value
    current.value = re.sub(_LEADING if multiple else _LEADING_LINE, "", current.value, count=1)
    current.right_stripped = current.value != original


def _omit_left(body: list[Any], i: int | None = None, multiple: bool = False) -> bool:
    index = len(body) - 1 if i is None else i - 1
    current = body[index] if index >= 0 else None
    if not isinstance(current, Content) or (not multiple and current.left_stripped):
        return False
    original = current.value
    current.value = re.sub(_TRAILING if multiple else _TRAILING_LINE, "", current.value, count=1)
    current.left_stripped = current.value != original
    return current.left_stripped


class _Control:
    def __init__(self) -> None:
        self.root_seen = False

    def program(self, program: Program) -> Program:
        is_root = not self.root_seen
        self.root_seen = True
        body = program.body
        for i, current in enumerate(body):
            strip = self.statement(current)
            if strip is None:
                continue
            prev_ws = _is_prev_whitespace(body, i, is_root)
            next_ws = _is_next_whitespace(body, i, is_root)
            open_standalone = strip.open_standalone and prev_ws
            close_standalone = strip.close_standalone and next_ws
            inline_standalone = strip.inline_standalone and prev_ws and next_ws
            if strip.close:
                _omit_right(body, i, True)
            if strip.open:
                _omit_left(body, i, True)
            if inline_standalone:
                _omit_right(body, i)
                _omit_left(body, i)
            if open_standalone:
                _omit_right((current.program or current.inverse).body)
                _omit_left(body, i)
            if close_standalone:
                _omit_right(body, i)
                _omit_left((current.inverse or current.program).body)
        return program

    def statement(self, node: Any) -> _Standalone | None:
        if isinstance(node, Block):
            return self.block(node)
        if isinstance(node, Mustache):
            return _Standalone(node.strip.open, node.strip.close)
        if isinstance(node, Comment):
            return _Standalone(node.strip.open, node.strip.close, inline_standalone=True)
        return None

    def block(self, block: Block) -> _Standalone:
        if block.program is not None:
            self.program(block.program)
        if block.inverse is not None:
            self.program(block.inverse)
        program = block.program or block.inverse
        assert program is not None
        inverse = block.inverse if block.program is not None else None
        first_inverse = last_inverse = inverse
        if inverse is not None and inverse.chained:
            first_inverse = inverse.body[0].program
            while last_inverse.chained:
                last_inverse = last_inverse.body[-1].program
        strip = _Standalone(block.open_strip.open, block.close_strip.close,
                            open_standalone=_is_next_whitespace(program.body),
                            close_standalone=_is_prev_whitespace((first_inverse or program).body))
        if block.open_strip.close:
            _omit_right(program.body, None, True)
        if inverse is not None:
            inverse_strip = block.inverse_strip or Strip()
            if inverse_strip.open:
                _omit_left(program.body, None, True)
            if inverse_strip.close:
                _omit_right(first_inverse.body, None, True)
            if block.close_strip.open:
                _omit_left(last_inverse.body, None, True)
            if _is_prev_whitespace(program.body) and _is_next_whitespace(first_inverse.body):
                _omit_left(program.body)
                _omit_right(first_inverse.body)
        elif block.close_strip.open:
            _omit_left(program.body, None, True)
        return strip


def control(program: Program) -> Program:
    return _Control().program(program)
