"""Outgoing webhooks (`Butler.webhookNotification`): Butler's fields, methods and order.

GET sends the fields as the query string; POST and PUT send them as a JSON body. qbutler adds an
optional signature: with `secret` set, POST/PUT carry `<signatureHeader>: t=<unix seconds>,v1=<hex>`
where the hex is HMAC-SHA256(secret, "<t>." + body bytes), so a receiver can check origin and age.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from qbutler.alerts.channels.base import (
    DeliveryError,
    Message,
    about,
    delivery_id,
    enabled_for_task,
    event_section,
    rate_subject,
)
from qbutler.alerts.config import Webhook, WebhookEvent
from qbutler.alerts.http import JSON_HEADERS, HttpSender, safe_target
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent

EVENT_NAMES = {"failed": "Qlik Sense reload failed", "aborted": "Qlik Sense reload aborted"}


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_fields(enriched: EnrichedEvent) -> dict[str, str]:
    event, owner = enriched.event, enriched.owner
    # Butler: the failure webhook collapses doubled backslashes in the user, the abort one does not.
    user = event.user.replace("\\\\", "\\") if event.outcome == "failed" else event.user
    fields = {"event": EVENT_NAMES[event.outcome], "hostName": event.hostName, "user": user,
              "taskName": event.taskName, "taskId": event.taskId, "appName": event.appName, "appId": event.appId}
    if owner is not None:
        fields |= {"appOwnerName": owner.userName, "appOwnerUserDirectory": owner.directory,
                   "appOwnerUserId": owner.userId, "appOwnerEmail": owner.emails[0] if owner.emails else ""}
    return fields | {"logTimeStamp": event.logTimeStamp, "logLevel": event.logLevel,
                     "executionId": event.executionId, "logMessage": event.logMessage}


@lru_cache(maxsize=32)
def _ssl_context(ca_file: Path, reject_unauthorized: bool) -> ssl.SSLContext:
    """Verification against the webhook's own CA (read once per file and setting)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if not reject_unauthorized:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class WebhookChannel:
    name = "webhook"

    def __init__(self, config: Config, http: HttpSender):
        self.config = config
        self.settings = config.Butler.webhookNotification
        self.http = http

    def messages(self, enriched: EnrichedEvent) -> list[Message]:
        outcome = enriched.event.outcome
        key = enriched.event_key
        event: WebhookEvent | None = event_section(self.settings, key)
        if not self.settings.enable or event is None or outcome not in EVENT_NAMES:
            return []
        if not enabled_for_task(enriched, event.alertEnableByCustomProperty):
            return []
        fields = webhook_fields(enriched)
        return [Message(channel=self.name, target=f"{hook.httpMethod} {safe_target(hook.webhookURL)}",
                        payload={"hook": hook.model_dump(), "fields": {**fields, "deliveryId": delivery_id(
                            enriched, self.name, f"{key}|{index}|{hook.httpMethod} {hook.webhookURL}")}},
                        rate_key=f"webhook|{key}|{index}|{rate_subject(enriched)}", rate_seconds=event.rateLimit,
                        about=about(enriched))
                for index, hook in enumerate(event.webhooks)]

    async def send(self, payload: dict[str, Any]) -> None:
        hook = Webhook.model_validate(payload["hook"])
        fields: dict[str, Any] = payload["fields"]
        target = f"{hook.httpMethod} {safe_target(hook.webhookURL)}"
        from yarl import URL

        try:
            url = URL(hook.webhookURL)
            context = (_ssl_context(self.config.resolve_path(hook.cert.certCA), hook.cert.rejectUnauthorized)
                       if hook.cert.enable else None)
        except (ValueError, TypeError, OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"{target}: unusable webhook settings: {exc}", retryable=False) from None
        headers: dict[str, str] = {}
        if "deliveryId" in fields:  # absent from messages queued by a version before it
            headers["Idempotency-Key"] = fields["deliveryId"]
        content: bytes | None = None
        if hook.httpMethod == "GET":
            # Some events name their query fields differently from their JSON body (Butler's
            # service monitor); those carry both.
            url = url.with_query(payload.get("query") or fields)
        else:
            content = orjson.dumps(fields)
            headers.update(JSON_HEADERS)
            if hook.secret:
                headers[hook.signatureHeader] = signature(hook.secret, int(time.time()), content)
        await self.http.send(hook.httpMethod, url, target=target, content=content, headers=headers,
                             ssl_context=context)

    async def aclose(self) -> None:
        """The HTTP client is shared and closed by its owner."""
