"""Handlebars templates rendered exactly as Handlebars.js 4.7 renders them.

`compile_template(source, name)` parses once into Python closures; `Template.render(context,
escape, raw)` runs them. `escape` is applied to `{{x}}` and `raw` to `{{{x}}}` and `{{& x}}`:
with `escape_html` and `to_output` that is Handlebars.js itself; qbutler's alert renderer also
uses `escape_json` for both, for templates that produce JSON (see docs/alerts.md).

Covered: comments, escaped and raw output, HTML escaping, paths (`a.b`, `a/b`, `this`, `..`,
`@root`, `@index`, `[weird key]`, array indexes), block helpers (`if`, `unless`, `each`, `with`,
`else`, `else if`), mustache sections, raw blocks, block parameters, `lookup`, `log`,
subexpressions, literals, hash arguments, whitespace control and standalone lines. Partials and
decorators are reported as unsupported.
"""

from __future__ import annotations

from collections.abc import Callable

from qbutler.handlebars.compiler import Env, Frame, RenderFailure, compile_program
from qbutler.handlebars.helpers import BUTLER
from qbutler.handlebars.lexer import Positions
from qbutler.handlebars.parser import ParseError, parse
from qbutler.handlebars.values import is_nullish, to_text

TYPE_CHECKING = False  # typing is not imported at run time: the engine must import fast
if TYPE_CHECKING:
    from typing import Any

    from qbutler.handlebars.helpers import Helper

__all__ = [
    "BUTLER", "ESCAPING", "Template", "TemplateError", "compile_template", "escape_html", "escape_json", "raw_value",
    "to_output",
]


class TemplateError(Exception):
    """A template that does not compile or fails while rendering, with where: name, line, column."""

    def __init__(self, name: str, line: int, column: int, problem: str):
        super().__init__(f"{name}, line {line}, column {column}: {problem}")
        self.name, self.line, self.column, self.problem = name, line, column, problem


def to_output(value: Any) -> str:
    """A value as `{{{x}}}` writes it: JavaScript's String(), nothing for null and undefined."""
    if isinstance(value, str):
        return value
    return "" if is_nullish(value) else to_text(value)


_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "`": "&#x60;", "=": "&#x3D;"}


def escape_html(value: Any) -> str:
    """Handlebars.js's escapeExpression: `& < > " ' \\` =` as entities."""
    text = value if isinstance(value, str) else to_output(value)
    for char, entity in _HTML.items():
        if char in text:
            text = text.replace(char, entity)
    return text


def escape_json(value: Any) -> str:
    """The text as the inside of a JSON string, exactly as JavaScript's JSON.stringify writes it."""
    import orjson  # here, not at the top: the engine imports fast; orjson is loaded by qbutler anyway

    text = value if isinstance(value, str) else to_output(value)
    try:
        return orjson.dumps(text).decode()[1:-1]
    except orjson.JSONEncodeError:  # lone surrogates, which JSON.stringify writes as \\udxxx
        return _json_with_surrogates(text)


def _json_with_surrogates(text: str) -> str:
    import orjson

    out = []
    for char in text:
        if "\ud800" <= char <= "\udfff":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(orjson.dumps(char).decode()[1:-1])
    return "".join(out)


def raw_value(value: Any) -> Any:
    """`{{{x}}}` as Handlebars.js appends it: the value itself (so adjacent numbers add), "" for null."""
    return "" if is_nullish(value) else value


# Escaping for {{x}} and {{{x}}} by output: Handlebars.js itself ("html"); every value as the inside
# of a JSON string ("json"); escapeExpression without the entities ("text").
ESCAPING: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "html": (escape_html, raw_value),
    "json": (escape_json, escape_json),
    "text": (to_output, raw_value),
}


class Template:
    """A compiled template; render() is safe to call from many tasks at once."""

    def __init__(self, source: str, name: str):
        self.name = name
        self._source = source
        try:
            self._run = compile_program(parse(source))
        except ParseError as exc:
            raise self._error(exc.position, str(exc)) from None
        except RecursionError:
            raise TemplateError(name, 1, 1, "blocks are nested too deeply") from None

    def _error(self, position: int, problem: str) -> TemplateError:
        line, column = Positions(self._source).at(position)
        return TemplateError(self.name, line, column, problem)

    def render(self, context: Any, escape: Callable[[Any], Any] = escape_html,
               raw: Callable[[Any], Any] = raw_value, helpers: dict[str, Helper] = BUTLER) -> str:
        env = Env(escape, raw, helpers)
        try:
            return to_text(self._run(Frame(context, (context,), {"root": context}, (), env)))
        except RenderFailure as exc:
            raise self._error(exc.position, str(exc)) from None
        except RecursionError:
            raise TemplateError(self.name, 1, 1, "the data is nested too deeply") from None


def compile_template(source: str, name: str = "template") -> Template:
    return Template(source, name)
