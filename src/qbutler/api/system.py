"""System endpoints: ping, the list of enabled endpoints, base62/base16 conversion."""

from __future__ import annotations

from typing import Any

from qbutler import __version__
from qbutler.api.http import HttpError, Request
from qbutler.api.routing import RouteTable
from qbutler.auth.scopes import AUTHENTICATED

routes = RouteTable("System")

BASE62 = "0123456789abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BASE16 = "0123456789abcdef"


def convert_base(text: str, source: str, target: str) -> str:
    """Arbitrary-length integer conversion between two digit alphabets."""
    if text == "":
        return target[0]
    value = 0
    base = len(source)
    for char in text:
        digit = source.find(char)
        if digit < 0:
            raise ValueError(f"{char!r} is not one of its digits")
        value = value * base + digit
    if value == 0:
        return target[0]
    digits = []
    while value:
        value, rest = divmod(value, len(target))
        digits.append(target[rest])
    return "".join(reversed(digits))


def _converted(field: str, text: str, source: str, target: str) -> str:
    """400 naming the field and the first character outside its alphabet (Butler answered 500)."""
    try:
        return convert_base(text, source, target)
    except ValueError as exc:
        raise HttpError(400, f"querystring/{field} is not a {field} number: {exc}") from None


_CONVERSION_RESPONSE = {
    "type": "object",
    "properties": {"base62": {"type": "string"}, "base16": {"type": "string"}},
}


@routes.get(
    "/v4/butlerping",
    switch="butlerping",
    scope=AUTHENTICATED,
    summary="Tests if qbutler is alive and responding",
    responses={200: {"type": "object", "properties": {
        "response": {"type": "string"}, "butlerVersion": {"type": "string"}}}},
)
async def butlerping(request: Request, ctx: Any) -> dict[str, str]:
    return {"response": "Butler reporting for duty", "butlerVersion": __version__}


@routes.get(
    "/v4/configfile/endpointsenabled",
    switch="apiListEnabledEndpoints",
    scope=AUTHENTICATED,
    summary="Get an array of all enabled API endpoints",
    description="Leaf names of every switch under Butler.restServerEndpointsEnable that is true.",
    responses={200: {"type": "array", "items": {"type": "string"}}},
)
async def endpoints_enabled(request: Request, ctx: Any) -> list[str]:
    return ctx.enabled_endpoints


@routes.get(
    "/v4/base62tobase16",
    switch="base62ToBase16",
    scope=AUTHENTICATED,
    summary="Converts strings from base62 to base16",
    query={"type": "object", "required": ["base62"], "properties": {"base62": {"type": "string"}}},
    responses={200: _CONVERSION_RESPONSE},
    documented={400: "The text has a character outside the alphabet"},
)
async def base62_to_base16(request: Request, ctx: Any) -> dict[str, str]:
    text = request.query["base62"]
    return {"base62": text, "base16": _converted("base62", text, BASE62, BASE16)}


@routes.get(
    "/v4/base16tobase62",
    switch="base16ToBase62",
    scope=AUTHENTICATED,
    summary="Converts strings from base16 to base62",
    query={"type": "object", "required": ["base16"], "properties": {"base16": {"type": "string"}}},
    responses={200: _CONVERSION_RESPONSE},
    documented={400: "The text has a character outside the alphabet"},
)
async def base16_to_base62(request: Request, ctx: Any) -> dict[str, str]:
    text = request.query["base16"]
    return {"base62": _converted("base16", text, BASE16, BASE62), "base16": text}
