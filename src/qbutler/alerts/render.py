"""Handlebars-compatible template rendering (pybars3) with escaping chosen by the output format.

Butler's templates render unchanged: `{{x}}`, `{{{x}}}`, `{{#each}}`, `{{#if}}`, `{{! comments }}`
and the `eq` helper. What differs is escaping, decided per output rather than per value:

- `html` (email bodies): Handlebars' HTML escaping of `& < > " ' \\` =` for `{{x}}`; `{{{x}}}` is raw.
- `json` (Slack and Teams templates): every inserted value, `{{x}}` and `{{{x}}}` alike, is escaped
  as the inside of a JSON string, so quotes, backslashes, control characters and markup in task
  names or script logs can never break the JSON the template produces.
- `text` (subjects, basic messages, plain-text mail): values are inserted as they are.

Values print as JavaScript would: lists joined with commas, booleans lower case, null empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import orjson
import pybars

Mode = Literal["html", "json", "text"]
TEMPLATES = Path(__file__).parent / "templates"

_HTML = re.compile(r"[&<>\"'`=]")
_HTML_MAP = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "`": "&#x60;", "=": "&#x3D;"}


class RenderError(Exception):
    """A template cannot be read, compiled or rendered; the message names the template."""


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_as_text(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _json_inside(text: str) -> str:
    return orjson.dumps(text).decode()[1:-1]


def _preparer(mode: Mode) -> Callable[[Any, bool], Any]:
    strlist = pybars.strlist

    def prepare(value: Any, should_escape: bool) -> Any:
        if type(value) is strlist:
            # Output of a block or helper: already rendered (and escaped) by this template.
            return value
        text = _as_text(value)
        if mode == "json":
            return _json_inside(text)
        if mode == "html" and should_escape:
            return _HTML.sub(lambda m: _HTML_MAP[m.group(0)], text)
        return text

    return prepare


def _eq(this: Any, left: Any, right: Any) -> bool:
    """JavaScript's `===`: no coercion between strings, numbers and booleans."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and left == right


HELPERS = {"eq": _eq}


@lru_cache(maxsize=256)
def _compile(source: str, mode: Mode) -> Callable[..., Any]:
    try:
        template = pybars.Compiler().compile(source)
    except Exception as exc:
        raise RenderError(f"template does not compile: {exc}") from None
    # Every compiled template is its own module; swapping `prepare` there sets its escaping.
    template.__globals__["prepare"] = _preparer(mode)
    return template


def render_source(source: str, context: dict[str, Any], mode: Mode, name: str = "template") -> str:
    template = _compile(source, mode)
    try:
        return str(template(context, helpers=HELPERS))
    except Exception as exc:
        raise RenderError(f"{name}: {type(exc).__name__}: {exc}") from None


# Template files as last read, by path: (modification time, size), text. An edited file is read again.
_files: dict[Path, tuple[tuple[int, int], str]] = {}


def read_template(path: Path) -> str:
    try:
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        cached = _files.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"template file {path} cannot be read: {exc.strerror or exc}") from None
    if len(_files) >= 256:
        _files.clear()
    _files[path] = (version, text)
    return text


def render_file(path: Path, context: dict[str, Any], mode: Mode) -> str:
    try:
        return render_source(read_template(path), context, mode, str(path))
    except RenderError as exc:
        message = str(exc)
        raise RenderError(message if str(path) in message else f"{path}: {message}") from None


def render_json(path: Path, context: dict[str, Any]) -> Any:
    """Render a JSON template and parse it; RenderError if the result is not JSON."""
    text = render_file(path, context, "json")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RenderError(f"{path}: output is not valid JSON: {exc}") from None


def default_template(name: str) -> Path:
    return TEMPLATES / name
