"""JSON-RPC plumbing of the simulated Engine: error codes, parameter binding, replies.

Kept apart from the object model so the method tables in `engine_objects` read as a
list of schema signatures and the transport in `engine` stays small.  Parameter names
and order follow the enigma.js schema 12.612.0, which is what real clients are built
against (qlik-sense-apis.md §2.3).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# LocalizedErrorCode values (schema 12.612.0) the simulator can produce, see §2.6.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMETERS = -32602
INTERNAL_ERROR = -32603
GENERIC_NOT_FOUND = 2
GENERIC_ALREADY_EXISTS = 3
GENERIC_ACCESS_DENIED = 5
APP_ALREADY_OPEN = 1002
APP_NOT_FOUND = 1003
APP_INVALID = 1007
APP_ALREADY_OPEN_IN_DIFFERENT_MODE = 1009

_MESSAGES = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMETERS: "Invalid Params",
    INTERNAL_ERROR: "Internal error",
    GENERIC_NOT_FOUND: "Not found",
    GENERIC_ALREADY_EXISTS: "Already exists",
    GENERIC_ACCESS_DENIED: "Access denied",
    APP_ALREADY_OPEN: "App already open",
    APP_NOT_FOUND: "App not found",
    APP_INVALID: "App invalid",
    APP_ALREADY_OPEN_IN_DIFFERENT_MODE: "App already open in different mode",
}


class EngineError(Exception):
    """A JSON-RPC error reply: `{"code", "parameter", "message"}` as the real engine sends it."""

    def __init__(self, code: int, parameter: str = "", message: str | None = None) -> None:
        self.code = code
        self.parameter = parameter
        self.message = message if message is not None else _MESSAGES.get(code, "Error")
        super().__init__(f"{code} {self.message}: {parameter}")

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "parameter": self.parameter, "message": self.message}


@dataclass
class Reply:
    """What a method produces: the `result` object plus the handles to list in change/close."""

    result: dict[str, Any]
    change: list[int] = field(default_factory=list)
    close: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Param:
    """One schema in-parameter.  `kind` is the JSON type the value must have."""

    name: str
    kind: type | tuple[type, ...]
    optional: bool = False
    default: Any = None


def _type_ok(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        # JSON true/false decode to bool, which Python also treats as int; the engine
        # does not accept a boolean where a number is declared, so neither do we.
        if k is int and isinstance(value, bool):
            continue
        if k is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if isinstance(value, k):
            return True
    return False


def bind_params(spec: Sequence[Param], params: Any) -> dict[str, Any]:
    """Map positional (array) or named (object) params onto the schema names.

    Missing optional params and explicit nulls for them take the schema default; a
    missing required param, a surplus or unknown param, or a wrongly typed value is
    -32602 with the offending name as `parameter`.
    """
    given: dict[str, Any] = {}
    if params is None:
        params = []
    if isinstance(params, list):
        if len(params) > len(spec):
            raise EngineError(INVALID_PARAMETERS, f"expected at most {len(spec)} parameters")
        for param, value in zip(spec, params, strict=False):
            given[param.name] = value
    elif isinstance(params, dict):
        known = {p.name for p in spec}
        unknown = sorted(set(params) - known)
        if unknown:
            raise EngineError(INVALID_PARAMETERS, unknown[0])
        given = dict(params)
    else:
        raise EngineError(INVALID_PARAMETERS, "params must be an array or an object")

    bound: dict[str, Any] = {}
    for param in spec:
        value = given.get(param.name)
        if value is None:
            if not param.optional:
                raise EngineError(INVALID_PARAMETERS, param.name)
            # Copy so a handler that mutates a default cannot change the schema table.
            bound[param.name] = copy.deepcopy(param.default)
            continue
        if not _type_ok(value, param.kind):
            raise EngineError(INVALID_PARAMETERS, param.name)
        bound[param.name] = value
    return bound


def delta_wrap(result: dict[str, Any]) -> dict[str, Any]:
    """Option (b) of §2.2: every out param becomes one JSON-Patch op replacing the root.

    Root replacement is valid for objects, arrays and scalars alike, so enigma.js can
    apply it to its per-handle cache whatever it held before.
    """
    return {key: [{"op": "add", "path": "/", "value": value}] for key, value in result.items()}
