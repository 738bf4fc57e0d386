"""Butler's shipped templates (read in place from ../shared) render byte for byte as Handlebars.js
renders them, with realistic and hostile contexts, in each escaping mode qbutler uses."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from butler_contexts import BUTLER_TEMPLATES, HOSTILE, butler_template_files, contexts

from qbutler.handlebars import ESCAPING, compile_template
from support.handlebars_js import render_all

pytestmark = pytest.mark.skipif(not BUTLER_TEMPLATES.is_dir(),
                                reason=f"Butler's shipped templates are not at {BUTLER_TEMPLATES}")


def _modes(path: Path) -> list[str]:
    # Slack and Teams templates are rendered in JSON mode by qbutler; all are also compared as plain
    # Handlebars (HTML escaping), which is what Butler itself does with every template.
    return ["json", "html"] if path.parent.name in ("slack_templates", "teams_templates") else ["html"]


def test_every_shipped_template_renders_as_handlebars_js(tmp_path: Path):
    named = contexts(tmp_path)
    cases, labels = [], []
    for path in butler_template_files():
        source = path.read_text(encoding="utf-8")
        for mode in _modes(path):
            for name, context in named.items():
                cases.append({"template": source, "context": context, "mode": mode})
                labels.append(f"{path.parent.name}/{path.name} [{mode}, {name}]")
    assert len(labels) >= 20 * 4
    expected = render_all(cases)
    for label, case, oracle in zip(labels, cases, expected, strict=True):
        assert "error" not in oracle, f"{label}: Handlebars.js failed: {oracle}"
        escape, raw = ESCAPING[case["mode"]]
        ours = compile_template(case["template"], label).render(case["context"], escape, raw)
        assert ours == oracle["output"], label


def _render_json(name: str, context: dict) -> dict:
    escape, raw = ESCAPING["json"]
    path = BUTLER_TEMPLATES / name
    return orjson.loads(compile_template(path.read_text(encoding="utf-8"), str(path)).render(context, escape, raw))


def test_slack_failed_reload_template_keeps_hostile_values_intact(tmp_path: Path):
    context = contexts(tmp_path)["hostile"]
    blocks = _render_json("slack_templates/failed-reload-qseow.handlebars", context)["blocks"]
    fields = [field["text"] for field in blocks[2]["fields"]]
    assert fields[0] == f"*Task name:*\n{context['taskName']}"
    assert fields[4] == f"*App owner:*\n{context['appOwnerName']}"
    buttons = blocks[5]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Open QMC", "Open Hub", "Open app", 'Butler "docs"',
                                                    "Ptarmigan Labs"]
    assert buttons[3]["url"] == "https://butler/docs?a=1&b=2"
    assert blocks[7]["text"]["text"] == f"```{context['executionDetailsConcatenated']}```"
    assert blocks[-1]["text"]["text"] == f"```{context['scriptLogTail']}```"
    assert HOSTILE in context["scriptLogTail"]


def test_teams_failed_reload_template_keeps_hostile_values_intact(tmp_path: Path):
    context = contexts(tmp_path)["hostile"]
    card = _render_json("teams_templates/failed-reload-qseow.handlebars", context)["attachments"][0]["content"]
    facts = {fact["title"]: fact["value"] for fact in card["body"][2]["facts"]}
    assert facts["Task name:"] == context["taskName"] and facts["App owner:"] == context["appOwnerName"]
    actions = card["body"][3]["actions"]
    assert [a["title"] for a in actions][3:] == ['Butler "docs"', "Ptarmigan Labs"]
    assert actions[3]["tooltip"] == "Docs <here>"
    assert card["body"][-1]["items"][-1]["codeSnippet"] == context["scriptLogTail"]
