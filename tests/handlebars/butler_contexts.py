"""Realistic template contexts for Butler's shipped templates, built by qbutler's own context builder
from a failed reload, plus the variables of the other events (service, cloud, distribute)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qbutler.alerts.context import build_context
from qbutler.config import parse_config
from qbutler.events.enrich import EnrichedEvent, Owner
from qbutler.events.log4net import TaskEvent

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
BUTLER_TEMPLATES = SHARED / "reference" / "butler-templates"

HOSTILE = ('LOAD "quoted" AS q, \'single\' AS s, C:\\path\\to\\x AS p, <script>alert(1)</script> & more AS m, '
           '😀 AS e, "\\" AS b, `tick` = 1')


def butler_template_files() -> list[Path]:
    return sorted(BUTLER_TEMPLATES.glob("*_templates/*.handlebars"))


def _config(tmp_path: Path, generic_urls: bool) -> Any:
    urls = [{"id": "butler_docs", "linkText": 'Butler "docs"', "comment": "Docs <here>", "url": "https://butler/docs?a=1&b=2"},
            {"id": "ptarmiganlabs_com", "linkText": "Ptarmigan Labs", "comment": "", "url": "https://ptarmiganlabs.com"}]
    return parse_config({"Butler": {
        "qlikSenseUrls": {"qmc": "https://sense.example/qmc", "hub": "https://sense.example/hub",
                          "appBaseUrl": "https://sense.example/sense/app"},
        "genericUrls": urls if generic_urls else []}}, tmp_path)


def reload_context(tmp_path: Path, *, task_name: str, log: list[str], details: bool = True, tail_lines: int = 10,
                   generic_urls: bool = True, text_limit: int | None = 2800,
                   user_slashes: bool = True) -> dict[str, Any]:
    event = TaskEvent("failed", "/scheduler-task-failed/", "node1.example", task_name, "Sales <app>", "LAB\\göran",
                      "dec2a02a-1680-44ef-8dc2-e2bfb180af87", "e7af59a0-c243-480d-9571-08727551a66f",
                      "2024-01-10 06:47:52,992", "INFO", "14a81bf5-f81c-4047-b1a1-193b0920de28",
                      'Max retries reached: "General Script Error"')
    task = {"name": task_name, "taskType": 0, "isManuallyTriggered": True, "maxRetries": 2,
            "tags": [{"name": "Nightly"}, {"name": "Finance & <Ops>"}],
            "customProperties": [{"definition": {"name": "Butler_ReloadFailure_Teams"}, "value": "Yes"}],
            "operational": {"nextExecution": "2024-01-11T05:00:00.000Z"}}
    messages = [("2024-01-10T05:44:47.000Z", "Changing task state from NeverStarted to Triggered"),
                ("2024-01-10T05:47:52.000Z", 'Task finished with state FinishedFail: He said "stop" \\ <now>')]
    execution = {"status": 8, "duration": 3_785_000, "executingNodeName": "node1.example",
                 "startTime": "2024-01-10T05:44:47.000Z", "stopTime": "2024-01-10T06:47:52.000Z",
                 "details": [{"detailCreatedDate": when, "message": text, "detailsType": 1}
                             for when, text in (messages if details else [])]}
    app = {"name": "Sales <app>", "description": "Sales & margins", "fileSize": 123456, "published": True,
           "stream": {"id": "s1", "name": "Finance"}, "tags": [{"name": "Sales"}],
           "customProperties": [{"definition": {"name": "Owner"}, "value": "Zoë"}]}
    enriched = EnrichedEvent(event=event, task=task, app=app, execution=execution, script_log=log,
                             owner=Owner("o", "LAB", "göran", 'Göran "G" <O\'Hara>', ["goran@example.com"]))
    context = build_context(enriched, _config(tmp_path, generic_urls), head_lines=10, tail_lines=tail_lines,
                            text_limit=text_limit, user_slashes=user_slashes)
    # The variables of Butler's other events, so every shipped template has its fields filled.
    context.update({
        "host": "sense1.example", "serviceName": "QlikSenseProxyService", "serviceDisplayName": "Qlik Sense <Proxy>",
        "serviceStatus": "STOPPED", "servicePrevStatus": "RUNNING", "serviceStartType": "AUTOMATIC",
        "serviceExePath": "C:\\Program Files\\Qlik\\Sense\\Proxy\\Proxy.exe",
        "tenantId": "tenant-1", "tenantComment": "EU & \"prod\"", "reloadTrigger": "scheduled", "reloadId": "r-1",
        "peakMemoryBytes": 1.5e9, "endedWithMemoryConstraint": False, "errorCode": "EngineError",
        "errorMessage": "Out of memory <OOM>", "executionDetailsText": "details\n\"quoted\"",
        "emailRecipients": {"taskSpecific": ["a@example.com"], "common": ["ops@example.com", "x&y@example.com"]},
    })
    return context


def contexts(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Named contexts: ordinary, hostile text everywhere, a 1 MB script log, and a sparse event."""
    ordinary = [f"{n:04d} LOAD * FROM sales_{n}.qvd" for n in range(40)]
    hostile_lines = ["first line", HOSTILE, "tab\there", "emoji 🚀😀 and ä ö ü", "CRLF\r\nline", "last <b>&amp;</b>"]
    # About 1 MB of script log in the tail, with the characters that need escaping here and there.
    megabyte = [f"{n:05d} LOAD * FROM [lib://Data/sales_{n}.qvd] (qvd) WHERE Amount > 0 & Region <> 'EU';"
                " // \"q\" \\ 😀" for n in range(11_000)]
    return {
        "ordinary": reload_context(tmp_path, task_name="Reload Sales", log=ordinary),
        "hostile": reload_context(tmp_path, task_name='Reload "Sales" \\ C:\\Temp <b>&</b> 🚀 it\'s =`',
                                  log=hostile_lines),
        "one megabyte": reload_context(tmp_path, task_name="Big", log=megabyte, tail_lines=len(megabyte),
                                       text_limit=None),
        "sparse": reload_context(tmp_path, task_name="Sparse", log=[], details=False, generic_urls=False),
    }
