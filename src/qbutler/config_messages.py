"""Messages for a config file that cannot be read: YAML errors, an empty file, a wrong root key.

Each message's first line says what is wrong and where (file:line:column for YAML errors), so an
administrator can fix it without reading a parser trace.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = "Butler"


def yaml_error(file: Path, text: str, exc: yaml.YAMLError) -> list[str]:
    """One line `file:line:column: problem`, then the offending line and a caret under the column."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    detail = f"{problem} ({context})" if context else problem
    if mark is None:
        return [f"{file}: not valid YAML: {detail}"]
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    hint = _yaml_hint(problem, line)
    message = f"{file}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {detail}{hint}"
    # Tabs in the echoed line would shift the caret; show them as single spaces.
    shown = line.replace("\t", " ")
    return [f"{message}\n    {shown}\n    {' ' * mark.column}^"]


def _yaml_hint(problem: str, line: str) -> str:
    if "\t" in line or "'\\t'" in problem:
        return "; YAML indents with spaces, never tabs"
    if "mapping values are not allowed" in problem or "expected <block end>" in problem:
        return "; check the indentation of this line against the lines above it"
    return ""


def root_problem(file: Path, data: Any) -> str | None:
    """Why the parsed file has no usable `Butler` root, or None when it has one."""
    if data is None:
        return (f"{file}: the file is empty (or holds only comments); a config file starts with the "
                f"root key '{ROOT}:' (see `qbutler config example`)")
    if not isinstance(data, dict):
        return (f"{file}: the file holds a {type(data).__name__}, not a mapping; a config file starts "
                f"with the root key '{ROOT}:'")
    if ROOT in data:
        return None
    for key in data:
        if isinstance(key, str) and key.lower() == ROOT.lower():
            return f"{file}: the root key is written '{key}'; it must be '{ROOT}' (capital B, the rest lower case)"
    found = ", ".join(repr(key) for key in data) or "none"
    return f"{file}: no root key '{ROOT}' (found: {found}); a config file starts with '{ROOT}:'"


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The known key `word` was most likely meant to be: same letters in another case, or a close
    spelling (difflib ratio >= 0.8, which catches one or two wrong, missing or swapped letters)."""
    options = list(candidates)
    for option in options:
        if option.lower() == word.lower():
            return option
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.8)
    return close[0] if close else None
