"""System endpoints: ping, the list of enabled endpoints, base62/base16 conversion."""

from __future__ import annotations

from typing import Any

from qbutler import __version__
from qbutler.api.http import HttpError, Request
from qbutler.api.routing import RouteTable

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
            raise ValueError(f"{char!r} is not a digit of this alphabet")
        value = value * base + digit
    if value == 0:
        return target[0]
    digits = []
    while value:
        value, rest = divmod(value, len(target))
        digits.append(target[rest])
    return "".join(reversed(digits))


_CONVERSION_RESPONSE = {
    "type": "object",
    "properties": {"base62": {"type": "string"}, "base16": {"type": "string"}},
}


@routes.get(
    "/v4/butlerping",
    switch="butlerping",
    summary="Tests if qbutler is alive and responding",
    responses={200: {"type": "object", "properties": {
        "response": {"type": "string"}, "butlerVersion": {"type": "string"}}}},
)
async def butlerping(request: Request, ctx: Any) -> dict[str, str]:
    return {"response": "Butler reporting for duty", "butlerVersion": __version__}


@routes.get(
    "/v4/configfile/endpointsenabled",
    switch="apiListEnabledEndpoints",
    summary="Get an array of all enabled API endpoints",
    description="Leaf names of every switch under Butler.restServerEndpointsEnable that is true.",
    responses={200: {"type": "array", "items": {"type": "string"}}},
)
async def endpoints_enabled(request: Request, ctx: Any) -> list[str]:
    return ctx.enabled_endpoints


@routes.get(
    "/v4/base62tobase16",
    switch="base62ToBase16",
    summary="Converts strings from base62 to base16",
    query={"type": "object", "required": ["base62"], "properties": {"base62": {"type": "string"}}},
    responses={200: _CONVERSION_RESPONSE},
)
async def base62_to_base16(request: Request, ctx: Any) -> dict[str, str]:
    text = request.query["base62"]
    try:
        return {"base62": text, "base16": convert_base(text, BASE62, BASE16)}
    except ValueError:
        raise HttpError(500, "Failed converting from base62 to base16") from None


@routes.get(
    "/v4/base16tobase62",
    switch="base16ToBase62",
    summary="Converts strings from base16 to base62",
    query={"type": "object", "required": ["base16"], "properties": {"base16": {"type": "string"}}},
    responses={200: _CONVERSION_RESPONSE},
)
async def base16_to_base62(request: Request, ctx: Any) -> dict[str, str]:
    text = request.query["base16"]
    try:
        return {"base62": convert_base(text, BASE16, BASE62), "base16": text}
    except ValueError:
        raise HttpError(500, "Failed converting from base16 to base62") from None
