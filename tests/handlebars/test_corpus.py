"""A generated corpus (tests/handlebars/grammar.py): qbutler's engine and Handlebars.js give the same
output, or both refuse the template, for every case.

Each Hypothesis example is a seed for the grammar's random generator, which makes a batch of cases
rendered by one Node process; a failure names the case (shrinking is off: it would rerun Node per
step, and the seed alone does not shrink a case). By default the run is
derandomized (the same cases every time, as CI needs) with 2,500 cases. A larger, random run:

    QBUTLER_TEMPLATE_CASES=50000 QBUTLER_TEMPLATE_RANDOM=1 .venv/bin/python -m pytest -q tests/handlebars/test_corpus.py
"""

from __future__ import annotations

import os
import random

from grammar import Grammar
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from qbutler.handlebars import ESCAPING, TemplateError, compile_template
from support.handlebars_js import render_all, require_handlebars_js

BATCH = 500
CASES = int(os.environ.get("QBUTLER_TEMPLATE_CASES", "2500"))

def ours(case: dict) -> dict:
    try:
        escape, raw = ESCAPING[case["mode"]]
        return {"output": compile_template(case["template"]).render(case["context"], escape, raw)}
    except TemplateError as exc:
        return {"error": str(exc)}


@settings(max_examples=max(1, CASES // BATCH), derandomize="QBUTLER_TEMPLATE_RANDOM" not in os.environ,
          database=None, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.integers(0, 2**32 - 1))
def test_generated_templates_render_as_handlebars_js(seed: int):
    require_handlebars_js()
    grammar = Grammar(random.Random(seed))
    batch = [grammar.case() for _ in range(BATCH)]
    for case, oracle in zip(batch, render_all(batch), strict=True):
        mine = ours(case)
        if "error" in oracle:
            assert "error" in mine, f"Handlebars.js refuses {case!r} ({oracle['error']!r}) but qbutler gave {mine!r}"
        else:
            assert mine == {"output": oracle["output"]}, f"{case!r}"
