"""Request validation with Fastify's Ajv semantics: lenient type coercion and Ajv's messages.

Schemas are plain JSON-Schema dictionaries (the subset Butler's routes use), so the same object
validates requests and is published in the OpenAPI document.
"""

from __future__ import annotations

import math
from typing import Any

from qbutler.api.http import ValidationFailed
from qbutler.jsnumbers import js_number_text

_NUMBER_TYPES = ("number", "integer")


def _parse_number(text: str) -> float | int | None:
    stripped = text.strip()
    if stripped == "" or stripped != text:
        return None
    try:
        number = float(stripped)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and "." not in stripped and "e" not in stripped.lower() else number


_MISSING = object()


def _coerce(value: Any, wanted: str) -> Any:
    """Ajv's coerceTypes rules; returns _MISSING when the value cannot become `wanted`."""
    if wanted == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return js_number_text(value)
        if value is None:
            return ""
    elif wanted in _NUMBER_TYPES:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str):
            number = _parse_number(value)
            if number is not None:
                return number
        if value is None:
            return 0
        if wanted == "integer" and isinstance(value, float) and value.is_integer():
            return int(value)
    elif wanted == "boolean":
        if value in ("true", "false"):
            return value == "true"
        if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
            return value == 1
        if value is None:
            return False
    elif wanted == "null":
        if value in ("", 0, False):
            return None
    elif wanted == "array" and not isinstance(value, dict):
        # Ajv wraps scalars only: an object where an array is expected stays an error.
        return [value]
    return _MISSING


def _matches(value: Any, wanted: str) -> bool:
    if wanted == "string":
        return isinstance(value, str)
    if wanted == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if wanted == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if wanted == "boolean":
        return isinstance(value, bool)
    if wanted == "object":
        return isinstance(value, dict)
    if wanted == "array":
        return isinstance(value, list)
    if wanted == "null":
        return value is None
    return True


def validate(value: Any, schema: dict[str, Any], path: str) -> Any:
    """Return the coerced value, or raise ValidationFailed with Ajv's first error."""
    # `not: {type: ...}` is checked before coercion: it refuses what coercion would otherwise
    # turn into the wanted type (a boolean TTL becoming 1 ms, null becoming "").
    refused = schema.get("not")
    if refused is not None and _matches(value, refused["type"]):
        raise ValidationFailed(f"{path} must NOT be {refused['type']}")
    types = schema.get("type")
    if types is not None:
        wanted_list = types if isinstance(types, list) else [types]
        if not any(_matches(value, t) for t in wanted_list):
            # coerceTypes 'array': a one-item array stands for its item.
            if isinstance(value, list) and len(value) == 1 and "array" not in wanted_list:
                value = value[0]
            if not any(_matches(value, t) for t in wanted_list):
                for wanted in wanted_list:
                    coerced = _coerce(value, wanted)
                    if coerced is not _MISSING and _matches(coerced, wanted):
                        value = coerced
                        break
                else:
                    raise ValidationFailed(f"{path} must be {','.join(wanted_list)}")
    if "enum" in schema and value not in schema["enum"]:
        raise ValidationFailed(f"{path} must be equal to one of the allowed values")
    if isinstance(value, dict):
        value = _validate_object(value, schema, path)
    elif isinstance(value, list) and "items" in schema:
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise ValidationFailed(f"{path} must NOT have fewer than {schema['minItems']} items")
        value = [validate(item, schema["items"], f"{path}/{i}") for i, item in enumerate(value)]
    elif isinstance(value, str) and "minLength" in schema and len(value) < schema["minLength"]:
        raise ValidationFailed(f"{path} must NOT have fewer than {schema['minLength']} characters")
    elif isinstance(value, str) and "maxLength" in schema and len(value) > schema["maxLength"]:
        raise ValidationFailed(f"{path} must NOT have more than {schema['maxLength']} characters")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise ValidationFailed(f"{path} must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ValidationFailed(f"{path} must be <= {schema['maximum']}")
        if "multipleOf" in schema and value % schema["multipleOf"]:
            raise ValidationFailed(f"{path} must be multiple of {schema['multipleOf']}")
    return value


def _validate_object(value: dict[str, Any], schema: dict[str, Any], path: str) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    result = dict(value)
    for name, sub in properties.items():
        if name not in result and "default" in sub:
            result[name] = sub["default"]
    for name in schema.get("required", []):
        if name not in result:
            raise ValidationFailed(f"{path} must have required property '{name}'")
    for name, sub in properties.items():
        if name in result:
            result[name] = validate(result[name], sub, f"{path}/{name}")
    return result


def serialize(value: Any, schema: dict[str, Any] | None) -> Any:
    """fast-json-stringify's view of a response: only declared properties, in schema order, coerced."""
    if schema is None:
        return value
    kind = schema.get("type")
    if kind == "object" and isinstance(value, dict) and "properties" in schema:
        out = {}
        for name, sub in schema["properties"].items():
            if name in value and value[name] is not None:
                out[name] = serialize(value[name], sub)
        return out
    if kind == "array" and isinstance(value, list) and "items" in schema:
        return [serialize(item, schema["items"]) for item in value]
    if kind == "string" and not isinstance(value, str):
        coerced = _coerce(value, "string")
        return value if coerced is _MISSING else coerced
    return value
