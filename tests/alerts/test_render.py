"""Handlebars compatibility of the renderer, escaping per channel, and the fallback message."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import orjson
import pytest

from qbutler.alerts.channels.slack import SlackChannel
from qbutler.alerts.channels.teams import TeamsChannel
from qbutler.alerts.context import build_context, time_formats
from qbutler.alerts.render import RenderError, render_json, render_source
from qbutler.config import parse_config
from qbutler.events.enrich import EnrichedEvent, Owner
from qbutler.events.log4net import TaskEvent

# In the style of Butler's shipped Slack template: each, if, eq, triple-stash, comments, nested paths.
BUTLER_STYLE_SLACK = r"""{{! Butler-style template: comment first }}
{
  "blocks": [
    {"type": "header", "text": {"type": "plain_text", "text": "Qlik Sense reload failed"}},
    {"type": "section", "text": {"type": "mrkdwn",
     "text": "*Task:* {{taskName}} ({{taskId}})\n*Owner:* {{appOwnerName}}"}},
    {{#if (eq executionStatusText "FinishedFail")}}
    {"type": "section", "text": {"type": "mrkdwn", "text": "Result: failed after {{executionDuration.minutes}} min"}},
    {{/if}}
    {"type": "actions", "elements": [
      {"type": "button", "text": {"type": "plain_text", "text": "QMC"}, "url": "{{qlikSenseQMC}}"}
      {{#each genericUrls}},{"type": "button",
        "text": {"type": "plain_text", "text": "{{@index}} {{this.linkText}}"}, "url": "{{url}}"}{{/each}}
    ]},
    {"type": "section", "text": {"type": "mrkdwn", "text": "```{{{scriptLogTail}}}```"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "Tags: {{taskTags}}"}}
  ]
}
"""


def config(tmp_path: Path, **butler):
    base = {"qlikSenseUrls": {"qmc": "https://sense/qmc", "hub": "https://sense/hub", "appBaseUrl": "https://sense/app/"},
            "genericUrls": [{"id": "a", "linkText": 'Run "book"', "url": "https://r"},
                            {"id": "b", "linkText": "Docs", "url": "https://d"}]}
    return parse_config({"Butler": {**base, **butler}}, tmp_path)


def enriched(task_name: str = 'Reload "x" \\ <b>', log: list[str] | None = None) -> EnrichedEvent:
    event = TaskEvent("failed", "/scheduler-task-failed/", "node1", task_name, "App", "LAB\\goran",
                      "dec2a02a-1680-44ef-8dc2-e2bfb180af87", "e7af59a0-c243-480d-9571-08727551a66f",
                      "2024-01-10 06:47:52,992", "INFO", "14a81bf5-f81c-4047-b1a1-193b0920de28", "Max retries reached")
    task = {"name": task_name, "taskType": 0, "tags": [{"name": "Nightly"}, {"name": "Finance"}],
            "customProperties": [{"definition": {"name": "Butler_ReloadFailure_Teams"}, "value": "Yes"}],
            "operational": {"nextExecution": "1753-01-01T00:00:00.000Z"}}
    execution = {"status": 8, "duration": 185_000, "executingNodeName": "node1",
                 "startTime": "2024-01-10T05:44:47.000Z", "stopTime": "2024-01-10T05:47:52.000Z",
                 "details": [{"detailCreatedDate": "2024-01-10T05:47:52.000Z", "message": 'He said "stop"\\',
                              "detailsType": 0}]}
    return EnrichedEvent(event=event, task=task, app={"name": "App", "stream": {"id": "s", "name": "Finance"}},
                         owner=Owner("o", "LAB", "goran", "Göran <G>", ["g@example.com"]), execution=execution,
                         script_log=log if log is not None else ["first", 'tail "quoted" \\ \t tab <i>😀</i>'])


def test_butler_style_template_renders_to_valid_json_with_hostile_values(tmp_path: Path):
    template = tmp_path / "failed.handlebars"
    template.write_text(BUTLER_STYLE_SLACK, encoding="utf-8")
    context = build_context(enriched(), config(tmp_path), head_lines=5, tail_lines=5, text_limit=2800)
    blocks = render_json(template, context)["blocks"]
    assert blocks[1]["text"]["text"] == ('*Task:* Reload "x" \\ <b> (dec2a02a-1680-44ef-8dc2-e2bfb180af87)\n'
                                         '*Owner:* Göran <G>')
    assert blocks[2]["text"]["text"] == "Result: failed after 3 min"
    assert [b["text"]["text"] for b in blocks[3]["elements"]] == ["QMC", '0 Run "book"', "1 Docs"]
    assert blocks[4]["text"]["text"] == '```first\ntail "quoted" \\ \t tab <i>😀</i>```'
    assert blocks[5]["text"]["text"] == "Tags: Nightly,Finance"


@pytest.mark.parametrize(("source", "expected"), [
    ("{{x}}", "&lt;a href&#x3D;&quot;q&quot;&gt;&amp;&#x27;&#x60;"),
    ("{{{x}}}", "<a href=\"q\">&'`"),
    ("{{! a comment }}{{#if flag}}yes{{else}}no{{/if}}", "no"),
    ("{{#if (eq n 8)}}eight{{/if}}{{#if (eq n \"8\")}}string{{/if}}", "eight"),
    ("{{#each items}}{{@index}}:{{name}};{{/each}}", "0:a;1:b;"),
    ("{{obj.inner.deep}}", "v"),
    ("{{missing}}|{{flag}}|{{list}}", "|false|1,2"),
])
def test_handlebars_features_and_html_escaping(source: str, expected: str):
    context = {"x": '<a href="q">&\'`', "flag": False, "n": 8, "items": [{"name": "a"}, {"name": "b"}],
               "obj": {"inner": {"deep": "v"}}, "list": [1, 2]}
    assert render_source(source, context, "html") == expected


def test_json_mode_escapes_for_json_strings_and_text_mode_inserts_as_is():
    context = {"x": 'q"\\\n<b>'}
    rendered = render_source('{"v": "{{x}}", "w": "{{{x}}}"}', context, "json")
    assert orjson.loads(rendered) == {"v": context["x"], "w": context["x"]}
    assert render_source("{{x}}", context, "text") == 'q"\\\n<b>'


def test_broken_templates_are_render_errors_naming_the_problem():
    with pytest.raises(RenderError, match="does not compile"):
        render_source("{{#if x}}a{{/each}}", {}, "text")
    with pytest.raises(RenderError, match=r"template, line 1, column 1: Missing helper: \"nohelper\""):
        render_source("{{nohelper a}}", {}, "text")
    compile_error = r"^template does not compile: t.hbs, line 2, column 6: if doesn't match each$"
    with pytest.raises(RenderError, match=compile_error):
        render_source("a\n  {{#if x}}a{{/each}}", {}, "text", "t.hbs")
    with pytest.raises(RenderError, match=r"t.hbs, line 3, column 5: Missing helper: \"nohelper\""):
        render_source("{{#if x}}\n\n    {{nohelper x}}{{/if}}", {"x": True}, "html", "t.hbs")


def test_long_excerpts_are_cut_at_the_channel_limit_keeping_head_start_and_tail_end(tmp_path: Path):
    lines = [f"line {n} " + "z" * 100 for n in range(100)]
    context = build_context(enriched(log=lines), config(tmp_path), head_lines=50, tail_lines=50, text_limit=2800)
    assert len(context["scriptLogHead"]) <= 2800 and context["scriptLogHead"].startswith("line 0 ")
    assert context["scriptLogHead"].endswith("----Script log truncated by qbutler----")
    assert len(context["scriptLogTail"]) <= 2800 and context["scriptLogTail"].endswith(lines[-1])
    assert context["scriptLogHeadCount"] == 50 and context["scriptLogSizeRows"] == 100


def test_context_has_butlers_variables(tmp_path: Path):
    context = build_context(enriched(), config(tmp_path), head_lines=1, tail_lines=1, user_slashes=True)
    assert context["user"] == "LAB/goran" and context["appUrl"] == "https://sense/app/e7af59a0-c243-480d-9571-08727551a66f"
    assert context["executionStatusText"] == "FinishedFail" and context["executionStatusNum"] == 8
    assert context["executionDuration"] == {"hours": 0, "minutes": 3, "seconds": 5}
    assert context["executionStartTime"]["startTimeUTC"] == "2024-01-10T05:44:47.000Z"
    assert context["executionStopTime"]["stopTimeLocal1"].count(":") == 2
    assert context["taskNextExecution"] == "Never" and context["taskTags"] == ["Nightly", "Finance"]
    assert context["appOwnerEmail"] == "g@example.com" and context["appStreamName"]["name"] == "Finance"
    assert context["executionDetailsConcatenated"] == '2024-01-10T05:47:52.000Z\tHe said "stop"\\\n'
    assert context["scriptLogHead"] == "first" and context["scriptLogTail"].startswith("tail")


def test_an_unavailable_script_log_is_said_in_the_message(tmp_path: Path):
    event = enriched()
    event.script_log, event.script_log_error = None, "script log download failed: 404"
    context = build_context(event, config(tmp_path), head_lines=5, tail_lines=5)
    assert context["scriptLogAvailable"] is False
    assert context["scriptLogTail"] == "(script log not available: script log download failed: 404)"


def test_a_failing_template_falls_back_to_the_basic_message(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    broken = tmp_path / "broken.handlebars"
    broken.write_text('{"blocks": [ {{#each genericUrls}}{"x": 1}{{/each}} ]}', encoding="utf-8")  # no commas
    settings = {"enable": True, "webhookURL": "http://127.0.0.1:9/x", "templateFile": str(broken)}
    slack = SlackChannel(config(tmp_path, slackNotification={"enable": True, "reloadTaskFailure": settings}), None)
    teams = TeamsChannel(config(tmp_path, teamsNotification={
        "enable": True, "reloadTaskFailure": {**settings, "templateFile": str(tmp_path / "missing.handlebars")}}), None)
    with caplog.at_level(logging.ERROR):
        [slack_message] = slack.messages(enriched())
        [teams_message] = teams.messages(enriched())
    blocks = slack_message.payload["body"]["blocks"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": 'Qlik Sense reload failed: "Reload "x" \\ <b>"'}
    assert [b["url"] for b in blocks[2]["elements"]] == ["https://sense/qmc", "https://sense/hub"]
    card = teams_message.payload["body"]["attachments"][0]["content"]
    assert card["body"][0]["text"] == 'Qlik Sense reload failed: "Reload "x" \\ <b>"'
    assert "not valid JSON" in caplog.text and "missing.handlebars" in caplog.text
    orjson.dumps(slack_message.payload)  # stays serialisable for the outbox


def test_routing_by_custom_property_works_for_every_chat_channel(tmp_path: Path):
    rule = {"enable": True, "customPropertyName": "Butler_ReloadFailure_Teams", "enabledValue": "Yes"}
    settings = {"enable": True, "webhookURL": "http://127.0.0.1:9/x", "alertEnableByCustomProperty": rule}
    teams = TeamsChannel(config(tmp_path, teamsNotification={"enable": True, "reloadTaskFailure": settings}), None)
    event = enriched()
    assert len(teams.messages(event)) == 1
    event.task["customProperties"] = []
    assert teams.messages(event) == []


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york")
@pytest.mark.parametrize(("utc", "local"), [
    ("2026-11-24T15:04:05.123Z", ["2026-11-24 10:04:05", "11/24/2026, 10:04:05 AM", "Nov 24, 2026, 10:04:05 AM",
                                  "November 24, 2026 at 10:04:05 AM EST"]),
    ("2026-07-01T04:30:00.000Z", ["2026-07-01 00:30:00", "7/1/2026, 12:30:00 AM", "Jul 1, 2026, 12:30:00 AM",
                                  "July 1, 2026 at 12:30:00 AM EDT"]),
    ("2026-03-08T17:00:09.000Z", ["2026-03-08 13:00:09", "3/8/2026, 1:00:09 PM", "Mar 8, 2026, 1:00:09 PM",
                                  "March 8, 2026 at 1:00:09 PM EDT"]),
])
def test_timestamps_in_the_hosts_zone_in_butlers_five_formats(utc: str, local: list[str]):
    formats = time_formats(utc, "startTime")
    assert formats["startTimeUTC"] == utc
    assert [formats[f"startTimeLocal{n}"] for n in range(1, 5)] == local
    assert formats["startTimeLocal5"] == formats["startTimeLocal4"]
    assert set(time_formats("1753-01-01T00:00:00.000Z", "stopTime").values()) == {"-"}  # Sense's "never"


def test_an_edited_template_file_is_used_for_the_next_message(tmp_path: Path):
    template = tmp_path / "slack.hbs"
    template.write_text('{"text": "first {{taskName}}"}', encoding="utf-8")
    assert render_json(template, {"taskName": "t"}) == {"text": "first t"}
    template.write_text('{"text": "second {{taskName}}"}', encoding="utf-8")
    assert render_json(template, {"taskName": "t"}) == {"text": "second t"}
    template.unlink()
    with pytest.raises(RenderError, match="cannot be read"):
        render_json(template, {"taskName": "t"})
