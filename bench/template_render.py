"""Render time per alert of Butler's shipped Slack, Teams and email templates, and the import time of
the template engine: qbutler.handlebars, and pybars3 (the engine before it) when it is installed.

The context is the one qbutler builds for a failed reload (tests/handlebars/butler_contexts.py),
with a script log whose head and tail fill Slack's 2,800-character excerpts. Templates are compiled
once, as the alert renderer caches them (the CPU time of compiling the three is shown apart); each
render figure is one render of one template. Import time is
a fresh interpreter importing the engine (CPU time, so other load on the machine does not count),
minus one importing nothing, median of several runs.

    python bench/template_render.py [--renders 300] [--imports 7] [--markdown]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "handlebars")]

from butler_contexts import BUTLER_TEMPLATES, reload_context  # noqa: E402
from installed import installed_env  # noqa: E402

from qbutler.handlebars import ESCAPING, compile_template  # noqa: E402

TEMPLATES = {"Slack": ("slack_templates/failed-reload-qseow.handlebars", "json"),
             "Teams": ("teams_templates/failed-reload-qseow.handlebars", "json"),
             "email": ("email_templates/failed-reload-qseow.handlebars", "html")}


def import_ms(module: str, runs: int) -> float:
    def once(code: str) -> float:
        script = f"import time; t = time.process_time(); {code}; print(time.process_time() - t)"
        return float(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                    env=installed_env()).stdout)

    once(f"import {module}")  # writes the bytecode cache, as installing would have
    return statistics.median(once(f"import {module}") - once("pass") for _ in range(runs)) * 1000


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000, ordered[int(len(ordered) * 0.95)] * 1000


def qbutler_render(source: str, mode: str) -> Any:
    template = compile_template(source)
    escape, raw = ESCAPING[mode]
    return lambda context: template.render(context, escape, raw)


def pybars_render(source: str, mode: str) -> Any:
    import pybars

    template = pybars.Compiler().compile(source)
    helpers = {"eq": lambda this, a, b: a == b}
    return lambda context: str(template(context, helpers=helpers))


def measure(make: Any, context: dict[str, Any], renders: int) -> tuple[float, dict[str, tuple[float, float]]]:
    """Compile time of the three templates together (ms), and p50/p95 of one render per template."""
    results = {}
    compiling = 0.0
    for channel, (name, mode) in TEMPLATES.items():
        source = (BUTLER_TEMPLATES / name).read_text(encoding="utf-8")
        start = time.process_time()
        render = make(source, mode)
        render(context)
        compiling += time.process_time() - start
        samples = []
        for _ in range(renders):
            start = time.perf_counter()
            render(context)
            samples.append(time.perf_counter() - start)
        results[channel] = percentiles(samples)
    return compiling * 1000, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--renders", type=int, default=300)
    parser.add_argument("--imports", type=int, default=7)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    log = [f"{n:04d} LOAD \"Sales\" FROM [lib://Data/sales_{n}.qvd] (qvd) WHERE Amount > 0 & Region <> 'EU';"
           for n in range(2000)]
    context = reload_context(Path(tempfile.mkdtemp()), task_name='Reload "Sales" <daily>', log=log,
                             tail_lines=40)
    engines = {"qbutler.handlebars": (qbutler_render, "qbutler.handlebars")}
    try:
        import pybars  # noqa: F401

        engines["pybars3"] = (pybars_render, "pybars")
    except ImportError:
        print("pybars3 is not installed: measuring qbutler.handlebars only", file=sys.stderr)
    rows = []
    for label, (make, module) in engines.items():
        compiling, times = measure(make, context, args.renders)
        rows.append((label, import_ms(module, args.imports), compiling, times))
    if args.markdown:
        print("| engine | import (ms) | compile 3 templates (ms) | "
              + " | ".join(f"{c} p50 / p95 (ms)" for c in TEMPLATES) + " |")
        print("|---|---:|---:|" + "---:|" * len(TEMPLATES))
    for label, imported, compiling, times in rows:
        cells = [f"{p50:.2f} / {p95:.2f}" for p50, p95 in times.values()]
        if args.markdown:
            print(f"| {label} | {imported:.1f} | {compiling:.0f} | " + " | ".join(cells) + " |")
        else:
            print(f"{label}: import {imported:.1f} ms; compile {compiling:.0f} ms; " + "; ".join(
                f"{c} {cell} ms" for c, cell in zip(TEMPLATES, cells, strict=True)))


if __name__ == "__main__":
    main()
