"""Alert templates: Handlebars, rendered as Handlebars.js renders them (qbutler.handlebars), with
escaping chosen by the output format rather than per value:

- `html` (email bodies): Handlebars' own escaping of `& < > " ' \\` =` for `{{x}}`; `{{{x}}}` is raw.
- `json` (Slack and Teams templates): every inserted value, `{{x}}` and `{{{x}}}` alike, is escaped
  as the inside of a JSON string, so quotes, backslashes, control characters and markup in task
  names or script logs can never break the JSON the template produces.
- `text` (subjects, basic messages, plain-text mail): `{{x}}` is inserted without entities.

Apart from the escape function, the output is byte for byte what Handlebars.js gives
(tests/handlebars compares the two).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import orjson

from qbutler.handlebars import ESCAPING, Template, TemplateError

Mode = Literal["html", "json", "text"]
TEMPLATES = Path(__file__).parent / "templates"


class RenderError(Exception):
    """A template cannot be read, compiled or rendered; the message names the template (and line)."""


@lru_cache(maxsize=256)
def _compile(source: str, name: str) -> Template:
    try:
        return Template(source, name)
    except TemplateError as exc:
        raise RenderError(f"template does not compile: {exc}") from None


def _render(template: Template, context: dict[str, Any], mode: Mode) -> str:
    escape, raw = ESCAPING[mode]
    try:
        return template.render(context, escape, raw)
    except TemplateError as exc:
        raise RenderError(str(exc)) from None


def render_source(source: str, context: dict[str, Any], mode: Mode, name: str = "template") -> str:
    return _render(_compile(source, name), context, mode)


# Template files as last compiled, by path: (modification time, size), template. An edited file is
# read and compiled again.
_files: dict[Path, tuple[tuple[int, int], Template]] = {}


def load_template(path: Path) -> Template:
    try:
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        cached = _files.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"template file {path} cannot be read: {exc.strerror or exc}") from None
    template = _compile(text, str(path))
    if len(_files) >= 256:
        _files.clear()
    _files[path] = (version, template)
    return template


def render_file(path: Path, context: dict[str, Any], mode: Mode) -> str:
    return _render(load_template(path), context, mode)


def render_json(path: Path, context: dict[str, Any]) -> Any:
    """Render a JSON template and parse it; RenderError if the result is not JSON."""
    text = render_file(path, context, "json")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RenderError(f"{path}: output is not valid JSON: {exc}") from None


def default_template(name: str) -> Path:
    return TEMPLATES / name
