"""Mistakes in a config file that parses: template placeholders, misspelt keys, sections left off.

`review(config)` walks the file as written beside the typed model and returns findings:

- error: a placeholder from Butler's template (`<path/to/cert/client.pem>`) in a key qbutler
  uses, outside a section that is switched off; start-up would fail later, far from the cause;
- warning: an unknown key close to a known one (`emailNotifcation` -> `emailNotification`),
  which leaves the feature silently off; a section whose `enable` is missing (so it is off);
  the template's example Sense address; `--strict` makes warnings errors;
- note: a key qbutler does not use (Butler's features qbutler does not have, or anything else).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from qbutler.config_messages import did_you_mean
from qbutler.config_types import Section

Level = Literal["error", "warning", "note"]

# A whole value in angle brackets: Butler's template marks what to fill in this way. A display
# name with an address (`Qlik Sense <noreply@example.com>`) is not a placeholder.
PLACEHOLDER = re.compile(r"\s*<[^<>]+>\s*")
# The Sense address in Butler's production template.
TEMPLATE_HOST = "10.11.12.13"

# Keys of Butler's config that qbutler accepts and does not use, relative to `Butler`: not typos,
# so never "did you mean" (`qlikSenseCloud` is a Butler key, not a misspelt `qlikSenseLicense`).
BUTLER_KEYS_NOT_USED = frozenset("""
anonTelemetry systemInfo configVisualisation restServerApiDocGenerate qlikSenseCloud
mqttConfig.azureEventGrid mqttConfig.qlikSenseCloud udpServerConfig.queueMetrics
scriptLog.storeOnDisk.qsCloud
""".split())

# Sections whose `enable` has no effect, so leaving it out changes nothing.
ENABLE_WITHOUT_EFFECT = frozenset({"Butler.keyValueStore"})
# Keys that work whatever their section's `enable` says: `PUT /v4/slackpostmessage` posts through
# `restMessage` with Slack alerts off, so a section holding only those is not "off".
WORK_WITHOUT_ENABLE = {"Butler.slackNotification": frozenset({"restMessage"})}


@dataclass(frozen=True)
class Finding:
    level: Level
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def review(config: Any) -> list[Finding]:
    """Every finding for a parsed `Config`, in file order."""
    butler = config.raw.get("Butler")
    if not isinstance(butler, Mapping):
        return []
    return list(_walk(config.Butler, butler, "Butler", switched_off=False))


def errors(findings: list[Finding], strict: bool = False) -> list[Finding]:
    levels = ("error", "warning") if strict else ("error",)
    return [finding for finding in findings if finding.level in levels]


def _walk(model: BaseModel, raw: Mapping[Any, Any], path: str, switched_off: bool) -> Iterator[Finding]:
    fields = type(model).model_fields
    if "enable" in fields and "enable" not in raw and fields["enable"].default is False \
            and path not in ENABLE_WITHOUT_EFFECT:
        working = WORK_WITHOUT_ENABLE.get(path, frozenset())
        if not working:
            yield Finding("warning", path, "this section has no 'enable' key, so it is off "
                                           "(add 'enable: true' to use it)")
        elif set(raw) - working:
            yield Finding("warning", path, "this section has no 'enable' key, so all but "
                                           f"{', '.join(sorted(working))} is off (add 'enable: true' to use it)")
    off = switched_off or getattr(model, "enable", True) is False
    for key, value in raw.items():
        where = f"{path}.{key}"
        if key in fields:
            yield from _walk_value(getattr(model, key), value, where, off)
            continue
        if where.removeprefix("Butler.") in BUTLER_KEYS_NOT_USED:
            yield Finding("note", where, "a Butler setting qbutler does not use (accepted and ignored)")
            continue
        meant = did_you_mean(str(key), fields)
        if meant is not None:
            yield Finding("warning", where, f"unknown key; did you mean '{meant}'? As written it is "
                                            "ignored, and the setting it was meant for keeps its default")
        else:
            yield Finding("note", where, "not a key qbutler knows (accepted and ignored)")


def _walk_value(model: Any, value: Any, path: str, switched_off: bool) -> Iterator[Finding]:
    if isinstance(model, Section) and isinstance(value, Mapping):
        yield from _walk(model, value, path, switched_off)
    elif isinstance(model, list) and isinstance(value, list):
        for index, (item_model, item) in enumerate(zip(model, value, strict=False)):
            yield from _walk_value(item_model, item, f"{path}[{index}]", switched_off)
    elif isinstance(value, str) and not switched_off:
        if PLACEHOLDER.fullmatch(value):
            yield Finding("error", path, f"still the template's placeholder {value.strip()!r}; "
                                         "replace it with the real value")
        elif value.strip() == TEMPLATE_HOST and path.endswith(".host"):
            yield Finding("warning", path, f"{TEMPLATE_HOST} is the example address from Butler's "
                                           "template; set the address of your Sense server")
