"""What Slack and Teams share: a formatted (template) or basic message, with the basic one as the
fallback when the template fails."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from qbutler.alerts.channels.base import Message, about, enabled_for_task, event_section, log, rate_subject
from qbutler.alerts.config import ChatEvent, ServiceChatEvent
from qbutler.alerts.context import build_context
from qbutler.alerts.http import HttpSender, safe_target
from qbutler.alerts.render import RenderError, default_template, render_json, render_source
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent


def chat_content(config: Config, event: ChatEvent | ServiceChatEvent, context: dict[str, Any], *, channel: str,
                 default: str, basic: Callable[[str, str, str], dict[str, Any]], fallback: str = "") -> dict[str, Any]:
    """The message body: the rendered template, or `basic(text, qmc, hub)`; `fallback` is the text
    when even the basic template fails (default: the reload wording)."""
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
        text = fallback or f"Qlik Sense reload {context['eventType']}: {context['taskName']}"
    return basic(text, context["qlikSenseQMC"], context["qlikSenseHub"])


class WebhookChatChannel(ABC):
    """A chat service reached by one JSON POST to the event's `webhookURL` (Slack, Teams): what
    decides whether an event is sent, its context and its rate-limit key are the same for both;
    a subclass names its config section and builds the body."""

    name: str
    text_limit: int

    def __init__(self, config: Config, http: HttpSender):
        self.config = config
        self.settings = self.section(config)
        self.http = http

    @abstractmethod
    def section(self, config: Config) -> Any:
        """The channel's config section (`Butler.slackNotification`, ...)."""

    @abstractmethod
    def body(self, event: Any, context: dict[str, Any]) -> dict[str, Any]:
        """The JSON posted for one event."""

    def messages(self, enriched: EnrichedEvent) -> list[Message]:
        key = enriched.event_key
        event = event_section(self.settings, key)
        if not self.settings.enable or event is None or not event.enable or not event.webhookURL:
            return []
        if not enabled_for_task(enriched, event.alertEnableByCustomProperty):
            return []
        context = build_context(enriched, self.config, head_lines=event.headScriptLogLines,
                                tail_lines=event.tailScriptLogLines, text_limit=self.text_limit, user_slashes=True)
        return [Message(channel=self.name, target=safe_target(event.webhookURL),
                        payload={"url": event.webhookURL, "body": self.body(event, context)},
                        rate_key=f"{self.name}|{key}|{rate_subject(enriched)}", rate_seconds=event.rateLimit,
                        about=about(enriched))]

    async def send(self, payload: dict[str, Any]) -> None:
        await self.http.post_json(payload["url"], payload["body"])

    async def aclose(self) -> None:  # noqa: B027 - nothing to close
        """The HTTP client is shared and closed by its owner."""
