"""Parts of the commented example config (`qbutler config example --section alerts`), so a page of
the docs can point at the settings of one feature without a path into the source tree."""

from __future__ import annotations

import re
from importlib import resources

# Feature names the docs use -> the Butler keys that configure the feature.
TOPICS = {
    "alerts": ["udpServerConfig", "qlikSenseUrls", "genericUrls", "scriptLog", "alertDelivery",
               "slackNotification", "teamsNotification", "emailNotification", "webhookNotification"],
    "sense": ["cert", "configQRS", "configEngine"],
    "rest": ["restServerConfig", "restServerEndpointsEnable"],
    "kv": ["keyValueStore"],
    "scheduler": ["scheduler"],
    "tasks": ["startTaskFilter", "startTaskWait"],
    "mqtt": ["mqttConfig"],
    "files": ["fileCopyApprovedDirectories", "fileMoveApprovedDirectories", "fileDeleteApprovedDirectories",
              "configDirectories", "fileOperations"],
    "snapshots": ["appSnapshots"],
}
_KEY_LINE = re.compile(r"^  ([A-Za-z]\w*):")


def example_text() -> str:
    return resources.files("qbutler").joinpath("config_example.yaml").read_text("utf-8")


def blocks(text: str) -> dict[str, str]:
    """Each top-level key under `Butler:` with its comment lines, in file order."""
    lines = text.splitlines()
    starts: list[tuple[str, int]] = []
    for index, line in enumerate(lines):
        match = _KEY_LINE.match(line)
        if match:
            start = index
            while start > 0 and lines[start - 1].startswith("  #"):
                start -= 1
            starts.append((match.group(1), start))
    found = {}
    for number, (key, start) in enumerate(starts):
        end = starts[number + 1][1] if number + 1 < len(starts) else len(lines)
        found[key] = "\n".join(lines[start:end]).rstrip() + "\n"
    return found


def section(names: list[str]) -> str:
    """`Butler:` and the blocks for the named topics or keys; ValueError naming what is unknown."""
    available = blocks(example_text())
    keys: list[str] = []
    for name in names:
        wanted = TOPICS.get(name) or ([name] if name in available else None)
        if wanted is None:
            choices = ", ".join([*TOPICS, *available])
            raise ValueError(f"--section: no section {name!r}; choose from {choices}")
        keys += [key for key in wanted if key in available and key not in keys]
    return "Butler:\n" + "\n".join(available[key] for key in keys)
