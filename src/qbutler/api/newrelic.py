"""POST /v4/newrelic/event and /v4/newrelic/metric (REST reference §5.3-5.4).

Posted to every account of `restServerEndpointsConfig.newRelic.postNewRelic{Event,Metric}.destinationAccount`
in turn, answered at once (not through the outbox): 202 with New Relic's status text when an
account accepted, 500 when none did, 200 with an empty body when no account is configured.
"""

from __future__ import annotations

import logging
from typing import Any

from qbutler.alerts.channels.base import DeliveryError
from qbutler.alerts.channels.newrelic import custom_event, custom_metric, post_to_accounts
from qbutler.api.http import TEXT_TYPE, HttpError, Request, Response
from qbutler.api.routing import RouteTable

log = logging.getLogger("qbutler.api.newrelic")

routes = RouteTable("New Relic")


def _attributes(max_value: int | None) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "string"}
    if max_value is not None:
        value["maxLength"] = max_value
    return {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 254}, "value": value}}}


def _named(attributes: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    # An attribute without a name or a value is left out, as JSON.stringify drops Butler's undefined.
    return [a for a in attributes or [] if "name" in a and "value" in a]


def _failure(what: str) -> str:
    return f"Failed posting {what} to New Relic"


def _answers(what: str) -> dict[int, str]:
    """The answers both endpoints document, for an `event` or a `metric`."""
    return {202: f"New Relic accepted the {what}", 200: "No New Relic account is configured: nothing sent",
            400: "Invalid request", 500: _failure(what)}


async def _post(ctx: Any, settings: Any, url_for: Any, body: Any, accepted: tuple[int, ...], failure: str) -> Response:
    try:
        answer = await post_to_accounts(ctx.alerts.http, ctx.config, list(settings.destinationAccount), url_for,
                                        body, list(settings.header), accepted)
    except DeliveryError as exc:
        log.error("%s: %s", failure, exc)
        raise HttpError(500, failure) from None
    if answer is None:
        log.warning("%s: no New Relic account of destinationAccount is configured", failure)
        # Butler answers 200 with no body and no content type.
        return Response(200)
    return Response(202, answer.encode(), TEXT_TYPE)


@routes.post(
    "/v4/newrelic/event",
    switch="newRelic.postNewRelicEvent",
    scope="messages",
    summary="Post an event to New Relic",
    description="One custom event with the given type, timestamp (ms; now when left out) and attributes, "
                "plus the static attributes of `restServerEndpointsConfig.newRelic.postNewRelicEvent`, to each "
                "of its accounts. 202 with New Relic's status text, 200 with no body when no account is "
                "configured.",
    body={"type": "object", "required": ["eventType"],
          "properties": {"eventType": {"type": "string", "maxLength": 254}, "timestamp": {"type": "number"},
                         "attributes": _attributes(4096)}},
    documented=_answers("event"),
)
async def post_event(request: Request, ctx: Any) -> Response:
    body = request.json
    settings = ctx.config.Butler.restServerEndpointsConfig.newRelic.postNewRelicEvent
    event = custom_event(body["eventType"], body.get("timestamp"), _named(body.get("attributes")),
                         list(settings.attribute.static))
    base = settings.url + ("" if settings.url.endswith("/") else "/")
    return await _post(ctx, settings, lambda account: f"{base}v1/accounts/{account.accountId}/events", [event],
                       (200, 202), _failure("event"))


@routes.post(
    "/v4/newrelic/metric",
    switch="newRelic.postNewRelicMetric",
    scope="messages",
    summary="Post a gauge metric to New Relic",
    description="One gauge metric with the given name, value, timestamp (ms) and attributes, plus the static "
                "attributes of `restServerEndpointsConfig.newRelic.postNewRelicMetric`, to each of its "
                "accounts. 202 with New Relic's status text, 200 with no body when no account is configured.",
    body={"type": "object", "required": ["name", "type", "value"],
          "properties": {"name": {"type": "string", "maxLength": 254}, "type": {"type": "string", "enum": ["gauge"]},
                         "value": {"type": "number"}, "timestamp": {"type": "number"},
                         "interval": {"type": "number"}, "attributes": _attributes(None)}},
    documented=_answers("metric"),
)
async def post_metric(request: Request, ctx: Any) -> Response:
    body = request.json
    settings = ctx.config.Butler.restServerEndpointsConfig.newRelic.postNewRelicMetric
    metric = custom_metric(body["name"], body["type"], body["value"], body.get("timestamp"),
                           _named(body.get("attributes")), list(settings.attribute.static))
    return await _post(ctx, settings, lambda account: settings.url, metric, (202,), _failure("metric"))
