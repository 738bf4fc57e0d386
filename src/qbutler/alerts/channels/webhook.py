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
from typing import Any

import httpx
import orjson

from qbutler.alerts.channels.base import (
    EVENT_KEYS,
    DeliveryError,
    Message,
    about,
    check_http,
    enabled_for_task,
    safe_target,
)
from qbutler.alerts.config import Webhook, WebhookEvent
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


class WebhookChannel:
    name = "webhook"

    def __init__(self, config: Config, client: httpx.AsyncClient, timeout: float):
        self.config = config
        self.settings = config.Butler.webhookNotification
        self.client = client
        self.timeout = timeout

    def messages(self, enriched: EnrichedEvent) -> list[Message]:
        outcome = enriched.event.outcome
        key = EVENT_KEYS[outcome]
        event: WebhookEvent | None = getattr(self.settings, key, None)
        if not self.settings.enable or event is None or outcome not in EVENT_NAMES:
            return []
        if not enabled_for_task(enriched, event.alertEnableByCustomProperty):
            return []
        fields = webhook_fields(enriched)
        return [Message(channel=self.name, target=f"{hook.httpMethod} {safe_target(hook.webhookURL)}",
                        payload={"hook": hook.model_dump(), "fields": fields},
                        rate_key=f"webhook|{key}|{index}|{enriched.event.taskId}", rate_seconds=event.rateLimit,
                        about=about(enriched))
                for index, hook in enumerate(event.webhooks)]

    def _verify(self, hook: Webhook) -> ssl.SSLContext | bool:
        if not hook.cert.enable:
            return True
        context = ssl.create_default_context(cafile=str(self.config.resolve_path(hook.cert.certCA)))
        if not hook.cert.rejectUnauthorized:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def send(self, payload: dict[str, Any]) -> None:
        hook = Webhook.model_validate(payload["hook"])
        fields: dict[str, str] = payload["fields"]
        target = f"{hook.httpMethod} {safe_target(hook.webhookURL)}"
        try:
            url = httpx.URL(hook.webhookURL)
            verify = self._verify(hook)
        except (httpx.InvalidURL, OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"{target}: unusable webhook settings: {exc}", retryable=False) from None
        headers: dict[str, str] = {}
        content: bytes | None = None
        if hook.httpMethod == "GET":
            url = url.copy_with(params=fields)
        else:
            content = orjson.dumps(fields)
            headers["Content-Type"] = "application/json"
            if hook.secret:
                headers[hook.signatureHeader] = signature(hook.secret, int(time.time()), content)
        try:
            if verify is True:
                response = await self.client.request(hook.httpMethod, url, content=content, headers=headers)
            else:
                async with httpx.AsyncClient(verify=verify, timeout=self.timeout) as client:
                    response = await client.request(hook.httpMethod, url, content=content, headers=headers)
        except httpx.TransportError as exc:
            raise DeliveryError(f"{target}: {type(exc).__name__}: {exc}", retryable=True) from None
        check_http(response, target)

    async def aclose(self) -> None:
        """The HTTP client is shared and closed by its owner."""
