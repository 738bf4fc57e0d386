"""JavaScript's view of template data: what Handlebars.js sees when it is given the same JSON.

Context values are JSON-shaped Python values (dict, list, str, int, float, bool, None). JavaScript
tells `null` (None) from `undefined` (a missing property, the `undefined` literal), so the latter
has its own marker here.
"""

from __future__ import annotations

from qbutler.jsnumbers import js_number_text

TYPE_CHECKING = False  # typing is not imported at run time: the engine must import fast
if TYPE_CHECKING:
    from typing import Any


class _Undefined:
    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Any = _Undefined()
# What a helper gets as `this` when the context is null (Handlebars' sealed `nullContext`).
NULL_CONTEXT: dict[str, Any] = {}


def is_nullish(value: Any) -> bool:
    """JavaScript's `value == null`."""
    return value is None or value is UNDEFINED


def truthy(value: Any) -> bool:
    """JavaScript's truthiness: false, 0, NaN, '', null and undefined are false; [] and {} are true."""
    if value is None or value is UNDEFINED or value is False:
        return False
    if isinstance(value, str):
        return value != ""
    if isinstance(value, int | float):
        return value == value and value != 0  # NaN and 0 are falsy
    return True


def is_empty(value: Any) -> bool:
    """Handlebars' Utils.isEmpty: falsy except 0, or an empty array."""
    if not truthy(value):
        is_zero = isinstance(value, int | float) and not isinstance(value, bool) and value == 0
        return not is_zero
    return isinstance(value, list | tuple) and not value


def to_text(value: Any) -> str:
    """JavaScript's String(value) for JSON-shaped values (`'' + value`)."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, int | float):
        return js_number_text(value)
    if isinstance(value, list | tuple):
        return ",".join("" if is_nullish(item) else to_text(item) for item in value)
    return "[object Object]"


def utf16_length(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _array_index(key: str, length: int) -> int | None:
    """`key` as an array index if it is one in canonical form ('0', '12'; not '01' or '-1')."""
    if key.isdigit() and key.isascii() and (key == "0" or key[0] != "0"):
        index = int(key)
        if index < length:
            return index
    return None


def property_key(name: Any) -> str:
    """JavaScript's ToPropertyKey for a template value."""
    return name if isinstance(name, str) else to_text(name)


def lookup_property(parent: Any, name: Any) -> Any:
    """Handlebars' `lookupProperty`: own properties only (prototype members are denied).

    For arrays and strings that means the indexes and `length`, as in JavaScript.
    """
    key = property_key(name)
    if isinstance(parent, dict):
        return parent.get(key, UNDEFINED)
    if isinstance(parent, list | tuple):
        if key == "length":
            return len(parent)
        index = _array_index(key, len(parent))
        return UNDEFINED if index is None else parent[index]
    if isinstance(parent, str):
        if key == "length":
            return utf16_length(parent)
        units = parent if parent.isascii() else parent.encode("utf-16-le", "surrogatepass")
        size = len(units) if parent.isascii() else len(units) // 2
        index = _array_index(key, size)
        if index is None:
            return UNDEFINED
        if parent.isascii():
            return parent[index]
        return units[index * 2: index * 2 + 2].decode("utf-16-le", "surrogatepass")
    return UNDEFINED


def object_keys(value: dict[str, Any]) -> list[str]:
    """JavaScript's Object.keys order: integer-like keys ascending, then the rest as inserted."""
    indexes = [key for key in value if _array_index(key, 2**32 - 1) is not None]
    if not indexes:
        return list(value)
    indexes.sort(key=int)
    return indexes + [key for key in value if _array_index(key, 2**32 - 1) is None]


def strict_equal(left: Any, right: Any) -> bool:
    """JavaScript's `===` (numbers by value, objects and arrays by identity)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, dict | list | tuple) or isinstance(right, dict | list | tuple):
        return left is right
    return left is right  # null, undefined


def _to_number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    text = value.strip(" \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
                       "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
    if text == "":
        return 0.0
    try:
        if text.lower().startswith(("0x", "0o", "0b")):
            return float(int(text, 0))
        if text in ("Infinity", "+Infinity", "-Infinity"):
            return float(text.replace("Infinity", "inf"))
        if any(c not in "0123456789+-.eE" for c in text):
            return float("nan")
        return float(text)
    except ValueError:
        return float("nan")


def _primitive(value: Any) -> Any:
    return to_text(value) if isinstance(value, dict | list | tuple) else value


def js_add(left: Any, right: Any) -> Any:
    """JavaScript's `left + right`: string concatenation if either side is (or becomes) a string,
    else numeric addition (true is 1, null 0, undefined NaN)."""
    if left.__class__ is str and right.__class__ is str:
        return left + right
    left, right = _primitive(left), _primitive(right)
    if isinstance(left, str) or isinstance(right, str):
        return to_text(left) + to_text(right)
    return _number(left) + _number(right)


def _number(value: Any) -> int | float:
    if value is UNDEFINED:
        return float("nan")
    if value is None:
        return 0
    return int(value) if isinstance(value, bool) else value


def loose_equal(left: Any, right: Any) -> bool:
    """JavaScript's `==` for JSON-shaped values."""
    if is_nullish(left) or is_nullish(right):
        return is_nullish(left) and is_nullish(right)
    if isinstance(left, dict | list | tuple) and isinstance(right, dict | list | tuple):
        return left is right
    if isinstance(left, dict | list | tuple):
        left = to_text(left)
    if isinstance(right, dict | list | tuple):
        right = to_text(right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return _to_number(left) == _to_number(right)
