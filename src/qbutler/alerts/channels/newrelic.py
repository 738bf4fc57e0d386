"""New Relic (`Butler.incidentTool.newRelic`): failed and aborted reloads as custom events and log
entries, to the accounts of `thirdPartyToolsCredentials.newRelic` (butler-monitoring.md §4.1-4.3);
and the bodies of `POST /v4/newrelic/event` and `/v4/newrelic/metric` (§4.6).

Accounts are named in the outbox and their insert keys looked up when sending, so no API key is
written to disk. Bodies are gzipped (New Relic's ingest APIs take `Content-Encoding: gzip`).
Attribute values New Relic cannot store are made storable: strings are cut to 4096 characters,
nested objects and lists (Butler sends them; New Relic drops them) become JSON text.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson

from qbutler import __version__
from qbutler.alerts.channels.base import (
    DeliveryError,
    Message,
    about,
    delivery_id,
    event_section,
    log,
    rate_subject,
)
from qbutler.alerts.config import (
    NameValue,
    NewRelicAccount,
    NewRelicDestination,
    NewRelicEvent,
    NewRelicServiceDestination,
    NewRelicUrls,
)
from qbutler.alerts.context import build_context, custom_properties, cut_tail, tag_names
from qbutler.alerts.http import HttpSender, safe_target
from qbutler.config import Config
from qbutler.events.enrich import EnrichedEvent

ATTRIBUTE_LIMIT = 4096
# A log entry's message is kept below this many characters (its end, where the error is).
MESSAGE_LIMIT = 32_000
KINDS = {"failed": ("qs_reloadTaskFailedEvent", "qs_reloadTaskFailedLog"),
         "aborted": ("qs_reloadTaskAbortedEvent", "qs_reloadTaskAbortedLog")}
SEPARATOR = "\r\n-------------------------------\r\n\r\n"


def account_list(credentials: list[NewRelicAccount], names: Iterable[str]) -> list[NewRelicAccount]:
    """The configured accounts named, once each, in order; unknown names are logged and skipped."""
    found: list[NewRelicAccount] = []
    for name in dict.fromkeys(names):
        account = next((a for a in credentials if a.accountName == name), None)
        if account is None:
            log.warning('New Relic account name "%s" does not exist in the config file '
                        "(Butler.thirdPartyToolsCredentials.newRelic)", name)
        elif account not in found:
            found.append(account)
    return found


def request_headers(custom: list[NameValue], api_key: str) -> dict[str, str]:
    """Butler's order: JSON content type, the configured headers, the insert key."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    headers.update({h.name: h.value for h in custom if h.name})
    headers["Api-Key"] = api_key
    headers["Content-Encoding"] = "gzip"
    return headers


def ingest_url(urls: NewRelicUrls, kind: str) -> str:
    """The log API URL as configured; the event API's base with a trailing slash (the account's
    path is appended when sending)."""
    if kind == "log":
        return urls.log
    return urls.event + ("" if urls.event.endswith("/") else "/")


def storable(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = orjson.dumps(value).decode()
    if isinstance(value, str) and len(value) > ATTRIBUTE_LIMIT:
        return value[:ATTRIBUTE_LIMIT]
    return value


def static_attributes(*lists: list[NameValue]) -> dict[str, Any]:
    return {a.name: a.value for attributes in lists for a in attributes if a.name}


def qs_attributes(enriched: EnrichedEvent, destination: NewRelicDestination) -> dict[str, Any]:
    """The `qs_*` attributes of §4.2 in Butler's order, then one attribute per tag."""
    event = enriched.event
    attributes: dict[str, Any] = {
        "qs_hostName": event.hostName, "qs_user": event.user.replace("\\", "/"), "qs_taskName": event.taskName,
        "qs_taskId": event.taskId, "qs_appName": event.appName, "qs_appId": event.appId,
        "qs_logTimeStamp": event.logTimeStamp, "qs_logLevel": event.logLevel, "qs_executionId": event.executionId,
        "qs_logMessage": event.logMessage, "qs_appCustomProperties": custom_properties(enriched.app),
        "qs_taskCustomProperties": custom_properties(enriched.task), "qs_appMetadata": enriched.app or {},
        "qs_taskMetadata": enriched.task,
    }
    dynamic = destination.attribute.dynamic
    if dynamic.useTaskTags:
        attributes.update({f"qs_taskTag_{tag}": "true" for tag in tag_names(enriched.task)})
    if dynamic.useAppTags:
        attributes.update({f"qs_appTag_{tag}": "true" for tag in tag_names(enriched.app)})
    return attributes


def service_state_bodies(destination: NewRelicServiceDestination, shared_static: list[NameValue], kind: str, *,
                         host: str, name: str, display_name: str, status: str) -> list[dict[str, Any]]:
    """The event or log body of a service state change (butler-monitoring.md §4.4): static
    attributes, the `butler_*` facts the destination's `attribute.dynamic` switches on, the type."""
    attributes = static_attributes(shared_static, destination.attribute.static)
    dynamic = destination.attribute.dynamic
    facts = (("butler_serviceHost", dynamic.serviceHost, host), ("butler_serviceName", dynamic.serviceName, name),
             ("butler_serviceDisplayName", dynamic.serviceDisplayName, display_name),
             ("butler_serviceStatus", dynamic.serviceState, status))
    attributes.update({key: value for key, wanted, value in facts if wanted})
    attributes = {key: storable(value) for key, value in attributes.items()}
    if kind == "event":
        return [{**attributes, "eventType": "qs_serviceStateEvent"}]
    state = f"is {status}" if status in ("RUNNING", "STOPPED") else f'is in state "{status}"'
    return [{"common": {"attributes": {**attributes, "logtype": "qs_serviceStateLog"}},
             "logs": [{"message": f'Windows service "{display_name}" on host "{host}" {state}.'}]}]


def with_delivery_id(kind: str, body: list[dict[str, Any]], value: str) -> list[dict[str, Any]]:
    """The body with qbutler's `deliveryId` attribute last (per account: one id per target)."""
    [item] = body
    if kind == "event":
        return [{**item, "deliveryId": value}]
    return [{**item, "common": {"attributes": {**item["common"]["attributes"], "deliveryId": value}}}]


class NewRelicChannel:
    name = "newrelic"

    def __init__(self, config: Config, http: HttpSender):
        self.config = config
        self.settings = config.Butler.incidentTool.newRelic
        self.http = http

    def messages(self, enriched: EnrichedEvent) -> list[Message]:
        outcome = enriched.event.outcome
        if not self.settings.enable or enriched.task_type != 0 or outcome not in KINDS:
            return []
        section: NewRelicEvent | None = event_section(self.settings, enriched.event_key)
        if section is None:
            return []
        event_type, log_type = KINDS[outcome]
        messages = []
        for kind, destination in (("event", section.destination.event), ("log", section.destination.log)):
            if not destination.enable:
                continue
            body = (self._event_body(enriched, section, destination, event_type) if kind == "event"
                    else self._log_body(enriched, section, destination, log_type))
            url = ingest_url(self.settings.url, kind)
            for account in self._accounts(enriched, kind, destination):
                target = f"{kind} {account.accountName} {safe_target(url)}"
                messages.append(Message(
                    channel=self.name, target=target, about=about(enriched),
                    rate_key=f"newrelic|{kind}|{enriched.event_key}|{account.accountName}|{rate_subject(enriched)}",
                    rate_seconds=section.sharedSettings.rateLimit,
                    payload={"kind": kind, "account": account.accountName,
                             "body": with_delivery_id(kind, body, delivery_id(enriched, self.name, target)),
                             "headers": [h.model_dump() for h in section.sharedSettings.header]}))
        return messages

    def _accounts(self, enriched: EnrichedEvent, kind: str, destination: NewRelicDestination) -> list[NewRelicAccount]:
        send_to = destination.sendToAccount
        names: list[str] = list(send_to.always.account) if send_to.always.enable else []
        if send_to.byCustomProperty.customPropertyName:
            names += enriched.task_custom_property(send_to.byCustomProperty.customPropertyName)
        names += getattr(self.settings.destinationAccount, kind)
        return account_list(self.config.Butler.thirdPartyToolsCredentials.newRelic, names)

    def _event_body(self, enriched: EnrichedEvent, section: NewRelicEvent, destination: NewRelicDestination,
                    event_type: str) -> list[dict[str, Any]]:
        event = static_attributes(section.sharedSettings.attribute.static, destination.attribute.static)
        event["version"] = __version__
        event.update(qs_attributes(enriched, destination))
        event["eventType"] = event_type
        return [{key: storable(value) for key, value in event.items()}]

    def _log_body(self, enriched: EnrichedEvent, section: NewRelicEvent, destination: NewRelicDestination,
                  log_type: str) -> list[dict[str, Any]]:
        attributes = static_attributes(section.sharedSettings.attribute.static, destination.attribute.static)
        attributes["version"] = __version__
        attributes.update(qs_attributes(enriched, destination))
        tail_lines = destination.tailScriptLogLines
        if enriched.script_log is not None:
            context = build_context(enriched, self.config, head_lines=0, tail_lines=tail_lines)
            attributes.update({
                "qs_executingNodeName": context["executingNodeName"],
                "qs_executionStartTime": context["executionStartTime"],
                "qs_executionStopTime": context["executionStopTime"],
                "qs_executionDuration": context["executionDuration"],
                "qs_executionStatusNum": context["executionStatusNum"],
                # Butler's spelling.
                "qs_exeuctionStatusText": context["executionStatusText"],
                "qs_scriptLogSize": context["scriptLogSize"],
                "qs_scriptLogTailCount": context["scriptLogTailCount"],
            })
            tail = "\r\n".join(enriched.script_log[-tail_lines:] if tail_lines else [])
            message = context["executionDetailsConcatenated"] + SEPARATOR + tail
        else:
            message = "Script log not available for this reload task."
        attributes["logtype"] = log_type
        return [{"common": {"attributes": {key: storable(value) for key, value in attributes.items()}},
                 "logs": [{"message": cut_tail(message, MESSAGE_LIMIT)}]}]

    async def send(self, payload: dict[str, Any]) -> None:
        kind, name = payload["kind"], payload["account"]
        [account] = account_list(self.config.Butler.thirdPartyToolsCredentials.newRelic, [name]) or [None]
        if account is None:
            raise DeliveryError(f"New Relic account {name!r} is no longer configured", retryable=False)
        url = ingest_url(self.settings.url, kind)
        if kind == "event":
            url += f"v1/accounts/{account.accountId}/events"
        headers = [NameValue.model_validate(h) for h in payload["headers"]]
        await self.http.send("POST", url, target=f"{kind} {name} {safe_target(url)}",
                             content=gzip.compress(orjson.dumps(payload["body"]), 5),
                             headers=request_headers(headers, account.insertApiKey))

    async def aclose(self) -> None:
        """The HTTP client is shared and closed by its owner."""


# ----------------------------------------------------------------------------- REST endpoints


def custom_event(event_type: str, timestamp: float | None, attributes: list[dict[str, Any]],
                 static: list[NameValue]) -> dict[str, Any]:
    """The event of `POST /v4/newrelic/event`: request attributes win over the static ones."""
    event: dict[str, Any] = {"timestamp": timestamp if timestamp and timestamp > 0 else int(time.time() * 1000),
                             "eventType": event_type}
    event.update(static_attributes(static))
    event.update({str(a["name"]): a["value"] for a in attributes})
    return event


def custom_metric(name: str, metric_type: str, value: float, timestamp: float | None,
                  attributes: list[dict[str, Any]], static: list[NameValue]) -> list[dict[str, Any]]:
    """The body of `POST /v4/newrelic/metric`."""
    common_attributes = static_attributes(static)
    common_attributes.update({str(a["name"]): a["value"] for a in attributes})
    return [{"common": {"timestamp": timestamp if timestamp and timestamp > 0 else int(time.time() * 1000),
                        "attributes": common_attributes},
             "metrics": [{"name": name, "type": metric_type, "value": value}]}]


@dataclass(frozen=True)
class Posted:
    """One account's answer: `problem` is empty when it accepted."""

    account: str
    status: int
    problem: str = ""


async def post_each(http: HttpSender, accounts: list[NewRelicAccount], url_for: Any, body: Any,
                    custom_headers: list[NameValue], accepted: tuple[int, ...]) -> list[Posted]:
    """POST `body` (gzipped once) to each account in turn, as Butler does; every account's answer
    (status 0 when there was none)."""
    content = gzip.compress(orjson.dumps(body), 5)
    results = []
    for account in accounts:
        url = url_for(account)
        try:
            reply = await http.exchange("POST", url, target=safe_target(url), content=content,
                                        headers=request_headers(custom_headers, account.insertApiKey))
        except DeliveryError as exc:
            results.append(Posted(account.accountName, 0, str(exc)))
            continue
        problem = ("" if reply.status in accepted else
                   f"{safe_target(url)} answered {reply.status}: {reply.body[:200].decode(errors='replace')}")
        results.append(Posted(account.accountName, reply.status, problem))
    return results


async def post_to_accounts(http: HttpSender, config: Config, names: list[str], url_for: Any, body: Any,
                           custom_headers: list[NameValue], accepted: tuple[int, ...]) -> str | None:
    """POST `body` to each named account in turn; the status text of the first accepted answer.

    None when no account resolves; DeliveryError when no account accepted (Butler: the first
    success answers the client, later accounts are still posted to).
    """
    accounts = account_list(config.Butler.thirdPartyToolsCredentials.newRelic, names)
    if not accounts:
        return None
    results = await post_each(http, accounts, url_for, body, custom_headers, accepted)
    answered = next((r for r in results if not r.problem), None)
    if answered is None:
        raise DeliveryError(results[-1].problem or "no account accepted", retryable=False)
    # Butler answers with the status text axios reports: the standard reason phrase.
    return HTTPStatus(answered.status).phrase
