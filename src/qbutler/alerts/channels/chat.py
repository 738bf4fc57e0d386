"""What Slack and Teams share: a formatted (template) or basic message, with the basic one as the
fallback when the template fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qbutler.alerts.channels.base import log
from qbutler.alerts.config import ChatEvent
from qbutler.alerts.render import RenderError, default_template, render_json, render_source
from qbutler.config import Config


def chat_content(config: Config, event: ChatEvent, context: dict[str, Any], *, channel: str, default: str,
                 basic: Callable[[str, str, str], dict[str, Any]]) -> dict[str, Any]:
    """The message body: the rendered template, or `basic(text, qmc, hub)`."""
    if event.messageType == "formatted":
        path = config.resolve_path(event.templateFile) if event.templateFile else default_template(default)
        try:
            content = render_json(path, context)
            if not isinstance(content, dict):
                raise RenderError(f"{path}: output is not a JSON object")
            return content
        except RenderError as exc:
            log.error("%s template failed, sending the basic message instead: %s", channel, exc)
    try:
        text = render_source(event.basicMsgTemplate, context, "text", f"{channel} basicMsgTemplate")
    except RenderError as exc:
        log.error("%s basic message template failed: %s", channel, exc)
        text = f"Qlik Sense reload {context['eventType']}: {context['taskName']}"
    return basic(text, context["qlikSenseQMC"], context["qlikSenseHub"])
