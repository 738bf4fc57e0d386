"""The Grafana dashboard in docs/grafana: valid PromQL (promtool), over metrics qbutler exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from qbutler.metrics import Histogram, Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "qbutler-dashboard.json"


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_every_panel_queries_metrics_qbutler_exports() -> None:
    exported = set()
    for family in Metrics("test").families:
        exported.add(family.name)
        if isinstance(family, Histogram):
            exported.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    used = {name for expr in expressions() for name in re.findall(r"\b(?:qbutler|process)_[a-z_]+", expr)}
    assert used and used <= exported, used - exported
    # Every family of qbutler's own shows up somewhere, but these bookkeeping ones.
    not_shown = {"qbutler_build_info", "qbutler_udp_datagrams_received_total", "qbutler_udp_datagrams_processed_total",
                 "qbutler_history_rows_written_total"}
    own = {f.name for f in Metrics("test").families if f.name.startswith("qbutler_")}
    assert own - {re.sub(r"_bucket$", "", name) for name in used} <= not_shown


def test_the_expressions_are_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr{n}", "expr": expr.replace("$__rate_interval", "5m")}
        for n, expr in enumerate(expressions())]}]}
    file = tmp_path / "rules.yaml"
    file.write_text(yaml.safe_dump(rules), encoding="utf-8")
    checked = subprocess.run([promtool, "check", "rules", str(file)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
