"""The log4net `LocalLogConfig.xml` that makes a Sense scheduler send task events to qbutler.

Each appender is a log4net `UdpAppender` watching one scheduler logger for some message texts
(StringMatchFilter, any of them, then DenyAllFilter), and sends one `;`-separated line per match:
`<marker>;host;task;app;user;taskId;appId;date;level;executionId;message` (the format
`events.log4net.parse` reads). The file goes to `C:\\ProgramData\\Qlik\\Sense\\Scheduler\\` on
every node that runs the scheduler (docs/sense-setup.md).
"""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

TASK_TYPES = ("reload", "external-program", "preload", "user-sync", "distribute")
EVENTS = ("failed", "aborted", "success")
SuccessMarker = Literal["single", "double"]

MASTER_LOGGER = "System.Scheduler.Scheduler.Master.Task.TaskSession"
SLAVE_RELOAD_LOGGER = "System.Scheduler.Scheduler.Slave.Tasks.ReloadTask"
HOSTNAME_CONVERTER = "Qlik.Sense.Logging.log4net.Layout.Pattern.HostNamePatternConverter"
FIELDS = ("%hostname;%property{TaskName};%property{AppName};%property{User};%property{TaskId};"
          "%property{AppId};%date;%level;%property{ExecutionId};%message")

# The scheduler's log texts that mark each outcome, and the task types that log them.
FAILURE_TEXTS = {
    "Max retries reached": ("reload", "external-program"),
    "Failed to start session": ("preload",),
    "Could not reserve an executor for task": ("preload",),
}
ABORT_TEXT = "Execution State Change to Aborting"  # reload, external program, preload
SUCCESS_TEXT = "Execution State Change to FinishedSuccess"  # reload, external program, preload, user sync
DISTRIBUTE_TEXT = "Exiting execute of Distribute task request."
ABORT_TYPES = ("reload", "external-program", "preload")
SUCCESS_TYPES = ("reload", "external-program", "preload", "user-sync")

_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                        r"[A-Za-z0-9])?)*$")


class AppenderError(ValueError):
    pass


@dataclass(frozen=True)
class Appender:
    name: str
    logger: str
    texts: tuple[str, ...]
    marker: str
    comment: str


def success_marker(form: SuccessMarker) -> str:
    """`single` is the form Butler's handler expects; `double` is what Butler's shipped XML sends
    (qbutler reads both)."""
    return "/scheduler-task-success/" if form == "single" else "/scheduler-task-success//"


def plan(task_types: tuple[str, ...] = TASK_TYPES, events: tuple[str, ...] = EVENTS,
         success_form: SuccessMarker = "single") -> list[Appender]:
    """The appenders the chosen task types and events need, in a fixed order."""
    unknown = [t for t in task_types if t not in TASK_TYPES] + [e for e in events if e not in EVENTS]
    if unknown:
        raise AppenderError(f"unknown task type or event: {', '.join(unknown)} (task types: {', '.join(TASK_TYPES)}; "
                            f"events: {', '.join(EVENTS)})")
    chosen = set(task_types)
    appenders = []
    failure_texts = tuple(text for text, types in FAILURE_TEXTS.items() if chosen & set(types))
    if "failed" in events and failure_texts:
        appenders.append(Appender("QbutlerTaskFailed", MASTER_LOGGER, failure_texts, "/scheduler-task-failed/",
                                  "A task failed for good (sent after its last retry)."))
    if "aborted" in events and chosen & set(ABORT_TYPES):
        appenders.append(Appender("QbutlerTaskAborted", MASTER_LOGGER, (ABORT_TEXT,), "/scheduler-task-aborted/",
                                  "A task is being aborted."))
    if "success" in events and chosen & set(SUCCESS_TYPES):
        appenders.append(Appender("QbutlerTaskSucceeded", MASTER_LOGGER, (SUCCESS_TEXT,),
                                  success_marker(success_form), "A task finished successfully."))
    if "distribute" in chosen:
        appenders.append(Appender("QbutlerDistribution", SLAVE_RELOAD_LOGGER, (DISTRIBUTE_TEXT,),
                                  "/scheduler-distribute/", "A distribution task finished (any outcome)."))
    if not appenders:
        raise AppenderError("the chosen task types and events need no appender")
    return appenders


def check_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        if _HOST_NAME.match(host):
            return host
    raise AppenderError(f"--host: {host!r} is neither an IP address nor a host name")


def render(host: str, port: int, appenders: list[Appender]) -> str:
    """The XML document, indented, with a comment saying what it is and where it goes."""
    host = check_host(host)
    if not 1 <= port <= 65535:
        raise AppenderError(f"--port: {port} is not a port (1-65535)")
    root = ET.Element("configuration")
    root.append(ET.Comment(f" Written by `qbutler appender`: scheduler task events to qbutler at {host}:{port} "
                           "over UDP. Copy to C:\\ProgramData\\Qlik\\Sense\\Scheduler\\LocalLogConfig.xml on every "
                           "node that runs the Qlik Sense Scheduler. "))
    for appender in appenders:
        root.append(ET.Comment(f" {appender.comment} "))
        element = ET.SubElement(root, "appender", name=appender.name, type="log4net.Appender.UdpAppender")
        for text in appender.texts:
            match = ET.SubElement(element, "filter", type="log4net.Filter.StringMatchFilter")
            ET.SubElement(match, "param", name="stringToMatch", value=text)
        ET.SubElement(element, "filter", type="log4net.Filter.DenyAllFilter")
        ET.SubElement(element, "param", name="remoteAddress", value=host)
        ET.SubElement(element, "param", name="remotePort", value=str(port))
        ET.SubElement(element, "param", name="encoding", value="utf-8")
        layout = ET.SubElement(element, "layout", type="log4net.Layout.PatternLayout")
        converter = ET.SubElement(layout, "converter")
        ET.SubElement(converter, "param", name="name", value="hostname")
        ET.SubElement(converter, "param", name="type", value=HOSTNAME_CONVERTER)
        ET.SubElement(layout, "param", name="conversionpattern", value=f"{appender.marker};{FIELDS}")
    for logger in dict.fromkeys(a.logger for a in appenders):
        element = ET.SubElement(root, "logger", name=logger)
        for appender in appenders:
            if appender.logger == logger:
                ET.SubElement(element, "appender-ref", ref=appender.name)
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
