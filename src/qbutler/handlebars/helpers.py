"""Handlebars.js 4.7's built-in helpers (lib/handlebars/helpers/*.js) and the one Butler adds, `eq`.

A helper is called as `helper(this, args, options)`: `args` are the evaluated parameters, without
the options object JavaScript passes last. Where a JavaScript helper would bind `options` to a
parameter (too few or too many arguments), the outcome is reproduced: a value, or a HelperError
where JavaScript throws.
"""

from __future__ import annotations

from collections.abc import Callable

from qbutler.handlebars.values import (
    UNDEFINED,
    is_empty,
    is_nullish,
    lookup_property,
    object_keys,
    strict_equal,
    to_text,
    truthy,
)

TYPE_CHECKING = False  # typing is not imported at run time: the engine must import fast
if TYPE_CHECKING:
    from typing import Any



class HelperError(Exception):
    """A helper failed where Handlebars.js throws (wrong arguments, a missing helper)."""


class Options:
    """What JavaScript helpers get as their last argument."""

    __slots__ = ("data", "fn", "hash", "inverse", "name")

    def __init__(self, name: str, fn: Callable[..., str], inverse: Callable[..., str], hash_: dict[str, Any],
                 data: dict[str, Any]):
        self.name, self.fn, self.inverse, self.hash, self.data = name, fn, inverse, hash_, data


if TYPE_CHECKING:
    Helper = Callable[[Any, list[Any], Options], Any]


def _not_callable(what: str) -> HelperError:
    return HelperError(f"TypeError: {what} is not a function")


def helper_missing(this: Any, args: list[Any], options: Options) -> Any:
    if args:
        raise HelperError(f'Missing helper: "{options.name}"')
    return UNDEFINED


def _create_frame(data: dict[str, Any] | None) -> dict[str, Any]:
    frame = dict(data) if data else {}
    frame["_parent"] = data
    return frame


def each(this: Any, args: list[Any], options: Options) -> str:
    if len(args) != 1:
        if len(args) == 0 or not truthy(args[1]):
            raise HelperError("Must pass iterator to #each")
        raise _not_callable("options.fn")
    context = args[0]
    data = _create_frame(options.data) if options.data is not None else None
    out: list[str] = []
    fn = options.fn

    def iteration(value: Any, key: Any, index: int, last: bool) -> None:
        if data is not None:
            data["key"], data["index"], data["first"], data["last"] = key, index, index == 0, last
        out.append(to_text(fn(value, data, [value, key])))  # `ret = ret + fn(...)`, ret starting as ''

    count = 0
    if isinstance(context, list | tuple):
        count = len(context)
        for i, value in enumerate(context):
            iteration(value, i, i, i == count - 1)
    elif isinstance(context, dict):
        keys = object_keys(context)
        count = len(keys)
        for i, key in enumerate(keys):
            iteration(context[key], key, i, i == count - 1)
    if count == 0:
        return options.inverse(this)
    return "".join(out)


def if_(this: Any, args: list[Any], options: Options) -> str:
    if len(args) != 1:
        raise HelperError("#if requires exactly one argument")
    conditional = args[0]
    if (not truthy(options.hash.get("includeZero")) and not truthy(conditional)) or is_empty(conditional):
        return options.inverse(this)
    return options.fn(this)


def unless(this: Any, args: list[Any], options: Options) -> str:
    if len(args) != 1:
        raise HelperError("#unless requires exactly one argument")
    swapped = Options(options.name, options.inverse, options.fn, options.hash, options.data)
    return if_(this, args, swapped)


def with_(this: Any, args: list[Any], options: Options) -> str:
    if len(args) != 1:
        raise HelperError("#with requires exactly one argument")
    context = args[0]
    if not is_empty(context):
        return options.fn(context, options.data, [context])
    return options.inverse(this)


def lookup(this: Any, args: list[Any], options: Options) -> Any:
    obj = args[0] if args else options
    if obj is not options and not truthy(obj):
        return obj
    if len(args) != 2:
        raise _not_callable("options.lookupProperty")
    return lookup_property(obj, args[1])


_LEVELS = ["debug", "info", "warn", "error"]
_LOGGING = {"debug": 10, "info": 20, "warn": 30, "error": 40}  # logging.DEBUG ... logging.ERROR


def log_(this: Any, args: list[Any], options: Options) -> Any:
    level: Any = options.hash.get("level", UNDEFINED)
    if is_nullish(level):
        level = options.data.get("level", 1) if options.data else 1
        level = 1 if is_nullish(level) else level
    if isinstance(level, str):
        name = level.lower() if level.lower() in _LEVELS else None
    else:
        name = _LEVELS[int(level)] if isinstance(level, int | float) and 0 <= level < len(_LEVELS) else None
    if name is not None:
        import logging  # only here: the engine imports fast, and log is rare in templates

        message = " ".join(to_text(arg) for arg in args)
        logging.getLogger("qbutler.templates").log(_LOGGING[name], "template log: %s", message)
    return UNDEFINED


def block_helper_missing(this: Any, args: list[Any], options: Options) -> Any:
    if len(args) != 1:
        raise _not_callable("options.fn")
    context = args[0]
    if context is True:
        return options.fn(this)
    if context is False or is_nullish(context):
        return options.inverse(this)
    if isinstance(context, list | tuple):
        return each(this, args, options) if context else options.inverse(this)
    return options.fn(context)


def eq(this: Any, args: list[Any], options: Options) -> bool:
    """Butler's `eq(a, b)`: JavaScript's `a === b` (the options object stands in for a missing b)."""
    if len(args) < 2:
        return False
    return strict_equal(args[0], args[1])


BUILTIN: dict[str, Helper] = {
    "helperMissing": helper_missing, "blockHelperMissing": block_helper_missing, "each": each, "if": if_,
    "unless": unless, "with": with_, "log": log_, "lookup": lookup,
}
# Butler's set: the built-ins plus `eq`.
BUTLER: dict[str, Helper] = {**BUILTIN, "eq": eq}
