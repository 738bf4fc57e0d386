"""Email over SMTP (`Butler.emailNotification`): one HTML + plain-text mail per recipient.

Recipients, in Butler's order: the values of the task's custom property named by
`alertEnabledByEmailAddress` (always), the configured `recipients` (when the task is enabled by
`alertEnableByCustomProperty`, or always if that is off), and the app owner (`appOwnerAlert`).
Duplicates and invalid addresses are dropped. Each recipient has its own rate limit.
"""

from __future__ import annotations

import re
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from qbutler.alerts.channels.base import (
    DeliveryError,
    Message,
    about,
    enabled_for_task,
    event_section,
    log,
    rate_subject,
)
from qbutler.alerts.config import EmailEvent
from qbutler.alerts.context import build_context
from qbutler.alerts.render import RenderError, default_template, render_file, render_source
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent

_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
# A script-log excerpt in a mail is kept below this many characters.
TEXT_LIMIT = 100_000
PRIORITY = {"high": ("1", "high"), "normal": ("3", "normal"), "low": ("5", "low")}


def recipients(enriched: EnrichedEvent, event: EmailEvent) -> list[str]:
    found: list[str] = []
    if event.alertEnabledByEmailAddress.customPropertyName:
        found += enriched.task_custom_property(event.alertEnabledByEmailAddress.customPropertyName)
    if enabled_for_task(enriched, event.alertEnableByCustomProperty):
        found += event.recipients
    owner = enriched.owner
    rule = event.appOwnerAlert
    if rule.enable and owner is not None and owner.emails:
        def listed(users: list[Any]) -> bool:
            return any(u.directory == owner.directory and u.userId == owner.userId for u in users)

        if (rule.includeOwner.includeAll or listed(rule.includeOwner.user)) and not listed(rule.excludeOwner.user):
            found += owner.emails
    return clean_addresses(found, f"task {enriched.event.taskId}")


def clean_addresses(found: list[str], about: str) -> list[str]:
    """Valid addresses, each once, in the order given; invalid ones are logged and skipped."""
    unique: list[str] = []
    for address in (a.strip() for a in found):
        if not _ADDRESS.match(address):
            log.warning("Email alert for %s: %r is not an email address, skipped", about, address)
        elif address not in unique:
            unique.append(address)
    return unique


class EmailChannel:
    name = "email"

    def __init__(self, config: Config, timeout: float):
        self.config = config
        self.settings = config.Butler.emailNotification
        self.timeout = timeout
        self._context: ssl.SSLContext | None = None

    def messages(self, enriched: EnrichedEvent) -> list[Message]:
        key = enriched.event_key
        event: EmailEvent | None = event_section(self.settings, key)
        if not self.settings.enable or event is None or not event.enable:
            return []
        addresses = recipients(enriched, event)
        if not addresses:
            return []
        context = build_context(enriched, self.config, head_lines=event.headScriptLogLines,
                                tail_lines=event.tailScriptLogLines, text_limit=TEXT_LIMIT)
        subject, html, text = self._render(event, context, "reload" if enriched.task_type == 0 else "task")
        return [Message(channel=self.name, target=address, about=about(enriched),
                        rate_key=f"email|{key}|{rate_subject(enriched)}|{address}", rate_seconds=event.rateLimit,
                        payload={"from": event.fromAddress, "to": address, "subject": subject, "html": html,
                                 "text": text, "priority": event.priority})
                for address in addresses]

    def _render(self, event: EmailEvent, context: dict[str, Any], kind: str) -> tuple[str, str, str]:
        """Subject, HTML and text; `kind` picks qbutler's default templates (reload or other task)."""
        what = "reload" if kind == "reload" else f"{context['taskType']} task"
        fallback = f"Qlik Sense {what} {context['eventType']}: {context['taskName']}"
        source = event.subject or f'Qlik Sense {what} {context["eventType"]}: "{{{{taskName}}}}"'
        try:
            subject = render_source(source, context, "text", "emailNotification subject")
        except RenderError as exc:
            log.error("Email subject template failed, using a basic subject: %s", exc)
            subject = fallback
        # Header injection is impossible anyway, but a subject is one line.
        subject = " ".join(subject.split())
        text = render_file(default_template(f"email-{kind}.txt.hbs"), context, "text")
        if event.bodyFileDirectory and event.htmlTemplateFile:
            path = self.config.resolve_path(event.bodyFileDirectory) / f"{event.htmlTemplateFile}.handlebars"
        else:
            path = default_template(f"email-{kind}.html.hbs")
        try:
            html = render_file(path, context, "html")
        except RenderError as exc:
            log.error("Email template failed, sending the basic message instead: %s", exc)
            html = render_file(default_template(f"email-{kind}.html.hbs"), context, "html")
        return subject, html, text

    def _tls_context(self) -> ssl.SSLContext:
        """Made once: loading the system's CA store took 0.2 s of CPU per mail in a burst."""
        if self._context is None:
            context = ssl.create_default_context()
            if not self.settings.smtp.tls.rejectUnauthorized:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._context = context
        return self._context

    async def send(self, payload: dict[str, Any]) -> None:
        import aiosmtplib  # only a site that sends email loads it

        smtp = self.settings.smtp
        message = EmailMessage()
        message["From"] = payload["from"]
        message["To"] = payload["to"]
        message["Subject"] = payload["subject"]
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain="qbutler")
        x_priority, importance = PRIORITY.get(payload.get("priority", "normal"), PRIORITY["normal"])
        message["X-Priority"] = x_priority
        message["Importance"] = importance
        message.set_content(payload["text"])
        message.add_alternative(payload["html"], subtype="html")
        context = self._tls_context()
        try:
            await aiosmtplib.send(
                message, hostname=smtp.host, port=smtp.port, use_tls=smtp.secure,
                start_tls=False if smtp.tls.ignoreTLS else (True if smtp.tls.requireTLS else None),
                validate_certs=smtp.tls.rejectUnauthorized, tls_context=context,
                username=smtp.auth.user if smtp.auth.enable else None,
                password=smtp.auth.password if smtp.auth.enable else None, timeout=self.timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP {smtp.host}:{smtp.port} refused {payload['to']}: {exc}",
                                retryable=False) from None
        except aiosmtplib.SMTPResponseException as exc:
            # 4xx replies are temporary in SMTP; 5xx are final.
            raise DeliveryError(f"SMTP {smtp.host}:{smtp.port}: {exc.code} {exc.message}",
                                retryable=400 <= exc.code < 500) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}",
                                retryable=True) from None

    async def aclose(self) -> None:
        """Each send opens its own SMTP connection."""
