"""Handlebars.js (the npm package in tests/handlebars/js, the version Butler uses) as the oracle of
qbutler's template engine: one Node process renders a whole batch of cases."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

JS = Path(__file__).resolve().parents[1] / "handlebars" / "js"


def unavailable_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed: the differential tests need Node.js to run Handlebars.js"
    if not (JS / "node_modules" / "handlebars" / "package.json").exists():
        return f"Handlebars.js is not installed: run `npm ci` in {JS} (scripts/test.sh does)"
    return None


def require_handlebars_js() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


def render_all(cases: list[dict[str, Any]]) -> list[dict[str, str]]:
    """[{template, context, mode}] -> [{output} | {error}], in order, from Handlebars.js."""
    require_handlebars_js()
    # Each distinct context object is sent once (the 1 MB ones are shared by many cases).
    contexts: list[Any] = []
    index: dict[int, int] = {}
    sent = []
    for case in cases:
        key = id(case["context"])
        if key not in index:
            index[key] = len(contexts)
            contexts.append(case["context"])
        sent.append({**case, "context": index[key]})
    payload = orjson.dumps({"contexts": contexts, "cases": sent})
    result = subprocess.run(["node", str(JS / "render.js")], input=payload, capture_output=True,
                            timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"render.js failed: {result.stderr.decode(errors='replace')[-2000:]}")
    # json, not orjson: an output may hold a lone surrogate (a string index into an emoji), as in JavaScript.
    return json.loads(result.stdout)
