"""Handlebars 4.7's tokenizer: the rules of its Jison lexer (handlebars.l), in the same order and
with the same first-match semantics, rewritten for Python's `re`.

JavaScript's `\\s`, `$` and `\\b` differ from Python's, so they are spelled out: `WS` is JavaScript's
white-space class, end of input is `\\Z`, and `else\\b` is `else` not followed by an ASCII word
character.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import cache

WS_CHARS = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
WS = f"[{WS_CHARS}]"
_ID = rf"""[^{WS_CHARS}!"#%-,./;->@\[-\^`{{-~]"""
_LOOKAHEAD = rf"(?=[=~}}{WS_CHARS}/.)|])"
_LITERAL_LOOKAHEAD = rf"(?=[~}}{WS_CHARS})])"


class LexError(Exception):
    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


class Token:
    __slots__ = ("end", "kind", "start", "text")

    def __init__(self, kind: str, text: str, start: int, end: int):
        self.kind, self.text, self.start, self.end = kind, text, start, end


# The patterns of each lexer state, compiled at the first template (not at import: start-up time).
_CONTENT_TO_MUSTACHE = r"[^\x00]*?(?=\{\{)"
_CONTENT_REST = r"[^\x00]+"
_EMU = r"[^\x00]{2,}?(?=\{\{|\\\{\{|\\\\\{\{|\Z)"
_RAW_OPEN = r"\{\{\{\{(?=[^/])"
_RAW_END = rf"\{{\{{\{{\{{/{_ID}+(?=[=}}{WS_CHARS}/.])\}}\}}\}}\}}"
_RAW_CONTENT = r"[^\x00]+?(?=\{\{\{\{)"
_LONG_COMMENT = r"[\s\S]*?--(~)?\}\}"

_MU_RULES = [
    (r"\(", "OPEN_SEXPR"),
    (r"\)", "CLOSE_SEXPR"),
    (r"\{\{\{\{", "OPEN_RAW_BLOCK"),
    (r"\}\}\}\}", "CLOSE_RAW_BLOCK"),
    (r"\{\{(~)?>", "OPEN_PARTIAL"),
    (r"\{\{(~)?#>", "OPEN_PARTIAL_BLOCK"),
    (r"\{\{(~)?#\*?", "OPEN_BLOCK"),
    (r"\{\{(~)?/", "OPEN_ENDBLOCK"),
    (rf"\{{\{{(~)?\^{WS}*(~)?\}}\}}", "INVERSE"),
    (rf"\{{\{{(~)?{WS}*else{WS}*(~)?\}}\}}", "INVERSE"),
    (r"\{\{(~)?\^", "OPEN_INVERSE"),
    (rf"\{{\{{(~)?{WS}*else(?![A-Za-z0-9_])", "OPEN_INVERSE_CHAIN"),
    (r"\{\{(~)?\{", "OPEN_UNESCAPED"),
    (r"\{\{(~)?&", "OPEN"),
    (r"\{\{(~)?!--", "LONG_COMMENT"),
    (r"\{\{(~)?![\s\S]*?\}\}", "COMMENT"),
    (r"\{\{(~)?\*?", "OPEN"),
    (r"=", "EQUALS"),
    (r"\.\.", "ID"),
    (rf"\.{_LOOKAHEAD}", "ID"),
    (r"[/.]", "SEP"),
    (rf"{WS}+", "SPACE"),
    (r"\}(~)?\}\}", "CLOSE_UNESCAPED"),
    (r"(~)?\}\}", "CLOSE"),
    (r'"(\\["]|[^"])*"', "STRING_DQ"),
    (r"'(\\[']|[^'])*'", "STRING_SQ"),
    (r"@", "DATA"),
    (rf"true{_LITERAL_LOOKAHEAD}", "BOOLEAN"),
    (rf"false{_LITERAL_LOOKAHEAD}", "BOOLEAN"),
    (rf"undefined{_LITERAL_LOOKAHEAD}", "UNDEFINED"),
    (rf"null{_LITERAL_LOOKAHEAD}", "NULL"),
    (rf"-?[0-9]+(?:\.[0-9]+)?{_LITERAL_LOOKAHEAD}", "NUMBER"),
    (rf"as{WS}+\|", "OPEN_BLOCK_PARAMS"),
    (r"\|", "CLOSE_BLOCK_PARAMS"),
    (rf"{_ID}+{_LOOKAHEAD}", "ID"),
    (r"\[(\\\]|[^\]])*\]", "BRACKET_ID"),
    (r"[\s\S]", "INVALID"),
    (r"\Z", "EOF"),
]
_BRACKET_ESCAPE = r"\\([\\\]])"


class _Rules:
    def __init__(self) -> None:
        self.content_to_mustache, self.content_rest, self.emu, self.raw_open, self.raw_end, self.raw_content, \
            self.long_comment = (re.compile(p) for p in (_CONTENT_TO_MUSTACHE, _CONTENT_REST, _EMU, _RAW_OPEN,
                                                         _RAW_END, _RAW_CONTENT, _LONG_COMMENT))
        self.mu = [(re.compile(pattern), kind) for pattern, kind in _MU_RULES]


@cache
def _rules() -> _Rules:
    return _Rules()


def tokenize(source: str) -> list[Token]:
    """The token stream of a template; LexError where Handlebars' lexer finds no rule."""
    rules = _rules()
    tokens: list[Token] = []
    states = ["INITIAL"]
    pos, size = 0, len(source)

    def emit(kind: str, text: str, start: int, end: int) -> None:
        tokens.append(Token(kind, text, start, end))

    while True:
        state = states[-1]
        if state == "INITIAL":
            match = rules.content_to_mustache.match(source, pos)
            if match:
                text, start, end = match.group(), pos, match.end()
                pos = end
                if text.endswith("\\\\"):
                    text = text[:-1]
                    states.append("mu")
                elif text.endswith("\\"):
                    text = text[:-1]
                    states.append("emu")
                else:
                    states.append("mu")
                if text:
                    emit("CONTENT", text, start, end)
                continue
            match = rules.content_rest.match(source, pos)
            if match:
                emit("CONTENT", match.group(), pos, match.end())
                pos = match.end()
                continue
            if pos >= size:
                emit("EOF", "", pos, pos)
                return tokens
            raise LexError("unexpected character", pos)
        if state == "emu":
            match = rules.emu.match(source, pos)
            if not match:
                raise LexError("unexpected end of escaped mustache", pos)
            states.pop()
            emit("CONTENT", match.group(), pos, match.end())
            pos = match.end()
            continue
        if state == "com":
            match = rules.long_comment.match(source, pos)
            if not match:
                raise LexError("comment `{{!--` is never closed by `--}}`", pos)
            states.pop()
            emit("COMMENT", match.group(), pos, match.end())
            pos = match.end()
            continue
        if state == "raw":
            match = rules.raw_open.match(source, pos)
            if match:
                states.append("raw")
                emit("CONTENT", match.group(), pos, match.end())
                pos = match.end()
                continue
            match = rules.raw_end.match(source, pos)
            if match:
                states.pop()
                text = match.group()
                if states[-1] == "raw":
                    emit("CONTENT", text, pos, match.end())
                else:
                    emit("END_RAW_BLOCK", text[5:-4], pos, match.end())
                pos = match.end()
                continue
            match = rules.raw_content.match(source, pos)
            if match:
                emit("CONTENT", match.group(), pos, match.end())
                pos = match.end()
                continue
            raise LexError("raw block `{{{{` is never closed", pos)
        # state "mu": inside a mustache
        for pattern, kind in rules.mu:  # noqa: B007 - `kind` of the rule that matched is used below
            match = pattern.match(source, pos)
            if match:
                break
        else:  # pragma: no cover - the last rules match anything
            raise LexError("unexpected character", pos)
        text, start, end = match.group(), pos, match.end()
        pos = end
        if kind == "SPACE":
            continue
        if kind == "LONG_COMMENT":
            pos = start  # Jison's unput: the comment state reads it again from `{{`
            states.pop()
            states.append("com")
            continue
        if kind == "CLOSE_RAW_BLOCK":
            states.pop()
            states.append("raw")
        elif kind in ("INVERSE", "COMMENT", "CLOSE_UNESCAPED", "CLOSE"):
            states.pop()
        elif kind == "STRING_DQ":
            kind, text = "STRING", text[1:-1].replace('\\"', '"')
        elif kind == "STRING_SQ":
            kind, text = "STRING", text[1:-1].replace("\\'", "'")
        elif kind == "BRACKET_ID":
            kind, text = "ID", re.sub(_BRACKET_ESCAPE, r"\1", text)
        emit(kind, text, start, end)
        if kind == "EOF":
            return tokens


class Positions:
    """Line and column (both from 1) of an offset in the source."""

    _BREAK = r"\r\n?|\n"

    def __init__(self, source: str):
        self._starts = [0] + [m.end() for m in re.finditer(self._BREAK, source)]

    def at(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1
