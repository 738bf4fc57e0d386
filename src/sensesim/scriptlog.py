"""Script log text as the Sense scheduler archives it (reference §1.7.4, format [?]).

Lines are `yyyyMMddTHHmmss.fff+zzzz <text>` in the node's local time, joined by CRLF, UTF-8
without BOM.  The header block, echoed statements (`0002  LOAD ...`) and the closing lines
(`Execution Failed`, `Execution finished.`) follow real logs closely enough for clients that
show the head and tail of a log.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal

Outcome = Literal["success", "fail", "abort"]

_FROM_FILE = re.compile(r"FROM\s+\[([^\]]+)\]", re.IGNORECASE)


def log_timestamp(when: datetime) -> str:
    local = when.astimezone()
    return _local_stamp(local, _utc_offset(local))


def _utc_offset(local: datetime) -> str:
    return local.strftime("%z") or "+0000"


def _local_stamp(local: datetime, offset: str) -> str:
    # Formatted by hand: strftime costs several times as much, for every line of every log.
    return (f"{local.year:04d}{local.month:02d}{local.day:02d}T{local.hour:02d}{local.minute:02d}"
            f"{local.second:02d}.{local.microsecond // 1000:03d}{offset}")


def statements(script: str) -> list[tuple[int, str]]:
    """(line number, text) of each script line the log echoes: code, not tabs or blanks."""
    out: list[tuple[int, str]] = []
    for number, raw in enumerate(script.replace("\r\n", "\n").split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("///$tab") or line.startswith("//"):
            continue
        out.append((number, line.rstrip(";")))
    return out


def error_text(statement: str) -> str:
    found = _FROM_FILE.search(statement)
    if found:
        return f"Error: Cannot open file: '{found.group(1)}' (Connector error: File not found)"
    return "Error: General Script Error in statement handling"


def render(
    *,
    script: str,
    outcome: Outcome,
    start: datetime,
    stop: datetime,
    user: str,
    version: str,
    process_id: int = 4711,
) -> str:
    """The whole log for one attempt; timestamps spread evenly between start and stop."""
    directory, _, user_id = user.partition("\\")
    header = [
        "Execution started.",
        f"Qlik Sense Server Version {version}",
        "CPU Target                    x64",
        "Operating System              Windows Server 2019 Standard  (64 bit edition)",
        "Wow64 mode                    Not using Wow64",
        "MDAC Version                  6.3.9600.17415",
        "MDAC Full Install Version     6.3.9600.17415",
        "PreferredMemoryLocation       not set",
        f"Reload Executed By            UserDirectory={directory}; UserId={user_id}",
        "Process Executing             Qlik Sense Server",
        f"Process ID                    {process_id}",
    ]
    body: list[str] = []
    lines = statements(script)
    if outcome == "fail":
        for number, text in lines:
            body.append(f"{number:04d}  {text}")
        failing = lines[-1][1] if lines else ""
        body.extend(["     " + error_text(failing), "     Execution Failed", "     Execution finished."])
    elif outcome == "abort":
        for number, text in lines[: max(1, len(lines) // 2)]:
            body.append(f"{number:04d}  {text}")
        body.extend(["     Abort requested by user", "     Execution Failed", "     Execution finished."])
    else:
        for number, text in lines:
            body.append(f"{number:04d}  {text}")
            if text.upper().startswith(("LOAD", "SQL")):
                body.append(f"      {10 * number} Lines fetched")
        body.extend(
            [
                "      Creating search index",
                "      Search index creation completed successfully",
                "",
                "App saved",
                "",
                "Finished successfully",
                f"{len(lines)} statements executed",
                "Execution finished.",
            ]
        )
    texts = header + body
    span = max((stop - start).total_seconds(), 0.0)
    step = span / max(len(texts) - 1, 1)
    # One conversion to local time per log (it looks up the zone each time): a run lasts seconds,
    # so its lines share the start's UTC offset.
    local_start = start.astimezone()
    offset = _utc_offset(local_start)
    rendered = [
        f"{_local_stamp(local_start + timedelta(seconds=step * index), offset)} {text}".rstrip()
        for index, text in enumerate(texts)
    ]
    return "\r\n".join(rendered) + "\r\n"
