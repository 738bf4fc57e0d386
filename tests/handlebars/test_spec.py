"""The Handlebars.js spec cases that apply to notification templates (spec_cases.yaml, ported as
data): qbutler renders each as the spec expects; where Node is available, Handlebars.js is also
checked to give the same, so the port itself is verified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from qbutler.handlebars import ESCAPING, TemplateError, compile_template
from support.handlebars_js import render_all, unavailable_reason

SPEC = yaml.safe_load((Path(__file__).parent / "spec_cases.yaml").read_text(encoding="utf-8"))
CASES = [pytest.param(case, id=f"{group}: {case['name']}") for group, cases in SPEC.items() for case in cases]


def _ours(case: dict[str, Any]) -> str:
    escape, raw = ESCAPING[case.get("mode", "html")]
    return compile_template(case["template"], case["name"]).render(case["data"], escape, raw)


@pytest.mark.parametrize("case", CASES)
def test_spec_case(case: dict[str, Any]):
    if case.get("error"):
        with pytest.raises(TemplateError, match=r", line \d+, column \d+: "):
            _ours(case)
    else:
        assert _ours(case) == case["expected"]


@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
def test_handlebars_js_agrees_with_the_ported_expectations():
    cases = [case for group in SPEC.values() for case in group]
    results = render_all([{"template": c["template"], "context": c["data"], "mode": c.get("mode", "html")}
                          for c in cases])
    wrong = [(c["name"], r) for c, r in zip(cases, results, strict=True)
             if ("error" in r) != bool(c.get("error")) or (not c.get("error") and r["output"] != c["expected"])]
    assert wrong == []
